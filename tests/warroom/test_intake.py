"""The intake service over real HTTP: authentication, the inbox, grouping, paging once, the storm."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey

from tests.helpers import CONFIGS, Clock
from warroom.incident.models import Phase
from warroom.intake import create_intake_app, make_dispatcher
from warroom.integrations.sandbox.server import Sandboxes
from warroom.runner import Background
from warroom.settings import Settings
from warroom.tasks.ledger import load_state
from warroom.tasks.runtime import Runtime
from warroom.tasks.work import Dispatcher

TOKEN = "intake-token-for-tests"
GRAFANA_SECRET = "grafana-secret-for-tests"
PD_SECRETS = ("pd-old-secret", "pd-new-secret")
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


@dataclass
class Intake:
    url: str
    runtime: Runtime
    sandboxes: Sandboxes
    clock: Clock
    dispatcher: Dispatcher

    def post(self, source: str, body: Any, headers: dict[str, str] | None = None,
             client: httpx.Client | None = None) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}", **(headers or {})}
        return (client or httpx).post(f"{self.url}/v1/alerts/{source}", content=raw, headers=sent, timeout=30)

    def pd_incidents(self, incident_id: str) -> int:
        assert self.sandboxes.pagerduty_app is not None
        return len(self.sandboxes.pagerduty_app.state.pagerduty.incidents_for_key(incident_id))


def settings() -> Settings:
    return Settings.model_validate({
        "config_dir": CONFIGS, "intake_tokens": f"old-token,{TOKEN}", "grafana_secret": GRAFANA_SECRET,
        "pagerduty_webhook_secrets": ",".join(PD_SECRETS),
    })


@pytest.fixture()
def intake(make_runtime: Callable[..., Runtime], sandboxes: Sandboxes) -> Iterator[Intake]:
    clock = Clock()
    runtime = make_runtime(30, clock=clock)
    dispatcher = make_dispatcher(runtime)
    server = Background(create_intake_app(runtime, settings(), clock, dispatcher, dispatch_loop=False))
    yield Intake(server.url, runtime, sandboxes, clock, dispatcher)
    server.stop()


def am_alert(name: str, status: str = "firing", service: str = "checkout", **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": name, "service": service, **labels},
            "annotations": {"summary": f"{name} on {service}"}, "startsAt": "2026-11-26T02:59:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": name}


def am_group(*alerts: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """An Alertmanager notification; its group key defaults to the first alert's name."""
    group = key or f'{{}}:{{alertname="{alerts[0]["labels"]["alertname"]}"}}'
    return {"version": "4", "groupKey": group, "truncatedAlerts": 0, "status": "firing",
            "receiver": "warroom", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager", "alerts": list(alerts)}


def test_a_customer_visible_alert_group_pages_once_and_starts_one_lifecycle(intake: Intake) -> None:
    body = am_group(am_alert("CheckoutErrors", severity="critical", impact="customer"),
                    am_alert("CheckoutLatency", severity="critical", impact="customer"))
    other = am_group(am_alert("CheckoutErrors", severity="critical", impact="customer"), key="another group")
    first = intake.post("alertmanager", body)
    assert first.status_code == 202, first.text
    alerts = first.json()["alerts"]
    assert [a["action"] for a in alerts] == ["declared", "joined"]  # one notification group, one incident
    ids = [a["incident"] for a in alerts]
    assert ids[0] == ids[1]
    assert set(load_state(ids[0]).alerts) == {"CheckoutErrors", "CheckoutLatency"}
    assert intake.post("alertmanager", other).json()["alerts"][0]["incident"] != ids[0]

    streams = [len(intake.runtime.ledger.stream(i)) for i in ids]
    again = intake.post("alertmanager", body)  # Alertmanager re-sends the group
    assert [a["action"] for a in again.json()["alerts"]] == ["joined", "joined"]
    assert [a["incident"] for a in again.json()["alerts"]] == ids
    assert [len(intake.runtime.ledger.stream(i)) for i in ids] == streams  # a repeat is no news
    assert all(intake.pd_incidents(i) == 1 for i in ids)  # paged at once, before any run starts
    assert intake.dispatcher.run_due() == 2  # the lifecycle runs, one per incident
    assert intake.dispatcher.run_due() == 0
    for incident_id in ids:
        assert intake.pd_incidents(incident_id) == 1
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                idempotency_key=FlowRunFilterIdempotencyKey(any_=[f"{incident_id}:lifecycle"])))
        assert len(runs) == 1 and runs[0].parameters["incident_id"] == incident_id
    rows = intake.runtime.ledger.inbox_rows()
    assert [r.status for r in rows[-2:]] in (["accepted", "duplicate"], ["duplicate", "accepted"])


