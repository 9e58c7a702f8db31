"""The schema comes only from the alembic migrations, and they agree with ``schema.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect

from warroom.integrations.ledger import Ledger
from warroom.integrations.ledger.ledger import alembic_config

from .helpers import FakeClock, declared

EXPECTED_INDEXES = {
    "events": {"ix_events_kind"},
    "incidents": {
        "ix_incidents_status_service",
        "ix_incidents_declared_at",
        "ix_incidents_service_declared_at",
        "ix_incidents_opened_at",
    },
    "inbox": {"ix_inbox_status_received_at", "ix_inbox_fingerprint"},
    "work": {"ix_work_status_due_at", "ix_work_incident_id"},
}


@pytest.fixture
def engine(ledger_url: str) -> Iterator[Engine]:
    engine = create_engine(ledger_url)
    yield engine
    engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_a_fresh_database_reaches_head(ledger_url: str, engine: Engine) -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert current_revision(engine) is None

    Ledger.open(ledger_url, FakeClock()).close()

    assert len(heads) == 1
    assert current_revision(engine) == heads[0]
    tables = inspect(engine)
    assert set(tables.get_table_names()) == {"events", "incidents", "inbox", "work", "alembic_version"}
    for table, expected in EXPECTED_INDEXES.items():
        indexes = tables.get_indexes(table)  # PostgreSQL lists unique constraints as indexes too
        assert {ix["name"] for ix in indexes if not ix.get("duplicates_constraint")} == expected
    unique = {tuple(c["column_names"]) for c in tables.get_unique_constraints("events")}
    assert {("idempotency_key",), ("incident_id", "seq")} <= unique


def test_the_migrations_match_the_tables_the_code_uses(ledger_url: str, engine: Engine) -> None:
    Ledger.open(ledger_url, FakeClock()).close()

    with engine.connect() as conn:
        command.check(alembic_config(conn))  # raises if schema.py and the migrations differ


def test_opening_twice_is_idempotent(ledger_url: str, engine: Engine) -> None:
    with Ledger.open(ledger_url, FakeClock()) as first:
        recorded = first.append(declared("INC-1"), 0)
        with Ledger.open(ledger_url, FakeClock()) as second:  # while the first is still open
            assert second.stream("INC-1") == [recorded]

    with Ledger.open(ledger_url, FakeClock()) as again:
        assert again.stream("INC-1") == [recorded]
    assert current_revision(engine) == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_downgrade_to_base_then_upgrade_again(ledger_url: str, engine: Engine) -> None:
    Ledger.open(ledger_url, FakeClock()).close()

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")

    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    assert current_revision(engine) is None
    with Ledger.open(ledger_url, FakeClock()) as ledger:
        assert ledger.append(declared("INC-1"), 0).seq == 1


def test_a_pending_incident_written_before_0003_gets_the_service_and_title_of_its_alerts(
    ledger_url: str, engine: Engine
) -> None:
    from sqlalchemy import insert

    from warroom.integrations.ledger.schema import events, incidents

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
    at = declared("INC-OLD").occurred_at
    alert = {"source": "alertmanager", "fingerprint": "fp", "status": "firing", "service": None,
             "summary": "disk full", "labels": {}, "annotations": {}, "starts_at": None, "ends_at": None, "links": []}
    with engine.begin() as conn:
        for seq, service in ((1, None), (2, "search")):
            conn.execute(insert(events).values(
                event_id=f"e{seq}", incident_id="INC-OLD", seq=seq, kind="alert_attached",
                payload={"alert": {**alert, "service": service, "fingerprint": f"fp{seq}"}}, actor="alertmanager",
                occurred_at=at, recorded_at=at, idempotency_key=f"INC-OLD:alert:{seq}"))
        conn.execute(insert(incidents).values(
            incident_id="INC-OLD", status="pending", phase="pending", service=None, severity=None, title=None,
            drill=False, opened_at=at, declared_at=None, closed_at=None, last_seq=2, updated_at=at))

    with Ledger.open(ledger_url, FakeClock()) as ledger:  # migrates to the head
        [row] = ledger.list_incidents(service="search")
        assert (row.incident_id, row.title) == ("INC-OLD", "disk full")
        assert [r.event.kind for r in ledger.stream("INC-OLD")] == ["alert_attached", "alert_attached"]
