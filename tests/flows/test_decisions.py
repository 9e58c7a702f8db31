"""Who may decide what, on which desk, and what happens when nobody answers: answers refused with their
reason, desks in parallel, timeouts, handoffs, the cadence. Each answer goes through the Prefect
server's Resume endpoint (validated against the form, as the UI's form is), and the dispatcher handles
it here, in the test's thread, one round at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_runs import resume_flow_run
from prefect.input.actions import read_flow_run_input
from prefect.input.run_input import keyset_from_base_key

from tests.helpers import Clock, requests_seen
from warroom.flows.desks import ENGAGE, MORE, NEXT_IC, OFFER, REPORT, RESTORED, SEVERITY, STOPPED
from warroom.flows.forms import NAME_SUBLEAD, NO_CHANGE, RELEASE_SUBLEAD, keyed
from warroom.flows.lifecycle import incident_lifecycle
from warroom.incident import events as ev
from warroom.incident.models import Phase, Role
from warroom.intake import make_dispatcher
from warroom.integrations.sandbox.from_config import BOT_EMAIL
from warroom.integrations.sandbox.server import Sandboxes
from warroom.tasks import desks
from warroom.tasks.ledger import load_state
from warroom.tasks.runtime import Runtime
from warroom.tasks.work import Dispatcher

ROLLBACK = "apply rollback-index: Point search at the previous index snapshot"  # configs/runbooks/search.yaml


def start(incident_id: str, runtime: Runtime, service: str = "search") -> Dispatcher:
    incident_lifecycle(incident_id, "Search is slow", service, "SEV2", ["customers can see it"], "erin")
    return make_dispatcher(runtime)


def desk_of(incident_id: str, role: str) -> desks.Desk:
    return next(d for d in desks.desks(incident_id) if d.desk == role)


def form_text(d: desks.Desk) -> str:
    return str(read_flow_run_input(keyset_from_base_key(f"paused-{d.pause_key}")["description"], d.run_id))


def form_schema(d: desks.Desk) -> dict[str, Any]:
    return dict(read_flow_run_input(keyset_from_base_key(f"paused-{d.pause_key}")["schema"], d.run_id))


def answer(dispatcher: Dispatcher, incident_id: str, role: str, values: dict[str, Any]) -> None:
    """Answer the desk's form as the UI does, and let the dispatcher handle it."""
    resume_flow_run(desk_of(incident_id, role).run_id, run_input=keyed(values))
    assert dispatcher.poll() == 1  # the answer, stored as work
    assert dispatcher.run_due() >= 1  # and carried out


def take_roles(dispatcher: Dispatcher, incident_id: str) -> None:
    ic = load_state(incident_id).commander
    answer(dispatcher, incident_id, "incident_commander", {
        "your_handle": ic, "incident_commander": ic, "operations_lead": "dan", "communications_lead": "frank",
        "planning_lead": "grace"})


def test_every_role_has_a_desk_and_they_work_in_parallel(runtime: Runtime, sandboxes: Sandboxes) -> None:
    incident_id = "INC-DEC-PARALLEL"
    dispatcher = start(incident_id, runtime)
    assert [d.desk for d in desks.desks(incident_id)] == ["incident_commander"]  # the roles come first
    take_roles(dispatcher, incident_id)
    open_desks = {d.desk: d for d in desks.desks(incident_id)}
    assert set(open_desks) == {"incident_commander", "operations_lead", "communications_lead", "planning_lead"}
    ops = open_desks["operations_lead"]
    assert ops.person == "dan" and ops.name == f"{incident_id} · operations lead · dan" and ops.paused

    # while the mitigation form waits, the comms lead posts an update and the planning lead files a bug
    answer(dispatcher, incident_id, "communications_lead", {"message": "Search is slow; we are on it.",
                                                            "your_handle": "frank"})
    answer(dispatcher, incident_id, "planning_lead", {"action": "file a follow-up bug (the note is its summary)",
                                                      "note": "search timeouts are not alerted on",
                                                      "your_handle": "grace"})
    stream = runtime.ledger.stream(incident_id)
    updates = [r.event for r in stream if isinstance(r.event, ev.StatusUpdatePosted)]
    assert [(u.actor, u.message) for u in updates] == [("frank", "Search is slow; we are on it.")]
    bugs = [r.event for r in stream if isinstance(r.event, ev.FollowUpFiled) and r.event.followup.kind == "bug"]
    assert len(bugs) == 1 and bugs[0].followup.summary == "search timeouts are not alerted on"
    assert desk_of(incident_id, "operations_lead").pause_key != ops.pause_key  # refreshed with the news
    assert "Search is slow; we are on it." in form_text(desk_of(incident_id, "operations_lead"))
    assert dispatcher.poll() == 0  # nothing answered twice
    assert load_state(incident_id).phase is Phase.STABILISING
    assert sandboxes.pagerduty_app is not None
    [pd_incident] = sandboxes.pagerduty_app.state.pagerduty.incidents_for_key(incident_id)
    pd = requests_seen(sandboxes, sandboxes.pagerduty_url)  # the session's sandbox: other tests' requests too
    [posted] = [r for r in pd if r["path"] == f"/incidents/{pd_incident.id}/status_updates"]
    assert posted["body"] == {"message": "Search is slow; we are on it."}  # no signature: PagerDuty says who
    users = {u.id: u.email for u in sandboxes.pagerduty_app.state.pagerduty.users.values()}
    assert [users[u["user_id"]] for u in pd_incident.status_updates] == ["frank@example.com"]


