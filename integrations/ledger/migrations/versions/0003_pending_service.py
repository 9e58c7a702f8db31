"""A pending incident's row gets the service and title of its alerts (the projection does so from now
on; this fills the rows written before). Data only; downgrading leaves the values where they are.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_incidents = sa.table("incidents", sa.column("incident_id", sa.String), sa.column("service", sa.String),
                      sa.column("title", sa.Text), sa.column("declared_at", sa.DateTime(timezone=True)))
_events = sa.table("events", sa.column("incident_id", sa.String), sa.column("seq", sa.Integer),
                   sa.column("kind", sa.String), sa.column("payload", sa.JSON))


def upgrade() -> None:
    conn = op.get_bind()
    gaps = conn.execute(sa.select(_incidents.c.incident_id, _incidents.c.service, _incidents.c.title).where(
        _incidents.c.declared_at.is_(None), sa.or_(_incidents.c.service.is_(None), _incidents.c.title.is_(None))
    )).all()
    for incident_id, service, title in gaps:
        alerts = conn.execute(sa.select(_events.c.payload).where(
            _events.c.incident_id == incident_id, _events.c.kind == "alert_attached").order_by(_events.c.seq)).all()
        for (payload,) in alerts:
            alert = payload.get("alert") if isinstance(payload, dict) else None
            if not isinstance(alert, dict):
                continue
            service = service or alert.get("service") or None
            title = title or alert.get("summary") or None
        if service or title:
            conn.execute(_incidents.update().where(_incidents.c.incident_id == incident_id).values(
                service=service, title=title))


def downgrade() -> None:
    pass  # the filled values are true of the alerts; nothing to take back
