"""The ``incidents`` projection, kept in the append's transaction, and listing from it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.incident.errors import LedgerError
from warroom.incident.events import AlertAttached, Closed, PhaseChanged
from warroom.incident.models import Alert, Phase
from warroom.integrations.ledger import IncidentRow, Ledger

from .helpers import T0, declared, update

HOUR = timedelta(hours=1)


def alert(incident_id: str, at_hours: float) -> AlertAttached:
    return AlertAttached(
        incident_id=incident_id,
        actor="intake",
        occurred_at=T0 + at_hours * HOUR,
        idempotency_key=f"{incident_id}:alert",
        alert=Alert(source="grafana", fingerprint="fp", status="firing", summary="latency high"),
    )


@pytest.fixture
def four_incidents(ledger: Ledger) -> Ledger:
    """A: alert then declared (open). B: declared, stabilising, closed. C: a drill. D: pending."""
    ledger.append(alert("INC-A", 0), 0)
    ledger.append(declared("INC-A", service="checkout", severity="SEV1", at=T0 + 0.25 * HOUR), 1)
    ledger.append(declared("INC-B", service="search", at=T0 + 1 * HOUR), 0)
    ledger.append(
        PhaseChanged(
            incident_id="INC-B",
            actor="alice",
            occurred_at=T0 + 2 * HOUR,
            idempotency_key="INC-B:stabilising",
            to=Phase.STABILISING,
        ),
        1,
    )
    ledger.append(declared("INC-C", service="checkout", drill=True, at=T0 + 2 * HOUR), 0)
    ledger.append(alert("INC-D", 4), 0)
    ledger.append(
        Closed(
            incident_id="INC-B",
            actor="alice",
            occurred_at=T0 + 3 * HOUR,
            idempotency_key="INC-B:close",
            summary="search is back",
        ),
        2,
    )
    return ledger


def ids(rows: list[IncidentRow]) -> list[str]:
    return [row.incident_id for row in rows]


def test_each_incident_row_follows_its_events(four_incidents: Ledger) -> None:
    rows = {row.incident_id: row for row in four_incidents.list_incidents()}

    last_a = four_incidents.stream("INC-A")[-1]
    assert rows["INC-A"] == IncidentRow(
        incident_id="INC-A",
        status="open",
        phase="declared",
        service="checkout",
        severity="SEV1",
        title="checkout is failing",
        drill=False,
        opened_at=T0,
        declared_at=T0 + 0.25 * HOUR,
        closed_at=None,
        last_seq=2,
        updated_at=last_a.recorded_at,
    )
    assert (rows["INC-B"].status, rows["INC-B"].phase) == ("closed", "closed")
    assert rows["INC-B"].closed_at == T0 + 3 * HOUR
    assert rows["INC-B"].last_seq == 3
    assert rows["INC-C"].drill is True
    assert (rows["INC-D"].status, rows["INC-D"].phase, rows["INC-D"].service) == ("pending", "pending", None)
    assert rows["INC-D"].declared_at is None


def test_a_phase_change_shows_in_the_row(ledger: Ledger) -> None:
    ledger.append(declared("INC-1"), 0)
    ledger.append(
        PhaseChanged(
            incident_id="INC-1",
            actor="alice",
            occurred_at=T0,
            idempotency_key="INC-1:restoring",
            to=Phase.RESTORING,
        ),
        1,
    )
    ledger.append(update("INC-1", "u1"), 2)

    [row] = ledger.list_incidents()

    assert (row.status, row.phase, row.last_seq) == ("open", "restoring", 3)


def test_list_filters_by_status_service_time_and_drill(four_incidents: Ledger) -> None:
    ledger = four_incidents

    assert ids(ledger.list_incidents()) == ["INC-D", "INC-C", "INC-B", "INC-A"]
    assert ids(ledger.list_incidents(status="open")) == ["INC-C", "INC-A"]
    assert ids(ledger.list_incidents(status="closed")) == ["INC-B"]
    assert ids(ledger.list_incidents(status="pending")) == ["INC-D"]
    assert ids(ledger.list_incidents(service="checkout")) == ["INC-C", "INC-A"]
    assert ids(ledger.list_incidents(include_drills=False)) == ["INC-D", "INC-B", "INC-A"]
    assert ids(ledger.list_incidents(service="checkout", include_drills=False)) == ["INC-A"]
    assert ids(ledger.list_incidents(since=T0 + HOUR, until=T0 + 4 * HOUR)) == ["INC-C", "INC-B"]
    assert ids(ledger.list_incidents(since=T0 + 1.5 * HOUR)) == ["INC-D", "INC-C"]
    assert ids(ledger.list_incidents(until=T0 + HOUR)) == ["INC-A"]
    assert ids(ledger.list_incidents(limit=2)) == ["INC-D", "INC-C"]
    assert ledger.list_incidents(status="open", service="search") == []


def test_list_refuses_an_unknown_status(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown incident status 'resolved'"):
        ledger.list_incidents(status="resolved")


def test_a_pending_incident_has_the_service_and_title_of_its_alerts_until_declared(ledger: Ledger) -> None:
    def attached(n: int, service: str | None, summary: str) -> AlertAttached:
        return AlertAttached(incident_id="INC-P", actor="alertmanager", occurred_at=T0 + n * HOUR,
                             idempotency_key=f"INC-P:alert:{n}",
                             alert=Alert(source="alertmanager", fingerprint=f"fp{n}", status="firing",
                                         service=service, summary=summary))

    ledger.append(attached(0, None, "something is slow"), 0)  # the first alert names no service
    ledger.append(attached(1, "checkout", "checkout latency high"), 1)  # a later one does
    ledger.append(attached(2, "search", "search latency high"), 2)  # the first service named stays
    [row] = ledger.list_incidents()
    assert (row.status, row.service, row.title) == ("pending", "checkout", "something is slow")
    assert ids(ledger.list_incidents(service="checkout")) == ["INC-P"]  # `warroom incidents --service` finds it
    assert ledger.list_incidents(service="search") == []

    ledger.append(declared("INC-P", service="search", at=T0 + 3 * HOUR), 3)  # the declaration decides
    [row] = ledger.list_incidents()
    assert (row.status, row.service, row.title) == ("open", "search", "search is failing")
    ledger.append(attached(4, "payments", "payments down"), 4)
    assert (ledger.list_incidents()[0].service, ledger.list_incidents()[0].title) == ("search", "search is failing")


def test_a_pending_incident_opened_with_its_alert_in_one_batch_has_its_service(ledger: Ledger) -> None:
    first = AlertAttached(incident_id="INC-Q", actor="alertmanager", occurred_at=T0, idempotency_key="INC-Q:alert",
                          alert=Alert(source="alertmanager", fingerprint="fp", status="firing", service="search",
                                      summary="search is down"))
    ledger.write_many([first], 0)
    [row] = ledger.list_incidents(service="search")
    assert (row.incident_id, row.title) == ("INC-Q", "search is down")
