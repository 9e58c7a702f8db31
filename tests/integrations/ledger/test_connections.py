"""PostgreSQL connections: a pooled one lost while idle is replaced before it is used; one lost in use
fails that use only. Reads open no transaction there."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from warroom.incident.errors import LedgerError
from warroom.integrations.ledger import Ledger
from warroom.integrations.ledger import ledger as ledger_module
from warroom.integrations.ledger.testing import reset_postgres_database

from .helpers import FakeClock, declared

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ledger(postgres_url: str) -> Iterator[Ledger]:
    reset_postgres_database(postgres_url)
    with Ledger.open(postgres_url, FakeClock()) as opened:
        opened.append(declared("INC-1"), 0)
        yield opened


def end_pooled_connections(ledger: Ledger) -> int:
    """Terminate the server side of every connection the ledger's pool holds (as a restart would)."""
    url = ledger._engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()
    return int(ended[0]) if ended else 0


def test_a_connection_lost_while_idle_is_pinged_and_replaced_before_use(
        pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "_PING_IDLE_S", 0.0)  # every connection taken out has been idle long enough
    assert end_pooled_connections(pg_ledger) >= 1
    assert pg_ledger.last_seq("INC-1") == 1  # read
    assert end_pooled_connections(pg_ledger) >= 1
    assert pg_ledger.append(declared("INC-2"), 0).seq == 1  # write


def test_a_connection_lost_in_steady_use_fails_that_use_only(pg_ledger: Ledger) -> None:
    assert end_pooled_connections(pg_ledger) >= 1  # not idle long enough to be pinged
    with pytest.raises(LedgerError, match="reading the last seq of INC-1 failed"):
        pg_ledger.last_seq("INC-1")
    assert pg_ledger.last_seq("INC-1") == 1  # the pool's connections were replaced


def test_a_read_opens_no_transaction_and_sees_the_latest_commit(pg_ledger: Ledger) -> None:
    with pg_ledger.reading() as reader:
        assert reader.incident_of("INC-2:declare") is None
        pg_ledger.append(declared("INC-2"), 0)  # committed by another connection meanwhile
        assert reader.incident_of("INC-2:declare") == "INC-2"
        assert reader._conn.connection.dbapi_connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
