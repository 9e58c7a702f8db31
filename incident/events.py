"""The facts of an incident: one frozen model per fact (DESIGN §4).

An :class:`Event` is what a writer means to record; a :class:`Recorded` is what the ledger gives
back once stored: the event with its id, its per-incident sequence number and when it was recorded.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from warroom.incident.models import Alert, Evidence, FollowUp, Phase, Role

ENVELOPE_FIELDS = frozenset({"kind", "incident_id", "actor", "occurred_at", "idempotency_key"})
MAX_KEY = 200
SUMMARY_MAX = 4000  # characters of the document's summary, as the communications lead writes it
DETAILED_STATUS_MAX = 8000


def bounded_key(key: str, limit: int = MAX_KEY) -> str:
    """``key`` itself when it fits in ``limit`` characters; else its start and a hash of the whole.

    Keys are built from what senders choose (a group key, a fingerprint), which can be any length;
    the hash keeps two long keys that share a start apart.
    """
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: limit - len(digest) - 1]}#{digest}"


def _short(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters (the whole text is in the document)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


class Event(BaseModel):
    """Fields every fact carries. ``idempotency_key`` is unique across the ledger."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str
    incident_id: str = Field(min_length=1, max_length=64)
    actor: str = Field(min_length=1)
    occurred_at: datetime
    idempotency_key: str = Field(min_length=1, max_length=MAX_KEY)

    @field_validator("idempotency_key", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_key(value) if isinstance(value, str) else value

    def payload(self) -> dict[str, Any]:
        """The fact's own fields, as JSON-ready data (the envelope left out)."""
        return self.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))

    def describe(self) -> str:
        """One line for the timeline, in words a responder can read."""
        return self.kind.replace("_", " ")


class AlertAttached(Event):
    kind: Literal["alert_attached"] = "alert_attached"
    alert: Alert

    def describe(self) -> str:
        return f"alert {self.alert.status} from {self.alert.source}: {self.alert.summary}"


class DeclarationDecided(Event):
    """The criteria's decision on an alert, kept with its reasons (declare, watch or not)."""

    kind: Literal["declaration_decided"] = "declaration_decided"
    action: Literal["declare", "watch", "not_incident"]
    reasons: tuple[str, ...]
    watch_until: datetime | None = None

    def describe(self) -> str:
        return f"criteria say {self.action.replace('_', ' ')}: " + "; ".join(self.reasons)


class Declared(Event):
    kind: Literal["declared"] = "declared"
    title: str = Field(min_length=1)
    service: str
    severity: str
    commander: str
    reasons: tuple[str, ...]
    drill: bool = False

    def describe(self) -> str:
        why = "; ".join(self.reasons)
        return f"declared {self.severity} on {self.service}, {self.commander} commanding ({why})"


class RoleAssigned(Event):
    kind: Literal["role_assigned"] = "role_assigned"
    role: Role
    person: str
    reason: str | None = None  # why them: a drill's rotation says (``warroom drill --roles auto``)

    def describe(self) -> str:
        return f"{self.person} is {self.role.label}" + (f" ({self.reason})" if self.reason else "")


class SubleadNamed(Event):
    """The operations lead names a sub-lead for an area: the chapter's recursive separation."""

    kind: Literal["sublead_named"] = "sublead_named"
    area: str = Field(min_length=1)
    person: str

    def describe(self) -> str:
        return f"{self.person} leads {self.area} under the operations lead"


class SubleadReleased(Event):
    """The operations lead takes an area back from its sub-lead."""

    kind: Literal["sublead_released"] = "sublead_released"
    area: str = Field(min_length=1)

    def describe(self) -> str:
        return f"{self.area} has no sub-lead any more (back with the operations lead)"


class SeverityChanged(Event):
    """The IC changes the severity; the cadence of updates and checkpoints follows the new one."""

    kind: Literal["severity_changed"] = "severity_changed"
    to: str = Field(min_length=1)
    why: str = Field(min_length=1)

    def describe(self) -> str:
        return f"severity changed to {self.to}: {self.why}"


class NextCommanderArranged(Event):
    """The planning lead arranges who takes command next (the handoff itself is the IC's offer)."""

    kind: Literal["next_commander_arranged"] = "next_commander_arranged"
    person: str = Field(min_length=1)

    def describe(self) -> str:
        return f"{self.person} is arranged as the next incident commander"


class DivergenceReported(Event):
    """A change someone made and reported (not through the operations lead's desk): the planning lead
    records it, so that it is reverted or accepted like any other."""

    kind: Literal["divergence_reported"] = "divergence_reported"
    divergence_id: str
    what: str = Field(min_length=1)
    revert: str = Field(min_length=1)
    reported_by: str = Field(min_length=1)

    def describe(self) -> str:
        return f"divergence {self.divergence_id} reported by {self.reported_by}: {self.what} (revert: {self.revert})"


