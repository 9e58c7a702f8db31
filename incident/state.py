"""An incident's state: a pure fold of its events.

The phase machine is a table (``ALLOWED``): for each phase, the kinds of event it accepts, and for
the events that move the incident, the phase they lead to. An event that is not in the table, or that
breaks a rule of the chapter (close with an open divergence, a mitigation approved by someone who is
not the operations lead, ...), raises :class:`IllegalTransitionError` and changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any

from warroom.incident import events as ev
from warroom.incident.errors import IllegalTransitionError, NotAuthorisedError
from warroom.incident.models import Divergence, Evidence, FollowUp, Phase, Role, TimelineEntry

_OPEN = frozenset(p for p in Phase if p.is_open)
_ANYTIME_OPEN = frozenset(
    {
        "alert_attached",
        "alert_resolved",
        "declaration_decided",
        "role_assigned",
        "sublead_named",
        "sublead_released",
        "severity_changed",
        "next_commander_arranged",
        "divergence_reported",
        "paged",
        "responders_requested",
        "escalated",
        "ticket_opened",
        "status_update_posted",
        "answer_noted",
        "exit_criterion_met",
        "summary_edited",
        "detailed_status_edited",
        "status_update_overdue",
        "followup_filed",
        "handoff_offered",
        "handoff_accepted",
        "handoff_lapsed",
        "checkpoint_answered",
        "divergence_reverted",
        "divergence_accepted",
        "evidence_waived",
        "phase_changed",
        "pager_event_received",
    }
)

#: phase -> kinds of event the phase accepts.
ALLOWED: dict[Phase, frozenset[str]] = {
    # the intake pages as soon as the criteria say declare; the declaration with its IC follows
    Phase.PENDING: frozenset(
        {"alert_attached", "alert_resolved", "declaration_decided", "paged", "declared", "pager_event_received"}
    ),
    Phase.DECLARED: _ANYTIME_OPEN,
    Phase.STABILISING: _ANYTIME_OPEN | {"mitigation_applied"},
    Phase.RESTORING: _ANYTIME_OPEN | {"mitigation_applied"},
    Phase.PRESERVING_EVIDENCE: _ANYTIME_OPEN | {"evidence_preserved"},
    Phase.REVERTING: _ANYTIME_OPEN | {"evidence_preserved", "closed"},
    # after close: late alerts and pager news, the final status update and the postmortem follow-up
    Phase.CLOSED: frozenset(
        {"alert_attached", "alert_resolved", "followup_filed", "status_update_posted", "reopened",
         "pager_event_received"}
    ),
}

#: phase -> the phase a ``phase_changed`` event may lead to (the chapter's priorities, in order).
NEXT_PHASE: dict[Phase, Phase] = {
    Phase.DECLARED: Phase.STABILISING,
    Phase.STABILISING: Phase.RESTORING,
    Phase.RESTORING: Phase.PRESERVING_EVIDENCE,
    Phase.PRESERVING_EVIDENCE: Phase.REVERTING,
}


@dataclass(frozen=True)
class HandoffOffer:
    by: str
    to: str
    briefing: str
    at: datetime


@dataclass(frozen=True)
class Note:
    """A text someone wrote into the document, with who wrote it and when."""

    text: str
    by: str
    at: datetime


#: facts that are not a person's answer (machines, the intake, the pager): their actor is no responder
_NOT_RESPONDING = frozenset({"alert_attached", "alert_resolved", "declaration_decided", "declared", "paged",
                             "pager_event_received", "ticket_opened", "status_update_overdue", "reopened"})
ACTOR_WARROOM = "warroom"


@dataclass
class IncidentState:
    """Everything known about one incident, as of ``version`` (the last sequence number applied)."""

    incident_id: str
    version: int = 0
    phase: Phase = Phase.PENDING
    title: str = ""
    service: str | None = None
    severity: str | None = None
    drill: bool = False
    declared_at: datetime | None = None
    declared_reasons: tuple[str, ...] = ()
    closed_at: datetime | None = None
    close_summary: str | None = None
    roles: dict[Role, str] = field(default_factory=dict)
    subleads: dict[str, str] = field(default_factory=dict)
    alerts: dict[str, str] = field(default_factory=dict)  # fingerprint -> firing/resolved
    first_seen: dict[str, datetime] = field(default_factory=dict)  # fingerprint -> when it first fired
    decisions: set[str] = field(default_factory=set)  # the criteria's decisions stored (declare, watch, ...)
    pages: list[str] = field(default_factory=list)  # dedup keys paged
    pager_incident: str | None = None  # the pager's id of its incident, once the pager named it
    acknowledged_at: datetime | None = None  # the page's first acknowledgement, at the pager
    ticket: tuple[str, str] | None = None  # (key, url)
    divergences: dict[str, Divergence] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    evidence_waived: str | None = None
    followups: dict[str, FollowUp] = field(default_factory=dict)  # intent -> follow-up
    handoff: HandoffOffer | None = None
    next_commander: str | None = None  # arranged by the planning lead
    commanders: list[str] = field(default_factory=list)  # every IC in order, for the retrospective
    last_status_update_at: datetime | None = None
    last_status_update: Note | None = None
    summary: Note | None = None  # written by the communications lead; None: the document makes one up
    detailed_status: Note | None = None  # written by the communications lead
    criteria_met: dict[str, Note] = field(default_factory=dict)  # exit criterion -> who said it holds, when
    declared_by: str | None = None
    # everyone who took part, with how they came in (a role, paged in, answered on a desk), first first
    responders: dict[str, str] = field(default_factory=dict)
    last_checkpoint_at: datetime | None = None
    checkpoints: int = 0  # checkpoints answered
    handoffs_offered: int = 0
    escalations: int = 0
    reopened: int = 0
    timeline: list[TimelineEntry] = field(default_factory=list)  # oldest first

    def copy(self) -> IncidentState:
        """A copy to change: its lists, dicts and sets are its own; what they hold is immutable (strings,
        times, frozen models), so it is shared. A tenth of the cost of ``copy.deepcopy``."""
        new = copy.copy(self)
        for name in _CONTAINERS:
            setattr(new, name, copy.copy(getattr(self, name)))
        return new

    @property
    def commander(self) -> str | None:
        return self.roles.get(Role.INCIDENT_COMMANDER)

    def holder(self, role: Role) -> str | None:
        """Who holds ``role``: its delegate, or the IC, who holds every role not delegated."""
        return self.roles.get(role) or self.commander

    @property
    def open_divergences(self) -> list[Divergence]:
        return [d for d in self.divergences.values() if d.status == "open"]

    @property
    def evidence_settled(self) -> bool:
        return bool(self.evidence) or self.evidence_waived is not None

    def close_blockers(self) -> list[str]:
        """Why the incident cannot close yet, in words for the IC (empty when it can)."""
        blockers = [
            f"divergence {d.id} is still open ({d.what}): revert it, or accept it with a reason"
            for d in self.open_divergences
        ]
        if not self.evidence_settled:
            blockers.append("no evidence preserved: preserve it, or waive it with a reason")
        return blockers


_CONTAINERS = tuple(f.name for f in fields(IncidentState) if f.default_factory is not MISSING)  # lists, dicts, sets


def _refuse(state: IncidentState, event: ev.Event, why: str) -> IllegalTransitionError:
    return IllegalTransitionError(
        f"{state.incident_id}: cannot record '{event.kind}' in phase {state.phase.value}: {why}"
    )


def _require_actor(state: IncidentState, event: ev.Event, role: Role, what: str) -> None:
    holder = state.holder(role)
    if event.actor != holder:
        raise NotAuthorisedError(
            f"{state.incident_id}: {what} is the {role.label}'s decision; "
            f"{event.actor} is not the {role.label} ({holder} is)"
        )


def _divergence(state: IncidentState, event: ev.Event, divergence_id: str) -> Divergence:
    found = state.divergences.get(divergence_id)
    if found is None:
        raise _refuse(state, event, f"there is no divergence {divergence_id}")
    if found.status != "open":
        raise _refuse(state, event, f"divergence {divergence_id} is already {found.status}")
    return found


# Each handler checks everything first and only then changes the state, so a refused event
# leaves the state exactly as it was.


def _declared(s: IncidentState, e: ev.Declared) -> None:
    s.phase = Phase.DECLARED
    s.title, s.service, s.severity, s.drill = e.title, e.service, e.severity, e.drill
    s.declared_at, s.declared_reasons, s.declared_by = e.occurred_at, e.reasons, e.actor
    s.roles = {Role.INCIDENT_COMMANDER: e.commander}
    s.commanders.append(e.commander)


def _role_assigned(s: IncidentState, e: ev.RoleAssigned) -> None:
    if e.role is Role.INCIDENT_COMMANDER:  # even at declaration: the incoming IC must accept
        raise _refuse(s, e, "command moves only by a live handoff the new IC accepts")
    _require_actor(s, e, Role.INCIDENT_COMMANDER, f"assigning the {e.role.label}")
    s.roles[e.role] = e.person


def _sublead_named(s: IncidentState, e: ev.SubleadNamed) -> None:
    _require_actor(s, e, Role.OPERATIONS_LEAD, "naming an operations sub-lead")
    s.subleads[e.area] = e.person


def _sublead_released(s: IncidentState, e: ev.SubleadReleased) -> None:
    _require_actor(s, e, Role.OPERATIONS_LEAD, "releasing an operations sub-lead")
    if e.area not in s.subleads:
        raise _refuse(s, e, f"nobody leads {e.area!r}")
    del s.subleads[e.area]


def _severity_changed(s: IncidentState, e: ev.SeverityChanged) -> None:
    _require_actor(s, e, Role.INCIDENT_COMMANDER, "changing the severity")
    if e.to == s.severity:
        raise _refuse(s, e, f"the severity is {e.to} already")
    s.severity = e.to


def _next_commander(s: IncidentState, e: ev.NextCommanderArranged) -> None:
    _require_actor(s, e, Role.PLANNING_LEAD, "arranging the next incident commander")
    if e.person == s.commander:
        raise _refuse(s, e, f"{e.person} is the incident commander now")
    s.next_commander = e.person


def _divergence_reported(s: IncidentState, e: ev.DivergenceReported) -> None:
    _require_actor(s, e, Role.PLANNING_LEAD, "recording a reported divergence")
    if e.divergence_id in s.divergences:
        raise _refuse(s, e, f"divergence {e.divergence_id} already exists")
    s.divergences[e.divergence_id] = Divergence(
        id=e.divergence_id, what=e.what, applied_by=e.reported_by, approved_by=f"reported by {e.reported_by}",
        revert=e.revert, applied_at=e.occurred_at,
    )


def _paged(s: IncidentState, e: ev.Paged) -> None:
    if e.dedup_key not in s.pages:
        s.pages.append(e.dedup_key)


def _pager_event(s: IncidentState, e: ev.PagerEventReceived) -> None:
    if s.pager_incident is None and e.pager_incident:
        s.pager_incident = e.pager_incident
    if e.acknowledged:
        at = e.at or e.occurred_at
        if s.acknowledged_at is None or at < s.acknowledged_at:  # redeliveries may come out of order
            s.acknowledged_at = at


def _escalated(s: IncidentState, e: ev.Escalated) -> None:
    s.escalations += 1
    for responder in e.responders:
        s.responders.setdefault(responder, "paged in")


def _ticket_opened(s: IncidentState, e: ev.TicketOpened) -> None:
    if s.ticket is not None and s.ticket[0] != e.key:
        raise _refuse(s, e, f"the incident already has ticket {s.ticket[0]}")
    s.ticket = (e.key, e.url)


def _status_update(s: IncidentState, e: ev.StatusUpdatePosted) -> None:
    s.last_status_update_at = e.occurred_at
    s.last_status_update = Note(e.message, e.actor, e.occurred_at)


def _summary_edited(s: IncidentState, e: ev.SummaryEdited) -> None:
    _require_actor(s, e, Role.COMMUNICATIONS_LEAD, "editing the summary")
    s.summary = Note(e.text, e.actor, e.occurred_at)


def _detailed_status_edited(s: IncidentState, e: ev.DetailedStatusEdited) -> None:
    _require_actor(s, e, Role.COMMUNICATIONS_LEAD, "editing the detailed status")
    s.detailed_status = Note(e.text, e.actor, e.occurred_at)


def _criterion_met(s: IncidentState, e: ev.ExitCriterionMet) -> None:
    _require_actor(s, e, Role.INCIDENT_COMMANDER, "saying an exit criterion holds")
    if e.criterion in s.criteria_met:
        met = s.criteria_met[e.criterion]
        raise _refuse(s, e, f"{met.by} said it holds already, at {met.at:%H:%M} UTC")
    s.criteria_met[e.criterion] = Note(e.criterion, e.actor, e.occurred_at)


def _mitigation(s: IncidentState, e: ev.MitigationApplied) -> None:
    ops = s.holder(Role.OPERATIONS_LEAD)
    if e.approved_by != ops:
        raise NotAuthorisedError(
            f"{s.incident_id}: a mitigation needs the operations lead's approval; "
            f"it was approved by {e.approved_by}, but the operations lead is {ops}"
        )
    if e.divergence_id in s.divergences:
        raise _refuse(s, e, f"divergence {e.divergence_id} already exists")
    s.divergences[e.divergence_id] = Divergence(
        id=e.divergence_id,
        what=e.what,
        applied_by=e.actor,
        approved_by=e.approved_by,
        revert=e.revert,
        mitigation=e.mitigation,
        applied_at=e.occurred_at,
    )


def _reverted(s: IncidentState, e: ev.DivergenceReverted) -> None:
    d = _divergence(s, e, e.divergence_id)
    _require_actor(s, e, Role.PLANNING_LEAD, "reverting a divergence")
    s.divergences[d.id] = d.model_copy(update={"status": "reverted", "closed_by": e.actor})


def _accepted(s: IncidentState, e: ev.DivergenceAccepted) -> None:
    d = _divergence(s, e, e.divergence_id)
    _require_actor(s, e, Role.INCIDENT_COMMANDER, "accepting a divergence as it is")
    s.divergences[d.id] = d.model_copy(
        update={"status": "accepted", "closed_by": e.actor, "reason": e.reason}
    )


def _evidence(s: IncidentState, e: ev.EvidencePreserved) -> None:
    s.evidence.append(e.evidence)


def _waived(s: IncidentState, e: ev.EvidenceWaived) -> None:
    _require_actor(s, e, Role.INCIDENT_COMMANDER, "waiving evidence")
    s.evidence_waived = e.reason


def _followup(s: IncidentState, e: ev.FollowUpFiled) -> None:
    s.followups[e.followup.intent] = e.followup


def _handoff_offered(s: IncidentState, e: ev.HandoffOffered) -> None:
    _require_actor(s, e, Role.INCIDENT_COMMANDER, "offering command")
    if e.to == s.commander:
        raise _refuse(s, e, f"{e.to} is already the incident commander")
    s.handoff = HandoffOffer(by=e.actor, to=e.to, briefing=e.briefing, at=e.occurred_at)
    s.handoffs_offered += 1


def _handoff_accepted(s: IncidentState, e: ev.HandoffAccepted) -> None:
    if s.handoff is None:
        raise _refuse(s, e, "no handoff has been offered")
    if e.actor != s.handoff.to:
        raise NotAuthorisedError(
            f"{s.incident_id}: command was offered to {s.handoff.to}; only they can accept it, "
            f"not {e.actor}"
        )
    s.roles[Role.INCIDENT_COMMANDER] = e.actor
    s.commanders.append(e.actor)
    s.handoff = None
    if s.next_commander == e.actor:
        s.next_commander = None


def _handoff_lapsed(s: IncidentState, e: ev.HandoffLapsed) -> None:
    if s.handoff is None:
        raise _refuse(s, e, "no handoff has been offered")
    s.handoff = None


def _checkpoint(s: IncidentState, e: ev.CheckpointAnswered) -> None:
    _require_actor(s, e, Role.INCIDENT_COMMANDER, "answering the checkpoint")
    s.last_checkpoint_at = e.occurred_at
    s.checkpoints += 1


def _alert_attached(s: IncidentState, e: ev.AlertAttached) -> None:
    s.alerts[e.alert.fingerprint] = e.alert.status
    s.first_seen.setdefault(e.alert.fingerprint, e.alert.starts_at or e.occurred_at)
    if s.service is None and e.alert.service:
        s.service = e.alert.service
    if not s.title:
        s.title = e.alert.summary


def _alert_resolved(s: IncidentState, e: ev.AlertResolved) -> None:
    s.alerts[e.fingerprint] = "resolved"


def _phase_changed(s: IncidentState, e: ev.PhaseChanged) -> None:
    expected = NEXT_PHASE.get(s.phase)
    if e.to != expected:
        nxt = expected.value if expected else "none (close it instead)"
        raise _refuse(s, e, f"the next phase is {nxt}, not {e.to.value}")
    s.phase = e.to


def _closed(s: IncidentState, e: ev.Closed) -> None:
    blockers = s.close_blockers()
    if blockers:
        raise _refuse(s, e, "; ".join(blockers))
    _require_actor(s, e, Role.INCIDENT_COMMANDER, "closing the incident")
    s.phase = Phase.CLOSED
    s.closed_at = e.occurred_at
    s.close_summary = e.summary


def _reopened(s: IncidentState, e: ev.Reopened) -> None:
    s.phase = Phase.STABILISING
    s.reopened += 1
    s.criteria_met = {}  # open again: the exit criteria must hold again
    s.closed_at = None
    s.close_summary = None


def _declaration_decided(s: IncidentState, e: ev.DeclarationDecided) -> None:
    s.decisions.add(e.action)


def _nothing(s: IncidentState, e: Any) -> None:
    return None


_HANDLERS: dict[str, Callable[[IncidentState, Any], None]] = {
    "alert_attached": _alert_attached,
    "alert_resolved": _alert_resolved,
    "declaration_decided": _declaration_decided,
    "declared": _declared,
    "role_assigned": _role_assigned,
    "sublead_named": _sublead_named,
    "sublead_released": _sublead_released,
    "severity_changed": _severity_changed,
    "next_commander_arranged": _next_commander,
    "divergence_reported": _divergence_reported,
    "paged": _paged,
    "responders_requested": _nothing,
    "escalated": _escalated,
    "ticket_opened": _ticket_opened,
    "status_update_posted": _status_update,
    "status_update_overdue": _nothing,
    "mitigation_applied": _mitigation,
    "divergence_reverted": _reverted,
    "divergence_accepted": _accepted,
    "evidence_preserved": _evidence,
    "evidence_waived": _waived,
    "followup_filed": _followup,
    "handoff_offered": _handoff_offered,
    "handoff_accepted": _handoff_accepted,
    "handoff_lapsed": _handoff_lapsed,
    "checkpoint_answered": _checkpoint,
    "answer_noted": _nothing,
    "exit_criterion_met": _criterion_met,
    "summary_edited": _summary_edited,
    "detailed_status_edited": _detailed_status_edited,
    "phase_changed": _phase_changed,
    "closed": _closed,
    "reopened": _reopened,
    "pager_event_received": _pager_event,
}


def check(state: IncidentState, event: ev.Event) -> None:
    """Raise :class:`IllegalTransitionError` if ``event`` may not be recorded now; change nothing.

    Flows call this before a side effect, so a refused decision never reaches PagerDuty or Jira.
    """
    _apply_in_place(state.copy(), event)


def check_all(state: IncidentState, events: Iterable[ev.Event]) -> None:
    """:func:`check` of ``events`` recorded one after the other (one copy of the state, not one each)."""
    scratch = state.copy()
    for event in events:
        _apply_in_place(scratch, event)


def _apply_in_place(state: IncidentState, event: ev.Event) -> None:
    if event.incident_id != state.incident_id:
        raise _refuse(state, event, f"the event belongs to incident {event.incident_id}")
    if event.kind not in ALLOWED[state.phase]:
        where = [p.value for p, kinds in ALLOWED.items() if event.kind in kinds]
        raise _refuse(state, event, f"only allowed in phase {', '.join(where)}")
    _HANDLERS[event.kind](state, event)
    if event.actor != ACTOR_WARROOM and event.kind not in _NOT_RESPONDING:
        state.responders.setdefault(event.actor, "answered on a desk")
    state.timeline.append(TimelineEntry(at=event.occurred_at, actor=event.actor, text=event.describe()))


def _apply_record(state: IncidentState, record: ev.Recorded) -> None:
    if record.seq != state.version + 1:
        raise IllegalTransitionError(
            f"{state.incident_id}: event seq {record.seq} does not follow {state.version}: "
            "the stream has a gap or is out of order"
        )
    _apply_in_place(state, record.event)
    state.version = record.seq


def apply(state: IncidentState, record: ev.Recorded) -> IncidentState:
    """The state after ``record``; ``state`` itself is never changed."""
    new = state.copy()
    _apply_record(new, record)
    return new


def fold(
    records: Iterable[ev.Recorded], incident_id: str | None = None, start: IncidentState | None = None
) -> IncidentState:
    """The state of an incident from its stream (oldest first), or from ``start`` (left unchanged)
    and the records that follow it."""
    state: IncidentState | None = (
        start.copy() if start else IncidentState(incident_id) if incident_id else None
    )
    for record in records:
        if state is None:
            state = IncidentState(record.event.incident_id)
        _apply_record(state, record)
    if state is None:
        raise IllegalTransitionError("cannot fold an empty stream without an incident id")
    return state
