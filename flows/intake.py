"""Intake-triggered declaration: an accepted alert is grouped into its incident and the criteria decide.
A "declare" is stored with the work it calls for (the page, the lifecycle run) in one ledger
transaction, and the page goes out at once from this process; a "watch" is stored with a timer at the
end of the policy's hour, which declares only if the alert is still firing. The dispatcher
(``tasks.work``) carries out whatever is unfinished, whatever failed in between.

Incident ids and idempotency keys are derived from the alert's group (its sender's group key within
the service, else its fingerprint), so the same alert sent twice, or to two intake processes, reaches
one incident and one page.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from warroom.incident import events as ev
from warroom.incident import work
from warroom.incident.criteria import Decision, decide, signals_from_alert
from warroom.incident.drills import DRILL_LABEL, is_drill
from warroom.incident.errors import IllegalTransitionError, LedgerConflictError
from warroom.incident.grouping import grouping_key, incident_id_for, route
from warroom.incident.models import Alert, Phase
from warroom.incident.state import IncidentState, apply, check_all
from warroom.integrations.ledger import Reader, WorkRow
from warroom.tasks.ledger import envelope, load_state, record, write, write_many
from warroom.tasks.runtime import current_runtime

Drive = Callable[[str], object]  # carry out an incident's urgent pending work now (the dispatcher's drive)


@dataclass(frozen=True)
class Outcome:
    incident_id: str | None
    action: str  # opened, joined, resolved, reopened, ignored, declared, watching, not_incident, unroutable
    reason: str
    news: bool = False  # the alert added a fact (joined as a new alert, or fired again): not a duplicate


def opening_key(group: str, episode: int) -> str:
    return f"alert:{group}:{episode}"


# The latest episode of each group this process has seen. Episodes are only ever added, so a known
# one is a floor: only the opening keys after it are looked up (each a key lookup, the row not read).
_episodes_lock = threading.Lock()
KNOWN_GROUPS = 100_000  # groups remembered per ledger; past that, forgotten (and looked up again)


def latest_episode(group: str, reader: Reader | None = None) -> tuple[int, str | None]:
    """The group's latest episode and its incident (0 and None: none yet); ``reader``: look it up
    within that read transaction."""
    ledger = current_runtime().ledger
    known = ledger.memory("episodes")
    with _episodes_lock:
        episode, latest = known.get(group, (0, None))
    source = reader or ledger
    while (found := source.incident_of(opening_key(group, episode + 1))) is not None:
        episode, latest = episode + 1, found
    if latest is not None:
        with _episodes_lock:
            if len(known) >= KNOWN_GROUPS:
                known.clear()
            if known.get(group, (0, None))[0] < episode:
                known[group] = (episode, latest)
    return episode, latest


class _Raced(Exception):
    """The incident an alert was to open has facts already (another intake got there first)."""


class Body:
    """One webhook body's alerts, routed in one pass: what the body adds to an incident that is already
    open (joins, resolves) is written in one go at the end, so a body of N alerts costs O(N), not N
    transactions each re-reading the incident."""

    def __init__(self, delivery: str, group_key: str | None, drive: Drive | None) -> None:
        self.delivery, self.group_key, self.drive = delivery, group_key, drive
        self.episodes: dict[str, tuple[int, str | None]] = {}
        self.states: dict[str, IncidentState] = {}
        self.pending: dict[str, list[ev.Event]] = {}
        self.seen: dict[str, dict[str, str]] = {}  # incident -> fingerprint -> status, in this body
        self.redriven: set[str] = set()  # incidents whose unfinished work this body re-drove
        self.unfinished: dict[str, list[WorkRow]] = {}  # a declared, pending incident's work, read with it

    def state(self, incident_id: str, reader: Reader | None = None) -> IncidentState:
        if incident_id not in self.states:
            self.states[incident_id] = load_state(incident_id, reader)
        return self.states[incident_id]

    def group(self, group: str) -> tuple[int, str | None]:
        """The group's latest episode and its incident, read with that incident's state in one go (and,
        if it is declared but still pending, with its unfinished work, which a join re-drives)."""
        if group not in self.episodes:
            with current_runtime().ledger.reading() as reader:
                self.episodes[group] = latest_episode(group, reader)
                latest = self.episodes[group][1]
                if latest is not None:
                    state = self.state(latest, reader)
                    if state.phase is Phase.PENDING and "declare" in state.decisions:
                        self.unfinished[latest] = unfinished_work(latest, reader)
        return self.episodes[group]

    def flush(self, incident_id: str | None = None) -> None:
        """Write what is pending (of one incident, or all), before anything else is written to it."""
        for target in [incident_id] if incident_id else list(self.pending):
            write_many(self.pending.pop(target, []))
            self.states.pop(target, None)

    def changed(self, incident_id: str) -> None:
        self.states.pop(incident_id, None)

    def receive(self, alert: Alert, index: int) -> Outcome:
        rt = current_runtime()
        now = rt.clock()
        group = grouping_key(alert, self.group_key)
        episode, latest_id = self.group(group)
        latest = self.state(latest_id) if latest_id else None
        r = route(latest, alert, rt.config.policy, now)
        if r.action == "ignore":
            return Outcome(latest_id, "ignored", r.reason)
        if r.action == "open":
            incident_id = incident_id_for(group, episode + 1)
            opening = ev.AlertAttached(**envelope(incident_id, opening_key(group, episode + 1), alert.source),
                                       alert=alert)
            self.episodes[group] = (episode + 1, incident_id)
            self.changed(incident_id)
            try:  # the alert and the criteria's decision on it, in one transaction
                return consider(incident_id, alert, now, self, opening)
            except _Raced:  # the incident has facts already: the alert first, then the decision on what is there
                record(opening)
                self.changed(incident_id)
                return consider(incident_id, alert, now, self)
        assert latest is not None and latest_id is not None
        if r.action == "reopen":
            self.flush(latest_id)
            outcome = reopen(latest, alert, r.reason, self.drive)
            self.changed(latest_id)
            return outcome
        # a repeat of what the incident already knows (Alertmanager re-sends every group interval) is
        # kept in the inbox as a duplicate; only news reaches the timeline: a new alert, or a change
        seen = self.seen.setdefault(latest_id, {})
        known = seen.get(alert.fingerprint, latest.alerts.get(alert.fingerprint))
        news = known != alert.status
        if news:
            seen[alert.fingerprint] = alert.status
            key = f"{latest_id}:alert:{self.delivery}-{index}:{alert.fingerprint}"
            if r.action == "resolve":
                self.pending.setdefault(latest_id, []).append(
                    ev.AlertResolved(**envelope(latest_id, key, alert.source), fingerprint=alert.fingerprint))
                return Outcome(latest_id, "resolved", r.reason)
            self.pending.setdefault(latest_id, []).append(
                ev.AlertAttached(**envelope(latest_id, key, alert.source), alert=alert))
        if latest.phase is Phase.PENDING and r.action == "join":
            decided = consider(latest_id, alert, now, self)  # new labels may meet a criterion now
            return replace(decided, news=decided.news or news)
        return Outcome(latest_id, "joined", r.reason, news=news)


def receive_alerts(alerts: Sequence[Alert], delivery: str, group_key: str | None = None,
                   drive: Drive | None = None) -> list[Outcome]:
    """Route a webhook body's normalised alerts. ``delivery`` names the webhook delivery (the inbox
    row); ``group_key`` is the sender's notification group, when it gives one; ``drive`` carries out
    an incident's urgent work (the page) at once."""
    body = Body(delivery, group_key, drive)
    outcomes = [body.receive(alert, i) for i, alert in enumerate(alerts)]
    body.flush()
    return outcomes


