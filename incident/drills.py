"""Practice (SRE ch. 14): drills on the real flows, replays of past incidents, and roles that change around.

Pure: the scenario's shape, when each drill alert goes out (a scenario's delays, or a past incident's
alerts with time compressed), who practises which role (the rotation rule), and the comparison of a
drill's timeline with the original's. No clock reads (times are passed in), no I/O.

A drill's alerts carry :data:`DRILL_LABEL` (the drill's id) and :data:`ROLES_LABEL` (``auto`` or
``ask``); the intake sees the label and declares a drill incident (``Declared.drill``), which pages
only the drill routing key and files only ``drill``-labelled Jira issues. A replay's alerts also
carry :data:`REPLAY_LABEL`, the incident they replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

from warroom.incident import events as ev
from warroom.incident.models import Alert, Phase, Role
from warroom.incident.policy import Roster, Scenario, format_duration
from warroom.incident.rotation import ROLE_SHORT, Holding, Suggestion

__all__ = [
    "DRILL_LABEL",
    "REPLAY_LABEL",
    "ROLES_LABEL",
    "Comparison",
    "Scheduled",
    "compare",
    "drill_alert",
    "drill_rotation",
    "is_drill",
    "phase_durations",
    "replay_schedule",
    "scenario_schedule",
]

DRILL_LABEL = "warroom_drill"
ROLES_LABEL = "warroom_drill_roles"
REPLAY_LABEL = "warroom_replay_of"
DRILL_TAG = "[DRILL]"
RolesMode = Literal["auto", "ask"]


@dataclass(frozen=True)
class Scheduled:
    """Send ``alert`` at ``offset`` after the drill starts."""

    offset: timedelta
    alert: Alert


def is_drill(alert: Alert) -> bool:
    """The alert was sent by a drill (``warroom drill``), not by a monitoring system."""
    return bool(alert.labels.get(DRILL_LABEL))


def drill_alert(alert: Alert, drill_id: str, roles: RolesMode, replay_of: str | None = None) -> Alert:
    """``alert`` as a drill sends it: labelled with the drill, its own fingerprint (never one of a real
    alert's), no start time of its own (the drill's clock starts it)."""
    labels = {**alert.labels, DRILL_LABEL: drill_id, ROLES_LABEL: roles}
    if replay_of:
        labels[REPLAY_LABEL] = replay_of
    return alert.model_copy(update={"source": "drill", "fingerprint": f"{drill_id}:{alert.fingerprint}",
                                    "labels": labels, "starts_at": None, "ends_at": None})


def scenario_schedule(scenario: Scenario, drill_id: str, roles: RolesMode) -> list[Scheduled]:
    """The scenario's alerts, each at the sum of the delays before it."""
    out: list[Scheduled] = []
    offset = timedelta(0)
    for index, item in enumerate(scenario.alerts):
        offset += item.after
        alert = Alert(source="drill", fingerprint=item.fingerprint or f"alert-{index + 1}", status=item.status,
                      service=scenario.service, summary=item.summary, labels=dict(item.labels),
                      annotations=dict(item.annotations))
        out.append(Scheduled(offset, drill_alert(alert, drill_id, roles)))
    return out


def replay_schedule(
    records: Sequence[ev.Recorded], drill_id: str, roles: RolesMode, speed: float, replay_of: str
) -> list[Scheduled]:
    """A past incident's alerts (fired and resolved, in the ledger's order) at their times since the
    first, divided by ``speed``. Raises ValueError when ``speed`` is not positive or there is no alert."""
    if not speed > 0:
        raise ValueError(f"--speed must be more than 0, got {speed:g}")
    known: dict[str, Alert] = {}
    sent: list[tuple[datetime, Alert]] = []
    for rec in records:
        event = rec.event
        if isinstance(event, ev.AlertAttached):
            known[event.alert.fingerprint] = event.alert
            sent.append((event.occurred_at, event.alert))
        elif isinstance(event, ev.AlertResolved) and event.fingerprint in known:
            resolved = known[event.fingerprint].model_copy(update={"status": "resolved"})
            sent.append((event.occurred_at, resolved))
    if not sent:
        raise ValueError(f"{replay_of} has no alerts in the ledger to replay (it was declared by hand?)")
    start = sent[0][0]
    return [Scheduled(max(at - start, timedelta(0)) / speed, drill_alert(alert, drill_id, roles, replay_of))
            for at, alert in sent]


# ------------------------------------------------------------------------------------------------
# Rotation: who practises which role


