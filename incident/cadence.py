"""When the next status update and the next "consider alternatives" checkpoint are due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from warroom.incident.policy import Policy
from warroom.incident.state import IncidentState


@dataclass(frozen=True)
class Due:
    status_update: datetime
    checkpoint: datetime

    def overdue(self, now: datetime) -> list[str]:
        late = []
        if now >= self.status_update:
            late.append(f"status update overdue since {self.status_update:%H:%M} UTC")
        if now >= self.checkpoint:
            late.append(f"checkpoint overdue since {self.checkpoint:%H:%M} UTC")
        return late


def due(state: IncidentState, policy: Policy) -> Due:
    """Both due times, counted from the last one done (or from the declaration)."""
    if state.declared_at is None or state.severity is None:
        raise ValueError(f"{state.incident_id} is not declared: nothing is due yet")
    sev = policy.severities[state.severity]
    return Due(
        status_update=(state.last_status_update_at or state.declared_at) + sev.update_every,
        checkpoint=(state.last_checkpoint_at or state.declared_at) + sev.checkpoint_every,
    )
