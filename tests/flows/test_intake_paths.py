"""The intake's decisions written the short way, with the same outcome as step by step: the alert that
opens an incident, the criteria's decision and its work in one transaction; the page driven only by a
declaration; a redelivery that finds all done drives nothing; an incident with facts already (another
intake got there first) still gets its alert and one decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.flows.intake import receive_alert
from warroom.incident import events as ev
from warroom.incident.grouping import incident_id_for
from warroom.incident.models import Alert
from warroom.tasks.ledger import envelope, load_state, record
from warroom.tasks.runtime import Runtime

SEEN = datetime.now(UTC).replace(microsecond=0)  # the runtime's clock is the real one: a watch needs a recent alert


def alert(fingerprint: str, severity: str, service: str = "checkout", **labels: str) -> Alert:
    return Alert(source="alertmanager", fingerprint=fingerprint, status="firing", service=service,
                 summary=f"{fingerprint} on {service}", labels={"severity": severity, **labels}, starts_at=SEEN)


class Drives(list[str]):
    def __call__(self, incident_id: str) -> int:
        self.append(incident_id)
        return 0


def test_a_watched_alert_is_stored_with_its_decision_and_timer_at_once_and_pages_nothing(runtime: Runtime) -> None:
    drives = Drives()
    outcome = receive_alert(alert("fast-watch", "warning", service="search"), "inbox-1", drive=drives)
    assert outcome.action == "watching"
    stream = runtime.ledger.stream(outcome.incident_id or "")
    assert [r.event.kind for r in stream] == ["alert_attached", "declaration_decided"]
    assert stream[0].recorded_at == stream[1].recorded_at  # one transaction
    assert [w.kind for w in runtime.ledger.work_rows(outcome.incident_id)] == ["watch"]
    assert drives == []  # a watch calls for no page: nothing to drive
    state = load_state(outcome.incident_id or "")
    assert state.first_seen["fast-watch"] == SEEN and state.decisions == {"watch"}


def test_a_declaration_drives_its_page_and_a_redelivery_with_all_done_drives_nothing(runtime: Runtime) -> None:
    drives = Drives()
    first = receive_alert(alert("fast-declare", "critical", impact="customer"), "inbox-2", drive=drives)
    assert first.action == "declared" and drives == [first.incident_id]
    kinds = sorted(w.kind for w in runtime.ledger.work_rows(first.incident_id, status="pending"))
    assert kinds == ["page", "start_run"]
    again = receive_alert(alert("fast-declare", "critical", impact="customer"), "inbox-3", drive=drives)
    assert again.action == "joined" and "still to do" in again.reason
    assert drives == [first.incident_id] * 2  # unfinished work: driven again
    for row in runtime.ledger.claim_work(runtime.clock(), timedelta(seconds=60), limit=10,
                                         incident_ids=[first.incident_id], even_if_not_due=True):
        runtime.ledger.finish_work(row.id, "done (test)", runtime.clock())
    third = receive_alert(alert("fast-declare", "critical", impact="customer"), "inbox-4", drive=drives)
    assert third.action == "joined" and third.reason == f"{first.incident_id} is declared"
    assert drives == [first.incident_id] * 2  # nothing left to do: not driven


def test_an_incident_with_facts_already_gets_the_alert_and_one_decision(runtime: Runtime) -> None:
    incident_id = incident_id_for("fast-raced", 1)
    record(ev.PagerEventReceived(**envelope(incident_id, f"{incident_id}:pager:early"), event_id="early",
                                 event_type="incident.annotated"))
    outcome = receive_alert(alert("fast-raced", "warning", service="search"), "inbox-5")
    assert outcome.incident_id == incident_id and outcome.action == "watching"
    kinds = [r.event.kind for r in runtime.ledger.stream(incident_id)]
    assert kinds == ["pager_event_received", "alert_attached", "declaration_decided"]
    assert len(runtime.ledger.work_rows(incident_id)) == 1
