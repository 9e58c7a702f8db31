"""Preserve evidence: copy what the runbook names, hash it, link it on the ticket, or waive it."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.ask import ask_for_event, handles, plain
from flows.forms import waive_evidence_form
from incident import events as ev
from incident.models import Phase
from tasks.document import publish_document
from tasks.evidence import snapshot_evidence
from tasks.ledger import done, envelope, load_state, record_event
from tasks.runtime import current_runtime
from tasks.tracking import link_ticket


@flow(name="preserve-evidence")
def preserve_evidence(incident_id: str) -> None:
    rt = current_runtime()
    state = load_state(incident_id)
    runbook = rt.config.runbook_for(state.service or "")
    sources = runbook.evidence if runbook else ()
    for index, source in enumerate(sources, start=1):
        linked = done(f"{incident_id}:evidence:{index}") is not None
        recorded = snapshot_evidence(incident_id, index, source)
        if state.ticket and not linked:
            assert isinstance(recorded.event, ev.EvidencePreserved)
            link_ticket(state.ticket[0], Path(recorded.event.evidence.location).as_uri(),
                        f"Evidence: {source.title} (sha256 {recorded.event.evidence.sha256[:12]})")
    if not sources and not load_state(incident_id).evidence_settled:
        waive(incident_id)
    record_event(ev.PhaseChanged(**envelope(incident_id, f"{incident_id}:phase:reverting"),
                                 to=Phase.REVERTING))
    publish_document(incident_id)


def waive(incident_id: str) -> None:
    """No runbook names evidence for this service: the IC says why none is kept."""
    rt = current_runtime()
    ask_for_event(
        incident_id, waive_evidence_form(handles()),
        lambda answer, _: ev.EvidenceWaived(
            **envelope(incident_id, f"{incident_id}:evidence:waived", plain(answer.your_handle)),
            reason=answer.reason,
        ),
        key=f"{incident_id}:evidence:waive", timeout=rt.config.policy.approvals.evidence,
        question="The runbook names no evidence to keep for this service. Waive it, with a reason.",
        your_handle=load_state(incident_id).commander,
    )
