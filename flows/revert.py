"""Revert divergences: the planning lead goes through what was changed; each is reverted, accepted by
the IC with a reason, or left open (then it becomes a Jira follow-up, and close waits for it)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.ask import ask_for_event, handles, plain
from flows.forms import revert_form
from incident import events as ev
from incident.models import Divergence, Role
from incident.state import IncidentState
from tasks.document import publish_document
from tasks.ledger import envelope, load_state
from tasks.runtime import current_runtime
from tasks.tracking import file_followup


@flow(name="revert-divergences")
def revert_divergences(incident_id: str) -> None:
    """One pass over the open divergences; the lifecycle runs passes until none is open."""
    for divergence in load_state(incident_id).open_divergences:
        decide(incident_id, divergence)
    publish_document(incident_id)


def decide(incident_id: str, d: Divergence) -> None:
    rt = current_runtime()
    state = load_state(incident_id)
    key = f"{incident_id}:divergence:{d.id}"

    def to_event(answer: Any, state: IncidentState) -> ev.Event | str | None:
        who, action = plain(answer.your_handle), answer.action
        if action == "revert":  # the core refuses anyone but the planning lead
            return ev.DivergenceReverted(**envelope(incident_id, key, who), divergence_id=d.id)
        if action == "accept":
            if not answer.reason.strip():
                return "say why the divergence may stay, to accept it"
            return ev.DivergenceAccepted(**envelope(incident_id, key, who), divergence_id=d.id,
                                         reason=answer.reason.strip())
        return None  # left open

    answer, _ = ask_for_event(
        incident_id, revert_form(handles()), to_event, role=Role.PLANNING_LEAD, key=key,
        timeout=rt.config.policy.approvals.revert,
        question=(f"Divergence **{d.id}**: {d.what} (applied by {d.applied_by}, approved by "
                  f"{d.approved_by}).\n\nRevert it: {d.revert}"),
        your_handle=state.holder(Role.PLANNING_LEAD),
    )
    if answer.action == "leave open":
        file_followup(
            incident_id, state.service or "", f"divergence-{d.id}", "divergence",
            f"Revert divergence {d.id} of {incident_id}: {d.what}",
            f"Left open at the revert phase of {incident_id}. Revert: {d.revert}",
        )
