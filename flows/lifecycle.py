"""One incident from declaration to close: each phase's flow in turn, as the ledger says where it is.

The phase comes from the ledger, so a rerun from the top (after a crash, or a resume after
``suspend_flow_run``) goes straight to where the incident is and does nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect import flow

from flows.close import close
from flows.declare import declare
from flows.evidence import preserve_evidence
from flows.restore import restore
from flows.revert import revert_divergences
from flows.stabilise import stabilise
from incident.models import Phase
from tasks.ledger import load_state


def revert_or_close(incident_id: str) -> None:
    if load_state(incident_id).open_divergences:
        revert_divergences(incident_id)
    else:
        close(incident_id)


PHASE_FLOWS: dict[Phase, Callable[[str], object]] = {
    Phase.STABILISING: stabilise,
    Phase.RESTORING: restore,
    Phase.PRESERVING_EVIDENCE: preserve_evidence,
    Phase.REVERTING: revert_or_close,
}


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
    while (phase := load_state(incident_id).phase) is not Phase.CLOSED:
        PHASE_FLOWS[phase](incident_id)
    close(incident_id)  # finishes what follows a close, if a crash interrupted it
    return incident_id
