"""The ledger's first tables: events, the incidents projection, the alert inbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
        sa.UniqueConstraint("incident_id", "seq", name="uq_events_incident_id_seq"),
        sa.CheckConstraint("seq >= 1", name="ck_events_seq_positive"),
    )
    op.create_index("ix_events_kind", "events", ["kind"])

    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("service", sa.String, nullable=True),
        sa.Column("severity", sa.String, nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("drill", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'open', 'closed')", name="ck_incidents_status"),
    )
    op.create_index("ix_incidents_status_service", "incidents", ["status", "service"])
    op.create_index("ix_incidents_declared_at", "incidents", ["declared_at"])
    op.create_index("ix_incidents_service_declared_at", "incidents", ["service", "declared_at"])
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])

    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("incident_id", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String, nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'accepted', 'rejected', 'duplicate')", name="ck_inbox_status"
        ),
    )
    op.create_index("ix_inbox_status_received_at", "inbox", ["status", "received_at"])
    op.create_index("ix_inbox_fingerprint", "inbox", ["fingerprint"])


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("incidents")
    op.drop_table("events")
