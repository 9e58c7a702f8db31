"""The practice's pure parts: scenario and replay schedules, the drill rotation, a drill beside the original."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from warroom.incident import events as ev
from warroom.incident.drills import (
    DRILL_LABEL,
    REPLAY_LABEL,
    ROLES_LABEL,
    compare,
    drill_rotation,
    is_drill,
    phase_durations,
    replay_schedule,
    scenario_schedule,
)
from warroom.incident.models import Alert, Phase, Role
from warroom.incident.policy import DrillPolicy, Roster, Scenario
from warroom.incident.rotation import Holding

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ALL = list(Role)


def roster(*handles: str, roles: list[Role] = ALL) -> Roster:
    return Roster.model_validate({
        "teams": {"t": {"name": "T", "escalation_policy": "P1", "jira_project": "PAY"}},
        "people": {h: {"name": h.title(), "email": f"{h}@example.com", "team": "t", "roles": roles} for h in handles},
    })


def recorded(events: list[ev.Event]) -> list[ev.Recorded]:
    return [ev.Recorded.model_validate({"event_id": f"e{i}", "seq": i, "recorded_at": e.occurred_at,
                                        "event": e.model_dump()})
            for i, e in enumerate(events, start=1)]


def env(iid: str, key: str, at: datetime, actor: str = "warroom") -> dict[str, object]:
    return {"incident_id": iid, "idempotency_key": f"{iid}:{key}", "occurred_at": at, "actor": actor}


def alert(fingerprint: str, summary: str, status: str = "firing") -> Alert:
    return Alert(source="alertmanager", fingerprint=fingerprint, status=status, service="checkout", summary=summary,
                 labels={"severity": "critical"}, starts_at=T0)


# scenarios ---------------------------------------------------------------------------------------

SCENARIO = Scenario.model_validate({
    "title": "Checkout 500s", "service": "checkout",
    "alerts": [{"after": "0s", "summary": "errors", "fingerprint": "err", "labels": {"severity": "critical"}},
               {"after": "1m", "summary": "latency"},
               {"after": "90s", "summary": "errors", "fingerprint": "err", "status": "resolved"}],
})


def test_a_scenario_sends_each_alert_the_sum_of_the_delays_after_the_start_labelled_as_the_drill() -> None:
    schedule = scenario_schedule(SCENARIO, "DRILL-1", "auto")
    assert [s.offset for s in schedule] == [timedelta(0), timedelta(minutes=1), timedelta(minutes=2, seconds=30)]
    assert [(s.alert.summary, s.alert.status) for s in schedule] == [
        ("errors", "firing"), ("latency", "firing"), ("errors", "resolved")]
    first = schedule[0].alert
    assert first.labels == {"severity": "critical", DRILL_LABEL: "DRILL-1", ROLES_LABEL: "auto"}
    assert first.source == "drill" and first.service == "checkout" and is_drill(first)
    # the same fingerprint resolves the alert it fired; none is a real alert's fingerprint
    assert schedule[0].alert.fingerprint == schedule[2].alert.fingerprint == "DRILL-1:err"
    assert schedule[1].alert.fingerprint == "DRILL-1:alert-2"
    assert not is_drill(alert("x", "real"))


@pytest.mark.parametrize("bad", [{"after": "-1m"}, {"after": "soon"}, {"after": 0.5}])
def test_a_scenario_alert_delay_must_be_a_duration(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="after"):
        Scenario.model_validate({"title": "x", "service": "checkout", "alerts": [{"summary": "s", **bad}]})


def test_a_scenario_needs_an_alert_and_knows_its_fields() -> None:
    with pytest.raises(ValidationError, match="at least one alert"):
        Scenario.model_validate({"title": "x", "service": "checkout", "alerts": []})
    with pytest.raises(ValidationError, match="Extra inputs"):
        Scenario.model_validate({"title": "x", "service": "checkout", "alerts": [{"summary": "s", "delay": "1m"}]})


def test_the_drill_schedule_is_a_cron_of_five_fields_monthly_by_default() -> None:
    assert DrillPolicy().schedule == "0 10 1 * *" and DrillPolicy().roles == "auto"
    assert DrillPolicy.model_validate({"schedule": "0  9 * * 1"}).schedule == "0 9 * * 1"
    with pytest.raises(ValidationError, match="5 fields"):
        DrillPolicy.model_validate({"schedule": "monthly"})


# replays -----------------------------------------------------------------------------------------

def past_incident() -> list[ev.Recorded]:
    iid = "INC-PAST"
    return recorded([
        ev.AlertAttached(**env(iid, "a1", T0, "alertmanager"), alert=alert("f1", "errors")),
        ev.Declared(**env(iid, "declared", T0 + timedelta(seconds=5), "alertmanager"), title="errors",
                    service="checkout", severity="SEV1", commander="alice", reasons=("customers",)),
        ev.AlertAttached(**env(iid, "a2", T0 + timedelta(minutes=10), "alertmanager"), alert=alert("f2", "latency")),
        ev.AlertResolved(**env(iid, "r1", T0 + timedelta(minutes=40), "alertmanager"), fingerprint="f1"),
        ev.AlertAttached(**env(iid, "a3", T0 + timedelta(hours=2), "alertmanager"), alert=alert("f3", "disk")),
    ])


def test_a_replay_sends_the_same_alerts_in_the_same_order_with_time_divided_by_speed() -> None:
    schedule = replay_schedule(past_incident(), "DRILL-2", "ask", 60, "INC-PAST")
    assert [(s.alert.summary, s.alert.status) for s in schedule] == [
        ("errors", "firing"), ("latency", "firing"), ("errors", "resolved"), ("disk", "firing")]
    assert [s.offset for s in schedule] == [timedelta(0), timedelta(seconds=10), timedelta(seconds=40),
                                            timedelta(minutes=2)]
    assert all(s.alert.labels[REPLAY_LABEL] == "INC-PAST" and s.alert.labels[ROLES_LABEL] == "ask" for s in schedule)
    assert all(s.alert.starts_at is None for s in schedule)  # the drill's clock starts them, not the original's
    assert [s.offset for s in replay_schedule(past_incident(), "D", "ask", 1, "INC-PAST")][-1] == timedelta(hours=2)


def test_a_replay_needs_a_positive_speed_and_some_alerts() -> None:
    with pytest.raises(ValueError, match="--speed must be more than 0"):
        replay_schedule(past_incident(), "D", "auto", 0, "INC-PAST")
    declared_by_hand = [r for r in past_incident() if r.event.kind == "declared"]
    with pytest.raises(ValueError, match="INC-PAST has no alerts"):
        replay_schedule(declared_by_hand, "D", "auto", 10, "INC-PAST")


# rotation ----------------------------------------------------------------------------------------

NOW = T0 + timedelta(days=30)


def held(role: Role, person: str, days_ago: int) -> Holding:
    return Holding(role, person, NOW - timedelta(days=days_ago))


def test_the_drill_rotation_picks_who_held_each_role_least_and_leaves_out_the_on_call() -> None:
    people = roster("alice", "bob", "carol", "dan", "erin")
    history = [held(Role.INCIDENT_COMMANDER, "alice", 3), held(Role.INCIDENT_COMMANDER, "bob", 5),
               held(Role.INCIDENT_COMMANDER, "bob", 9), held(Role.OPERATIONS_LEAD, "carol", 2),
               held(Role.COMMUNICATIONS_LEAD, "erin", 4), held(Role.INCIDENT_COMMANDER, "erin", 200)]
    picks = drill_rotation(people, history, NOW, 90, oncall=["carol"])
    # IC: carol is on call; dan and erin never commanded in the window (erin's was 200 days ago): dan by handle
    assert picks[Role.INCIDENT_COMMANDER].person == "dan"
    assert picks[Role.INCIDENT_COMMANDER].reason == (
        "dan: IC 0 times in the last 90 days (never); not on call (carol is)")
    # ops: alice, bob, erin never held it (dan is taken): alice by handle
    assert picks[Role.OPERATIONS_LEAD].person == "alice"
    # comms: erin held it; bob has not
    assert picks[Role.COMMUNICATIONS_LEAD].person == "bob"
    # planning: only erin is left
    assert picks[Role.PLANNING_LEAD].person == "erin"
    assert "carol" not in {p.person for p in picks.values()}
    # deterministic: the same inputs in another order, the same picks
    assert drill_rotation(people, list(reversed(history)), NOW, 90, oncall=["carol"]) == picks


def test_the_drill_rotation_prefers_long_ago_over_recently_when_counts_tie() -> None:
    people = roster("alice", "bob", roles=[Role.INCIDENT_COMMANDER])
    history = [held(Role.INCIDENT_COMMANDER, "alice", 1), held(Role.INCIDENT_COMMANDER, "bob", 20)]
    picks = drill_rotation(people, history, NOW, 90)
    assert picks[Role.INCIDENT_COMMANDER].person == "bob"
    assert "1 time in the last 90 days (last on" in picks[Role.INCIDENT_COMMANDER].reason
    # nobody else may be ops lead
    assert picks[Role.OPERATIONS_LEAD].person is None
    only = drill_rotation(roster("alice", roles=[Role.INCIDENT_COMMANDER]), [], NOW, 90, oncall=["alice"])
    assert only[Role.INCIDENT_COMMANDER].person is None
    assert "on call now" in only[Role.INCIDENT_COMMANDER].reason


# a drill beside the original -----------------------------------------------------------------------

def lifecycle(iid: str, start: datetime, minutes: list[int]) -> list[ev.Recorded]:
    """Declared at ``start``; then stabilising, restoring, preserving evidence, reverting, closed at the
    given minutes after it."""
    at = [start + timedelta(minutes=m) for m in minutes]
    return recorded([
        ev.Declared(**env(iid, "declared", start, "alice"), title="t", service="checkout", severity="SEV1",
                    commander="alice", reasons=("r",)),
        ev.PhaseChanged(**env(iid, "p1", at[0], "alice"), to=Phase.STABILISING),
        ev.PhaseChanged(**env(iid, "p2", at[1], "alice"), to=Phase.RESTORING),
        ev.PhaseChanged(**env(iid, "p3", at[2], "alice"), to=Phase.PRESERVING_EVIDENCE),
        ev.PhaseChanged(**env(iid, "p4", at[3]), to=Phase.REVERTING),
        ev.Closed(**env(iid, "closed", at[4], "alice"), summary="done"),
    ])


def test_phase_durations_run_from_one_phase_change_to_the_next() -> None:
    durations = phase_durations(lifecycle("INC-A", T0, [5, 35, 50, 51, 80]))
    assert durations == {Phase.DECLARED: timedelta(minutes=5), Phase.STABILISING: timedelta(minutes=30),
                         Phase.RESTORING: timedelta(minutes=15), Phase.PRESERVING_EVIDENCE: timedelta(minutes=1),
                         Phase.REVERTING: timedelta(minutes=29)}
    assert Phase.STABILISING not in phase_durations(lifecycle("INC-A", T0, [5, 35, 50, 51, 80])[:2])


def test_the_comparison_lists_both_timelines_and_the_time_of_each_phase_in_both() -> None:
    original = lifecycle("INC-A", T0, [5, 35, 50, 51, 80])
    drill = lifecycle("INC-D", NOW, [1, 4, 6, 7, 9])
    result = compare("INC-A", original, "INC-D", drill)
    assert result.phases[1] == (Phase.STABILISING, timedelta(minutes=30), timedelta(minutes=3))
    lines = result.lines()
    assert lines[0].split() == ["phase", "INC-A", "INC-D"]
    assert lines[2].split() == ["stabilising", "30m", "3m"]
    assert "INC-A: what was done (time since declared)" in lines
    assert "INC-D: what was done (time since declared)" in lines
    assert any(line.split()[:3] == ["+1h20m", "alice", "closed:"] for line in lines)
    assert any(line.split()[:3] == ["+9m", "alice", "closed:"] for line in lines)
