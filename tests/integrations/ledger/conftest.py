"""The ledger under test, on SQLite (a temp dir) and on PostgreSQL (a database per session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from incident.errors import LedgerError
from integrations.ledger import Ledger, default_url
from integrations.ledger.testing import reset_postgres_database, temporary_postgres_database

from .helpers import FakeClock


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh ``warroom_test_<hex>`` database for the session; skipped if unreachable, unless CI."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_postgres_database())
        except LedgerError as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"{exc}. CI=true: the PostgreSQL ledger tests must run here.")
            pytest.skip(f"{exc}. Start PostgreSQL on 127.0.0.1:5432 (trust auth) to run these.")
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database: each test starts before the first migration."""
    if request.param == "sqlite":
        return default_url(tmp_path_factory.mktemp("warroom_home"))
    url: str = request.getfixturevalue("postgres_url")
    reset_postgres_database(url)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(ledger_url: str, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(ledger_url, clock) as opened:
        yield opened
