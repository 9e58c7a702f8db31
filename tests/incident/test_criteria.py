"""Declaration criteria: the chapter's three conditions and the severity policy, table-driven."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.incident.helpers import T0, policy
from warroom.incident.criteria import Signals, decide, signals_from_alert
from warroom.incident.models import Alert

P = policy()


def sig(severity: str = "SEV3", firing: bool = True, team: bool = False, customers: bool = False) -> Signals:
    return Signals(severity=severity, firing=firing, second_team_needed=team, customer_visible=customers,
                   first_seen=T0)


@pytest.mark.parametrize(
    ("signals", "minutes_later", "action", "reason"),
    [
        (sig(team=True), 1, "declare", "a second team is needed"),
        (sig(customers=True), 1, "declare", "customers can see it"),
        (sig(), 60, "declare", "unsolved after 1 hour of analysis (first seen 2026-11-26 03:00 UTC)"),
        (sig(), 59, "watch", "watching until 04:00 UTC"),
        (sig("SEV1"), 0, "declare", "SEV1 is declared at once by policy: revenue lost"),
        (sig("SEV4"), 5, "not_incident", "SEV4 is never an incident by policy"),
        (sig("SEV4", customers=True), 5, "declare", "customers can see it"),
        (sig(firing=False, customers=True), 5, "not_incident", "the alert has resolved"),
        (sig("SEV9"), 0, "declare", "severity SEV9 is not in the policy"),
    ],
)
def test_decision(signals: Signals, minutes_later: int, action: str, reason: str) -> None:
    decision = decide(signals, P, T0 + timedelta(minutes=minutes_later))
    assert decision.action == action
    assert any(reason in r for r in decision.reasons), decision.reasons
    if action == "watch":
        assert decision.watch_until == T0 + timedelta(hours=1)
    else:
        assert decision.watch_until is None


def test_the_hour_comes_from_policy() -> None:
    short = policy(declaration={**P.declaration.model_dump(), "unsolved_after": "20m"})
    assert decide(sig(), short, T0 + timedelta(minutes=20)).action == "declare"
    assert "unsolved after 20 minutes" in decide(sig(), short, T0 + timedelta(minutes=20)).reasons[0]


@pytest.mark.parametrize(
    ("labels", "customer_facing", "severity", "team", "customers"),
    [
        ({"severity": "critical", "impact": "customer"}, True, "SEV1", False, True),
        ({"severity": "critical", "impact": "customer"}, False, "SEV1", False, False),
        ({"severity": "nonsense", "teams": "multiple"}, True, "SEV3", True, False),
        ({}, True, "SEV3", False, False),
    ],
)
def test_signals_are_read_off_the_labels(
    labels: dict[str, str], customer_facing: bool, severity: str, team: bool, customers: bool
) -> None:
    alert = Alert(source="alertmanager", fingerprint="f", status="firing", summary="s", labels=labels)
    s = signals_from_alert(alert, P, customer_facing, T0)
    got = (s.severity, s.second_team_needed, s.customer_visible, s.firing)
    assert got == (severity, team, customers, True)
