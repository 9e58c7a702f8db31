"""One incident's start: the declaration's effects, then every role's desk (DESIGN §5).

The run ends there: nothing waits in a process. From then on the incident moves on the facts in the
ledger, each desk answer handled by the dispatcher (``flows.desks``). A rerun (after a crash, or when
``warroom up`` starts again) does nothing twice and shows each desk its form again.
"""

from __future__ import annotations

from prefect import flow

from warroom.flows.declare import declare
from warroom.flows.desks import advance


@flow(name="incident-lifecycle")
def incident_lifecycle(
    incident_id: str,
    title: str,
    service: str,
    severity: str,
    reasons: list[str],
    declared_by: str,
    drill: bool = False,
) -> str:
    declare(incident_id, title, service, severity, reasons, declared_by, drill)
    advance(incident_id)
    return incident_id
