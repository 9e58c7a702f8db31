"""Moving command: once the incoming IC accepts, PagerDuty and Jira are told, then the ledger."""

from __future__ import annotations

from prefect import task

from warroom.incident import events as ev
from warroom.incident.events import Recorded
from warroom.tasks.ledger import envelope, load_state, once
from warroom.tasks.runtime import current_runtime


@task(name="hand_over_command")
def hand_over_command(incident_id: str, key: str, to: str) -> Recorded:
    """A PagerDuty note and reassignment, the Jira assignee and a comment, then the accepted fact."""
    rt = current_runtime()
    state = load_state(incident_id)
    email = rt.config.person(to).email
    outgoing = state.commander
    briefing = state.handoff.briefing if state.handoff else ""

    def announce() -> None:
        note = f"{to} is now the incident commander, taking over from {outgoing}. Briefing: {briefing}"
        rt.pager.add_note(incident_id, note)
        rt.pager.reassign(incident_id, email)
        if state.ticket:
            rt.tracker.assign(state.ticket[0], email)
            rt.tracker.comment(state.ticket[0], note)

    return once(key, announce, lambda _: ev.HandoffAccepted(**envelope(incident_id, key, to)))
