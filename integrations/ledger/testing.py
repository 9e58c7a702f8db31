"""Helpers for tests and benchmarks: a throwaway PostgreSQL database for the ledger."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from warroom.incident.errors import LedgerError

# The local test server trusts local connections; the superuser is postgres (or root on some images).
ADMIN_URLS = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "postgresql+psycopg://root@127.0.0.1:5432/postgres",
)


def _admin_engine(admin_urls: Sequence[str]) -> Engine:
    failures = []
    for url in admin_urls:
        engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return engine
        except SQLAlchemyError as exc:
            engine.dispose()
            where = engine.url.render_as_string(hide_password=True)
            lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            failures.append(f"{where}: {lines[0] if lines else type(exc).__name__}")
    raise LedgerError("PostgreSQL is unreachable: " + "; ".join(failures))


@contextmanager
def temporary_postgres_database(admin_urls: Sequence[str] = ADMIN_URLS) -> Iterator[str]:
    """Create ``warroom_test_<hex>``, yield its URL, then drop it (its connections terminated).

    Raises :class:`LedgerError` when no admin URL connects.
    """
    admin = _admin_engine(admin_urls)
    name = f"warroom_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def reset_postgres_database(url: str) -> None:
    """Empty a test database: drop and recreate its ``public`` schema (the ledger's tables with it)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
