"""The hot statements run on the driver's cursor write what SQLAlchemy's execution would, and fail as it would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from warroom.integrations.ledger import Ledger
from warroom.integrations.ledger.hot import Hot
from warroom.integrations.ledger.schema import events, incidents

from .helpers import T0

INSERT = Hot(events.insert())
UPDATE = Hot(incidents.update().where(incidents.c.incident_id == bindparam("b_incident_id")))
COUNT = Hot(select(func.count()).select_from(events).where(events.c.incident_id == bindparam("incident_id")))


def row(seq: int, key: str, payload: object) -> dict[str, object]:
    return {"event_id": f"e-{key}", "incident_id": "INC-1", "seq": seq, "kind": "note", "payload": payload,
            "actor": "alice", "occurred_at": T0, "recorded_at": T0 + timedelta(microseconds=seq),
            "idempotency_key": key}


def test_rows_written_read_back_as_sqlalchemy_reads_them(ledger: Ledger) -> None:
    written = [row(1, "k1", {"text": "ünïcode", "n": [1, None]}), row(2, "k2", [])]
    with ledger._engine.begin() as conn:
        assert INSERT.run(conn, written) == 2  # one executemany
        assert COUNT.scalar(conn, {"incident_id": "INC-1"}) == 2
        assert COUNT.scalar(conn, {"incident_id": "INC-2"}) == 0
    with ledger._engine.connect() as conn:
        read = [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.seq))]
    assert read == written  # JSON as JSON, times as UTC-aware times


def test_an_update_sets_only_the_columns_given(ledger: Ledger) -> None:
    with ledger._engine.begin() as conn:
        conn.execute(incidents.insert(), {"incident_id": "INC-1", "status": "pending", "phase": "pending",
                                          "title": "kept", "drill": False, "opened_at": T0, "last_seq": 1,
                                          "updated_at": T0})
        assert UPDATE.run(conn, {"b_incident_id": "INC-1", "last_seq": 2, "updated_at": T0 + timedelta(1)}) == 1
        assert UPDATE.run(conn, {"b_incident_id": "INC-9", "last_seq": 2, "updated_at": T0}) == 0
        got = conn.execute(select(incidents.c.title, incidents.c.last_seq, incidents.c.updated_at)).one()
    assert tuple(got) == ("kept", 2, T0 + timedelta(1))


def test_a_refused_row_raises_sqlalchemys_integrity_error_and_writes_nothing(ledger: Ledger) -> None:
    with ledger._engine.begin() as conn:
        INSERT.run(conn, row(1, "k1", {}))
    with pytest.raises(IntegrityError), ledger._engine.begin() as conn:
        INSERT.run(conn, [row(2, "k2", {}), row(3, "k1", {})])  # k1 is taken
    with ledger._engine.connect() as conn:
        assert COUNT.scalar(conn, {"incident_id": "INC-1"}) == 1
