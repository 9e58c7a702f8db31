"""The incident's nouns. Pure data: no clock reads, no I/O."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Role(StrEnum):
    """The chapter's command hierarchy. A role not delegated is held by the incident commander."""

    INCIDENT_COMMANDER = "incident_commander"
    OPERATIONS_LEAD = "operations_lead"
    COMMUNICATIONS_LEAD = "communications_lead"
    PLANNING_LEAD = "planning_lead"

    @property
    def label(self) -> str:
        """``incident commander``: the role as people say it."""
        return self.value.replace("_", " ")


class Phase(StrEnum):
    """Where an incident is. The order is the chapter's priorities."""

    PENDING = "pending"  # alerts attached, not (yet) declared
    DECLARED = "declared"
    STABILISING = "stabilising"
    RESTORING = "restoring"
    PRESERVING_EVIDENCE = "preserving_evidence"
    REVERTING = "reverting"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self not in (Phase.PENDING, Phase.CLOSED)


class Severity(Frozen):
    """A severity level; its name and meaning come from policy (``configs/policy.yaml``)."""

    name: str
    meaning: str


class Person(Frozen):
    handle: str
    name: str
    email: str
    team: str


AlertStatus = Literal["firing", "resolved"]


class Alert(Frozen):
    """An alert from any source, normalised."""

    source: str
    fingerprint: str
    status: AlertStatus
    service: str | None = None
    summary: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    links: tuple[str, ...] = ()


def fingerprint_of_labels(labels: dict[str, str]) -> str:
    """A stable fingerprint for a source that gives none: sha256 of the sorted labels."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


DivergenceStatus = Literal["open", "reverted", "accepted"]


class Divergence(Frozen):
    """A change made to the system during the incident, which must be reverted or accepted."""

    id: str
    what: str
    applied_by: str
    approved_by: str
    revert: str
    mitigation: str | None = None  # the runbook mitigation's id, when it came from a runbook
    applied_at: datetime
    status: DivergenceStatus = "open"
    closed_by: str | None = None
    reason: str | None = None  # why the IC accepted it as it is


class Evidence(Frozen):
    kind: str
    location: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    captured_at: datetime


FollowUpKind = Literal["bug", "divergence", "postmortem", "action"]


class FollowUp(Frozen):
    tracker_key: str
    kind: FollowUpKind
    summary: str
    status: str = "open"
    intent: str  # what it was filed for: unique per incident, the idempotency handle


class TimelineEntry(Frozen):
    at: datetime
    actor: str
    text: str
