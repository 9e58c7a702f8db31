"""When is it an incident? The chapter's three conditions and the severity policy decide.

Any one condition is enough to declare: a second team is needed; the outage is visible to customers;
the issue is unsolved after an hour (policy's ``unsolved_after``) of concentrated analysis. Otherwise
the alert is watched until that hour is up, unless its severity says it is never an incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from warroom.incident.models import Alert
from warroom.incident.policy import DeclarationPolicy, Policy

Action = Literal["declare", "watch", "not_incident"]


@dataclass(frozen=True)
class Signals:
    """What is known about a problem, in the chapter's terms."""

    severity: str
    firing: bool
    second_team_needed: bool
    customer_visible: bool
    first_seen: datetime


@dataclass(frozen=True)
class Decision:
    action: Action
    severity: str
    reasons: tuple[str, ...]
    watch_until: datetime | None = None


def severity_of(alert: Alert, policy: DeclarationPolicy) -> str:
    raw = alert.labels.get(policy.severity_label, "").strip().lower()
    return policy.severity_map.get(raw, policy.default_severity)


def signals_from_alert(
    alert: Alert, policy: Policy, customer_facing_service: bool, first_seen: datetime
) -> Signals:
    """Read the chapter's signals off an alert's labels, as policy says where they are."""
    d = policy.declaration
    return Signals(
        severity=severity_of(alert, d),
        firing=alert.status == "firing",
        second_team_needed=d.second_team.matches(alert.labels),
        customer_visible=customer_facing_service and d.customer_visible.matches(alert.labels),
        first_seen=first_seen,
    )


def decide(signals: Signals, policy: Policy, now: datetime) -> Decision:
    """Declare now, watch until a given time, or not an incident, with reasons a responder can read."""
    sev = signals.severity
    if not signals.firing:
        return Decision("not_incident", sev, ("the alert has resolved",))
    severity = policy.severities.get(sev)
    if severity is None:
        return Decision("declare", sev, (f"severity {sev} is not in the policy: declaring to be safe",))

    reasons: list[str] = []
    if signals.second_team_needed:
        reasons.append("a second team is needed to fix it")
    if signals.customer_visible:
        reasons.append("customers can see it")
    deadline = signals.first_seen + policy.declaration.unsolved_after
    if now >= deadline:
        reasons.append(
            f"unsolved after {_words(policy.declaration.unsolved_after.total_seconds())} of analysis "
            f"(first seen {signals.first_seen:%Y-%m-%d %H:%M} UTC)"
        )
    if severity.declare == "immediately":
        reasons.append(f"{sev} is declared at once by policy: {severity.meaning.rstrip('.')}")

    if severity.declare == "never" and not reasons:
        never = f"{sev} is never an incident by policy: {severity.meaning.rstrip('.')}"
        return Decision("not_incident", sev, (never,))
    if reasons:
        return Decision("declare", sev, tuple(reasons))
    return Decision(
        "watch",
        sev,
        (
            "no second team needed, customers cannot see it, and it is not yet unsolved after "
            f"{_words(policy.declaration.unsolved_after.total_seconds())}: watching until "
            f"{deadline:%H:%M} UTC",
        ),
        watch_until=deadline,
    )


def _words(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"
