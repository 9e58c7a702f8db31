"""Intake-triggered declaration: an accepted alert is grouped into its incident, the criteria decide,
and a "declare" pages at once, in this process, then starts the lifecycle run; a "watch" schedules a
durable check at the end of the policy's hour, which declares only if the alert is still firing.

Incident ids and idempotency keys are derived from the alert's group (its sender's group key within
the service, else its fingerprint), so the same alert sent twice, or to two intake processes, reaches
one incident and one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from prefect import flow

from incident import events as ev
from incident.criteria import decide, signals_from_alert
from incident.grouping import grouping_key, incident_id_for, route
from incident.models import Alert, Phase
from incident.state import IncidentState
from tasks.ledger import done, envelope, load_state, record, write
from tasks.paging import page_oncall
from tasks.runs import LIFECYCLE, WATCH, start_run
from tasks.runtime import current_runtime


@dataclass(frozen=True)
class Outcome:
    incident_id: str | None
    action: str  # opened, joined, resolved, reopened, ignored, declared, watching, not_incident, unroutable
    reason: str


def opening_key(group: str, episode: int) -> str:
    return f"alert:{group}:{episode}"


def latest_episode(group: str) -> tuple[int, IncidentState | None]:
    ledger = current_runtime().ledger
    episode, latest = 0, None
    while (found := ledger.find(opening_key(group, episode + 1))) is not None:
        episode, latest = episode + 1, found
    return episode, load_state(latest.event.incident_id) if latest else None


def recorded_by_me(event: ev.Event) -> bool:
    """Append ``event``; True if this call stored it (not another process or an earlier delivery)."""
    return write(event)[1]


def receive_alert(alert: Alert, delivery: str, group_key: str | None = None) -> Outcome:
    """Route one normalised alert. ``delivery`` names the webhook delivery (the inbox row);
    ``group_key`` is the sender's notification group, when it gives one."""
    rt = current_runtime()
    now = rt.clock()
    group = grouping_key(alert, group_key)
    episode, latest = latest_episode(group)
    r = route(latest, alert, rt.config.policy, now)
    if r.action == "ignore":
        return Outcome(latest.incident_id if latest else None, "ignored", r.reason)
    if r.action == "open":
        incident_id = incident_id_for(group, episode + 1)
        record(ev.AlertAttached(**envelope(incident_id, opening_key(group, episode + 1),
                                           alert.source), alert=alert))
        return consider(incident_id, alert, now)
    assert latest is not None
    incident_id = latest.incident_id
    if r.action == "reopen":
        return reopen(latest, alert, r.reason)
    # a repeat of what the incident already knows (Alertmanager re-sends every group interval) is kept
    # in the inbox as a duplicate; only news reaches the timeline: a new alert, or a status change
    if latest.alerts.get(alert.fingerprint) != alert.status:
        key = f"{incident_id}:alert:{delivery}:{alert.fingerprint}"
        if r.action == "resolve":
            record(ev.AlertResolved(**envelope(incident_id, key, alert.source), fingerprint=alert.fingerprint))
            return Outcome(incident_id, "resolved", r.reason)
        record(ev.AlertAttached(**envelope(incident_id, key, alert.source), alert=alert))
    if latest.phase is Phase.PENDING and r.action == "join":
        return consider(incident_id, alert, now)  # new labels may meet a criterion now
    return Outcome(incident_id, "joined", r.reason)


def first_seen(state: IncidentState, incident_id: str, fingerprint: str) -> datetime:
    for rec in current_runtime().ledger.stream(incident_id):
        if isinstance(rec.event, ev.AlertAttached) and rec.event.alert.fingerprint == fingerprint:
            return rec.event.alert.starts_at or rec.event.occurred_at
    return current_runtime().clock()


def consider(incident_id: str, alert: Alert, now: datetime) -> Outcome:
    """Let the criteria decide on a pending incident; act once on a decision to declare or watch."""
    rt = current_runtime()
    state = load_state(incident_id)
    if state.phase is not Phase.PENDING:
        return Outcome(incident_id, "joined", f"{incident_id} is {state.phase.value}")
    if done(f"{incident_id}:decision:declare"):
        return Outcome(incident_id, "joined", f"{incident_id} is being declared")
    service = rt.config.services.services.get(alert.service or "")
    if service is None:
        known = ", ".join(rt.config.services.services)
        reason = f"service {alert.service!r} is not in services.yaml ({known}): add it, or label the alert"
        record(ev.DeclarationDecided(**envelope(incident_id, f"{incident_id}:decision:unroutable"),
                                     action="not_incident", reasons=(reason,)))
        return Outcome(incident_id, "unroutable", reason)
    seen = first_seen(state, incident_id, alert.fingerprint)
    decision = decide(signals_from_alert(alert, rt.config.policy, service.customer_facing, seen), rt.config.policy, now)
    decided = ev.DeclarationDecided(**envelope(incident_id, f"{incident_id}:decision:{decision.action}"),
                                    action=decision.action, reasons=decision.reasons, watch_until=decision.watch_until)
    if not recorded_by_me(decided):
        return Outcome(incident_id, "joined", f"{incident_id} was decided already ({decision.action})")
    if decision.action == "declare":
        assert alert.service is not None
        if rt.config.policy.severity(decision.severity).page:
            page_oncall(incident_id, alert.summary, decision.severity, alert.service)  # at once, in process
        start_run(LIFECYCLE, {
            "incident_id": incident_id, "title": alert.summary, "service": alert.service,
            "severity": decision.severity, "reasons": list(decision.reasons), "declared_by": alert.source,
        }, key=f"{incident_id}:lifecycle")
        return Outcome(incident_id, "declared", "; ".join(decision.reasons))
    if decision.action == "watch":
        start_run(WATCH, {"incident_id": incident_id, "fingerprint": alert.fingerprint},
                  key=f"{incident_id}:watch", at=decision.watch_until)
        return Outcome(incident_id, "watching", "; ".join(decision.reasons))
    return Outcome(incident_id, "not_incident", "; ".join(decision.reasons))


def reopen(state: IncidentState, alert: Alert, reason: str) -> Outcome:
    incident_id = state.incident_id
    n = state.reopened + 1
    if recorded_by_me(ev.Reopened(**envelope(incident_id, f"{incident_id}:reopened:{n}", alert.source), reason=reason)):
        assert state.service is not None and state.severity is not None
        page_oncall(incident_id, alert.summary, state.severity, state.service, key=f"{incident_id}:paged:reopen:{n}")
        start_run(LIFECYCLE, {
            "incident_id": incident_id, "title": state.title, "service": state.service,
            "severity": state.severity, "reasons": [reason], "declared_by": alert.source,
        }, key=f"{incident_id}:lifecycle:reopen:{n}")
    return Outcome(incident_id, "reopened", reason)


@flow(name="watch-alert")
def watch_alert(incident_id: str, fingerprint: str) -> str:
    """The end of the hour: declare if the alert still fires and the incident is still pending."""
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