def test_an_alert_that_fires_again_after_its_resolve_is_news_in_the_inbox_not_a_duplicate(intake: Intake) -> None:
    firing = am_group(am_alert("SearchDown", service="search", severity="critical", impact="customer"))
    resolved = am_group(am_alert("SearchDown", status="resolved", service="search", severity="critical",
                                 impact="customer"))

    def post(body: dict[str, Any]) -> tuple[str, str, int]:
        answer = intake.post("alertmanager", body).json()
        incident_id = answer["alerts"][0]["incident"]
        return (answer["alerts"][0]["action"], intake.runtime.ledger.inbox_row(answer["inbox"]).status,
                len(intake.runtime.ledger.stream(incident_id)))

    action, status, facts = post(firing)
    assert (action, status) == ("declared", "accepted")
    assert post(resolved) == ("resolved", "accepted", facts + 1)
    assert post(firing) == ("joined", "accepted", facts + 2)  # it fired again: a timeline entry, so not a duplicate
    assert post(firing) == ("joined", "duplicate", facts + 2)  # the same again: no news


def test_a_request_that_fails_authentication_gets_401_and_stores_nothing(intake: Intake) -> None:
    before = intake.runtime.ledger.count_inbox()
    bad = intake.post("alertmanager", am_group(am_alert("X")), {"authorization": "Bearer wrong"})
    assert bad.status_code == 401 and "does not match" in bad.json()["error"]
    assert "wrong" not in bad.text
    assert intake.runtime.ledger.count_inbox() == before
    assert httpx.get(f"{intake.url}/healthz").json()["counts"]["unauthorised:alertmanager"] == 1


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "field", "reason"),
    [
        (b'{"alerts": [', "application/json", 400, None, "line 1"),
        (b"alerts=1", "application/x-www-form-urlencoded", 415, None, "application/json"),
        (json.dumps({"version": "4", "status": "firing", "alerts": [{"labels": "nope"}]}).encode(),
         "application/json", 422, "alerts[0].labels", ""),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_and_kept_with_its_reason(
    intake: Intake, raw: bytes, content_type: str, status: int, field: str | None, reason: str
) -> None:
    response = intake.post("alertmanager", raw, {"content-type": content_type})
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["field"] == field and reason in answer["error"]
    row = next(r for r in intake.runtime.ledger.inbox_rows("rejected") if r.id == answer["inbox"])
    assert row.body == raw.decode() and row.reason and answer["error"] in row.reason


def test_a_body_over_32_mb_gets_413(intake: Intake) -> None:
    response = intake.post("generic", b"{" + b" " * (33 * 2**20) + b"}")
    assert response.status_code == 413 and "32 MB" in response.json()["error"]


def test_a_group_of_10000_alerts_in_one_body_is_accepted_whole(intake: Intake) -> None:
    """Alertmanager's max_alerts: 0 sends a whole group: one incident, every alert on it, one page."""
    alerts = [am_alert(f"Shard{n:05d}", severity="critical", impact="customer", shard=str(n)) for n in range(10_000)]
    body = am_group(*alerts, key='{}:{alertname=~"Shard.*"}')
    assert len(json.dumps(body)) > 512 * 1024
    answer = intake.post("alertmanager", body)
    assert answer.status_code == 202, answer.text[:500]
    outcomes = answer.json()["alerts"]
    assert len(outcomes) == 10_000 and len({o["incident"] for o in outcomes}) == 1
    assert outcomes[0]["action"] == "declared" and {o["action"] for o in outcomes[1:]} == {"joined"}
    incident_id = outcomes[0]["incident"]
    assert len(load_state(incident_id).alerts) == 10_000
    assert intake.pd_incidents(incident_id) == 1


def grafana_headers(body: bytes, at: datetime, secret: str = GRAFANA_SECRET) -> dict[str, str]:
    stamp = str(int(at.timestamp()))
    signature = hmac.new(secret.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"x-grafana-alerting-signature": signature, "x-grafana-alerting-signature-timestamp": stamp,
            "authorization": ""}


def test_grafana_signatures_and_stale_timestamps(intake: Intake) -> None:
    body = json.dumps(am_group(am_alert("SearchSlow", service="search", severity="warning"))).encode()
    assert intake.post("grafana", body, grafana_headers(body, NOW)).status_code == 202
    stale = intake.post("grafana", body, grafana_headers(body, NOW - timedelta(minutes=30)))
    assert stale.status_code == 401 and "stale" in stale.json()["error"]
    forged = intake.post("grafana", body, grafana_headers(body, NOW, secret="guess"))
    assert forged.status_code == 401


def test_pagerduty_webhooks_during_a_secret_rotation(intake: Intake) -> None:
    event = {"event": {"id": "E1", "event_type": "incident.triggered", "resource_type": "incident",
                       "occurred_at": "2026-11-26T03:00:00Z", "data": {
                           "id": "Q1ROTATE", "title": "Payments API declines cards", "html_url": "https://pd/x",
                           "service": {"summary": "payments-api"}}}}
    body = json.dumps(event).encode()
    for secret in PD_SECRETS:
        signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        other = "v1=" + "0" * 64
        response = intake.post("pagerduty", body, {"x-pagerduty-signature": f"{other},{signature}"})
        assert response.status_code == 202, response.text
    wrong = "v1=" + hmac.new(b"not-a-secret", body, hashlib.sha256).hexdigest()
    assert intake.post("pagerduty", body, {"x-pagerduty-signature": wrong}).status_code == 401


def test_the_one_hour_rule_declares_only_what_still_fires(intake: Intake) -> None:
    still = intake.post("alertmanager", am_group(am_alert("DiskFilling", service="search", severity="warning")))
    gone = intake.post("alertmanager", am_group(am_alert("QueueLag", service="search", severity="warning")))
    still_id, gone_id = (r.json()["alerts"][0]["incident"] for r in (still, gone))
    assert [r.json()["alerts"][0]["action"] for r in (still, gone)] == ["watching", "watching"]
    timer = intake.runtime.ledger.work_rows(still_id)
    assert [(w.kind, w.status, w.due_at) for w in timer] == [
        ("watch", "pending", datetime(2026, 11, 26, 3, 59, tzinfo=UTC))]

    intake.post("alertmanager", am_group(am_alert("QueueLag", status="resolved", service="search",
                                                  severity="warning")))
    dispatcher = intake.dispatcher
    intake.clock.now = NOW + timedelta(minutes=58)
    assert dispatcher.run_due() == 0  # not yet: the timer is in the ledger, due at 03:59
    intake.clock.now = NOW + timedelta(hours=1)
    while dispatcher.run_due():  # the timers, then the page the declaration calls for
        pass
    assert [w.outcome for w in intake.runtime.ledger.work_rows(gone_id)] == [
        "watch ended: resolved in time: not an incident"]
    assert intake.runtime.ledger.work_rows(still_id)[0].outcome == "watch ended: declared"
    assert intake.pd_incidents(still_id) == 1 and intake.pd_incidents(gone_id) == 0
    assert load_state(gone_id).phase is Phase.PENDING


def test_a_storm_of_2000_alerts_makes_20_incidents_and_loses_nothing(intake: Intake) -> None:
    fingerprints = [f"storm{n:02d}" for n in range(20)]
    bodies = [am_group(am_alert(fingerprints[i % 20], severity="critical", impact="customer"))
              for i in range(2000)]
    before = intake.runtime.ledger.count_inbox()
    local = threading.local()

    def send(body: dict[str, Any]) -> int:
        if not hasattr(local, "client"):
            local.client = httpx.Client()
        return intake.post("alertmanager", body, client=local.client).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, bodies))
    assert statuses.count(202) == 2000
    assert intake.runtime.ledger.count_inbox() - before == 2000
    incidents = {row.incident_id for row in intake.runtime.ledger.inbox_rows(limit=5000) if row.fingerprint
                 in fingerprints}
    assert len(incidents) == 20
    assert all(intake.pd_incidents(i) == 1 for i in incidents)


