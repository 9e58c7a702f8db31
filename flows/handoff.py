"""Handoff: the outgoing IC writes the briefing; the incoming IC must accept in their own form.

No acceptance before the timeout, or a refusal: command stays with the outgoing IC, and the timeline
says so. On acceptance the lifecycle's forms go to the new IC (they always ask the current holder).
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from flows.ask import ask_for_event, handles, plain
from flows.forms import handoff_accept_form, handoff_briefing_form
from incident import events as ev
from incident.errors import WarroomError
from incident.state import IncidentState
from tasks.document import publish_document
from tasks.handoff import hand_over_command
from tasks.ledger import envelope, load_state, record_event
from tasks.runtime import current_runtime

Outcome = Literal["accepted", "declined", "lapsed", "already in command"]


@flow(name="handoff")
def handoff(incident_id: str, to: str) -> Outcome:
    rt = current_runtime()
    state = load_state(incident_id)
    if to not in rt.config.roster.people:
        raise WarroomError(f"{to!r} is not on the roster: hand off to one of {', '.join(handles())}")
    if not state.phase.is_open:
        raise WarroomError(f"{incident_id} is {state.phase.value}: only an open incident can be handed off")
    if state.commander == to:
        return "already in command"
    if state.handoff is None or state.handoff.to != to:
        offer(incident_id, to, state)
    outcome = accept(incident_id, to)
    publish_document(incident_id)
    return outcome


def offer(incident_id: str, to: str, state: IncidentState) -> None:
    if state.handoff is not None:  # a stale offer to someone else: it lapses in favour of this one
        stale = f"{incident_id}:handoff:{state.handoffs_offered}:superseded"
        lapsed = ev.HandoffLapsed(**envelope(incident_id, stale), reason=f"superseded by the offer to {to}")
        record_event(lapsed)
    key = f"{incident_id}:handoff:{state.handoffs_offered + 1}:offer"
    ask_for_event(
        incident_id, handoff_briefing_form(handles()),
        lambda a, _: ev.HandoffOffered(**envelope(incident_id, key, plain(a.your_handle)), to=to,
                                       briefing=a.briefing),
        key=key, timeout=current_runtime().config.policy.approvals.handoff, your_handle=state.commander,
        question=f"Hand command to **{to}**: write the briefing they need to take over.",
    )


def accept(incident_id: str, to: str) -> Outcome:
    rt = current_runtime()
    state = load_state(incident_id)
    n = state.handoffs_offered
    timeout = rt.config.policy.approvals.handoff

    def to_event(answer: Any, state: IncidentState) -> ev.Event | str | None:
        if answer is None:
            reason = f"{to} did not accept within {timeout}"
        elif plain(answer.your_handle) != to:
            return f"only {to}, to whom command was offered, can answer this"
        elif answer.accept:
            return None  # accepted: recorded by hand_over_command, after PagerDuty and Jira are told
        else:
            reason = f"declined by {to}"
        return ev.HandoffLapsed(**envelope(incident_id, f"{incident_id}:handoff:{n}:lapsed"), reason=reason)

    answer, lapsed = ask_for_event(
        incident_id, handoff_accept_form(handles()), to_event, person=to, audience="incoming IC",
        key=f"{incident_id}:handoff:{n}:accept", timeout=timeout, may_lapse=True, your_handle=to,
        question=(f"{state.commander} offers you command of {incident_id}. Briefing:\n\n> "
                  f"{state.handoff.briefing if state.handoff else ''}\n\n"
                  "**You're now the incident commander, okay?** Tick accept to take command."),
    )
    if lapsed is not None:
        return "lapsed" if answer is None else "declined"
    hand_over_command(incident_id, f"{incident_id}:handoff:{n}:accepted", to)
    return "accepted"
