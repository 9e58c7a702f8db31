"""Role suggestions rotate people through roles; cadences follow the severity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.incident.helpers import T0, Stream, declared, policy
from warroom.incident import events as ev
from warroom.incident.cadence import due
from warroom.incident.models import Role
from warroom.incident.policy import Roster
from warroom.incident.rotation import Holding, suggest_roles
from warroom.incident.state import fold

IC, OPS, COMMS, PLAN = (Role.INCIDENT_COMMANDER, Role.OPERATIONS_LEAD, Role.COMMUNICATIONS_LEAD,
                        Role.PLANNING_LEAD)


def roster(**people: tuple[Role, ...]) -> Roster:
    return Roster.model_validate({
        "teams": {"payments": {"name": "Payments", "escalation_policy": "PESC1", "jira_project": "PAY"}},
        "people": {h: {"name": h.title(), "email": f"{h}@example.com", "team": "payments", "roles": list(r)}
                   for h, r in people.items()},
    })


R = roster(alice=(IC, OPS), bob=(IC, OPS, COMMS), carol=(IC, PLAN, COMMS), dan=(OPS,))


def held(role: Role, person: str, days_ago: int) -> Holding:
    return Holding(role, person, T0 - timedelta(days=days_ago))


@pytest.mark.parametrize(
    ("history", "oncall", "expected_ic", "reason"),
    [
        ([], None, "alice", "alice: IC 0 times in the last 90 days (never)"),
        ([held(IC, "alice", 3)], None, "bob", "bob: IC 0 times"),
        ([held(IC, "alice", 3), held(IC, "bob", 10)], None, "carol", "carol: IC 0 times"),
        # everyone once: the one who held it longest ago
        ([held(IC, "alice", 3), held(IC, "bob", 10), held(IC, "carol", 5)], None, "bob",
         "bob: IC 1 time in the last 90 days (last on 2026-11-16)"),
        # outside the window it does not count
        ([held(IC, "alice", 100), held(IC, "bob", 1), held(IC, "carol", 1)], None, "alice", "alice: IC 0"),
        # a tie goes to the on-call
        ([], "carol", "carol", "carol: IC 0 times in the last 90 days (never); on call now"),
    ],
)
def test_ic_suggestion(history: list[Holding], oncall: str | None, expected_ic: str, reason: str) -> None:
    suggestion = suggest_roles(R, history, T0, 90, oncall=oncall)[IC]
    assert suggestion.person == expected_ic
    assert suggestion.reason.startswith(reason)


def test_one_person_one_role_where_the_roster_allows() -> None:
    s = suggest_roles(R, [], T0, 90)
    people = [s[r].person for r in (IC, OPS, COMMS, PLAN)]
    # planning: only carol may hold it, so she gets two roles; everyone else gets one
    assert people == ["alice", "bob", "carol", "carol"]


def test_suggestions_are_deterministic_and_explain_an_empty_role() -> None:
    small = roster(alice=(IC,), bob=(OPS,))
    first = suggest_roles(small, [held(IC, "alice", 1)], T0, 90)
    assert first == suggest_roles(small, [held(IC, "alice", 1)], T0, 90)
    assert first[PLAN].person is None and "nobody on the roster may be planning lead" in first[PLAN].reason


def test_cadence_follows_severity_and_the_last_update() -> None:
    p = policy()
    s = Stream()
    declared(s, severity="SEV1")
    state = fold(s.records)
    d = due(state, p)
    assert d.status_update == state.declared_at + timedelta(minutes=15)
    assert d.checkpoint == state.declared_at + timedelta(minutes=30)
    assert d.overdue(state.declared_at + timedelta(minutes=14)) == []
    s.add(ev.StatusUpdatePosted, message="rolling back")
    state = fold(s.records)
    d = due(state, p)
    assert d.status_update == state.last_status_update_at + timedelta(minutes=15)
    late = d.overdue(state.declared_at + timedelta(minutes=40))
    assert late == [f"status update overdue since {d.status_update:%H:%M} UTC",
                    f"checkpoint overdue since {d.checkpoint:%H:%M} UTC"]
