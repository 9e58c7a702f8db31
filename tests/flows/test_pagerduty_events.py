"""PagerDuty V3 webhooks about the pages warroom sent, through the intake over real HTTP: recorded on
the warroom incident they are about (the acknowledgement is its time to acknowledge), never a new
incident; unknown event types and other PagerDuty incidents ignored; a redelivery answered as a
duplicate. The bodies are PagerDuty's own documented example with the fields of each case changed."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.helpers import shared_payload
from tests.warroom import test_intake
from tests.warroom.test_intake import NOW, PD_SECRETS, Intake, am_alert, am_group
from warroom.incident import events as ev
from warroom.tasks.ledger import load_state

intake = test_intake.intake  # the intake service's fixture, served over HTTP with a test clock

DOCS_EXAMPLE = "pd_v3_docs_incident_priority_updated.json"


def signed(body: bytes, secret: str = PD_SECRETS[1]) -> dict[str, str]:
    return {"x-pagerduty-signature": "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "authorization": ""}


def send(intake: Intake, body: bytes) -> dict[str, Any]:
    response = intake.post("pagerduty", body, signed(body))
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def webhook(event_type: str, event_id: str, at: datetime, incident_key: str | None, pd_id: str = "PGR0VU2",
            **data: Any) -> bytes:
    """PagerDuty's documented example, about incident ``pd_id`` with ``incident_key``."""
    body = json.loads(shared_payload(DOCS_EXAMPLE))
    event = body["event"]
    event.update(id=event_id, event_type=event_type, occurred_at=at.isoformat().replace("+00:00", "Z"))
    event["data"].update(id=pd_id, incident_key=incident_key, **data)
    if incident_key is None:
        del event["data"]["incident_key"]
    return json.dumps(body).encode()


def note(event_id: str, at: datetime, pd_id: str) -> bytes:
    """An ``incident.annotated`` event: its data is the note, which names only PagerDuty's incident."""
    return json.dumps({"event": {
        "id": event_id, "event_type": "incident.annotated", "resource_type": "incident",
        "occurred_at": at.isoformat(),
        "agent": {"id": "PLH1HKV", "summary": "Tenex Engineer", "type": "user_reference"},
        "client": None, "data": {"incident": {"id": pd_id, "type": "incident_reference", "summary": "x"},
                                 "id": "PWL7QXS", "content": "rolled back the deploy", "trimmed": False,
                                 "type": "incident_note"}}}).encode()


def paged_incident(intake: Intake, name: str) -> tuple[str, str]:
    """A warroom incident declared from an Alertmanager alert and paged: (its id, PagerDuty's id)."""
    answer = intake.post("alertmanager", am_group(am_alert(name, severity="critical", impact="customer")))
    [alert] = answer.json()["alerts"]
    assert alert["action"] == "declared", answer.text
    incident_id = alert["incident"]
    assert incident_id in load_state(incident_id).pages
    assert intake.sandboxes.pagerduty_app is not None
    pd_incident = intake.sandboxes.pagerduty_app.state.pagerduty.incidents_for_key(incident_id)[-1]
    return incident_id, pd_incident.id


def pager_facts(intake: Intake, incident_id: str) -> list[ev.PagerEventReceived]:
    return [r.event for r in intake.runtime.ledger.stream(incident_id) if isinstance(r.event, ev.PagerEventReceived)]


def incidents(intake: Intake) -> set[str]:
    return {row.incident_id for row in intake.runtime.ledger.list_incidents(limit=1000)}


def inbox_row(intake: Intake, inbox_id: int) -> Any:
    return next(r for r in intake.runtime.ledger.inbox_rows() if r.id == inbox_id)


def test_an_acknowledgement_is_recorded_on_the_incident_warroom_paged(intake: Intake) -> None:
    incident_id, pd_id = paged_incident(intake, "PdAckCheckout")
    before = incidents(intake)
    acked = NOW + timedelta(minutes=4, seconds=12)
    answer = send(intake, webhook("incident.acknowledged", "01ACK", acked, incident_id, pd_id, status="acknowledged"))

    assert (answer["incident"], answer["action"], answer["event"]) == (incident_id, "recorded", "01ACK")
    assert incidents(intake) == before  # no new incident
    state = load_state(incident_id)
    assert state.acknowledged_at == acked
    assert state.pager_incident == pd_id
    assert state.timeline[-1].text == "pager: incident.acknowledged by Tenex Engineer"
    [fact] = pager_facts(intake, incident_id)
    assert (fact.event_type, fact.event_id, fact.at, fact.agent, fact.acknowledged) == (
        "incident.acknowledged", "01ACK", acked, "Tenex Engineer", True)
    row = inbox_row(intake, answer["inbox"])
    assert (row.status, row.incident_id, row.fingerprint) == ("accepted", incident_id, pd_id)