def drill_rotation(
    roster: Roster, history: Iterable[Holding], now: datetime, window_days: int, oncall: Iterable[str] = ()
) -> dict[Role, Suggestion]:
    """The drill's roles by rotation: for each role (IC first), among those the roster allows who are
    not on call now, whoever held it least often in the window (drills and real incidents alike), then
    least recently (never before long ago), then by handle; one role per person while people last.
    Deterministic, and each pick says why."""
    since = now - timedelta(days=window_days)
    recent = [h for h in history if since <= h.at <= now]
    busy = set(oncall)
    taken: set[str] = set()
    out: dict[Role, Suggestion] = {}
    for role in Role:
        eligible = [p for p in roster.eligible(role) if p not in busy]
        if not eligible:
            why = "everyone who may be it is on call now" if roster.eligible(role) else "nobody on the roster may be it"
            out[role] = Suggestion(role, None, f"no {ROLE_SHORT[role]}: {why}")
            continue
        free = [p for p in eligible if p not in taken] or eligible

        def key(person: str, role: Role = role) -> tuple[int, datetime, str]:
            held = [h.at for h in recent if h.role is role and h.person == person]
            last = max(held) if held else datetime.min.replace(tzinfo=now.tzinfo)
            return (len(held), last, person)

        best = min(free, key=key)
        count, last, _ = key(best)
        when = "never" if count == 0 else f"last on {last:%Y-%m-%d}"
        times = "time" if count == 1 else "times"
        reason = f"{best}: {ROLE_SHORT[role]} {count} {times} in the last {window_days} days ({when})"
        if busy:
            reason += f"; not on call ({', '.join(sorted(busy))} is)"
        out[role] = Suggestion(role, best, reason)
        taken.add(best)
    return out


# ------------------------------------------------------------------------------------------------
# A drill beside the original

_PHASES = (Phase.DECLARED, Phase.STABILISING, Phase.RESTORING, Phase.PRESERVING_EVIDENCE, Phase.REVERTING)


def phase_durations(records: Sequence[ev.Recorded]) -> dict[Phase, timedelta]:
    """How long the incident spent in each phase, from its declaration to its close (a phase still
    going, or never entered, is left out)."""
    entered: list[tuple[Phase, datetime]] = []
    for rec in records:
        event = rec.event
        if isinstance(event, ev.Declared):
            entered.append((Phase.DECLARED, event.occurred_at))
        elif isinstance(event, ev.PhaseChanged):
            entered.append((event.to, event.occurred_at))
        elif isinstance(event, ev.Closed):
            entered.append((Phase.CLOSED, event.occurred_at))
    out: dict[Phase, timedelta] = {}
    for (phase, at), (_, until) in pairwise(entered):
        if phase in _PHASES:
            out[phase] = out.get(phase, timedelta(0)) + (until - at)
    return out


@dataclass(frozen=True)
class Comparison:
    original: str
    drill: str
    phases: list[tuple[Phase, timedelta | None, timedelta | None]]  # phase, original's time, drill's
    original_timeline: list[tuple[timedelta, str, str]]  # since declaration, actor, what
    drill_timeline: list[tuple[timedelta, str, str]]

    def lines(self) -> list[str]:
        def fmt(value: timedelta | None) -> str:
            return "-" if value is None else (format_duration(value) if value >= timedelta(seconds=1) else "0s")

        out = [f"{'phase':22} {self.original:>28} {self.drill:>28}"]
        out += [f"{phase.value.replace('_', ' '):22} {fmt(a):>28} {fmt(b):>28}" for phase, a, b in self.phases]
        for name, timeline in ((self.original, self.original_timeline), (self.drill, self.drill_timeline)):
            out += ["", f"{name}: what was done (time since declared)"]
            out += [f"  {'+' + fmt(at):>9}  {actor:10} {what}" for at, actor, what in timeline]
        return out


def _timeline(records: Sequence[ev.Recorded]) -> list[tuple[timedelta, str, str]]:
    declared = next((r.event.occurred_at for r in records if isinstance(r.event, ev.Declared)), None)
    if declared is None:
        declared = records[0].event.occurred_at if records else datetime.min
    return [(max(r.event.occurred_at - declared, timedelta(0)), r.event.actor, r.event.describe()) for r in records]


def compare(original_id: str, original: Sequence[ev.Recorded], drill_id: str,
            drill: Sequence[ev.Recorded]) -> Comparison:
    """The drill's timeline beside the original's: the time each phase took in both, and what was done."""
    a, b = phase_durations(original), phase_durations(drill)
    phases = [(p, a.get(p), b.get(p)) for p in _PHASES if p in a or p in b]
    return Comparison(original_id, drill_id, phases, _timeline(original), _timeline(drill))


def alert_labels(records: Sequence[ev.Recorded]) -> dict[str, Any]:
    """The labels of the incident's first alert (where a drill's labels are), empty if none."""
    first = next((r.event.alert for r in records if isinstance(r.event, ev.AlertAttached)), None)
    return dict(first.labels) if first is not None else {}
