"""A fake clock and event builders for the ledger's tests (the real models, never mocks)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from warroom.incident.events import Declared, StatusUpdatePosted

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """Moves 1 ms per reading, so each recorded time is distinct; remembers what it returned."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.readings: list[datetime] = []
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(milliseconds=1)
            self.readings.append(self.now)
            return self.now


def declared(
    incident_id: str,
    key: str | None = None,
    *,
    service: str = "checkout",
    severity: str = "SEV2",
    drill: bool = False,
    at: datetime = T0,
) -> Declared:
    return Declared(
        incident_id=incident_id,
        actor="alice",
        occurred_at=at,
        idempotency_key=key or f"{incident_id}:declare",
        title=f"{service} is failing",
        service=service,
        severity=severity,
        commander="alice",
        reasons=("customers can see it",),
        drill=drill,
    )


def update(
    incident_id: str, key: str, message: str = "still looking", at: datetime = T0
) -> StatusUpdatePosted:
    return StatusUpdatePosted(
        incident_id=incident_id, actor="alice", occurred_at=at, idempotency_key=key, message=message
    )
