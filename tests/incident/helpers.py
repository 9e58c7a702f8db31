"""Builders for core tests: events with a running clock and sequence, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from warroom.incident import events as ev
from warroom.incident.events import Recorded
from warroom.incident.policy import Policy

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


class Stream:
    """Builds a valid-looking stream: each event gets the next sequence number and a later time."""

    def __init__(self, incident_id: str = "INC-1", start: datetime = T0) -> None:
        self.incident_id = incident_id
        self.now = start
        self.seq = 0
        self.records: list[Recorded] = []

    def event(self, cls: type[ev.Event], actor: str = "alice", **fields: Any) -> ev.Event:
        self.now += timedelta(minutes=1)
        return cls(
            incident_id=self.incident_id,
            actor=actor,
            occurred_at=self.now,
            idempotency_key=f"{self.incident_id}-{self.seq + 1}-{cls.__name__}",
            **fields,
        )

    def record(self, event: ev.Event) -> Recorded:
        self.seq += 1
        rec = Recorded(event_id=f"e{self.seq}", seq=self.seq, recorded_at=event.occurred_at, event=event)
        self.records.append(rec)
        return rec

    def add(self, cls: type[ev.Event], actor: str = "alice", **fields: Any) -> Recorded:
        return self.record(self.event(cls, actor, **fields))


def declared(stream: Stream, commander: str = "alice", severity: str = "SEV2") -> Recorded:
    return stream.add(
        ev.Declared,
        actor=commander,
        title="Checkout returns 500s",
        service="checkout",
        severity=severity,
        commander=commander,
        reasons=("customers can see it",),
    )


def policy(**overrides: Any) -> Policy:
    """A small, valid policy (the shape of configs/policy.yaml), built without reading files."""
    data: dict[str, Any] = {
        "severities": {
            "SEV1": {"meaning": "revenue lost", "declare": "immediately", "page": True,
                     "page_severity": "critical", "update_every": "15m", "checkpoint_every": "30m"},
            "SEV3": {"meaning": "degraded", "declare": "criteria", "page": True,
                     "page_severity": "warning", "update_every": "1h", "checkpoint_every": "2h"},
            "SEV4": {"meaning": "minor", "declare": "never", "page": False,
                     "page_severity": "info", "update_every": "4h", "checkpoint_every": "8h"},
        },
        "declaration": {
            "unsolved_after": "1h", "severity_map": {"critical": "SEV1", "warning": "SEV3", "info": "SEV4"},
            "default_severity": "SEV3",
            "customer_visible": {"label": "impact", "values": ["customer"]},
            "second_team": {"label": "teams", "values": ["multiple"]},
            "reopen_window": "30m", "after_close": "reopen",
        },
        "approvals": dict.fromkeys(
            ["roles", "mitigation", "checkpoint", "restore", "evidence", "revert", "handoff", "close"], "10m"
        ),
        "escalation": {"extra_responders": ["dan"], "max_rounds": 2, "message": "help"},
        "exit_criteria": ["errors under SLO for 30 minutes"],
        "command_post": "#inc-bridge",
        **overrides,
    }
    return Policy.model_validate(data)