def receive_alert(alert: Alert, delivery: str, group_key: str | None = None, drive: Drive | None = None) -> Outcome:
    """One alert: :func:`receive_alerts` of a body of one."""
    return receive_alerts([alert], delivery, group_key, drive)[0]


def consider(incident_id: str, alert: Alert, now: datetime, body: Body | None = None,
             opening: ev.AlertAttached | None = None) -> Outcome:
    """Let the criteria decide on a pending incident. A decision to declare is stored with the work it
    calls for (page, lifecycle run), a decision to watch with its timer, in one transaction; ``drive``
    then pages at once. A later delivery re-drives whatever of that work is unfinished.

    ``opening``: the alert that opens the incident, not stored yet: stored in the decision's
    transaction (raises :class:`_Raced` if the incident turns out to have facts already)."""
    rt = current_runtime()
    drive = body.drive if body else None
    if opening is not None:
        state = apply(IncidentState(incident_id), ev.Recorded(event_id=str(uuid.uuid4()), seq=1,
                                                              recorded_at=now, event=opening))
    else:
        state = body.state(incident_id) if body else load_state(incident_id)
    if state.phase is not Phase.PENDING:
        return Outcome(incident_id, "joined", f"{incident_id} is {state.phase.value}")
    if "declare" in state.decisions:
        if body is not None:
            if incident_id in body.redriven:
                return Outcome(incident_id, "joined", f"{incident_id} is declared")
            body.redriven.add(incident_id)
        return redrive(incident_id, drive, body.unfinished.pop(incident_id, None) if body else None)
    service = rt.config.services.services.get(alert.service or "")
    if service is None:
        if "not_incident" in state.decisions:
            return Outcome(incident_id, "unroutable", f"service {alert.service!r} is not in services.yaml")
        known = ", ".join(rt.config.services.services)
        reason = f"service {alert.service!r} is not in services.yaml ({known}): add it, or label the alert"
        unroutable = ev.DeclarationDecided(**envelope(incident_id, f"{incident_id}:decision:unroutable"),
                                           action="not_incident", reasons=(reason,))
        if opening is not None:
            opened(opening, unroutable, (), body)
        else:
            record(unroutable)
        return Outcome(incident_id, "unroutable", reason)
    seen = state.first_seen.get(alert.fingerprint) or alert.starts_at or now
    decision = decide(signals_from_alert(alert, rt.config.policy, service.customer_facing, seen), rt.config.policy, now)
    drill = is_drill(alert)
    if drill and decision.action != "not_incident":  # practice does not wait out the hour
        decision = Decision("declare", decision.severity,
                            (f"a drill ({alert.labels[DRILL_LABEL]}): practice on the real flows", *decision.reasons))
    if decision.action in state.decisions:  # decided so before: nothing new to store
        return Outcome(incident_id, "joined", f"{incident_id} was decided already ({decision.action})")
    decided = ev.DeclarationDecided(**envelope(incident_id, f"{incident_id}:decision:{decision.action}"),
                                    action=decision.action, reasons=decision.reasons, watch_until=decision.watch_until)
    calls_for: tuple[work.Work, ...] = ()
    if decision.action == "declare":
        assert alert.service is not None
        calls_for = work.declaration(incident_id, alert.summary, alert.service, decision.severity, decision.reasons,
                                     alert.source, rt.config.policy.severity(decision.severity).page, now,
                                     drill=drill)
    elif decision.action == "watch":
        assert decision.watch_until is not None
        calls_for = (work.watch(incident_id, alert.fingerprint, decision.watch_until),)
    if body is not None:
        body.flush(incident_id)
        body.changed(incident_id)
    stored = opened(opening, decided, calls_for, body) if opening is not None else write(decided, calls_for)[1]
    if not stored:
        if decision.action == "declare":
            return redrive(incident_id, drive)
        return Outcome(incident_id, "joined", f"{incident_id} was decided already ({decision.action})")
    if drive is not None and decision.action == "declare":  # only a declaration calls for a page
        drive(incident_id)
    if decision.action == "declare":
        return Outcome(incident_id, "declared", "; ".join(decision.reasons))
    if decision.action == "watch":
        return Outcome(incident_id, "watching", "; ".join(decision.reasons))
    return Outcome(incident_id, "not_incident", "; ".join(decision.reasons))


