"""The report's read: each incident opened in the period with its events in order, raw (kind, payload,
actor, time), on SQLite and PostgreSQL; the pure report reads the same facts from either."""

from __future__ import annotations

from datetime import timedelta

from warroom.incident.events import PhaseChanged
from warroom.incident.models import Phase
from warroom.incident.report import facts_of
from warroom.integrations.ledger import Ledger

from .helpers import T0, declared, update

HOUR = timedelta(hours=1)


def test_incidents_of_the_period_with_their_events_in_order(ledger: Ledger) -> None:
    ledger.append(declared("INC-EARLY", at=T0 - 2 * HOUR), 0)
    ledger.append(declared("INC-A", at=T0), 0)
    ledger.append(update("INC-A", "INC-A:update", at=T0 + HOUR), 1)
    ledger.append(PhaseChanged(incident_id="INC-A", actor="alice", occurred_at=T0 + 2 * HOUR,
                               idempotency_key="INC-A:phase", to=Phase.STABILISING), 2)
    ledger.append(declared("INC-B", service="search", at=T0 + HOUR), 0)
    ledger.append(declared("INC-LATE", at=T0 + 48 * HOUR), 0)

    found = list(ledger.report_rows(T0 - HOUR, T0 + 24 * HOUR))
    assert [(iid, [r.kind for r in rows]) for iid, _, rows in found] == [
        ("INC-A", ["declared", "status_update_posted", "phase_changed"]), ("INC-B", ["declared"])]
    assert [opened for _, opened, _ in found] == [T0, T0 + HOUR]
    assert [iid for iid, _, _ in ledger.report_rows(T0 - HOUR, T0 + 24 * HOUR, service="search")] == ["INC-B"]

    iid, opened, rows = found[0]
    assert rows[2].occurred_at == T0 + 2 * HOUR and rows[2].occurred_at.tzinfo is not None
    facts = facts_of(iid, opened, rows, {"SEV2": HOUR}, frozenset({"checkout"}), T0 + 24 * HOUR)
    assert (facts.service, facts.severity, facts.phase_at["stabilising"]) == ("checkout", "SEV2", T0 + 2 * HOUR)
    assert facts.updates_posted == 1
