"""Where an alert goes: open, join, resolve, reopen within the window, or a new episode."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.incident.helpers import T0, Stream, declared, policy
from warroom.incident import events as ev
from warroom.incident.grouping import incident_id_for, route
from warroom.incident.models import Alert, AlertStatus, Phase
from warroom.incident.state import IncidentState, fold

P = policy()


def alert(status: AlertStatus = "firing") -> Alert:
    return Alert(source="alertmanager", fingerprint="fp", status=status, summary="s", service="checkout")


def closed_at(minutes_ago: int) -> tuple[IncidentState, datetime]:
    s = Stream()
    declared(s)
    for phase in (Phase.STABILISING, Phase.RESTORING, Phase.PRESERVING_EVIDENCE, Phase.REVERTING):
        s.add(ev.PhaseChanged, to=phase)
    s.add(ev.EvidenceWaived, reason="drill")
    s.add(ev.Closed, summary="done")
    state = fold(s.records)
    assert state.closed_at is not None
    return state, state.closed_at + timedelta(minutes=minutes_ago)


@pytest.mark.parametrize(
    ("status", "action"), [("firing", "open"), ("resolved", "ignore")]
)
def test_first_sight(status: AlertStatus, action: str) -> None:
    assert route(None, alert(status), P, T0).action == action


def test_an_open_incident_takes_its_alerts_and_their_resolves() -> None:
    s = Stream()
    declared(s)
    state = fold(s.records)
    assert route(state, alert(), P, T0).action == "join"
    assert route(state, alert("resolved"), P, T0).action == "resolve"


@pytest.mark.parametrize(
    ("minutes_after_close", "after_close", "action"),
    [(10, "reopen", "reopen"), (45, "reopen", "open"), (10, "new", "open")],
)
def test_after_a_close(minutes_after_close: int, after_close: str, action: str) -> None:
    state, now = closed_at(minutes_after_close)
    p = policy(declaration={**P.declaration.model_dump(), "after_close": after_close})
    decision = route(state, alert(), p, now)
    assert decision.action == action
    assert route(state, alert("resolved"), p, now).action == "ignore"


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_distinct_fingerprints_never_share_an_incident(a: str, b: str) -> None:
    assert (incident_id_for(a, 1) == incident_id_for(b, 1)) == (a == b)
    assert incident_id_for(a, 1) != incident_id_for(a, 2)
