"""The work table: pages, run starts and timers that facts call for, carried out by dispatchers.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("key", name="uq_work_key"),
        sa.CheckConstraint("status IN ('pending', 'done')", name="ck_work_status"),
    )
    op.create_index("ix_work_status_due_at", "work", ["status", "due_at"])
    op.create_index("ix_work_incident_id", "work", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_work_incident_id", table_name="work")
    op.drop_index("ix_work_status_due_at", table_name="work")
    op.drop_table("work")
