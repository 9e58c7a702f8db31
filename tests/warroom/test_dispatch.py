"""Nothing stranded: the ledger's work is carried out whatever fails between the decision and the
page, or between the page and the lifecycle run (PagerDuty down for a while, Prefect's API down, a
process killed), exactly once; and keys of any length."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey
from prefect.client.schemas.objects import FlowRun, State
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.states import Cancelled, Crashed, Failed

from tests.helpers import Clock
from tests.warroom.test_intake import TOKEN, am_alert, am_group, settings
from warroom.flows.desks import arm, offers
from warroom.flows.intake import receive_alert
from warroom.incident import work
from warroom.incident.events import AlertAttached, Closed, Declared, Escalated, EvidenceWaived, PhaseChanged
from warroom.incident.models import Phase
from warroom.intake import create_intake_app, make_dispatcher
from warroom.integrations.alerts.parse import parse
from warroom.integrations.ledger import Ledger, WorkRow
from warroom.integrations.ledger.testing import reset_postgres_database
from warroom.integrations.pagerduty.credentials import PagerDutyCredentials
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.integrations.retry import RetryPolicy
from warroom.integrations.sandbox.recorder import Fault
from warroom.integrations.sandbox.server import Sandboxes
from warroom.recovery import FailedLifecycles
from warroom.runner import Background
from warroom.tasks.ledger import envelope, load_state, record
from warroom.tasks.runtime import Runtime, use_runtime
from warroom.tasks.work import LEASE, Dispatcher

ENQUEUE = "/v2/enqueue"


@dataclass
class Stack:
    url: str
    runtime: Runtime
    sandboxes: Sandboxes
    clock: Clock
    dispatcher: Dispatcher

    def post(self, body: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/alerts/alertmanager", json=body, timeout=30,
                          headers={"authorization": f"Bearer {TOKEN}"})

    @property
    def pd(self) -> Any:
        assert self.sandboxes.pagerduty_app is not None
        return self.sandboxes.pagerduty_app.state

    def pages(self, incident_id: str) -> int:
        return len(self.pd.pagerduty.incidents_for_key(incident_id))

    def triggers(self) -> int:
        return sum(1 for r in self.pd.recorder.requests() if r.path.startswith(ENQUEUE))

    def faults(self, *faults: Fault) -> None:
        self.pd.recorder.set_faults(faults)

    def run_until_idle(self) -> int:
        done = 0
        while (n := self.dispatcher.run_due()) > 0:
            done += n
        return done


def runs_keyed(key: str) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        runs: list[FlowRun] = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            idempotency_key=FlowRunFilterIdempotencyKey(any_=[key])))
    return runs


def lifecycle_runs(incident_id: str) -> int:
    return len(runs_keyed(f"{incident_id}:lifecycle"))


@pytest.fixture()
def stack(make_runtime: Callable[..., Runtime], sandboxes: Sandboxes) -> Iterator[Stack]:
    clock = Clock()
    built = make_runtime(30, clock=clock)
    # one try per call: the dispatcher's backoff (on the injected clock) does the retrying
    pager = PagerDutyPager(PagerDutyCredentials.from_env(sandboxes.env()), retry=RetryPolicy(max_attempts=1))
    runtime = replace(built, pager=pager)
    stack = Stack("", runtime, sandboxes, clock, make_dispatcher(runtime))
    stack.faults()
    stack.pd.recorder.clear()
    with use_runtime(runtime):
        server = Background(create_intake_app(runtime, settings(), clock, stack.dispatcher, dispatch_loop=False))
        stack.url = server.url
        yield stack
        server.stop()
    stack.faults()


def declared(stack: Stack, name: str, **labels: str) -> str:
    answer = stack.post(am_group(am_alert(name, severity="critical", impact="customer", **labels)))
    assert answer.status_code == 202, answer.text
    alert = answer.json()["alerts"][0]
    assert alert["action"] == "declared", alert
    return str(alert["incident"])


def test_pagerduty_503_for_a_while_then_well_pages_once_without_a_redelivery(stack: Stack) -> None:
    stack.faults(Fault(status=503, count=3, path_prefix=ENQUEUE))
    incident_id = declared(stack, "Outage503")
    assert stack.pages(incident_id) == 0  # the first try met the 503
    page = next(w for w in stack.runtime.ledger.work_rows(incident_id) if w.kind == "page")
    assert page.status == "pending" and page.attempts == 1 and "503" in (page.last_error or "")

    tries = 1
    for _ in range(10):
        stack.clock.now += timedelta(seconds=60)  # the longest backoff: whatever is pending is due
        stack.run_until_idle()
        tries += 1
        if stack.pages(incident_id):
            break
    assert stack.pages(incident_id) == 1
    assert stack.triggers() == 4  # three 503s, then the page
    assert all(w.status == "done" for w in stack.runtime.ledger.work_rows(incident_id))
    stack.clock.now += timedelta(minutes=10)
    assert stack.run_until_idle() == 0 and stack.triggers() == 4
    assert lifecycle_runs(incident_id) == 1


def test_a_redelivery_re_drives_the_unfinished_page(stack: Stack) -> None:
    stack.faults(Fault(status=503, count=1, path_prefix=ENQUEUE))
    incident_id = declared(stack, "Redelivered")
    assert stack.pages(incident_id) == 0
    again = stack.post(am_group(am_alert("Redelivered", severity="critical", impact="customer")))
    assert again.json()["alerts"][0]["action"] == "joined"
    assert stack.pages(incident_id) == 1  # the redelivery paged, at once, not waiting for the backoff


def test_prefect_api_down_pages_then_starts_the_lifecycle_once_when_it_is_back(stack: Stack) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/api"
    with temporary_settings({PREFECT_API_URL: closed, PREFECT_CLIENT_MAX_RETRIES: 0}):
        incident_id = declared(stack, "PrefectDown")
        assert stack.pages(incident_id) == 1  # the page never waits on Prefect
        stack.clock.now += timedelta(seconds=5)
        assert stack.dispatcher.run_due() == 0  # the run start fails: Prefect is unreachable
    run = next(w for w in stack.runtime.ledger.work_rows(incident_id) if w.kind == "start_run")
    assert run.status == "pending" and run.attempts >= 1 and run.last_error
    stack.clock.now += timedelta(seconds=60)
    assert stack.run_until_idle() == 1
    stack.clock.now += timedelta(seconds=60)
    assert stack.run_until_idle() == 0
    assert lifecycle_runs(incident_id) == 1 and stack.pages(incident_id) == 1


def test_a_crash_after_the_decision_or_after_the_page_loses_nothing(stack: Stack) -> None:
    """What a SIGKILL leaves: the decision and its work committed, nothing (or only the page) done,
    and a lease held by the dead process. A restarted process carries on, each effect once."""
    alert_a = am_alert("CrashBeforePage", severity="critical", impact="customer")
    alert_b = am_alert("CrashBeforeRun", severity="critical", impact="customer")


    outcomes = []
    for body in (am_group(alert_a), am_group(alert_b)):
        parsed = parse("alertmanager", json.dumps(body).encode(), "application/json")
        outcomes.append(receive_alert(parsed.alerts[0], "crash-test", parsed.group_key, drive=None))
    a, b = (o.incident_id for o in outcomes)
    assert a and b and [o.action for o in outcomes] == ["declared", "declared"]
    assert stack.pages(a) == 0 and stack.pages(b) == 0  # "killed" before anything was carried out
    stack.dispatcher.drive(b)  # b got its page out, then the process died before the run started
    assert stack.pages(b) == 1
    # the dead process had claimed a's work too: its lease must pass before anyone else takes it
    claimed = stack.runtime.ledger.claim_work(stack.clock(), LEASE, limit=10, incident_ids=[a])
    assert len(claimed) == 2

    restarted = Ledger.open(stack.runtime.ledger.url, stack.clock)
    try:
        after = make_dispatcher(replace(stack.runtime, ledger=restarted))
        assert [w.incident_id for w in restarted.claim_work(stack.clock(), LEASE, limit=10)] == [b]
        stack.clock.now += LEASE + timedelta(seconds=1)
        while after.run_due():
            pass
    finally:
        restarted.close()
    assert stack.pages(a) == 1 and stack.pages(b) == 1
    assert lifecycle_runs(a) == 1 and lifecycle_runs(b) == 1
    assert stack.triggers() == 2
    assert all(w.status == "done" for i in (a, b) for w in stack.runtime.ledger.work_rows(i))


def test_long_group_keys_and_fingerprints_are_hashed_into_keys(stack: Stack) -> None:
    labels = {f"label_{n:02d}": "x" * 20 for n in range(20)}
    group_key = "{}/{}/{}:" + ",".join(f'{k}="{v}"' for k, v in labels.items())
    assert len(group_key) > 500
    body = am_group(am_alert("LongKey", severity="critical", impact="customer", **labels), key=group_key)
    answer = stack.post(body)
    assert answer.status_code == 202, answer.text
    incident_id = answer.json()["alerts"][0]["incident"]
    assert stack.pages(incident_id) == 1
    assert stack.post(body).json()["alerts"][0]["action"] == "joined"  # the same (hashed) key again

    huge = am_alert("HugeFingerprint", severity="critical", impact="customer")
    huge["fingerprint"] = "f" * 100_000
    answer = stack.post(am_group(huge))
    assert answer.status_code == 202, answer.text
    assert answer.json()["alerts"][0]["action"] == "declared"
    stored = [r.event for r in stack.runtime.ledger.stream(answer.json()["alerts"][0]["incident"])]
    first = stored[0]
    assert isinstance(first, AlertAttached) and first.alert.fingerprint == "f" * 100_000  # kept whole
    assert len(first.idempotency_key) <= 200


@pytest.mark.postgres
def test_two_dispatchers_on_one_postgresql_ledger_never_do_one_piece_of_work_twice(postgres_url: str) -> None:
    reset_postgres_database(postgres_url)
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    done: Counter[str] = Counter()
    lock = threading.Lock()

    def start(row: WorkRow) -> str:
        with lock:
            done[row.key] += 1
        return row.key

    ledgers = [Ledger.open(postgres_url, lambda: now) for _ in range(2)]
    try:
        ledgers[0].add_work([work.start_lifecycle(f"INC-{n}", f"INC-{n}:lifecycle", {}, now) for n in range(200)])
        runtimes = [Runtime(config=None, ledger=ledger, pager=None, tracker=None, clock=lambda: now,  # type: ignore[arg-type]
                            home=None, config_dir=None) for ledger in ledgers]  # type: ignore[arg-type]
        dispatchers = [Dispatcher(rt, {"start_run": start}) for rt in runtimes]

        def drain(dispatcher: Dispatcher) -> None:
            while dispatcher.run_due(limit=5):
                pass

        threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(done) == 200 and set(done.values()) == {1}
        assert {w.status for w in ledgers[0].work_rows()} == {"done"}
    finally:
        for ledger in ledgers:
            ledger.close()


def test_a_desk_timeout_in_the_ledger_escalates_once_with_no_process_waiting(stack: Stack) -> None:
    """The desk's timer is due work: with nobody waiting anywhere (warroom up stopped), the dispatcher
    escalates when it is due, once, and times the next round."""
    incident_id = declared(stack, "NobodyAnswers")
    with use_runtime(stack.runtime):  # what the lifecycle's declare step records before the roles desk
        record(Declared(**envelope(incident_id, f"{incident_id}:declared"), title="NobodyAnswers",
                        service="checkout", severity="SEV1", commander="alice", reasons=("test",)))
        roles = offers(load_state(incident_id))[0]
        arm(incident_id, roles)
        arm(incident_id, roles)  # a rerun arms nothing more
    timer = stack.runtime.ledger.work_by_key(f"{incident_id}:roles:timeout:0")
    assert timer is not None and timer.due_at == stack.clock.now + stack.runtime.config.policy.approvals.roles
    stack.run_until_idle()  # the page and the lifecycle run; the timer is not due yet

    def escalations() -> list[Escalated]:
        return [r.event for r in stack.runtime.ledger.stream(incident_id) if isinstance(r.event, Escalated)]

    assert escalations() == []
    stack.clock.now = timer.due_at + timedelta(hours=2)  # up was stopped for two hours: overdue
    assert stack.run_until_idle() == 1
    [escalated] = escalations()
    assert escalated.responders == ("grace", "dan") and "no answer from the incident commander" in escalated.reason
    assert len(stack.pd.pagerduty.incidents_for_key(incident_id)[0].responder_requests) == 1
    assert stack.runtime.ledger.work_by_key(f"{incident_id}:roles:timeout:1") is not None  # the next round


def test_a_desk_answered_in_time_does_not_escalate(stack: Stack) -> None:
    incident_id = declared(stack, "AnsweredInTime")
    with use_runtime(stack.runtime):
        record(Declared(**envelope(incident_id, f"{incident_id}:declared"), title="AnsweredInTime",
                        service="checkout", severity="SEV1", commander="alice", reasons=("test",)))
        arm(incident_id, offers(load_state(incident_id))[0])
        record(PhaseChanged(**envelope(incident_id, f"{incident_id}:phase:stabilising", "alice"),
                            to=Phase.STABILISING))
    stack.clock.now += timedelta(hours=1)
    stack.run_until_idle()
    assert not [r for r in stack.runtime.ledger.stream(incident_id) if isinstance(r.event, Escalated)]
    assert stack.runtime.ledger.work_by_key(f"{incident_id}:roles:timeout:0").outcome == "answered meanwhile"


def test_a_body_whose_processing_failed_is_processed_again_by_the_dispatcher(stack: Stack) -> None:
    """What the intake leaves when processing fails (any exception): the body in the inbox, marked
    received with the reason, and work to try it again, so it is processed even if never resent."""
    body = json.dumps(am_group(am_alert("RetriedLater", severity="critical", impact="customer"))).encode()
    ledger = stack.runtime.ledger
    inbox_id = ledger.store_inbox("alertmanager", {"content-type": "application/json"}, body, stack.clock())
    ledger.mark_inbox(inbox_id, "received", reason="processing failed: OperationalError: disk I/O error")
    ledger.add_work([work.retry_inbox(inbox_id, stack.clock())])
    assert stack.run_until_idle() == 0  # due a second later, not at once
    stack.clock.now += timedelta(seconds=1)
    stack.run_until_idle()
    row = ledger.inbox_row(inbox_id)
    assert row.status == "accepted" and row.incident_id and "declared" in (row.reason or "")
    assert stack.pages(row.incident_id) == 1
    assert ledger.work_by_key(f"inbox:{inbox_id}").outcome == "processed on a later try: 202"  # type: ignore[union-attr]


def test_while_the_sender_waits_the_page_is_tried_once_and_the_rest_is_the_dispatchers(
    make_runtime: Callable[..., Runtime], sandboxes: Sandboxes
) -> None:
    """The runtime's pager retries (5 tries in 30 s), but not while an Alertmanager waits for its
    answer: the intake tries once, answers, and leaves the retries to the dispatcher."""
    clock = Clock()
    runtime = make_runtime(30, clock=clock)
    stack = Stack("", runtime, sandboxes, clock, make_dispatcher(runtime))
    stack.pd.recorder.clear()
    stack.faults(Fault(status=503, count=1, path_prefix=ENQUEUE))  # the pager's own retry would page at once
    server = Background(create_intake_app(runtime, settings(), clock, stack.dispatcher, dispatch_loop=False))
    stack.url = server.url
    try:
        incident_id = declared(stack, "TriedOnce")
        page = next(w for w in runtime.ledger.work_rows(incident_id) if w.kind == "page")
        assert (page.status, page.attempts, stack.triggers()) == ("pending", 1, 1)
        stack.clock.now += timedelta(seconds=60)
        stack.run_until_idle()
        assert stack.pages(incident_id) == 1 and stack.triggers() == 2
    finally:
        server.stop()
        stack.faults()


def test_a_body_left_unprocessed_by_a_stopped_intake_is_processed_after_a_restart(stack: Stack) -> None:
    """Killed between storing a body and saying what became of it: the row stays "received" with no
    reason. The next intake to start takes it up (once the body is a minute old: another intake may be
    at it), and it is processed; one processed meanwhile is left as it is."""
    body = json.dumps(am_group(am_alert("LeftBehind", severity="critical", impact="customer"))).encode()
    ledger = stack.runtime.ledger
    left = ledger.store_inbox("alertmanager", {"content-type": "application/json"}, body, stack.clock())
    done = ledger.store_inbox("alertmanager", {"content-type": "application/json"}, b"{}", stack.clock())
    restarted = Background(create_intake_app(stack.runtime, settings(), stack.clock, stack.dispatcher,
                                             dispatch_loop=False))  # its start takes them up
    restarted.stop()
    ledger.mark_inbox(done, "rejected", reason="processed by another intake meanwhile")
    stack.clock.now += timedelta(seconds=59)
    assert stack.run_until_idle() == 0  # not before the body is a minute old
    stack.clock.now += timedelta(seconds=1)
    stack.run_until_idle()
    row = ledger.inbox_row(left)
    assert row.status == "accepted" and row.incident_id and "declared" in (row.reason or "")
    assert stack.pages(row.incident_id) == 1
    assert ledger.inbox_row(done).reason == "processed by another intake meanwhile"
    assert ledger.work_by_key(f"inbox:{done}").outcome == "processed meanwhile: rejected"  # type: ignore[union-attr]


def the_lifecycle_run(key: str) -> FlowRun:
    [run] = runs_keyed(key)
    return run


def ends(run: FlowRun, state: State[Any]) -> None:
    """What the runner records of a lifecycle run that failed (Prefect's API answering 503 while it ran)."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, state, force=True)


def test_a_lifecycle_run_that_failed_is_started_afresh_once_per_failure_with_backoff(stack: Stack) -> None:
    """The lifecycle run that ends Failed (or Crashed) would leave its incident on no desk: a fresh run is
    stored as work, once per failed run whichever dispatchers look, after the dispatcher's backoff."""
    incident_id = declared(stack, "LifecycleFailed")
    stack.run_until_idle()  # the lifecycle run is started (a runner would run it)
    first = the_lifecycle_run(f"{incident_id}:lifecycle")
    ends(first, Failed(message="Server error '503 Service Unavailable' for url '.../task_runs/'"))
    failed = FailedLifecycles(every_s=0)
    assert failed.look() == 1
    rerun = stack.runtime.ledger.work_by_key(f"{incident_id}:lifecycle:rerun:{first.id}")
    assert rerun is not None and rerun.kind == "start_run" and rerun.status == "pending"
    assert rerun.params["parameters"] == first.parameters
    assert rerun.due_at == stack.clock.now + timedelta(seconds=1)
    assert failed.look() == 0 and FailedLifecycles(every_s=0).look() == 0  # once, whoever looks
    assert stack.run_until_idle() == 0  # not due yet
    stack.clock.now += timedelta(seconds=1)
    assert stack.run_until_idle() == 1
    second = the_lifecycle_run(f"{incident_id}:lifecycle:rerun:{first.id}")
    assert second.parameters == first.parameters

    ends(second, Crashed(message="the run's process exited with code -9"))
    assert failed.look() == 1
    again = stack.runtime.ledger.work_by_key(f"{incident_id}:lifecycle:rerun:{second.id}")
    assert again is not None and again.due_at == stack.clock.now + timedelta(seconds=2)  # the backoff grows
    ends(second, Cancelled(message="cancelled by alice"))
    assert failed.look() == 0  # someone meant it


def test_a_failed_lifecycle_run_is_left_alone_when_another_carries_its_incident_on_or_it_is_closed(
    stack: Stack,
) -> None:
    carried_on, closed = declared(stack, "CarriedOn"), declared(stack, "ClosedSince")
    stack.run_until_idle()
    # carry_on at `warroom up`'s start: the old run crashed, and a fresh one stored after it
    old = the_lifecycle_run(f"{carried_on}:lifecycle")
    parameters = dict(old.parameters)
    stack.runtime.ledger.add_work([work.start_lifecycle(carried_on, f"{carried_on}:lifecycle:resume:1", parameters,
                                                        stack.clock())])
    ends(old, Crashed(message="warroom up stopped while this run was in progress"))
    with use_runtime(stack.runtime):
        record(Declared(**envelope(closed, f"{closed}:declared"), title="ClosedSince", service="checkout",
                        severity="SEV2", commander="alice", reasons=("test",)))
        for phase in (Phase.STABILISING, Phase.RESTORING, Phase.PRESERVING_EVIDENCE, Phase.REVERTING):
            record(PhaseChanged(**envelope(closed, f"{closed}:{phase}"), to=phase))
            if phase is Phase.PRESERVING_EVIDENCE:
                record(EvidenceWaived(**envelope(closed, f"{closed}:waived", actor="alice"), reason="a test"))
        record(Closed(**envelope(closed, f"{closed}:closed", actor="alice"), summary="fixed"))
    ends(the_lifecycle_run(f"{closed}:lifecycle"), Failed(message="503"))
    assert FailedLifecycles(every_s=0).look() == 0
    assert [w.key for w in stack.runtime.ledger.work_rows(kind="start_run") if ":rerun:" in w.key] == []