def test_the_life_of_a_page_is_recorded_on_its_incident(intake: Intake) -> None:
    incident_id, pd_id = paged_incident(intake, "PdLifeCheckout")
    before = incidents(intake)
    sent = [
        webhook("incident.triggered", "01TRIG", NOW + timedelta(seconds=5), incident_id, pd_id),
        webhook("incident.escalated", "01ESC", NOW + timedelta(minutes=5), incident_id, pd_id),
        webhook("incident.reassigned", "01REA", NOW + timedelta(minutes=6), incident_id, pd_id),
        webhook("incident.acknowledged", "01ACK", NOW + timedelta(minutes=7), incident_id, pd_id),
        note("01NOTE", NOW + timedelta(minutes=8), pd_id),  # names PagerDuty's incident only
        webhook("incident.acknowledged", "01ACK2", NOW + timedelta(minutes=9), incident_id, pd_id),
        webhook("incident.resolved", "01RES", NOW + timedelta(minutes=40), incident_id, pd_id, status="resolved"),
    ]
    answers = [send(intake, body) for body in sent]

    assert [a["action"] for a in answers] == ["recorded"] * len(sent), answers
    assert {a["incident"] for a in answers} == {incident_id}
    assert incidents(intake) == before
    facts = pager_facts(intake, incident_id)
    assert [f.event_type for f in facts] == [
        "incident.triggered", "incident.escalated", "incident.reassigned", "incident.acknowledged",
        "incident.annotated", "incident.acknowledged", "incident.resolved"]
    assert [f.event_id for f in facts] == ["01TRIG", "01ESC", "01REA", "01ACK", "01NOTE", "01ACK2", "01RES"]
    assert load_state(incident_id).acknowledged_at == NOW + timedelta(minutes=7)  # the first acknowledgement


@pytest.mark.parametrize("event_type", ["pagey.ping", "incident.foo", "service.updated"])
def test_an_unknown_event_type_is_kept_in_the_inbox_and_ignored(intake: Intake, event_type: str) -> None:
    incident_id, pd_id = paged_incident(intake, "PdUnknownCheckout")
    before = incidents(intake)
    answer = send(intake, webhook(event_type, "01UNKNOWN", NOW, incident_id, pd_id))

    assert (answer["action"], answer["incident"]) == ("ignored", None)
    assert answer["reason"] == f"PagerDuty event type {event_type} is not an incident event"
    assert incidents(intake) == before and pager_facts(intake, incident_id) == []
    row = inbox_row(intake, answer["inbox"])
    assert row.status == "accepted" and row.reason == f"ignored: {answer['reason']}"


def test_the_real_service_updated_body_is_ignored(intake: Intake) -> None:
    body = shared_payload("pd_v3_docs_service_updated.json")
    before = incidents(intake)
    answer = send(intake, body)
    assert answer["action"] == "ignored" and "service.updated" in answer["reason"]
    assert incidents(intake) == before


def test_a_redelivered_webhook_is_answered_as_a_duplicate_and_recorded_once(intake: Intake) -> None:
    incident_id, pd_id = paged_incident(intake, "PdReplayCheckout")
    body = webhook("incident.acknowledged", "01REPLAY", NOW + timedelta(minutes=2), incident_id, pd_id)
    first, again = send(intake, body), send(intake, body)

    assert (first["action"], again["action"]) == ("recorded", "duplicate")
    assert again["incident"] == incident_id and "01REPLAY" in again["reason"]
    assert [f.event_id for f in pager_facts(intake, incident_id)] == ["01REPLAY"]
    assert inbox_row(intake, again["inbox"]).status == "duplicate"
    assert inbox_row(intake, first["inbox"]).status == "accepted"


def test_an_event_for_an_incident_warroom_did_not_page_is_ignored_with_the_reason(intake: Intake) -> None:
    paged_id, _ = paged_incident(intake, "PdOtherCheckout")
    # a warroom incident that is only being watched: warroom has not paged for it
    watching = intake.post("alertmanager", am_group(am_alert("PdWatchedSearch", service="search", severity="warning")))
    [alert] = watching.json()["alerts"]
    assert alert["action"] == "watching"
    before = incidents(intake)

    real = shared_payload(DOCS_EXAMPLE)  # PagerDuty's example: incident_key d3640fbd...
    cases = [
        (real, "PagerDuty incident PGR0VU2 (incident_key 'd3640fbd41094207a1c11e58e46b1662') is not one warroom paged"),
        (webhook("incident.acknowledged", "01W", NOW, alert["incident"], "PWATCH"), "is not one warroom paged"),
        (webhook("incident.acknowledged", "01N", NOW, None, "PNOKEY"), "PagerDuty incident PNOKEY is not one"),
        (note("01NOTE", NOW, "PUNKNOWN"), "PagerDuty incident PUNKNOWN is not one warroom paged"),
    ]
    for body, reason in cases:
        answer = send(intake, body)
        assert (answer["action"], answer["incident"]) == ("ignored", None), answer
        assert reason in answer["reason"]
        row = inbox_row(intake, answer["inbox"])
        assert (row.status, row.incident_id, row.reason) == ("accepted", None, f"ignored: {answer['reason']}")
    assert incidents(intake) == before
    assert pager_facts(intake, paged_id) == [] and pager_facts(intake, alert["incident"]) == []
