"""Where an incoming alert goes: a new incident, the open one it belongs to, or a reopened one.

Alerts are grouped by their sender's group (service and group key) or, without one, by fingerprint.
An incident is an "episode" of a group: the first alert opens episode 1; once that incident closes, an
alert after policy's reopen window (or with ``after_close: new``) opens the next episode, and one
inside the window reopens the closed incident.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from warroom.incident.models import Alert, Phase
from warroom.incident.policy import Policy
from warroom.incident.state import IncidentState

RouteAction = Literal["open", "join", "resolve", "reopen", "ignore"]


@dataclass(frozen=True)
class Route:
    action: RouteAction
    reason: str


def grouping_key(alert: Alert, group_key: str | None) -> str:
    """What alerts are grouped by: the sender's group (Alertmanager's or Grafana's groupKey) within the
    service when it gives one, so that one notification group is one incident; else the fingerprint."""
    return f"group:{alert.service or '-'}:{group_key}" if group_key else alert.fingerprint


def incident_id_for(group: str, episode: int) -> str:
    """Deterministic, so that two intake processes that see the same alert name the same incident;
    a hash, so that groups that share a prefix never share an incident."""
    return f"INC-{hashlib.sha256(group.encode()).hexdigest()[:12]}-{episode}"


def route(latest: IncidentState | None, alert: Alert, policy: Policy, now: datetime) -> Route:
    """``latest`` is the newest incident of the alert's fingerprint, if there is one."""
    firing = alert.status == "firing"
    if latest is None:
        if firing:
            return Route("open", "a new alert")
        return Route("ignore", "a resolve for an alert warroom has not seen firing")
    if latest.phase is not Phase.CLOSED:
        if firing:
            return Route("join", f"the alert belongs to {latest.incident_id}, which is {latest.phase.value}")
        return Route("resolve", f"the alert resolved at its source; recorded on {latest.incident_id}")
    if not firing:
        return Route("ignore", f"{latest.incident_id} is closed already")
    window = policy.declaration.reopen_window
    soon = latest.closed_at is not None and now - latest.closed_at <= window
    if soon and policy.declaration.after_close == "reopen":
        return Route("reopen", f"fired again within {window} of closing {latest.incident_id}")
    why = "policy starts anew after a close" if soon else f"more than {window} after {latest.incident_id} closed"
    return Route("open", why)