def test_an_update_by_someone_pagerduty_does_not_know_is_posted_as_warroom_and_signed(
    runtime: Runtime, sandboxes: Sandboxes
) -> None:
    incident_id = "INC-DEC-UNKNOWN-WRITER"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    assert sandboxes.pagerduty_app is not None
    pd_state = sandboxes.pagerduty_app.state.pagerduty
    pd_state.users_by_email.pop("frank@example.com")  # frank is on the roster, no longer in PagerDuty
    answer(dispatcher, incident_id, "communications_lead", {"message": "Still slow.", "your_handle": "frank"})
    [pd_incident] = pd_state.incidents_for_key(incident_id)
    users = {u.id: u.email for u in pd_state.users.values()}
    assert [(u["message"], users[u["user_id"]]) for u in pd_incident.status_updates] == [
        ("Still slow. (frank)", BOT_EMAIL)]  # warroom's own PagerDuty user, signed with the writer's handle
    updates = [r.event for r in runtime.ledger.stream(incident_id) if isinstance(r.event, ev.StatusUpdatePosted)]
    assert [(u.actor, u.message) for u in updates] == [("frank", "Still slow.")]


def test_a_wrong_person_is_refused_with_the_reason_on_their_desk_and_in_the_timeline(runtime: Runtime) -> None:
    incident_id = "INC-DEC-MIT"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    answer(dispatcher, incident_id, "operations_lead", {"action": ROLLBACK, "approved_by": "erin"})
    ops = desk_of(incident_id, "operations_lead")
    assert ops.paused and ops.message.startswith("Not recorded: ")
    assert "erin is not the operations lead (dan is)" in ops.message
    assert form_text(ops).startswith("> **Not recorded:**")
    assert "Not recorded" not in form_text(desk_of(incident_id, "communications_lead"))  # not on other desks
    refused = [r.event for r in runtime.ledger.stream(incident_id) if isinstance(r.event, ev.AnswerNoted)]
    assert [(r.actor, r.refused) for r in refused] == [("erin", True)]
    assert [(t.actor, t.text) for t in load_state(incident_id).timeline][-1] == (
        "erin", "not recorded (operations lead desk): approving a change is the operations lead's decision; "
                "erin is not the operations lead (dan is)")
    assert not load_state(incident_id).divergences
    # another desk's answer shows every desk again: the refusal stays where it was given
    answer(dispatcher, incident_id, "communications_lead", {"message": "Looking into it.", "your_handle": "frank"})
    ops = desk_of(incident_id, "operations_lead")
    assert "erin is not the operations lead (dan is)" in ops.message and form_text(ops).startswith("> **Not")

    answer(dispatcher, incident_id, "operations_lead", {"action": ROLLBACK, "approved_by": "dan"})
    state = load_state(incident_id)
    assert [d.approved_by for d in state.divergences.values()] == ["dan"]
    assert desk_of(incident_id, "operations_lead").message == ""  # the refusal does not follow


