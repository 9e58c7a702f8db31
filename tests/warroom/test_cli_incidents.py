"""`warroom incidents` lists from the ledger alone: a pending incident shows, and filters, by the service
and title of its alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warroom.cli import app
from warroom.incident.events import AlertAttached
from warroom.incident.models import Alert
from warroom.integrations.ledger import Ledger, default_url

AT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def test_a_pending_incident_is_listed_with_its_alerts_service_and_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARROOM_HOME", str(tmp_path))
    monkeypatch.delenv("WARROOM_DATABASE_URL", raising=False)
    with Ledger.open(default_url(tmp_path), lambda: AT) as ledger:
        ledger.append(AlertAttached(incident_id="INC-PENDING", actor="alertmanager", occurred_at=AT,
                                    idempotency_key="INC-PENDING:alert",
                                    alert=Alert(source="alertmanager", fingerprint="fp", status="firing",
                                                service="checkout", summary="Checkout latency high")), 0)
    listed = CliRunner().invoke(app, ["incidents", "--service", "checkout"])
    assert listed.exit_code == 0, listed.output
    [line] = listed.output.splitlines()
    assert line.split() == ["INC-PENDING", "pending", "pending", "-", "checkout", "Checkout", "latency", "high"]
    assert CliRunner().invoke(app, ["incidents", "--service", "search"]).output == "no incidents\n"
