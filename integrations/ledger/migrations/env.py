"""Alembic environment for the ledger.

``Ledger.open`` runs the migrations on its own connection, passed as
``config.attributes["connection"]``. Without one, ``sqlalchemy.url`` is used (an operator running
``alembic`` by hand); ``--sql`` (offline) prints the DDL for a DBA to review.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from warroom.integrations.ledger.schema import metadata

config = context.config


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url: run the migrations through Ledger.open")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
