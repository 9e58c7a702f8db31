"""``warroom intake``: the webhook service that starts incidents from alerts.

Every authenticated body goes to the ledger's inbox before anything else is done with it; a body
that cannot be read is kept there, marked rejected with the reason. A request that fails
authentication gets 401, is counted and logged, and its body is not stored. A body that does not
arrive whole within ``body_timeout`` seconds gets 408; a sender that disconnects mid-body is logged
once, and nothing is stored. A PagerDuty webhook is news of a page warroom sent
(``flows.pagerduty_events``): recorded on that incident, never a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.flows.desks import advance, answered, take_answers, timed_out
from warroom.flows.intake import Drive, Outcome, receive_alerts, watch_ended
from warroom.flows.pagerduty_events import receive_pagerduty_event
from warroom.incident import work
from warroom.incident.errors import AlertRejectedError, WarroomError
from warroom.intake_api import install_openapi, package_version, route_doc
from warroom.integrations.alerts.auth import (
    AuthError,
    check_bearer,
    check_grafana_hmac,
    check_pagerduty_signature,
    redact_headers,
)
from warroom.integrations.alerts.parse import (
    SOURCES,
    MalformedBody,
    UnsupportedMediaType,
    parse,
    parse_pagerduty_event,
)
from warroom.integrations.ledger import Ledger, WorkRow
from warroom.integrations.ledger.batch import take_queued
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.recovery import FailedLifecycles
from warroom.settings import Settings
from warroom.tasks.document import write_document
from warroom.tasks.runs import start_run
from warroom.tasks.runtime import Runtime
from warroom.tasks.work import Dispatcher, describe_failure

# Alertmanager with max_alerts: 0 sends a whole group in one body: 10,000 alerts are 2.5-6 MB
MAX_BODY = 32 * 1024 * 1024
BODY_TIMEOUT = 10.0  # seconds for a whole body to arrive
STRANDED_AFTER = timedelta(seconds=60)  # a body still received this long after it came was left behind
log = logging.getLogger("warroom.intake")


def start_deployment_run(row: WorkRow) -> str:
    p = row.params
    return f"started run {start_run(str(p['deployment']), dict(p['parameters']), key=str(p['run_key'])).id}"


def watch_timer(row: WorkRow) -> str:
    return f"watch ended: {watch_ended(row.incident_id, str(row.params['fingerprint']))}"


def form_timer(row: WorkRow) -> str:
    p = row.params
    return timed_out(row.incident_id, str(p["question"]), int(p["round"]), str(p["reason"]))


def cadence_timer(row: WorkRow) -> str:
    advance(row.incident_id)
    return "looked again at the cadence"


def document_work(row: WorkRow) -> str:
    return write_document(row.incident_id)


def answer_work(row: WorkRow) -> str:
    return answered(str(row.params["run_id"]), str(row.params["pause_key"]))


def make_dispatcher(runtime: Runtime) -> Dispatcher:
    """The dispatcher of this process: run starts go to Prefect; watch timers, form timeouts, the
    cadence and the desks' answers are carried out here (and, once an intake app is built on it,
    stored bodies to process again); a lifecycle run that failed is started afresh."""
    handlers = {"start_run": start_deployment_run, "watch": watch_timer, "form_timeout": form_timer,
                "advance": cadence_timer, "answer": answer_work, "document": document_work}
    # while a sender waits, the page is tried once: a failing PagerDuty does not hold the answer back
    at_once = replace(runtime, pager=runtime.pager.trying_once(), drill_pager=runtime.drill_pager.trying_once()
                      if isinstance(runtime.drill_pager, PagerDutyPager) else runtime.drill_pager
                      ) if isinstance(runtime.pager, PagerDutyPager) else None
    failed = FailedLifecycles()
    return Dispatcher(runtime, handlers, at_once, poll=lambda: take_answers() + failed.look())


def create_intake_app(runtime: Runtime, settings: Settings, clock: Callable[[], datetime],
                      dispatcher: Dispatcher | None = None, dispatch_loop: bool = True,
                      body_timeout: float = BODY_TIMEOUT) -> FastAPI:
    """The caller installs ``runtime`` (``use_runtime``) for the life of the app: the flows it calls
    read it from there. While the app is served, ``dispatcher`` (one of its own by default) carries
    out pending work in a loop, unless ``dispatch_loop`` is False (tests that drive it by hand)."""
    dispatcher = dispatcher or make_dispatcher(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stranded = await anyio.to_thread.run_sync(take_up_stranded, runtime.ledger)
        if stranded:
            log.warning("%d stored alert bodies were never processed (a process stopped while at them): "
                        "the dispatcher processes them now", stranded)
        if dispatch_loop:
            dispatcher.start()
        try:
            yield
        finally:
            bodies.close()
            dispatcher.stop()

    docs = settings.intake_docs  # the API document and its pages are served only when asked for
    app = FastAPI(title="warroom intake", description="Alert webhooks in; incidents out.", lifespan=lifespan,
                  version=package_version(), openapi_url="/openapi.json" if docs else None,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None)
    install_openapi(app, settings)
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

    def process(inbox_id: int, source: str, content_type: str | None, body: bytes,
                drive: Drive = dispatcher.drive) -> tuple[int, dict[str, Any]]:
        """Parse and route a stored body, and record in the inbox what became of it. Raises if it
        could not be processed (the caller records why, and the dispatcher tries again). ``drive``:
        carries out an incident's page."""
        try:
            parsed = parse(source, body, content_type)
        except AlertRejectedError as rejected:
            counts[f"rejected:{source}"] += 1
            runtime.ledger.mark_inbox(inbox_id, "rejected", reason=str(rejected))
            status = 415 if isinstance(rejected, UnsupportedMediaType) else 400 if isinstance(
                rejected, MalformedBody) else 422
            return status, {"error": rejected.reason, "field": rejected.field, "inbox": inbox_id}
        if source == "pagerduty":  # news of a page warroom sent, not an alert: never a new incident
            event = parse_pagerduty_event(body, content_type)
            outcome = receive_pagerduty_event(event)
            counts["accepted:pagerduty"] += 1
            runtime.ledger.mark_inbox(
                inbox_id, "duplicate" if outcome.action == "duplicate" else "accepted",
                reason=f"{outcome.action}: {outcome.reason}", incident_id=outcome.incident_id,
                fingerprint=event.incident,
            )
            return 202, {"inbox": inbox_id, "event": event.event_id, "event_type": event.event_type,
                         "incident": outcome.incident_id, "action": outcome.action, "reason": outcome.reason}
        outcomes = receive_alerts(parsed.alerts, f"inbox-{inbox_id}", parsed.group_key, drive)
        counts[f"accepted:{source}"] += 1
        new = [o for o in outcomes if o.news or o.action not in ("joined", "ignored")]
        first = next((o for o in outcomes if o.incident_id), None)
        runtime.ledger.mark_inbox(  # what processing wrote is committed: the answer need not wait for this
            inbox_id, "accepted" if new or not outcomes else "duplicate",
            reason=parsed.note or "; ".join(f"{o.action}: {o.reason}" for o in outcomes) or "no alerts in the body",
            incident_id=first.incident_id if first else None,
            fingerprint=parsed.alerts[0].fingerprint if parsed.alerts else None, wait=False,
        )
        return 202, {"inbox": inbox_id, "truncated": parsed.truncated, "note": parsed.note,
                     "alerts": [described(a.fingerprint, o) for a, o in zip(parsed.alerts, outcomes, strict=True)]}

    def reprocess(row: WorkRow) -> str:
        """The dispatcher's second (third...) try at a stored body whose processing failed or never
        finished; one another intake has processed meanwhile is left as it is."""
        stored = runtime.ledger.inbox_row(int(row.params["inbox_id"]))
        if stored.status != "received":
            return f"processed meanwhile: {stored.status}"
        status, _ = process(stored.id, stored.source, stored.headers.get("content-type"), stored.body.encode())
        return f"processed on a later try: {status}"

    dispatcher.handle("inbox", reprocess)

    def refuse(source: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]] | None:
        """401 for a request that fails authentication (counted and logged; its body is not stored)."""
        try:
            authenticate(source, headers, body)
        except AuthError as refused:
            counts[f"unauthorised:{source}"] += 1
            log.warning("refused a %s webhook: %s", source, refused)
            return 401, {"error": str(refused)}
        return None

    def settle(inbox_id: int, source: str, headers: dict[str, str], body: bytes,
               drive: Drive) -> tuple[int, dict[str, Any]]:
        """Process a stored body; if that fails, it is kept with the reason and tried again."""
        try:
            with runtime.ledger.part():  # in a batch, a body that fails is taken back alone
                return process(inbox_id, source, headers.get("content-type"), body, drive)
        except Exception as exc:  # kept in the inbox with the reason, and tried again by the dispatcher
            failed = exc if isinstance(exc, WarroomError) else describe_failure(exc)
            counts[f"failed:{source}"] += 1
            with contextlib.suppress(Exception):
                runtime.ledger.mark_inbox(inbox_id, "received", reason=f"processing failed: {failed}")
                runtime.ledger.add_work([work.retry_inbox(inbox_id, clock())])
            log.error("could not process inbox row %s: %s", inbox_id, failed)
            return 503, {"error": f"stored, but could not be processed yet: {failed}", "inbox": inbox_id}

    bodies = Bodies(runtime, refuse, settle, dispatcher, clock)
    app.state.dispatcher = dispatcher

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
        status, payload, pages = await bodies.answer(source, headers, bytes(body))
        if pages:  # decided in the batch, committed now: the page goes out before the answer
            await anyio.to_thread.run_sync(bodies.page, pages)
        return JSONResponse(payload, status)

    def route(source: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def receive_from(request: Request) -> JSONResponse:
            return await receive(source, request)

        return receive_from

    for known in SOURCES:  # one documented route per source (intake_api), each read as above
        app.post(f"/v1/alerts/{known}", **route_doc(known))(route(known))
    app.post("/v1/alerts/{source}", include_in_schema=False)(receive)  # any other source: 404

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "counts": dict(counts)}

    app.add_middleware(AlertsFirst, receive=receive)
    return app


