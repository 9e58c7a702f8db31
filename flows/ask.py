"""Asking a person: a paused flow run with a form, a timeout from policy, and escalation.

A pause never fails an incident: when the timeout passes, warroom records an escalation, pages the
policy's extra responders (up to ``max_rounds`` times per question) and asks again. Only a question
that may lapse (a handoff offer) returns ``None`` on timeout instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from prefect import get_client, pause_flow_run
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.states import Running

from flows.forms import checkpoint_form, prefilled, status_update_form
from incident import events as ev
from incident import work
from incident.cadence import due
from incident.errors import IllegalTransitionError
from incident.events import Recorded
from incident.models import Phase, Role
from incident.state import IncidentState, check
from tasks.document import document
from tasks.ledger import done, envelope, load_state, record_event
from tasks.paging import post_status_update, request_responders
from tasks.runtime import current_runtime


def plain(value: Any) -> Any:
    """A form's enum answer as the plain string it stands for."""
    return value.value if isinstance(value, Enum) else value


def handles() -> list[str]:
    return sorted(current_runtime().config.roster.people)


def ask(
    incident_id: str,
    form: type[RunInput],
    *,
    question: str,
    key: str,
    timeout: timedelta,
    role: Role = Role.INCIDENT_COMMANDER,
    person: str | None = None,
    audience: str | None = None,
    problem: str | None = None,
    may_lapse: bool = False,
    cadence: bool = True,
    **prefill: Any,
) -> Any:
    """Show ``form`` to whoever holds ``role`` (or to ``person``) and wait for the answer.

    ``key`` names the question (``INC-1:mitigation:2``); each escalation is recorded once.
    ``problem`` is shown first when a previous answer was refused. With ``cadence``, an overdue
    status update is asked of the communications lead first.
    """
    rt = current_runtime()
    round_ = escalations_so_far(key)  # a rerun (a restart) goes on from the rounds already recorded
    while True:
        if cadence:
            status_update_if_due(incident_id)
            checkpoint_if_due(incident_id)
        state = load_state(incident_id)
        who = person or state.holder(role)
        lines = [f"## {incident_id} · for the {audience or role.label}: **{who}**", "", question]
        if problem:
            lines = [f"> **Not recorded:** {problem}. Please answer again.", "", *lines]
        lines += ["", "---", "", document(state)]
        reason = f"no answer from the {audience or role.label} ({who}) within {timeout}"
        due_at = rt.clock() + timeout if may_lapse else form_timer(incident_id, key, round_, timeout, reason)
        left = (due_at - rt.clock()).total_seconds()
        try:
            answer = pause_flow_run(
                wait_for_input=prefilled(form, "\n".join(lines), **prefill),
                timeout=max(1, int(left)),
                poll_interval=rt.form_poll_seconds,
            )
        except FlowPauseTimeout:
            running_again()
            if may_lapse:
                return None
            round_ += 1
            escalate(incident_id, f"{key}:escalation:{round_}", round_, reason)
            continue
        if not may_lapse:
            rt.ledger.settle_work(f"{key}:timeout:{round_}", "answered", rt.clock())
        return answer


def escalations_so_far(key: str) -> int:
    round_ = 0
    while done(f"{key}:escalation:{round_ + 1}"):
        round_ += 1
    return round_


def form_timer(incident_id: str, key: str, round_: int, timeout: timedelta, reason: str) -> datetime:
    """When the form's timeout passes: kept in the ledger as due work, so that it fires even when the
    process waiting on the form is gone (a stopped ``warroom up``), and a rerun waits only what is left."""
    rt = current_runtime()
    timer = work.form_timeout(incident_id, key, round_, rt.clock() + timeout, reason)
    stored = rt.ledger.work_by_key(timer.key)
    if stored is None:
        rt.ledger.add_work([timer])
        return timer.due_at
    if stored.status == "done" and stored.outcome == "answered":  # asked again after a refused answer
        rt.ledger.rearm_work(timer.key, timer.due_at)
        return timer.due_at
    return stored.due_at


def timed_out(incident_id: str, question: str, round_: int, reason: str) -> str:
    """A form's timeout, carried out by the dispatcher: escalate once (the waiting flow, if it is
    alive, escalates under the same key, so only one of the two pages)."""
    state = load_state(incident_id)
    if not state.phase.is_open:
        return f"{incident_id} is {state.phase.value}: no escalation"
    escalate(incident_id, f"{question}:escalation:{round_ + 1}", round_ + 1, reason, in_flow=False)
    return f"escalated ({reason})"