def opened(opening: ev.AlertAttached, decided: ev.DeclarationDecided, calls_for: Sequence[work.Work],
           body: Body | None) -> bool:
    """Store the alert that opens an incident with the criteria's decision on it and the work that
    calls for, in one transaction; True (both are new). Raises :class:`_Raced` when the incident has
    facts already: the caller stores the alert alone and decides again on what is there."""
    incident_id = opening.incident_id
    try:
        check_all(IncidentState(incident_id), [opening, decided])
        results = current_runtime().ledger.write_many([opening, decided], 0, calls_for)
    except (LedgerConflictError, IllegalTransitionError) as raced:
        raise _Raced(incident_id) from raced
    if body is not None:
        body.changed(incident_id)
    return results[-1][1]


def unfinished_work(incident_id: str, reader: Reader | None = None) -> list[WorkRow]:
    source = reader or current_runtime().ledger
    return [w for w in source.work_rows(incident_id, status="pending") if w.kind != "watch"]


def redrive(incident_id: str, drive: Drive | None, unfinished: list[WorkRow] | None = None) -> Outcome:
    """A delivery for an incident whose declaration is stored: carry on its unfinished work (driven
    only when there is some: most redeliveries find it all done). ``unfinished``: read already."""
    if unfinished is None:
        unfinished = unfinished_work(incident_id)
    # ``drive`` carries out the page now; the rest (a run start backing off) is the loop's when due, so a
    # storm of joins on an incident whose run has not started yet takes no write lock per alert
    if drive is not None and any(w.kind == "page" for w in unfinished):
        drive(incident_id)
        unfinished = unfinished_work(incident_id)
    if not unfinished:
        return Outcome(incident_id, "joined", f"{incident_id} is declared")
    waiting = "; ".join(f"{w.kind} after {w.attempts} tries ({w.last_error or 'not tried yet'})" for w in unfinished)
    return Outcome(incident_id, "joined", f"{incident_id} is declared; still to do, retried: {waiting}")


