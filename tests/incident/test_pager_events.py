"""The pager's news about a page warroom sent: recorded in every phase, the first acknowledgement is
the incident's time to acknowledge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.incident.helpers import T0, Stream
from warroom.incident import events as ev
from warroom.incident.models import Phase
from warroom.incident.state import ALLOWED, fold


def pager(stream: Stream, event_type: str, at_minutes: int, **fields: Any) -> ev.Recorded:
    return stream.add(ev.PagerEventReceived, actor="pagerduty", event_type=event_type,
                      event_id=f"E{stream.seq + 1}", at=T0 + timedelta(minutes=at_minutes), **fields)


def paged(stream: Stream) -> None:
    stream.add(ev.AlertAttached, actor="alertmanager", alert={
        "source": "alertmanager", "fingerprint": "fp1", "status": "firing", "summary": "5xx on checkout",
        "service": "checkout"})
    stream.add(ev.Paged, actor="warroom", dedup_key=stream.incident_id, target="checkout-ep")


@pytest.mark.parametrize("phase", list(Phase))
def test_pager_news_is_allowed_in_every_phase_even_after_close(phase: Phase) -> None:
    assert "pager_event_received" in ALLOWED[phase]


def test_the_first_acknowledgement_is_the_time_to_acknowledge() -> None:
    s = Stream()
    paged(s)
    state = fold(s.records)
    assert state.acknowledged_at is None and state.pager_incident is None

    pager(s, "incident.triggered", 1, pager_incident="PABC123")
    pager(s, "incident.escalated", 3, pager_incident="PABC123")
    assert fold(s.records).acknowledged_at is None  # news, but nobody has answered the page yet

    pager(s, "incident.acknowledged", 5, pager_incident="PABC123", agent="Ann", acknowledged=True)
    pager(s, "incident.unacknowledged", 20, pager_incident="PABC123")
    pager(s, "incident.acknowledged", 25, pager_incident="PABC123", agent="Bob", acknowledged=True)
    state = fold(s.records)
    assert state.acknowledged_at == T0 + timedelta(minutes=5)
    assert state.pager_incident == "PABC123"
    assert state.phase is Phase.PENDING
    assert state.timeline[-1].text == "pager: incident.acknowledged by Bob"
    assert state.timeline[-1].at == s.records[-1].event.occurred_at  # when warroom heard of it


def test_an_acknowledgement_delivered_late_still_counts_from_when_it_happened() -> None:
    s = Stream()
    paged(s)
    pager(s, "incident.acknowledged", 30, acknowledged=True)  # a re-acknowledgement, delivered first
    pager(s, "incident.acknowledged", 4, acknowledged=True)  # the first one, delivered late
    assert fold(s.records).acknowledged_at == T0 + timedelta(minutes=4)


def test_without_the_pager_time_the_time_heard_counts() -> None:
    s = Stream()
    paged(s)
    heard = s.add(ev.PagerEventReceived, actor="pagerduty", event_type="incident.acknowledged",
                  acknowledged=True)
    assert fold(s.records).acknowledged_at == heard.event.occurred_at


def test_pager_news_after_close_changes_no_phase() -> None:
    s = Stream()
    paged(s)
    state = fold(s.records)
    state.phase = Phase.CLOSED  # a closed incident, as far as the table is concerned
    after = fold([pager(s, "incident.resolved", 90)], start=state)
    assert after.phase is Phase.CLOSED and after.timeline[-1].text == "pager: incident.resolved"


def test_the_event_reads_back_from_its_parts() -> None:
    s = Stream()
    event = s.event(ev.PagerEventReceived, actor="pagerduty", event_type="incident.annotated",
                    event_id="E9", pager_incident="PABC123", at=T0, agent="Ann")
    rebuilt = ev.event_from_parts(event.kind, event.payload(), incident_id=event.incident_id, actor=event.actor,
                                  occurred_at=event.occurred_at, idempotency_key=event.idempotency_key)
    assert rebuilt == event