def refuse(intake: Intake, trigger: str) -> None:
    """A fault in the ledger's own database (as a full disk or a broken page would give): a trigger."""
    with sqlite3.connect(intake.runtime.ledger.url.removeprefix("sqlite:///")) as db:
        db.execute(trigger)


def post_together(intake: Intake, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client() as client:
            barrier.wait()
            return intake.post("alertmanager", body, client=client)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_bodies_that_come_together_each_get_their_own_answer_and_one_that_fails_is_kept_to_retry(
        intake: Intake) -> None:
    """The intake stores and processes the bodies that come at once in one ledger transaction: a body
    whose processing fails there is taken back alone, and kept (received, with the reason) for the
    dispatcher to try again; the others are stored and answered as if alone."""
    # refused at its last write (the watch's timer), after its facts were written in the same transaction
    refuse(intake, "CREATE TRIGGER refuse_poison BEFORE INSERT ON work WHEN NEW.params LIKE '%PoisonAlert%' "
                   "BEGIN SELECT json('disk I/O error'); END")  # an error, not a constraint (not a lost race)
    names = [f"Together{i}" for i in range(5)] + ["PoisonAlert"]
    answers = post_together(intake, [am_group(am_alert(n, service="search", severity="warning")) for n in names])
    assert [a.status_code for a in answers] == [202] * 5 + [503]
    assert all(a.json()["alerts"][0]["action"] == "watching" for a in answers[:5])
    poisoned = answers[5].json()
    assert "stored, but could not be processed yet" in poisoned["error"] and "malformed JSON" in poisoned["error"]
    row = intake.runtime.ledger.inbox_row(poisoned["inbox"])
    assert row.status == "received" and "processing failed" in (row.reason or "")
    retry = intake.runtime.ledger.work_by_key(f"inbox:{row.id}")
    assert retry is not None and retry.status == "pending"
    assert not [i for i in intake.runtime.ledger.list_incidents() if "PoisonAlert" in (i.title or "")]  # taken back
    for answer in answers[:5]:
        incident_id = answer.json()["alerts"][0]["incident"]
        assert [r.event.kind for r in intake.runtime.ledger.stream(incident_id)] == [
            "alert_attached", "declaration_decided"]
        assert intake.runtime.ledger.inbox_row(answer.json()["inbox"]).status == "accepted"


def test_a_body_the_inbox_refuses_gets_503_and_the_others_that_came_with_it_are_stored(intake: Intake) -> None:
    refuse(intake, "CREATE TRIGGER refuse_body BEFORE INSERT ON inbox WHEN NEW.body LIKE '%RefusedBody%' "
                   "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    names = [f"Beside{i}" for i in range(4)] + ["RefusedBody"]
    answers = post_together(intake, [am_group(am_alert(n, service="search", severity="warning")) for n in names])
    assert [a.status_code for a in answers] == [202] * 4 + [503]
    assert "could not store the body, nothing was done: send it again" in answers[4].json()["error"]
    stored = {r.fingerprint for r in intake.runtime.ledger.inbox_rows()}
    assert stored >= set(names[:4]) and "RefusedBody" not in stored
