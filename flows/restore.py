"""Restore service: the IC confirms the exit criteria; PagerDuty is resolved; a status update goes out."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.ask import ask_for_event, handles, plain
from flows.forms import restore_form
from incident import events as ev
from incident.models import Phase
from incident.state import IncidentState
from tasks.document import publish_document
from tasks.ledger import envelope, load_state, record_event
from tasks.paging import post_status_update, resolve_page
from tasks.runtime import current_runtime


@flow(name="restore")
def restore(incident_id: str) -> None:
    rt = current_runtime()
    criteria = "\n".join(f"- {c}" for c in rt.config.policy.exit_criteria)

    def confirmed(answer: Any, state: IncidentState) -> str | None:
        if plain(answer.your_handle) != state.commander:
            return f"only the incident commander ({state.commander}) confirms that service is restored"
        return None if answer.restored else "not confirmed: tick 'restored' when every exit criterion holds"

    ask_for_event(
        incident_id, restore_form(handles()), confirmed, key=f"{incident_id}:restore",
        question=f"Is service restored? Confirm only when every exit criterion holds:\n{criteria}",
        timeout=rt.config.policy.approvals.restore, your_handle=load_state(incident_id).commander,
    )
    resolve_page(incident_id)
    post_status_update(incident_id, f"{incident_id}:status:restored",
                       "Service restored. We are preserving evidence and reverting temporary changes.")
    record_event(ev.PhaseChanged(**envelope(incident_id, f"{incident_id}:phase:preserving_evidence"),
                                 to=Phase.PRESERVING_EVIDENCE))
    publish_document(incident_id)
