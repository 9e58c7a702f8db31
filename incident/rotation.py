"""Role suggestions that "change it around": rotate people through the roles.

For each role, among the roster members eligible for it, suggest the person who held it least often
in the window, then least recently (never beats long ago), then the one on call now, then by handle.
One person is suggested for one role at most where the roster allows. Deterministic and explained.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from warroom.incident.models import Role
from warroom.incident.policy import Roster


@dataclass(frozen=True)
class Holding:
    """``person`` held ``role`` in an incident at ``at`` (from the ledger's history)."""

    role: Role
    person: str
    at: datetime


@dataclass(frozen=True)
class Suggestion:
    role: Role
    person: str | None
    reason: str


ROLE_SHORT = {
    Role.INCIDENT_COMMANDER: "IC",
    Role.OPERATIONS_LEAD: "ops lead",
    Role.COMMUNICATIONS_LEAD: "comms lead",
    Role.PLANNING_LEAD: "planning lead",
}


def suggest_roles(
    roster: Roster,
    history: Iterable[Holding],
    now: datetime,
    window_days: int,
    oncall: str | None = None,
) -> dict[Role, Suggestion]:
    since = now - timedelta(days=window_days)
    recent = [h for h in history if since <= h.at <= now]
    taken: set[str] = set()
    out: dict[Role, Suggestion] = {}
    for role in Role:
        eligible = roster.eligible(role)
        if not eligible:
            out[role] = Suggestion(role, None, f"nobody on the roster may be {role.label}")
            continue
        free = [p for p in eligible if p not in taken] or eligible

        def key(person: str, role: Role = role) -> tuple[int, datetime, int, str]:
            held = [h.at for h in recent if h.role is role and h.person == person]
            last = max(held) if held else datetime.min.replace(tzinfo=now.tzinfo)
            return (len(held), last, 0 if person == oncall else 1, person)

        best = min(free, key=key)
        count, last, _, _ = key(best)
        when = "never" if count == 0 else f"last on {last:%Y-%m-%d}"
        times = "time" if count == 1 else "times"
        reason = f"{best}: {ROLE_SHORT[role]} {count} {times} in the last {window_days} days ({when})"
        if best == oncall:
            reason += "; on call now"
        out[role] = Suggestion(role, best, reason)
        taken.add(best)
    return out