def test_no_change_is_the_operations_leads_line_in_the_timeline(runtime: Runtime) -> None:
    incident_id = "INC-DEC-NOCHANGE"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    answer(dispatcher, incident_id, "operations_lead", {"action": NO_CHANGE, "approved_by": "dan"})
    state = load_state(incident_id)
    assert (state.timeline[-1].actor, state.timeline[-1].text) == ("dan", "operations lead: no change (observe only)")
    assert not state.divergences


def test_an_answer_that_breaks_the_form_is_refused_by_the_server_and_the_desk_stays(runtime: Runtime) -> None:
    incident_id = "INC-DEC-SCHEMA"
    dispatcher = start(incident_id, runtime)
    before = desk_of(incident_id, "incident_commander")
    with pytest.raises((PrefectHTTPStatusError, RuntimeError, ValueError)) as refused:
        resume_flow_run(before.run_id, run_input={"You": "erin", "Commander": "erin",
                                                  "operations_lead": "mallory"})
    assert "mallory" in str(refused.value) or "valid" in str(refused.value).lower()
    assert dispatcher.poll() == 0
    after = desk_of(incident_id, "incident_commander")
    assert after.paused and after.pause_key == before.pause_key


def test_the_ic_declares_the_bleeding_stopped_and_the_incident_moves_on(runtime: Runtime) -> None:
    incident_id = "INC-DEC-STOP"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    ic = load_state(incident_id).commander
    answer(dispatcher, incident_id, "incident_commander", {"action": MORE, "note": "need the search team",
                                                           "your_handle": ic})
    answer(dispatcher, incident_id, "incident_commander", {"action": STOPPED, "note": "latency back to normal",
                                                           "your_handle": ic})
    state = load_state(incident_id)
    assert state.phase is Phase.RESTORING and state.checkpoints == 1
    assert state.escalations == 1
    [asked] = [t for t in state.timeline if t.text.startswith("escalated:")]
    assert (asked.actor, asked.text) == (ic, f"escalated: {ic} asked for more support: need the search team")
    assert "operations_lead" in {d.desk for d in desks.desks(incident_id)}  # mitigations still possible
    schema = form_schema(desk_of(incident_id, "incident_commander"))
    criteria = {name: p["title"] for name, p in schema["properties"].items() if name.startswith("criterion_")}
    assert list(criteria.values()) == ["Error rate of the affected service back under its SLO for 30 minutes.",
                                       "Latency p99 back under its SLO for 30 minutes."]  # the rest: at close
    assert schema["required"] == ["Decision", "You"]  # prefilled, still required; each key is its title
    assert "note" not in schema["required"]

    restored = {"action": RESTORED, "your_handle": ic, "criterion_1": True}
    answer(dispatcher, incident_id, "incident_commander", restored)
    assert load_state(incident_id).phase is Phase.RESTORING
    assert "not ticked: Latency p99" in desk_of(incident_id, "incident_commander").message
    answer(dispatcher, incident_id, "incident_commander", {**restored, "criterion_2": True})
    state = load_state(incident_id)
    assert state.phase in (Phase.PRESERVING_EVIDENCE, Phase.REVERTING)
    # the restore confirmation is the IC's, line by line: each criterion met, then the phase moves on
    lines = [(t.actor, t.text) for t in state.timeline]
    confirmed = lines.index((ic, "exit criterion met: Error rate of the affected service back under its SLO "
                                 "for 30 minutes."))
    assert lines[confirmed + 1] == (ic, "exit criterion met: Latency p99 back under its SLO for 30 minutes.")
    assert (ic, "phase: preserving evidence") in lines[confirmed + 2:]
    assert {c: m.by for c, m in state.criteria_met.items()} == dict.fromkeys(criteria.values(), ic)


