"""Stabilise (stop the bleeding): mitigations approved by the operations lead, and IC checkpoints."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.ask import ask_for_event, handles, plain
from flows.forms import NO_CHANGE, OTHER, checkpoint_form, mitigation_form
from incident import events as ev
from incident.models import Phase, Role
from incident.state import IncidentState
from tasks.document import publish_document
from tasks.ledger import done, envelope, load_state, record_event
from tasks.paging import request_responders
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
        checkpoint(incident_id, round_)
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


def checkpoint(incident_id: str, round_: int) -> None:
    """The IC's "consider alternatives" checkpoint: bleeding stopped? continue or switch? more help?"""
    rt = current_runtime()
    key = f"{incident_id}:checkpoint:{round_}"

    def to_event(answer: Any, state: IncidentState) -> ev.Event:
        return ev.CheckpointAnswered(
            **envelope(incident_id, key, plain(answer.your_handle)),
            bleeding_stopped=answer.bleeding_stopped, decision=answer.decision, why=answer.why,
            more_support=answer.more_support,
        )

    answer, _ = ask_for_event(
        incident_id, checkpoint_form(handles()), to_event, key=key,
        question="Checkpoint: consider the alternatives. Continue this track, or switch?",
        timeout=rt.config.policy.approvals.checkpoint, your_handle=load_state(incident_id).commander,
    )
    if answer.more_support:
        request_responders(incident_id, f"{key}:support", list(rt.config.policy.escalation.extra_responders),
                           f"the IC asked for more support at checkpoint {round_}")
    if answer.bleeding_stopped:
        record_event(ev.PhaseChanged(**envelope(incident_id, f"{incident_id}:phase:restoring"),
                                     to=Phase.RESTORING))
