"""One incident's start: the declaration's effects, then every role's desk (DESIGN §5).

The run ends there: nothing waits in a process. From then on the incident moves on the facts in the
ledger, each desk answer handled by the dispatcher (``flows.desks``). A rerun (after a crash, or when
``warroom up`` starts again) does nothing twice and shows each desk its form again.
"""

from __future__ import annotations

from prefect import flow

from warroom.flows.declare import declare
from warroom.flows.desks import advance


# A run that fails (Prefect's API answering 503 under load, say) is run again from the top, which does
# nothing twice: else its incident would wait on no desk until the next `warroom up`
@flow(name="incident-lifecycle", retries=5, retry_delay_seconds=5)
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