def test_a_timed_out_desk_pages_extra_responders_then_is_answered(
    make_runtime: Callable[..., Runtime], sandboxes: Sandboxes
) -> None:
    clock = Clock(datetime.now(UTC))
    runtime = make_runtime(30, clock=clock)
    incident_id = "INC-DEC-TIMEOUT"
    dispatcher = start(incident_id, runtime)
    clock.now += timedelta(seconds=31)
    assert dispatcher.run_due() >= 1
    escalations = [r.event for r in runtime.ledger.stream(incident_id) if isinstance(r.event, ev.Escalated)]
    assert [e.idempotency_key for e in escalations] == [f"{incident_id}:roles:escalation:1"]
    assert escalations[0].responders == runtime.config.policy.escalation.extra_responders
    assert "no answer from the incident commander" in escalations[0].reason
    ic = load_state(incident_id).commander
    assert escalations[0].waited_for == f"the incident commander ({ic})"
    assert escalations[0].waited == timedelta(seconds=31)  # asked at the start, escalated 31 s later
    paged = ", ".join(runtime.config.policy.escalation.extra_responders)
    assert (f"escalated: waited 31 s for the incident commander ({ic}), no answer; paged {paged}"
            in [t.text for t in load_state(incident_id).timeline])
    take_roles(dispatcher, incident_id)
    clock.now += timedelta(seconds=31)
    dispatcher.run_due()  # the roles' second round finds them answered; the mitigation's first escalates
    keys = [r.event.idempotency_key for r in runtime.ledger.stream(incident_id) if isinstance(r.event, ev.Escalated)]
    assert keys == [f"{incident_id}:roles:escalation:1", f"{incident_id}:mitigation:escalation:1"]
    assert sandboxes.pagerduty_app is not None
    [pd_incident] = sandboxes.pagerduty_app.state.pagerduty.incidents_for_key(incident_id)
    assert any(r["path"] == f"/incidents/{pd_incident.id}/responder_requests"
               for r in requests_seen(sandboxes, sandboxes.pagerduty_url))


def test_a_handoff_declined_then_accepted_moves_the_desks(runtime: Runtime, sandboxes: Sandboxes) -> None:
    incident_id = "INC-DEC-HANDOFF"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    outgoing = load_state(incident_id).commander
    incoming = next(h for h in runtime.config.roster.eligible(Role.INCIDENT_COMMANDER) if h != outgoing)
    offer = {"action": OFFER, "note": "mitigation applied, watching", "offer_to": incoming, "your_handle": outgoing}
    answer(dispatcher, incident_id, "incident_commander", offer)
    assert desk_of(incident_id, "incoming_commander").person == incoming
    answer(dispatcher, incident_id, "incoming_commander", {"accept": False, "your_handle": incoming})
    state = load_state(incident_id)
    assert state.commander == outgoing and state.handoff is None
    assert "incoming_commander" not in {d.desk for d in desks.desks(incident_id)}

    answer(dispatcher, incident_id, "incident_commander", offer)
    answer(dispatcher, incident_id, "incoming_commander", {"accept": True, "your_handle": incoming})
    state = load_state(incident_id)
    assert state.commander == incoming and state.commanders == [outgoing, incoming]
    assert desk_of(incident_id, "incident_commander").person == incoming
    assert sandboxes.pagerduty_app is not None
    [pd_incident] = sandboxes.pagerduty_app.state.pagerduty.incidents_for_key(incident_id)
    pd = requests_seen(sandboxes, sandboxes.pagerduty_url)
    assert any(r["method"] == "POST" and r["path"] == f"/incidents/{pd_incident.id}/notes"
               and incoming in str(r["body"]) for r in pd)


def test_a_handoff_nobody_accepts_lapses(make_runtime: Callable[..., Runtime]) -> None:
    clock = Clock(datetime.now(UTC))
    runtime = make_runtime(30, clock=clock)
    incident_id = "INC-DEC-LAPSE"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    outgoing = load_state(incident_id).commander
    answer(dispatcher, incident_id, "incident_commander", {"action": OFFER, "note": "over to you",
                                                           "offer_to": "grace" if outgoing != "grace" else "carol",
                                                           "your_handle": outgoing})
    clock.now += timedelta(seconds=31)
    dispatcher.run_due()
    state = load_state(incident_id)
    assert state.commander == outgoing and state.handoff is None
    assert any("did not accept" in t.text or "no answer from the incoming" in t.text for t in state.timeline)


def test_the_overdue_update_is_asked_at_once_on_the_comms_desk(make_runtime: Callable[..., Runtime]) -> None:
    clock = Clock(datetime.now(UTC))
    runtime = make_runtime(30, clock=clock)
    incident_id = "INC-DEC-CADENCE"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    assert "overdue" not in form_text(desk_of(incident_id, "communications_lead")).split("---")[0]
    clock.now += timedelta(minutes=31)  # SEV2: an update every 30 minutes
    assert dispatcher.run_due() >= 1  # the cadence's timer
    comms = desk_of(incident_id, "communications_lead")
    assert "is overdue since" in form_text(comms).split("---")[0]
    assert "status_update_overdue" in [r.event.kind for r in runtime.ledger.stream(incident_id)]
    answer(dispatcher, incident_id, "communications_lead", {"message": "Still on it.", "your_handle": "frank"})
    assert "overdue" not in form_text(desk_of(incident_id, "communications_lead")).split("---")[0]