class Paged(Event):
    kind: Literal["paged"] = "paged"
    dedup_key: str
    target: str  # the escalation policy or service paged
    pager_incident: str | None = None

    def describe(self) -> str:
        return f"paged {self.target} (dedup key {self.dedup_key})"


class RespondersRequested(Event):
    kind: Literal["responders_requested"] = "responders_requested"
    responders: tuple[str, ...]
    message: str

    def describe(self) -> str:
        return f"asked for more responders ({', '.join(self.responders)}): {self.message}"


def duration(span: timedelta) -> str:
    """``span`` as people say it: 45 s, 10 min, 1 h 5 min."""
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes} min" if hours and minutes else f"{hours} h" if hours else f"{minutes} min"


class Escalated(Event):
    """A pause timed out (or someone asked for help): extra people were paged, the form asked again.
    A timed-out question says whom it waited for (``waited_for``) and how long (``waited``)."""

    kind: Literal["escalated"] = "escalated"
    reason: str
    responders: tuple[str, ...] = ()
    waited_for: str | None = None  # e.g. "the operations lead (dan)"
    waited: timedelta | None = None  # since the question was first asked

    def describe(self) -> str:
        if self.waited_for is None or self.waited is None:
            return f"escalated: {self.reason}"
        paged = f"paged {', '.join(self.responders)}" if self.responders else "no one more to page"
        return f"escalated: waited {duration(self.waited)} for {self.waited_for}, no answer; {paged}"


class TicketOpened(Event):
    kind: Literal["ticket_opened"] = "ticket_opened"
    key: str
    url: str

    def describe(self) -> str:
        return f"incident ticket {self.key} opened"


class StatusUpdatePosted(Event):
    kind: Literal["status_update_posted"] = "status_update_posted"
    message: str = Field(min_length=1)

    def describe(self) -> str:
        return f"status update: {self.message}"


class StatusUpdateOverdue(Event):
    kind: Literal["status_update_overdue"] = "status_update_overdue"
    due_at: datetime

    def describe(self) -> str:
        return f"status update overdue since {self.due_at:%H:%M} UTC"


class MitigationApplied(Event):
    """A change to the system, approved by the operations lead: it opens a divergence."""

    kind: Literal["mitigation_applied"] = "mitigation_applied"
    divergence_id: str
    what: str = Field(min_length=1)
    revert: str = Field(min_length=1)
    approved_by: str
    mitigation: str | None = None

    def describe(self) -> str:
        return f"mitigation applied: {self.what} (approved by {self.approved_by}; revert: {self.revert})"


class DivergenceReverted(Event):
    kind: Literal["divergence_reverted"] = "divergence_reverted"
    divergence_id: str

    def describe(self) -> str:
        return f"divergence {self.divergence_id} reverted"


class DivergenceAccepted(Event):
    kind: Literal["divergence_accepted"] = "divergence_accepted"
    divergence_id: str
    reason: str = Field(min_length=1)

    def describe(self) -> str:
        return f"divergence {self.divergence_id} accepted as is: {self.reason}"


class EvidencePreserved(Event):
    kind: Literal["evidence_preserved"] = "evidence_preserved"
    evidence: Evidence

    def describe(self) -> str:
        return f"evidence preserved: {self.evidence.kind} at {self.evidence.location}"


class EvidenceWaived(Event):
    kind: Literal["evidence_waived"] = "evidence_waived"
    reason: str = Field(min_length=1)

    def describe(self) -> str:
        return f"evidence waived: {self.reason}"


class FollowUpFiled(Event):
    kind: Literal["followup_filed"] = "followup_filed"
    followup: FollowUp

    def describe(self) -> str:
        return f"follow-up {self.followup.tracker_key} filed: {self.followup.summary}"


class HandoffOffered(Event):
    kind: Literal["handoff_offered"] = "handoff_offered"
    to: str
    briefing: str = Field(min_length=1)

    def describe(self) -> str:
        return f"{self.actor} offered command to {self.to}"


class HandoffAccepted(Event):
    """The incoming IC said yes ("you're now the incident commander, okay?"). ``actor`` is them."""

    kind: Literal["handoff_accepted"] = "handoff_accepted"

    def describe(self) -> str:
        return f"{self.actor} accepted command and is now incident commander"


class HandoffLapsed(Event):
    """The offer was declined or timed out: command stays with the outgoing IC."""

    kind: Literal["handoff_lapsed"] = "handoff_lapsed"
    reason: str

    def describe(self) -> str:
        return f"handoff not taken ({self.reason}); command stays where it was"


class CheckpointAnswered(Event):
    """The IC's answer at a "consider alternatives" checkpoint."""

    kind: Literal["checkpoint_answered"] = "checkpoint_answered"
    bleeding_stopped: bool
    decision: Literal["continue", "switch"]
    why: str = ""
    more_support: bool = False

    def describe(self) -> str:
        stopped = "bleeding stopped" if self.bleeding_stopped else "still bleeding"
        why = f" because {self.why}" if self.why else ""
        return f"checkpoint: {stopped}; {self.decision} this track{why}"


