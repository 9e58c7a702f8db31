"""Close: the IC's summary (refused while a divergence is open or evidence is missing), evidence
hashes checked again, then the final status update, a postmortem follow-up, the ticket done and the
document's final form."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.ask import ask_for_event, handles, plain
from flows.forms import close_form
from incident import events as ev
from incident.models import Phase
from incident.state import IncidentState
from tasks.document import publish_document
from tasks.evidence import changed_evidence
from tasks.ledger import envelope, load_state
from tasks.paging import post_status_update
from tasks.runtime import current_runtime
from tasks.tracking import file_followup, transition_ticket

DONE = "Done"


@flow(name="close")
def close(incident_id: str) -> None:
    if load_state(incident_id).phase is not Phase.CLOSED:
        ask_to_close(incident_id)
    wrap_up(incident_id)


def ask_to_close(incident_id: str) -> None:
    rt = current_runtime()
    state = load_state(incident_id)
    changed = changed_evidence(state.evidence)
    hashes = (f"**Evidence changed since capture** (sha256 differs): {', '.join(changed)}" if changed
              else f"Evidence hashes checked again: {len(state.evidence)} unchanged.")

    def to_event(answer: Any, state: IncidentState) -> ev.Event | str:
        if changed:
            return "preserved evidence changed after capture: put the copies back before closing"
        return ev.Closed(**envelope(incident_id, f"{incident_id}:closed", plain(answer.your_handle)),
                         summary=answer.summary)

    ask_for_event(
        incident_id, close_form(handles()), to_event, key=f"{incident_id}:closed",
        timeout=rt.config.policy.approvals.close, your_handle=state.commander,
        question=f"Close the incident: write its summary.\n\n{hashes}",
    )


def wrap_up(incident_id: str) -> None:
    """What follows the close; each step happens once, so a rerun after a crash finishes the rest."""
    state = load_state(incident_id)
    post_status_update(incident_id, f"{incident_id}:status:closed", f"Resolved: {state.close_summary}")
    file_followup(
        incident_id, state.service or "", "postmortem", "postmortem",
        f"Postmortem for {incident_id}: {state.title}",
        f"Write the postmortem for {incident_id}. The IC's summary: {state.close_summary}",
    )
    if state.ticket:
        transition_ticket(state.ticket[0], DONE)
    publish_document(incident_id)
