"""The ports: what the core needs from the outside, as small protocols with exact signatures.

Adapters in ``integrations/`` implement them (``PagerDutyPager``, ``JiraTracker``, the ledger);
flows and tasks depend on these protocols, never on a vendor client.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from warroom.incident.models import FollowUp, FollowUpKind, Frozen

PageSeverity = Literal["critical", "error", "warning", "info"]


class PageReceipt(Frozen):
    dedup_key: str
    status: str  # the vendor's answer, e.g. "success"


class OnCall(Frozen):
    email: str
    name: str
    escalation_level: int


class LogEntry(Frozen):
    at: datetime
    type: str
    summary: str


class Ticket(Frozen):
    key: str
    url: str


class Pager(Protocol):
    """Pages people and keeps the pager's incident in step (PagerDuty)."""

    def page(
        self, dedup_key: str, summary: str, severity: PageSeverity, source: str, details: dict[str, str]
    ) -> PageReceipt: ...

    def acknowledge(self, dedup_key: str) -> None: ...

    def resolve(self, dedup_key: str) -> None: ...

    def add_responders(
        self,
        dedup_key: str,
        responder_emails: Sequence[str],
        message: str,
        escalation_policies: Sequence[str] = (),
    ) -> None:
        """Request responders on the incident: people by e-mail and whole teams by their escalation
        policy id (another team engaged); one request for all of them, none when both are empty."""
        ...

    def post_status_update(self, dedup_key: str, message: str, author_email: str | None = None) -> None:
        """Post on the incident as ``author_email``'s PagerDuty user (else as warroom's own)."""
        ...

    def add_note(self, dedup_key: str, content: str) -> None: ...

    def reassign(self, dedup_key: str, assignee_email: str) -> None: ...

    def oncall(self, escalation_policy: str) -> list[OnCall]: ...

    def log_entries(self, dedup_key: str) -> list[LogEntry]: ...


class Tracker(Protocol):
    """Keeps the incident ticket and files follow-ups (Jira)."""

    def open_ticket(
        self, incident_id: str, project: str, summary: str, description: str, labels: tuple[str, ...] = ()
    ) -> Ticket:
        """The incident's ticket, filed once; ``description`` is the incident document; ``labels``
        are added to warroom's own (a drill's label)."""
        ...

    def set_document(self, key: str, document: str) -> bool:
        """Make the ticket's description show ``document``, the incident document in Markdown, in the
        tracker's own markup (what people wrote there stays); written only when what the tracker holds
        changes: returns whether it was."""
        ...

    def file_followup(
        self,
        incident_id: str,
        project: str,
        intent: str,
        kind: FollowUpKind,
        summary: str,
        description: str,
        labels: tuple[str, ...] = (),
    ) -> FollowUp: ...

    def comment(self, key: str, body: str) -> None: ...

    def comment_once(self, key: str, body: str) -> bool:
        """Post ``body`` on ``key`` unless a comment with exactly this body is there; True if posted now."""
        ...

    def attach_once(self, key: str, filename: str, content: bytes) -> bool:
        """Attach ``content`` to ``key`` as ``filename`` unless an attachment of that name is there
        (put the version in the name); True if attached now."""
        ...

    def transition(self, key: str, name: str) -> None: ...

    def assign(self, key: str, assignee_email: str) -> None: ...

    def link(self, key: str, url: str, title: str) -> None: ...

    def find_followups(
        self, incident_id: str, label: str | None = None, status: str | None = None
    ) -> list[FollowUp]: ...

    def find_followups_of(self, incident_ids: Sequence[str]) -> dict[str, list[FollowUp]]:
        """Each incident's follow-ups, as :meth:`find_followups` gives them, asked in a few searches
        for many incidents at once; every id asked is a key (an empty list: none found)."""
        ...
