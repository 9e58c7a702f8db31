"""The ledger's tables (SQLAlchemy Core). ``migrations/versions`` must create exactly these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

INCIDENT_STATUSES = ("pending", "open", "closed")
INBOX_STATUSES = ("received", "accepted", "rejected", "duplicate")
WORK_STATUSES = ("pending", "done")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no offset, so values are converted to UTC on the way in and marked UTC on the way
    out. Naive datetimes are refused: their meaning would depend on the machine's clock settings.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a timezone (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData()

# JSON rather than PostgreSQL's JSONB: jsonb refuses "\u0000", which a message or header may hold.
events = Table(
    "events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("incident_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("actor", String, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
    UniqueConstraint("incident_id", "seq", name="uq_events_incident_id_seq"),
    CheckConstraint("seq >= 1", name="ck_events_seq_positive"),
    Index("ix_events_kind", "kind"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("phase", String(32), nullable=False),
    Column("service", String, nullable=True),
    Column("severity", String, nullable=True),
    Column("title", Text, nullable=True),
    Column("drill", Boolean(create_constraint=False), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("declared_at", UTCDateTime, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("last_seq", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("status", INCIDENT_STATUSES), name="ck_incidents_status"),
    Index("ix_incidents_status_service", "status", "service"),
    Index("ix_incidents_declared_at", "declared_at"),
    Index("ix_incidents_service_declared_at", "service", "declared_at"),
    Index("ix_incidents_opened_at", "opened_at"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("incident_id", String(64), nullable=True),
    Column("fingerprint", String, nullable=True),
    CheckConstraint(_in("status", INBOX_STATUSES), name="ck_inbox_status"),
    Index("ix_inbox_status_received_at", "status", "received_at"),
    Index("ix_inbox_fingerprint", "fingerprint"),
)

# The work facts call for (a page, a run start, a timer), stored in the transaction of the fact; a
# dispatcher claims a row (lease_until), carries it out and marks it done with its outcome, or records
# the error and when to try again.
work = Table(
    "work",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),
    Column("incident_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    UniqueConstraint("key", name="uq_work_key"),
    CheckConstraint(_in("status", WORK_STATUSES), name="ck_work_status"),
    Index("ix_work_status_due_at", "status", "due_at"),
    Index("ix_work_incident_id", "incident_id"),
)