def test_severity_sub_leads_reported_changes_and_the_next_ic(runtime: Runtime) -> None:
    incident_id = "INC-DEC-MORE"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    ic = load_state(incident_id).commander
    answer(dispatcher, incident_id, "incident_commander", {"action": SEVERITY, "severity": "SEV1",
                                                           "note": "checkout depends on search", "your_handle": ic})
    assert load_state(incident_id).severity == "SEV1"

    answer(dispatcher, incident_id, "operations_lead", {"action": NAME_SUBLEAD, "area": "database",
                                                        "sub_lead": "bob", "approved_by": "dan"})
    assert load_state(incident_id).subleads == {"database": "bob"}
    assert "database: **bob**" in form_text(desk_of(incident_id, "operations_lead"))
    answer(dispatcher, incident_id, "operations_lead", {"action": RELEASE_SUBLEAD, "area": "database",
                                                        "approved_by": "dan"})
    assert load_state(incident_id).subleads == {}

    answer(dispatcher, incident_id, "planning_lead", {"action": REPORT, "note": "bob restarted the search cache",
                                                      "revert": "nothing to revert: warm it again",
                                                      "who": "bob", "your_handle": "grace"})
    [reported] = load_state(incident_id).divergences.values()
    assert reported.applied_by == "bob" and reported.status == "open"
    answer(dispatcher, incident_id, "planning_lead", {"action": NEXT_IC, "who": "carol", "your_handle": "grace"})
    state = load_state(incident_id)
    assert state.next_commander == "carol"
    command = form_schema(desk_of(incident_id, "incident_commander"))
    assert command["properties"]["offer_to"]["default"] == "carol"  # the IC's offer is prefilled with them
    assert any(r.startswith(f"revert {reported.id}") for r in
               form_schema(desk_of(incident_id, "planning_lead"))["definitions"]["PlanningAction"]["enum"])


def test_engaging_another_team_pages_its_escalation_policy_as_responders(
    runtime: Runtime, sandboxes: Sandboxes
) -> None:
    incident_id = "INC-DEC-TEAM"
    dispatcher = start(incident_id, runtime)  # search: the discovery team's PESC002
    take_roles(dispatcher, incident_id)
    ic = load_state(incident_id).commander
    teams = form_schema(desk_of(incident_id, "incident_commander"))["definitions"]["Team"]["enum"]
    assert teams == ["(nobody)", "payments (PESC001)"]  # the other teams, not the incident's own
    answer(dispatcher, incident_id, "incident_commander", {"action": ENGAGE, "team": "payments (PESC001)",
                                                           "note": "checkout errors too", "your_handle": ic})
    assert sandboxes.pagerduty_app is not None
    [request] = sandboxes.pagerduty_app.state.pagerduty.incidents_for_key(incident_id)[0].responder_requests
    assert request["policy_ids"] == ["PESC001"]
    [escalated] = [r.event for r in runtime.ledger.stream(incident_id) if isinstance(r.event, ev.Escalated)]
    assert escalated.responders == ("PESC001",) and escalated.actor == ic and "checkout errors too" in \
        escalated.reason  # the IC's decision, in the timeline as theirs


def test_naming_another_ic_in_the_roles_form_offers_command_they_must_accept(runtime: Runtime) -> None:
    incident_id = "INC-DEC-NAMED"
    dispatcher = start(incident_id, runtime)
    ic = load_state(incident_id).commander
    other = next(h for h in runtime.config.roster.eligible(Role.INCIDENT_COMMANDER) if h != ic)
    answer(dispatcher, incident_id, "incident_commander", {
        "your_handle": ic, "incident_commander": other, "operations_lead": "dan", "communications_lead": "frank",
        "planning_lead": "grace"})
    state = load_state(incident_id)
    assert state.commander == ic and state.handoff is not None and state.handoff.to == other
    assert desk_of(incident_id, "incoming_commander").person == other
    answer(dispatcher, incident_id, "incoming_commander", {"accept": True, "your_handle": other})
    assert load_state(incident_id).commander == other
