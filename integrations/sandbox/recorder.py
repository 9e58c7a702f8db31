"""What a sandbox saw, and what it should do wrong: the request recorder and the fault plan.

Every sandbox app (PagerDuty, Jira) gets the same admin surface through :func:`add_sandbox_admin`:

- ``GET /_sandbox/requests``: every non-admin request seen, oldest first, with secrets redacted
  (``Authorization``, ``X-Api-Key``, ``Cookie`` and ``Token`` headers, ``routing_key`` anywhere in a
  JSON body, secret-looking query parameters), plus the status and body of the answer given.
- ``DELETE /_sandbox/requests``: forget them.
- ``PUT /_sandbox/faults``: a :class:`Fault`, or ``{"faults": [...]}`` (an empty list clears), replaces
  the plan. ``GET /_sandbox/faults`` shows the plan with the counts left.

A fault applies to the next ``count`` matching requests, or to a seeded-random ``fraction`` of them,
or (neither given) to every matching request. It can add latency, answer with an error ``status``
(and ``Retry-After``), or drop the connection: the socket is aborted with no response at all, which a
client sees as a reset / "server disconnected without sending a response". Admin paths are never
faulted nor recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_PREFIX = "/_sandbox"
REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "token", "proxy-authorization"})
SECRET_BODY_KEYS = frozenset({"routing_key", "routingkey", "integration_key", "password", "api_token"})
SECRET_QUERY_KEYS = frozenset({"token", "api_key", "apikey", "access_token", "routing_key", "password"})

ErrorBody = Callable[[str, int], Any]


class Fault(BaseModel):
    """One entry of the fault plan."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(default=0, ge=0)
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: str | None = None
    drop_connection: bool = False
    count: int | None = Field(default=None, ge=0)
    fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    path_prefix: str | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> Fault:
        if self.count is not None and self.fraction is not None:
            raise ValueError("give count or fraction, not both")
        return self


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    faults: list[Fault]


class RecordedRequest(BaseModel):
    """One request as the sandbox saw it (secrets redacted) and what it answered."""

    seq: int = 0  # order of arrival, from 1
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    received_at: str
    fault: str | None = None  # "status 429", "drop", "latency 200ms", ...
    response_status: int | None = None  # None: no answer (dropped, or still in flight)
    response_body: Any = None


def default_error_body(path: str, status: int) -> Any:
    """A PagerDuty-shaped error body (the REST API's ``{"error": {...}}``)."""
    return {"error": {"message": f"Sandbox fault: status {status}", "code": 2000 + status % 1000}}


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        out[key] = REDACTED if key in SECRET_HEADERS else value
    return out


def redact_body(value: Any) -> Any:
    """``value`` with every secret-named key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in SECRET_BODY_KEYS else redact_body(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_body(v) for v in value]
    return value


def _redact_query(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(REDACTED if key.lower() in SECRET_QUERY_KEYS else value)
    return out


def _decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text[:1] in ("{", "["):
        try:
            return redact_body(json.loads(text))
        except ValueError:
            pass
    return text


class Recorder:
    """Thread-safe store of requests seen and of the fault plan."""

    def __init__(self, *, seed: int = 0, error_body: ErrorBody = default_error_body) -> None:
        self._lock = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._random = random.Random(seed)
        self._in_flight = 0
        self._seq = 0
        self.error_body = error_body

    # requests -----------------------------------------------------------------------------------
    def record(self, entry: RecordedRequest) -> int:
        """Store ``entry``; returns its ``seq`` for :meth:`complete`."""
        with self._lock:
            self._seq += 1
            self._requests.append(entry.model_copy(update={"seq": self._seq}))
            return self._seq

    def complete(self, seq: int, status: int | None, body: Any) -> None:
        """Attach the answer to the request ``seq`` (a no-op if it was cleared meanwhile)."""
        with self._lock:
            for i in range(len(self._requests) - 1, -1, -1):
                entry = self._requests[i]
                if entry.seq == seq:
                    self._requests[i] = entry.model_copy(
                        update={"response_status": status, "response_body": body}
                    )
                    return
                if entry.seq < seq:
                    return

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # in-flight accounting, so tests can wait for the server (not for time) ----------------------
    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no request is being handled; False if ``timeout`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    # faults -------------------------------------------------------------------------------------
    def set_faults(self, faults: Iterable[Fault]) -> None:
        with self._lock:
            self._faults = [f.model_copy() for f in faults]

    def faults(self) -> list[Fault]:
        with self._lock:
            return [f.model_copy() for f in self._faults]

    def take_fault(self, path: str) -> Fault | None:
        """The fault to apply to a request for ``path`` (consuming one of its count), if any."""
        if path.startswith(ADMIN_PREFIX):
            return None
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.path_prefix is not None and not path.startswith(fault.path_prefix):
                    continue
                if fault.count is not None:
                    if fault.count <= 0:
                        continue
                    self._faults[i] = fault.model_copy(update={"count": fault.count - 1})
                    return fault
                if fault.fraction is not None:
                    if self._random.random() < fault.fraction:
                        return fault
                    continue
                return fault
        return None


def _describe(fault: Fault) -> str:
    parts = []
    if fault.latency_ms:
        parts.append(f"latency {fault.latency_ms}ms")
    if fault.drop_connection:
        parts.append("drop")
    elif fault.status is not None:
        parts.append(f"status {fault.status}")
    return ", ".join(parts) or "none"


def _abort_connection(send: Send) -> bool:
    """Abort the client's connection with a TCP reset and no response; False if not possible.

    Works with uvicorn's protocols, whose ``send`` is a bound method of the request cycle holding
    the asyncio transport. Only reachable from the outermost ASGI layer (see :func:`add_sandbox_admin`).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # linger 0: close sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True


