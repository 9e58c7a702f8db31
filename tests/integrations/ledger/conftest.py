"""The ledger under test, on SQLite (a temp dir) and on PostgreSQL (a database per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from warroom.integrations.ledger import Ledger, default_url
from warroom.integrations.ledger.testing import reset_postgres_database

from .helpers import FakeClock


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
