"""``warroom intake``: the webhook service that starts incidents from alerts.

Every authenticated body goes to the ledger's inbox before anything else is done with it; a body
that cannot be read is kept there, marked rejected with the reason. A request that fails
authentication gets 401, is counted and logged, and its body is not stored. A body that does not
arrive whole within ``body_timeout`` seconds gets 408; a sender that disconnects mid-body is logged
once, and nothing is stored. A PagerDuty webhook is news of a page warroom sent
(``flows.pagerduty_events``): recorded on that incident, never a new one.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from flows.ask import timed_out
from flows.intake import Outcome, receive_alerts, watch_ended
from flows.pagerduty_events import receive_pagerduty_event
from incident.errors import AlertRejectedError, WarroomError
from integrations.alerts.auth import (
    AuthError,
    check_bearer,
    check_grafana_hmac,
    check_pagerduty_signature,
    redact_headers,
)
from integrations.alerts.parse import (
    SOURCES,
    MalformedBody,
    UnsupportedMediaType,
    parse,
    parse_pagerduty_event,
)
from tasks.runs import start_run
from tasks.runtime import Runtime
from tasks.work import Dispatcher, describe_failure
from warroom.settings import Settings

# Alertmanager with max_alerts: 0 sends a whole group in one body: 10,000 alerts are ~6 MB
MAX_BODY = 32 * 1024 * 1024
BODY_TIMEOUT = 10.0  # seconds for a whole body to arrive
log = logging.getLogger("warroom.intake")


def start_deployment_run(deployment: str, parameters: dict[str, object], key: str) -> str:
    return str(start_run(deployment, parameters, key=key).id)


def make_dispatcher(runtime: Runtime) -> Dispatcher:
    """The dispatcher of this process: run starts go to Prefect; watch timers and form timeouts are
    carried out here."""
    return Dispatcher(runtime, start_deployment_run, watch_ended, timed_out)


def create_intake_app(runtime: Runtime, settings: Settings, clock: Callable[[], datetime],
                      dispatcher: Dispatcher | None = None, dispatch_loop: bool = True,
                      body_timeout: float = BODY_TIMEOUT) -> FastAPI:
    """The caller installs ``runtime`` (``use_runtime``) for the life of the app: the flows it calls
    read it from there. While the app is served, ``dispatcher`` (one of its own by default) carries
    out pending work in a loop, unless ``dispatch_loop`` is False (tests that drive it by hand)."""
    dispatcher = dispatcher or make_dispatcher(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if dispatch_loop:
            dispatcher.start()
        try:
            yield
        finally:
            dispatcher.stop()

    app = FastAPI(title="warroom intake", description="Alert webhooks in; incidents out.", lifespan=lifespan)
    app.state.dispatcher = dispatcher
    counts: Counter[str] = Counter()

    def authenticate(source: str, headers: dict[str, str], body: bytes) -> None:
        if source == "grafana":
            check_grafana_hmac(headers, body, settings.grafana_secret.get_secret_value(),
                               header=settings.grafana_signature_header,
                               timestamp_header=settings.grafana_timestamp_header, now=clock())
        elif source == "pagerduty":
            check_pagerduty_signature(headers, body, settings.listed(settings.pagerduty_webhook_secrets))
        else:
            check_bearer(headers, settings.listed(settings.intake_tokens))

    def answer_pagerduty(inbox_id: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """A PagerDuty webhook is news of a page warroom sent: recorded on its incident, never a new one."""
        try:
            event = parse_pagerduty_event(body, headers.get("content-type"))  # parse() accepted it already
            outcome = receive_pagerduty_event(event)
        except WarroomError as failed:  # kept in the inbox as received: PagerDuty retries
            counts["failed:pagerduty"] += 1
            runtime.ledger.mark_inbox(inbox_id, "received", reason=f"processing failed: {failed}")
            log.error("could not process inbox row %s: %s", inbox_id, failed)
            return 503, {"error": f"stored, but could not be processed yet: {failed}", "inbox": inbox_id}
        counts["accepted:pagerduty"] += 1
        runtime.ledger.mark_inbox(
            inbox_id, "duplicate" if outcome.action == "duplicate" else "accepted",
            reason=f"{outcome.action}: {outcome.reason}", incident_id=outcome.incident_id, fingerprint=event.incident,
        )
        return 202, {"inbox": inbox_id, "event": event.event_id, "event_type": event.event_type,
                     "incident": outcome.incident_id, "action": outcome.action, "reason": outcome.reason}

    def handle(source: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            authenticate(source, headers, body)
        except AuthError as refused:
            counts[f"unauthorised:{source}"] += 1
            log.warning("refused a %s webhook: %s", source, refused)
            return 401, {"error": str(refused)}
        inbox_id = runtime.ledger.store_inbox(source, redact_headers(headers), body, clock())
        try:
            parsed = parse(source, body, headers.get("content-type"))
        except AlertRejectedError as rejected:
            counts[f"rejected:{source}"] += 1
            runtime.ledger.mark_inbox(inbox_id, "rejected", reason=str(rejected))
            status = 415 if isinstance(rejected, UnsupportedMediaType) else 400 if isinstance(
                rejected, MalformedBody) else 422
            return status, {"error": rejected.reason, "field": rejected.field, "inbox": inbox_id}
        if source == "pagerduty":  # news of a page warroom sent, not an alert: never a new incident
            return answer_pagerduty(inbox_id, headers, body)
        try:
            outcomes = receive_alerts(parsed.alerts, f"inbox-{inbox_id}", parsed.group_key, dispatcher.drive)
        except Exception as exc:  # kept in the inbox as received, with the reason: the sender retries
            failed = exc if isinstance(exc, WarroomError) else describe_failure(exc)
            counts[f"failed:{source}"] += 1
            with contextlib.suppress(Exception):
                runtime.ledger.mark_inbox(inbox_id, "received", reason=f"processing failed: {failed}")
            log.error("could not process inbox row %s: %s", inbox_id, failed)
            return 503, {"error": f"stored, but could not be processed yet: {failed}", "inbox": inbox_id}
        counts[f"accepted:{source}"] += 1
        new = [o for o in outcomes if o.action not in ("joined", "ignored")]
        first = next((o for o in outcomes if o.incident_id), None)
        runtime.ledger.mark_inbox(
            inbox_id, "accepted" if new or not outcomes else "duplicate",
            reason=parsed.note or "; ".join(f"{o.action}: {o.reason}" for o in outcomes) or "no alerts in the body",
            incident_id=first.incident_id if first else None,
            fingerprint=parsed.alerts[0].fingerprint if parsed.alerts else None,
        )
        return 202, {"inbox": inbox_id, "truncated": parsed.truncated, "note": parsed.note,
                     "alerts": [described(a.fingerprint, o) for a, o in zip(parsed.alerts, outcomes, strict=True)]}

    @app.post("/v1/alerts/{source}")
    async def receive(source: str, request: Request) -> JSONResponse:
        if source not in SOURCES:
            return JSONResponse({"error": f"unknown source {source!r}; use one of {', '.join(SOURCES)}"}, 404)
        body = bytearray()
        try:
            with anyio.fail_after(body_timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_BODY:
                        counts[f"too_large:{source}"] += 1
                        return JSONResponse({"error": f"the body is over the {MAX_BODY // 2**20} MB limit"}, 413)
        except TimeoutError:
            counts[f"body_timeout:{source}"] += 1
            log.warning("a %s webhook's body did not arrive within %g s (%d bytes came): answered 408",
                        source, body_timeout, len(body))
            return JSONResponse({"error": f"the body did not arrive within {body_timeout:g} s "
                                 f"({len(body)} bytes came): send it again, whole"}, 408)
        except ClientDisconnect:
            counts[f"disconnected:{source}"] += 1
            log.warning("a %s webhook's sender disconnected after %d bytes of the body: nothing stored",
                        source, len(body))
            return JSONResponse({"error": "the sender disconnected before the body was complete"}, 400)
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, payload = await anyio.to_thread.run_sync(handle, source, headers, bytes(body))
        return JSONResponse(payload, status)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "counts": dict(counts)}

    return app


def described(fingerprint: str, outcome: Outcome) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "incident": outcome.incident_id, "action": outcome.action,
            "reason": outcome.reason}