Answer = tuple[int, dict[str, Any]]  # a status and its JSON body
Reply = tuple[int, dict[str, Any], list[WorkRow]]  # an answer, and the pages (claimed) that go out before it
Refuse = Callable[[str, dict[str, str], bytes], Answer | None]
Settle = Callable[[int, str, dict[str, str], bytes, Drive], Answer]


@dataclass
class _Request:
    source: str
    headers: dict[str, str]
    body: bytes
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[Reply]


class Bodies:
    """The requests' bodies, stored and processed in one thread: the bodies that came while it was busy go
    in one ledger transaction (one commit for all their rows, facts, work and marks), and each request
    is answered once that is committed. A batch that cannot commit (a body that failed after it wrote
    spoils it: see :meth:`Ledger.part`) is done again body by body, each in transactions of its own; a
    body that fails keeps its row, with the reason, for the dispatcher to try again.
    The pages a batch calls for are claimed in its transaction and sent by each request after the commit,
    before its answer."""

    MAX_BATCH = 64

    def __init__(self, runtime: Runtime, refuse: Refuse, settle: Settle, dispatcher: Dispatcher,
                 clock: Callable[[], datetime]) -> None:
        """``refuse``: the answer to a request that is not let in; ``settle``: processes a stored body."""
        self._runtime, self._refuse, self._settle = runtime, refuse, settle
        self._dispatcher, self._drive = dispatcher, dispatcher.drive
        self._clock = clock
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def answer(self, source: str, headers: dict[str, str], body: bytes) -> Reply:
        """The status and answer for a body, and the incidents whose page it calls for."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="intake-bodies", daemon=True)
                self._thread.start()
        loop = asyncio.get_running_loop()
        request = _Request(source, headers, body, loop, loop.create_future())
        self._queue.put(request)
        return await request.answer

    def page(self, rows: list[WorkRow]) -> None:
        try:
            self._dispatcher.carry(rows)
        except Exception as exc:  # leased work in the ledger: the dispatcher's loop carries it out
            log.error("could not page for %s at once (the dispatcher tries again): %s",
                      ", ".join(dict.fromkeys(r.incident_id for r in rows)), describe_failure(exc))

    def close(self) -> None:
        """Stop once the bodies queued are answered."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = take_queued(self._queue, first, self.MAX_BATCH)
            answers = self._together(batch)
            for request, answer in zip(batch, answers, strict=True):
                request.loop.call_soon_threadsafe(_resolve, request.answer, answer)

    def _together(self, batch: list[_Request]) -> list[Reply]:
        answers: list[Answer | None] = [self._refuse(r.source, r.headers, r.body) for r in batch]
        admitted = [(i, r) for i, (r, a) in enumerate(zip(batch, answers, strict=True)) if a is None]
        pages: list[list[str]] = [[] for _ in batch]  # the incidents whose page each body calls for
        claimed: list[WorkRow] = []
        ledger = self._runtime.ledger
        try:
            with ledger.batch():  # the rows in one statement, then each body in a part of its own
                ids = ledger.store_inbox_rows([(r.source, redact_headers(r.headers), r.body) for _, r in admitted],
                                              self._clock())
                for (i, r), inbox_id in zip(admitted, ids, strict=True):
                    answers[i] = self._settle(inbox_id, r.source, r.headers, r.body, pages[i].append)
                if wanted := list(dict.fromkeys(incident for p in pages for incident in p)):
                    claimed = self._dispatcher.claim_now(wanted)
        except Exception as exc:  # none of it is stored: each again, alone
            log.warning("%d bodies could not be committed together (%s): none of them was kept (an inbox row "
                        "named above is not there); each is stored and processed again alone", len(admitted),
                        describe_failure(exc))
            pages, claimed = [[] for _ in batch], []
            for i, r in admitted:
                answers[i] = self._alone(r)
        by_incident: dict[str, list[WorkRow]] = {}
        for row in claimed:
            by_incident.setdefault(row.incident_id, []).append(row)
        # each claimed page goes out once: with the first body that called for it
        rows = [[row for incident in dict.fromkeys(p) for row in by_incident.pop(incident, [])] for p in pages]
        return [(*a, r) for a, r in zip(cast(list[Answer], answers), rows, strict=True)]

    def _alone(self, r: _Request) -> Answer:
        try:
            inbox_id = self._runtime.ledger.store_inbox(r.source, redact_headers(r.headers), r.body, self._clock())
        except Exception as exc:  # not stored: the sender sends it again
            failed = exc if isinstance(exc, WarroomError) else describe_failure(exc)
            log.error("could not store a %s webhook's body: %s", r.source, failed)
            return 503, {"error": f"could not store the body, nothing was done: send it again ({failed})"}
        return self._settle(inbox_id, r.source, r.headers, r.body, self._drive)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():  # the request may have been cancelled (its sender gone)
        future.set_result(value)


class AlertsFirst:
    """The alert routes served straight from the ASGI call, ahead of the app's routing: a storm's every
    request would otherwise pass FastAPI's router and its layers for the same handler (a fifth of the
    event loop's time per alert). Every other request, and any other method, goes to the app."""

    PREFIX = "/v1/alerts/"

    def __init__(self, app: ASGIApp, receive: Callable[[str, Request], Awaitable[JSONResponse]]) -> None:
        self.app, self.receive = app, receive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] == "POST" and path.startswith(self.PREFIX) \
                and "/" not in (source := path[len(self.PREFIX):]) and source:
            response = await self.receive(source, Request(scope, receive))
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def take_up_stranded(ledger: Ledger) -> int:
    """Work to process each body still marked received (stored, then the process stopped before it
    said what became of it), due ``STRANDED_AFTER`` after it arrived: a body another intake is at
    right now is done by then, and left alone. Returns how many were taken up."""
    return ledger.add_work([work.retry_inbox(row.id, row.received_at, STRANDED_AFTER)
                            for row in ledger.inbox_rows(status="received")])


def described(fingerprint: str, outcome: Outcome) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "incident": outcome.incident_id, "action": outcome.action,
            "reason": outcome.reason}