def reopen(state: IncidentState, alert: Alert, reason: str, drive: Drive | None) -> Outcome:
    incident_id = state.incident_id
    n = state.reopened + 1
    assert state.service is not None and state.severity is not None
    calls_for = work.declaration(incident_id, state.title, state.service, state.severity, (reason,), alert.source,
                                 True, current_runtime().clock(), suffix=f":reopen:{n}", drill=state.drill)
    reopened = ev.Reopened(**envelope(incident_id, f"{incident_id}:reopened:{n}", alert.source), reason=reason)
    if write(reopened, calls_for)[1] and drive is not None:
        drive(incident_id)
    return Outcome(incident_id, "reopened", reason)


def watch_ended(incident_id: str, fingerprint: str) -> str:
    """The end of the hour (a timer in the ledger, carried out by the dispatcher): declare if the
    alert still fires and the incident is still pending; the page goes out in the dispatcher's next round."""
    state = load_state(incident_id)
    if state.phase is not Phase.PENDING:
        return f"{incident_id} is {state.phase.value}: nothing to watch"
    if state.alerts.get(fingerprint) != "firing":
        record(ev.DeclarationDecided(
            **envelope(incident_id, f"{incident_id}:decision:resolved-in-time"), action="not_incident",
            reasons=("the alert resolved before the hour was up",)))
        return "resolved in time: not an incident"
    alert = next(rec.event.alert for rec in reversed(current_runtime().ledger.stream(incident_id))
                 if isinstance(rec.event, ev.AlertAttached) and rec.event.alert.fingerprint == fingerprint)
    return consider(incident_id, alert, current_runtime().clock()).action