def status_update_if_due(incident_id: str) -> None:
    """The communications lead's cadence: when the severity's update interval has passed, the overdue
    update goes in the timeline and the communications lead is asked for it; it is then posted to
    PagerDuty, the Jira ticket and the document."""
    rt = current_runtime()
    state = load_state(incident_id)
    if not state.phase.is_open or state.declared_at is None:
        return
    due_at = due(state, rt.config.policy).status_update
    if rt.clock() < due_at:
        return
    key = f"{incident_id}:status:{due_at:%Y%m%dT%H%M%S}"
    record_event(ev.StatusUpdateOverdue(**envelope(incident_id, f"{key}:overdue"), due_at=due_at))

    def from_the_comms_lead(answer: Any, state: IncidentState) -> str | None:
        lead = state.holder(Role.COMMUNICATIONS_LEAD)
        return None if plain(answer.your_handle) == lead else f"the communications lead ({lead}) posts updates"

    answer, _ = ask_for_event(
        incident_id, status_update_form(handles()), from_the_comms_lead, role=Role.COMMUNICATIONS_LEAD,
        key=key, timeout=rt.config.policy.approvals.checkpoint, cadence=False,
        question=f"A status update was due at {due_at:%H:%M} UTC. Write it: it goes to PagerDuty and Jira.",
        your_handle=state.holder(Role.COMMUNICATIONS_LEAD),
    )
    post_status_update(incident_id, key, answer.message)


def checkpoint_if_due(incident_id: str) -> None:
    """While stabilising, the IC is asked to consider alternatives at the severity's cadence, even while
    another form waits (the mitigation form is asked again after it)."""
    rt = current_runtime()
    state = load_state(incident_id)
    if state.phase is not Phase.STABILISING:
        return
    due_at = due(state, rt.config.policy).checkpoint
    if rt.clock() >= due_at:
        checkpoint(incident_id, f"{incident_id}:checkpoint:due:{due_at:%Y%m%dT%H%M%S}")


def checkpoint(incident_id: str, key: str) -> None:
    """The IC's "consider alternatives" checkpoint: bleeding stopped? continue or switch? more help?"""
    rt = current_runtime()

    def to_event(answer: Any, state: IncidentState) -> ev.Event:
        return ev.CheckpointAnswered(
            **envelope(incident_id, key, plain(answer.your_handle)),
            bleeding_stopped=answer.bleeding_stopped, decision=answer.decision, why=answer.why,
            more_support=answer.more_support,
        )

    answer, _ = ask_for_event(
        incident_id, checkpoint_form(handles()), to_event, key=key, cadence=False,
        question="Checkpoint: consider the alternatives. Continue this track, or switch?",
        timeout=rt.config.policy.approvals.checkpoint, your_handle=load_state(incident_id).commander,
    )
    if answer.more_support:
        request_responders(incident_id, f"{key}:support", list(rt.config.policy.escalation.extra_responders),
                           "the IC asked for more support at a checkpoint")
    if answer.bleeding_stopped:
        record_event(ev.PhaseChanged(**envelope(incident_id, f"{incident_id}:phase:restoring"),
                                     to=Phase.RESTORING))


def running_again() -> None:
    """After a pause times out, Prefect leaves the run paused: take it back to running, so that the
    escalation's tasks can run and the question can be asked again."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(context.flow_run.id, Running(), force=True)


def escalate(incident_id: str, key: str, round_: int, reason: str, in_flow: bool = True) -> None:
    policy = current_runtime().config.policy.escalation
    if round_ <= policy.max_rounds:
        page_more = request_responders if in_flow else request_responders.fn
        page_more(incident_id, key, list(policy.extra_responders), reason)
    else:
        record_event(ev.Escalated(**envelope(incident_id, key), reason=f"{reason} (no one more to page)"))


def ask_for_event(
    incident_id: str,
    form: type[RunInput],
    to_event: Callable[[Any, IncidentState], ev.Event | str | None],
    **ask_args: Any,
) -> tuple[Any, Recorded | None]:
    """Ask until the answer makes a fact the core accepts, then record it.

    ``to_event`` turns an answer into the fact to record, or into a problem (a string) to show when
    asking again, or into ``None`` when the answer records nothing. A fact the core refuses (say, a
    mitigation approved by someone who is not the operations lead) is shown as the problem too.
    """
    problem = None
    while True:
        answer = ask(incident_id, form, problem=problem, **ask_args)
        state = load_state(incident_id)
        result = to_event(answer, state)
        if isinstance(result, str):
            problem = result
            continue
        if result is None:
            return answer, None
        try:
            check(state, result)
        except IllegalTransitionError as refused:
            problem = str(refused).removeprefix(f"{incident_id}: ")
            continue
        return answer, record_event(result)