class _SandboxMiddleware:
    """Outermost ASGI layer: records non-admin requests and applies the fault plan."""

    def __init__(self, app: ASGIApp, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        self.recorder._enter()
        try:
            await self._handle(scope, receive, send)
        finally:
            self.recorder._leave()

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        recorder = self.recorder
        # Read the whole request body, then replay it to the app.
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        query_pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        path: str = scope["path"]
        fault = recorder.take_fault(path)
        index = recorder.record(
            RecordedRequest(
                method=scope["method"],
                path=path,
                query=_redact_query(query_pairs),
                headers=redact_headers(headers),
                body=_decode_body(raw, content_type),
                received_at=datetime.now(UTC).isoformat(),
                fault=_describe(fault) if fault is not None else None,
            )
        )

        if fault is not None:
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.drop_connection:
                if _abort_connection(send):
                    # Wait for the server to notice the loss, so it sends nothing on our behalf.
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    return
                raise ConnectionAbortedError("sandbox fault: drop connection")
            if fault.status is not None:
                body = recorder.error_body(path, fault.status)
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
                response = JSONResponse(body, status_code=fault.status, headers=extra)
                recorder.complete(index, fault.status, body)
                await response(scope, receive, send)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        status: int | None = None
        out: list[bytes] = []
        out_type = ""

        async def capture(message: Message) -> None:
            nonlocal status, out_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for k, v in message.get("headers", []):
                    if k.lower() == b"content-type":
                        out_type = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))
                if not message.get("more_body", False):
                    recorder.complete(index, status, _decode_body(b"".join(out), out_type))
            await send(message)

        await self.app(scope, replay, capture)


def add_sandbox_admin(app: FastAPI, recorder: Recorder) -> None:
    """Install the recorder/fault layer (outermost) and the ``/_sandbox`` admin routes on ``app``."""
    build = app.build_middleware_stack

    def build_with_sandbox() -> ASGIApp:
        # Outermost, outside Starlette's error middleware, so a dropped connection sends nothing.
        return _SandboxMiddleware(build(), recorder)

    app.build_middleware_stack = build_with_sandbox  # type: ignore[method-assign]
    app.middleware_stack = None

    @app.get(f"{ADMIN_PREFIX}/requests", include_in_schema=False)
    def list_requests() -> list[dict[str, Any]]:
        return [r.model_dump() for r in recorder.requests()]

    @app.delete(f"{ADMIN_PREFIX}/requests", include_in_schema=False)
    def clear_requests() -> dict[str, Any]:
        recorder.clear()
        return {"cleared": True}

    @app.put(f"{ADMIN_PREFIX}/faults", include_in_schema=False)
    async def put_faults(request: Request) -> JSONResponse:
        try:
            data = await request.json()
            if isinstance(data, dict) and "faults" in data:
                faults = FaultPlan.model_validate(data).faults
            else:
                faults = [Fault.model_validate(data)]
        except ValueError as exc:
            return JSONResponse({"error": {"message": f"invalid fault plan: {exc}"}}, status_code=422)
        recorder.set_faults(faults)
        return JSONResponse({"faults": [f.model_dump() for f in recorder.faults()]})

    @app.get(f"{ADMIN_PREFIX}/faults", include_in_schema=False)
    def get_faults() -> dict[str, Any]:
        return {"faults": [f.model_dump() for f in recorder.faults()]}
