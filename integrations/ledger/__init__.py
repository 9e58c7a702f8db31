"""The incident ledger on SQL: SQLite (WAL) embedded, PostgreSQL in production (DESIGN §4)."""

from warroom.integrations.ledger.ledger import InboxRow, IncidentRow, Ledger, Reader, WorkRow, default_url

__all__ = ["InboxRow", "IncidentRow", "Ledger", "Reader", "WorkRow", "default_url"]
