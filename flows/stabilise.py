"""Stabilise (stop the bleeding): mitigations approved by the operations lead, and IC checkpoints."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.ask import ask_for_event, checkpoint, handles, plain
from flows.forms import NO_CHANGE, OTHER, mitigation_form
from incident import events as ev
from incident.models import Phase, Role
from incident.state import IncidentState
from tasks.document import publish_document
from tasks.ledger import done, envelope, load_state
from tasks.runtime import current_runtime


@flow(name="stabilise")
def stabilise(incident_id: str) -> None:
    """Rounds of: one mitigation (or none) from the operations lead, then the IC's checkpoint.

    The round number comes from the ledger (checkpoints answered), so a rerun resumes the round.
    """
    while (state := load_state(incident_id)).phase is Phase.STABILISING:
        round_ = state.checkpoints + 1
        if not done(f"{incident_id}:mitigation:{round_}"):
            mitigate(incident_id, round_)
        if load_state(incident_id).phase is Phase.STABILISING:  # a checkpoint due meanwhile may have moved on
            checkpoint(incident_id, f"{incident_id}:checkpoint:{round_}")
        publish_document(incident_id)


def mitigate(incident_id: str, round_: int) -> None:
    rt = current_runtime()
    service = load_state(incident_id).service or ""
    runbook = rt.config.runbook_for(service)
    mitigations = {m.id: m for m in (runbook.mitigations if runbook else ())}
    listing = "\n".join(f"- **{m.id}**: {m.title}. How: {m.how} Revert: {m.revert} (risk {m.risk})"
                        for m in mitigations.values()) or "- (this service has no runbook)"
    key = f"{incident_id}:mitigation:{round_}"

    def to_event(answer: Any, state: IncidentState) -> ev.Event | str | None:
        choice = plain(answer.mitigation)
        if choice == NO_CHANGE:
            return None
        if choice == OTHER:
            what, revert, runbook_id = answer.other_what.strip(), answer.other_revert.strip(), None
            if not what or not revert:
                return "for 'other', say both what you change and how to revert it"
        else:
            what, revert, runbook_id = mitigations[choice].title, mitigations[choice].revert, choice
        approver = plain(answer.approved_by)
        return ev.MitigationApplied(
            **envelope(incident_id, key, approver), divergence_id=f"d{len(state.divergences) + 1}",
            what=what, revert=revert, approved_by=approver, mitigation=runbook_id,
        )

    ask_for_event(
        incident_id, mitigation_form(handles(), list(mitigations)), to_event,
        role=Role.OPERATIONS_LEAD, key=key, timeout=rt.config.policy.approvals.mitigation,
        question=f"Stop the bleeding. Runbook mitigations for {service}:\n{listing}",
    )
