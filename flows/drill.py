"""A drill: a scenario's alerts (or a past incident's, replayed) sent through the intake's own path, in
order and on time, so that the very same flows and desks take it from there (DESIGN §1, "practice").

Each alert is stored in the ledger's inbox (source ``drill``) and routed by
:func:`~flows.intake.receive_alerts`, grouped by the drill's id, so the drill is one incident of its own;
the criteria and the dispatcher do the rest (the page on the drill routing key, the lifecycle run). The
waits between alerts go through an injected ``sleep`` (tests pass one that only records).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from prefect import flow, get_run_logger

from warroom.flows.intake import Drive, Outcome, receive_alerts
from warroom.incident import events as ev
from warroom.incident.drills import (
    DRILL_LABEL,
    REPLAY_LABEL,
    RolesMode,
    Scheduled,
    alert_labels,
    compare,
    replay_schedule,
    scenario_schedule,
)
from warroom.incident.errors import WarroomError
from warroom.incident.grouping import grouping_key, incident_id_for
from warroom.incident.policy import WarroomConfig
from warroom.incident.state import fold
from warroom.tasks.runtime import current_runtime

DEFAULT_SPEED = 60.0  # a replay's hour in a minute
Sleep = Callable[[float], None]
Stream = Callable[[str], Sequence[ev.Recorded]]


@dataclass(frozen=True)
class DrillPlan:
    drill_id: str
    incident_id: str  # the incident the drill's alerts open
    service: str
    title: str
    schedule: list[Scheduled]
    replay_of: str | None = None
    scenario: str | None = None


def new_drill_id(now: datetime) -> str:
    return f"DRILL-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def plan_drill(config: WarroomConfig, stream: Stream, now: datetime, scenario: str | None = None,
               replay: str | None = None, speed: float = DEFAULT_SPEED, roles: str = "auto",
               drill_id: str | None = None) -> DrillPlan:
    """What the drill sends, and when. ``scenario``: a name in configs/drills/; ``replay``: a past incident
    in the ledger (its alerts, time divided by ``speed``); neither: the policy's scheduled scenario.
    Raises :class:`WarroomError` (one line, naming what) for anything that cannot be drilled."""
    if roles not in ("auto", "ask"):
        raise WarroomError(f"--roles must be auto or ask, not {roles!r}")
    mode = cast(RolesMode, roles)
    drill_id = drill_id or new_drill_id(now)
    if scenario and replay:
        raise WarroomError("give a scenario or --replay INC, not both")
    if replay:
        records = stream(replay)
        if not records:
            raise WarroomError(f"no incident {replay} in the ledger: `warroom incidents` lists them")
        state = fold(records, replay)
        if state.drill:
            raise WarroomError(f"{replay} is a drill itself: replay the incident it practised instead")
        try:
            schedule = replay_schedule(records, drill_id, mode, speed, replay)
        except ValueError as exc:
            raise WarroomError(str(exc)) from None
        service = state.service or schedule[0].alert.service or ""
        if service not in config.services.services:
            raise WarroomError(f"{replay}'s service {service!r} is no longer in services.yaml: it cannot be replayed")
        return DrillPlan(drill_id, _incident_for(schedule, drill_id), service, state.title or replay, schedule,
                         replay_of=replay)
    if not config.drills:
        raise WarroomError("no drill scenarios: add one to configs/drills/ (`warroom init` writes two examples)")
    name = scenario or config.policy.drills.scenario or next(iter(sorted(config.drills)))
    if name not in config.drills:
        raise WarroomError(f"no drill scenario {name!r}; configs/drills/ has: {', '.join(sorted(config.drills))}")
    chosen = config.drills[name]
    schedule = scenario_schedule(chosen, drill_id, mode)
    return DrillPlan(drill_id, _incident_for(schedule, drill_id), chosen.service, chosen.title, schedule,
                     scenario=name)


def _incident_for(schedule: list[Scheduled], drill_id: str) -> str:
    return incident_id_for(grouping_key(schedule[0].alert, drill_id), 1)


def send_drill(plan: DrillPlan, sleep: Sleep = time.sleep, drive: Drive | None = None,
               say: Callable[[str], None] = lambda _: None) -> list[Outcome]:
    """Send the plan's alerts through the intake's path, each at its time (``sleep`` waits)."""
    rt = current_runtime()
    outcomes: list[Outcome] = []
    sent = timedelta(0)
    for item in plan.schedule:
        wait = item.offset - sent
        if wait > timedelta(0):
            sleep(wait.total_seconds())
        sent = max(sent, item.offset)
        body = json.dumps({"alerts": [item.alert.model_dump(mode="json")]}).encode()
        inbox_id = rt.ledger.store_inbox("drill", {"content-type": "application/json"}, body, rt.clock())
        outcome = receive_alerts([item.alert], f"inbox-{inbox_id}", plan.drill_id, drive)[0]
        rt.ledger.mark_inbox(inbox_id, "accepted", reason=f"{outcome.action}: {outcome.reason}",
                             incident_id=outcome.incident_id, fingerprint=item.alert.fingerprint)
        say(f"+{item.offset.total_seconds():.0f}s {item.alert.status} {item.alert.summary}: {outcome.action}")
        outcomes.append(outcome)
    return outcomes


def comparison_lines(stream: Stream, drill_incident: str) -> list[str]:
    """A replay's timeline beside the original's; raises WarroomError if ``drill_incident`` replays nothing."""
    records = stream(drill_incident)
    if not records:
        raise WarroomError(f"no incident {drill_incident} in the ledger: `warroom incidents` lists them")
    labels = alert_labels(records)
    original = labels.get(REPLAY_LABEL)
    if not labels.get(DRILL_LABEL) or not original:
        raise WarroomError(f"{drill_incident} is not a replay (`warroom drill --replay INC` makes one): "
                           "nothing to compare it with")
    return compare(str(original), stream(str(original)), drill_incident, records).lines()


@flow(name="drill")
def drill(scenario: str | None = None, replay: str | None = None, speed: float = DEFAULT_SPEED,
          roles: Literal["auto", "ask"] | None = None, drill_id: str | None = None) -> str:
    """Send a drill's alerts through the intake's path; the dispatcher pages (the drill routing key)
    and starts the lifecycle run, which shows the desks as for any incident. Returns the incident id.
    ``scenario`` and ``roles`` None: the policy's (``drills`` in policy.yaml), as the schedule runs it."""
    rt = current_runtime()
    rt.pager_for(drill=True)  # no drill routing key: refused before any alert goes out, saying what to set
    roles = roles or rt.config.policy.drills.roles
    plan = plan_drill(rt.config, rt.ledger.stream, rt.clock(), scenario, replay, speed, roles, drill_id)
    log = get_run_logger()
    what = f"a replay of {plan.replay_of} at {speed:g}x" if plan.replay_of else f"scenario {plan.scenario}"
    log.info("drill %s (%s): %d alerts for %s, incident %s", plan.drill_id, what, len(plan.schedule),
             plan.service, plan.incident_id)
    send_drill(plan, say=log.info)
    return plan.incident_id
