"""Who may decide what, and what happens when nobody answers: forms refused, timeouts, handoffs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.declare import declare
from flows.handoff import handoff
from flows.stabilise import stabilise
from incident import events as ev
from incident.models import Phase, Role
from incident.state import IncidentState
from integrations.sandbox.server import Sandboxes
from tasks.ledger import load_state
from tasks.runtime import Runtime, current_runtime
from tests.helpers import Clock, requests_seen
from warroom.responder import Form, Responder, scripted_answer


def quiet(_: str) -> None:
    return None


def declared(incident_id: str, answer: Callable[[Form, IncidentState], Any] = scripted_answer) -> Responder:
    with Responder(answer=answer, say=quiet) as responder:
        declare(incident_id, "Search is slow", "search", "SEV2", ["customers can see it"], "erin")
    return responder


def pagerduty_requests(sandboxes: Sandboxes) -> list[dict[str, Any]]:
    return requests_seen(sandboxes, sandboxes.pagerduty_url)


def jira_requests(sandboxes: Sandboxes) -> list[dict[str, Any]]:
    return requests_seen(sandboxes, sandboxes.jira_url)


def test_a_mitigation_approved_by_someone_else_is_refused_and_asked_again(runtime: Runtime) -> None:
    incident_id = "INC-DEC-MIT"
    declared(incident_id)
    ops = load_state(incident_id).holder(Role.OPERATIONS_LEAD)
    intruder = next(h for h in runtime.config.roster.people if h != ops)

    def answer(form: Form, state: IncidentState) -> dict[str, Any] | None:
        if form.name == "MitigationForm" and "Not recorded" not in form.description:
            return {"mitigation": form.choices("mitigation")[0], "approved_by": intruder}
        return scripted_answer(form, state)

    with Responder(answer=answer, say=quiet) as responder:
        stabilise(incident_id)
    forms = [f for f, _ in responder.answered if f.name == "MitigationForm"]
    assert len(forms) == 2
    assert f"it was approved by {intruder}, but the operations lead is {ops}" in forms[1].description
    stream = runtime.ledger.stream(incident_id)
    mitigations = [r.event for r in stream if isinstance(r.event, ev.MitigationApplied)]
    assert [m.approved_by for m in mitigations] == [ops]
    assert load_state(incident_id).phase is Phase.RESTORING


def test_an_answer_that_breaks_the_form_schema_is_refused_and_the_run_stays_paused(runtime: Runtime) -> None:
    tries: list[str] = []

    def answer(form: Form, state: IncidentState) -> dict[str, Any] | None:
        good = scripted_answer(form, state)
        if form.name == "RolesForm" and not tries:
            tries.append("bad")
            return {**(good or {}), "operations_lead": "mallory"}  # not on the roster
        return good

    responder = declared("INC-DEC-SCHEMA", answer)
    assert len(responder.refused) == 1
    form, bad, why = responder.refused[0]
    assert form.name == "RolesForm" and bad["operations_lead"] == "mallory"
    assert "mallory" in why or "validation" in why.lower()
    answered = [f for f, _ in responder.answered if f.name == "RolesForm"]
    assert [(f.flow_run_id, f.pause_key) for f in answered] == [(form.flow_run_id, form.pause_key)]
    assert load_state("INC-DEC-SCHEMA").holder(Role.OPERATIONS_LEAD) != "mallory"


def test_a_pause_timeout_pages_extra_responders_and_asks_again(
    make_runtime: Callable[[int], Runtime], sandboxes: Sandboxes
) -> None:
    runtime = make_runtime(1)
    incident_id = "INC-DEC-TIMEOUT"
    seen: list[str] = []

    def answer(form: Form, state: IncidentState) -> dict[str, Any] | None:
        seen.append(form.name)
        if form.name == "RolesForm" and seen.count("RolesForm") == 1:
            return None  # nobody answers the first time
        return scripted_answer(form, state)

    declared(incident_id, answer)
    escalations = [r.event for r in runtime.ledger.stream(incident_id) if isinstance(r.event, ev.Escalated)]
    assert escalations, "the timeout was escalated"
    first = escalations[0]
    assert first.idempotency_key == f"{incident_id}:roles:escalation:1"
    assert first.responders == runtime.config.policy.escalation.extra_responders
    assert "no answer from the incident commander" in first.reason
    assert load_state(incident_id).phase is Phase.STABILISING  # asked again, answered, went on
    pd_incident = [r for r in pagerduty_requests(sandboxes)
                   if r["method"] == "POST" and r["path"].endswith("/responder_requests")]
    assert pd_incident, "a responder request reached PagerDuty"


def test_a_handoff_is_refused_then_accepted_and_the_forms_follow_the_new_ic(
    runtime: Runtime, sandboxes: Sandboxes
) -> None:
    incident_id = "INC-DEC-HANDOFF"
    declared(incident_id)
    outgoing = load_state(incident_id).commander
    incoming = next(h for h in runtime.config.roster.eligible(Role.INCIDENT_COMMANDER) if h != outgoing)
    accept = {"value": False}

    def answer(form: Form, state: IncidentState) -> dict[str, Any] | None:
        if form.name == "HandoffAcceptForm":
            return {"accept": accept["value"], "your_handle": incoming}
        return scripted_answer(form, state)

    with Responder(answer=answer, say=quiet):
        assert handoff(incident_id, incoming) == "declined"
        state = load_state(incident_id)
        assert state.commander == outgoing and state.handoff is None
        last = state.timeline[-1].text
        assert last == f"handoff not taken (declined by {incoming}); command stays where it was"

        accept["value"] = True
        assert handoff(incident_id, incoming) == "accepted"
    state = load_state(incident_id)
    assert state.commander == incoming and state.commanders == [outgoing, incoming]
    pd = pagerduty_requests(sandboxes)
    notes = [r for r in pd if r["method"] == "POST" and r["path"].endswith("/notes")]
    assert any(incoming in str(r["body"]) for r in notes)
    assert any(r["method"] == "PUT" and "/incidents/" in r["path"] for r in pd)
    jira = jira_requests(sandboxes)
    assert state.ticket is not None
    assert any(r["method"] == "PUT" and "acct-" + incoming in str(r["body"]) for r in jira)  # the assignee
    assert any(r["method"] == "POST" and r["path"].endswith(f"{state.ticket[0]}/comment")
               and f"{incoming} is now the incident commander" in str(r["body"]) for r in jira)

    # the lifecycle's next form goes to the new IC
    with Responder(answer=scripted_answer, say=quiet) as responder:
        stabilise(incident_id)
    checkpoint = next(f for f, _ in responder.answered if f.name == "CheckpointForm")
    assert f"for the incident commander: **{incoming}**" in checkpoint.description


def test_a_handoff_nobody_accepts_lapses_and_command_stays(make_runtime: Callable[[int], Runtime]) -> None:
    make_runtime(1)
    incident_id = "INC-DEC-LAPSE"
    declared(incident_id)
    outgoing = load_state(incident_id).commander

    def answer(form: Form, state: IncidentState) -> dict[str, Any] | None:
        return None if form.name == "HandoffAcceptForm" else scripted_answer(form, state)

    with Responder(answer=answer, say=quiet):
        assert handoff(incident_id, "grace" if outgoing != "grace" else "carol") == "lapsed"
    state = load_state(incident_id)
    assert state.commander == outgoing
    assert "did not accept within" in state.timeline[-1].text


def test_at_the_cadence_the_comms_lead_is_asked_for_an_update_and_the_ic_to_checkpoint(
    make_runtime: Callable[..., Runtime], sandboxes: Sandboxes
) -> None:
    clock = Clock(datetime.now(UTC))
    make_runtime(30, clock=clock)
    incident_id = "INC-DEC-CADENCE"
    declared(incident_id)
    clock.now += timedelta(hours=1)  # SEV2: an update every 30 minutes, a checkpoint every hour
    with Responder(answer=scripted_answer, say=quiet) as responder:
        stabilise(incident_id)
    # both were due before the operations lead's mitigation form was shown
    assert [f.name for f, _ in responder.answered] == ["StatusUpdateForm", "CheckpointForm", "MitigationForm"]
    checkpoints = [r.event for r in runtime_stream(incident_id) if isinstance(r.event, ev.CheckpointAnswered)]
    assert [c.idempotency_key.split(":")[2] for c in checkpoints] == ["due"]
    asked = [f for f, _ in responder.answered if f.name == "StatusUpdateForm"]
    assert len(asked) == 1
    state = load_state(incident_id)
    assert f"for the communications lead: **{state.holder(Role.COMMUNICATIONS_LEAD)}**" in asked[0].description
    kinds = [r.event.kind for r in runtime_stream(incident_id)]
    assert kinds.index("status_update_overdue") < kinds.index("status_update_posted")
    assert "status update overdue since" in " ".join(t.text for t in state.timeline)
    message = scripted_answer(asked[0], state)
    assert message is not None
    assert any(r["path"].endswith("/status_updates") and message["message"] in str(r["body"])
               for r in pagerduty_requests(sandboxes))


def runtime_stream(incident_id: str) -> list[Any]:
    return current_runtime().ledger.stream(incident_id)