class AlertResolved(Event):
    kind: Literal["alert_resolved"] = "alert_resolved"
    fingerprint: str

    def describe(self) -> str:
        return f"alert {self.fingerprint} resolved at its source"


class Reopened(Event):
    """An alert fired again soon after the close (policy's reopen window): the incident is open again."""

    kind: Literal["reopened"] = "reopened"
    reason: str

    def describe(self) -> str:
        return f"reopened: {self.reason}"


class PagerEventReceived(Event):
    """News from the pager about a page warroom sent: acknowledged, escalated, reassigned, resolved,
    a note, ... ``occurred_at`` is when warroom heard of it; ``at`` is when it happened at the pager."""

    kind: Literal["pager_event_received"] = "pager_event_received"
    event_type: str = Field(min_length=1)  # the pager's own name, e.g. incident.acknowledged
    event_id: str | None = None  # the pager's id of the event: the same on a redelivery
    pager_incident: str | None = None  # the pager's id of its incident
    at: datetime | None = None
    agent: str | None = None  # who did it at the pager
    acknowledged: bool = False  # someone acknowledged the page

    def describe(self) -> str:
        by = f" by {self.agent}" if self.agent else ""
        return f"pager: {self.event_type}{by}"


class AnswerNoted(Event):
    """An answer on a desk that changes nothing else (say "no change" to the mitigation form), or one
    the core refused: who tried what, and why it was not recorded."""

    kind: Literal["answer_noted"] = "answer_noted"
    desk: str = Field(min_length=1)  # the role whose desk it was, e.g. operations_lead
    text: str = Field(min_length=1)
    refused: bool = False

    def describe(self) -> str:
        where = self.desk.replace("_", " ")
        return f"not recorded ({where} desk): {self.text}" if self.refused else f"{where}: {self.text}"


class ExitCriterionMet(Event):
    """The incident commander says one of the policy's exit criteria holds (``actor`` is them)."""

    kind: Literal["exit_criterion_met"] = "exit_criterion_met"
    criterion: str = Field(min_length=1)

    def describe(self) -> str:
        return f"exit criterion met: {self.criterion}"


class SummaryEdited(Event):
    """The communications lead rewrote the document's summary (the chapter: they keep it up to date)."""

    kind: Literal["summary_edited"] = "summary_edited"
    text: str = Field(min_length=1, max_length=SUMMARY_MAX)

    def describe(self) -> str:
        return f"summary edited: {_short(self.text)}"


class DetailedStatusEdited(Event):
    """The communications lead rewrote the document's detailed status."""

    kind: Literal["detailed_status_edited"] = "detailed_status_edited"
    text: str = Field(min_length=1, max_length=DETAILED_STATUS_MAX)

    def describe(self) -> str:
        return f"detailed status edited: {_short(self.text)}"


class PhaseChanged(Event):
    kind: Literal["phase_changed"] = "phase_changed"
    to: Phase

    def describe(self) -> str:
        return f"phase: {self.to.value.replace('_', ' ')}"


class Closed(Event):
    kind: Literal["closed"] = "closed"
    summary: str = Field(min_length=1)

    def describe(self) -> str:
        return f"closed: {self.summary}"


AnyEvent = Annotated[
    AlertAttached
    | DeclarationDecided
    | Declared
    | RoleAssigned
    | SubleadNamed
    | SubleadReleased
    | SeverityChanged
    | NextCommanderArranged
    | DivergenceReported
    | Paged
    | RespondersRequested
    | Escalated
    | TicketOpened
    | StatusUpdatePosted
    | StatusUpdateOverdue
    | MitigationApplied
    | DivergenceReverted
    | DivergenceAccepted
    | EvidencePreserved
    | EvidenceWaived
    | FollowUpFiled
    | HandoffOffered
    | HandoffAccepted
    | HandoffLapsed
    | CheckpointAnswered
    | AlertResolved
    | AnswerNoted
    | ExitCriterionMet
    | SummaryEdited
    | DetailedStatusEdited
    | PhaseChanged
    | Reopened
    | PagerEventReceived
    | Closed,
    Field(discriminator="kind"),
]

_EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def event_from_parts(
    kind: str,
    payload: dict[str, Any],
    *,
    incident_id: str,
    actor: str,
    occurred_at: datetime,
    idempotency_key: str,
) -> AnyEvent:
    """Rebuild an event from the ledger's columns (the inverse of the envelope + ``payload()``)."""
    return _EVENT_ADAPTER.validate_python(
        {
            **payload,
            "kind": kind,
            "incident_id": incident_id,
            "actor": actor,
            "occurred_at": occurred_at,
            "idempotency_key": idempotency_key,
        }
    )


class Recorded(BaseModel):
    """An event as the ledger stored it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_id: str
    seq: int = Field(ge=1)
    recorded_at: datetime
    event: AnyEvent
