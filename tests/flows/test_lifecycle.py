"""One whole incident through every phase, a responder filling the forms as people would."""

from __future__ import annotations

from tests.helpers import requests_seen, wait_for
from warroom.flows.desks import settled_at_close
from warroom.flows.lifecycle import incident_lifecycle
from warroom.incident import events as ev
from warroom.incident.document import artifact_key
from warroom.incident.models import Phase, Role
from warroom.intake import make_dispatcher
from warroom.integrations.sandbox.recorder import Fault
from warroom.integrations.sandbox.server import Sandboxes
from warroom.responder import Responder
from warroom.tasks.desks import desks
from warroom.tasks.ledger import load_state
from warroom.tasks.runtime import Runtime


def test_whole_lifecycle_against_the_sandboxes(runtime: Runtime, sandboxes: Sandboxes) -> None:
    incident_id = "INC-LIFE-1"

    def drafts() -> list[str]:
        """The Jira issues the postmortem draft was attached to (each upload)."""
        return [r["path"].split("/")[-2] for r in requests_seen(sandboxes, sandboxes.jira_url) if r["method"] == "POST"
                and r["path"].endswith("/attachments") and f"postmortem-{incident_id}-" in str(r["body"])]

    dispatcher = make_dispatcher(runtime).start()
    try:
        with Responder(say=lambda _: None, only=frozenset({incident_id})) as responder:
            incident_lifecycle(incident_id, "Checkout returns 500s", "checkout", "SEV2",
                               ["customers can see it"], "alice")
            wait_for("the incident closes, its postmortem draft attached", lambda: load_state(incident_id).phase
                     is Phase.CLOSED and "postmortem" in load_state(incident_id).followups and len(drafts()) == 2)
    finally:
        dispatcher.stop()
    assert responder.errors == []
    answered = [form.name for form, _ in responder.answered]
    assert answered == ["RolesForm", "OperationsForm", "CommandForm", "CommandForm", "PlanningForm",
                        "CommandForm"]

    records = runtime.ledger.stream(incident_id)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    kinds = [r.event.kind for r in records]
    assert kinds[0] == "declared"
    # after the close: only the final status update and the postmortem follow-up
    assert set(kinds[kinds.index("closed") + 1:]) <= {"status_update_posted", "followup_filed"}
    for kind in ("paged", "ticket_opened", "role_assigned", "mitigation_applied", "checkpoint_answered",
                 "status_update_posted", "evidence_preserved", "divergence_reverted", "followup_filed"):
        assert kind in kinds, kind
    state = load_state(incident_id)
    assert state.phase is Phase.CLOSED and not state.open_divergences
    assert state.holder(Role.OPERATIONS_LEAD) is not None
    assert len(state.evidence) == len(runtime.config.runbook_for("checkout").evidence)
    for evidence in state.evidence:
        assert evidence.location.startswith(str(runtime.home / "evidence" / incident_id))
    assert "postmortem" in state.followups
    # one timeline line per fact, and each decision a person made is theirs, in order
    assert [(t.actor, t.text) for t in state.timeline] == [(r.event.actor, r.event.describe()) for r in records]
    ic, ops, planning = state.commanders[0], state.holder(Role.OPERATIONS_LEAD), state.holder(Role.PLANNING_LEAD)
    criteria = runtime.config.policy.exit_criteria
    at_restore = [c for c in criteria if not settled_at_close(c)]
    delegated = [r for r in (Role.OPERATIONS_LEAD, Role.COMMUNICATIONS_LEAD, Role.PLANNING_LEAD) if r in state.roles]
    assert [(r.event.kind, r.event.actor) for r in records if r.event.actor != "warroom"] == [
        ("declared", "alice"), *[("role_assigned", ic)] * len(delegated), ("phase_changed", ic),
        ("mitigation_applied", ops), ("checkpoint_answered", ic), ("phase_changed", ic),
        *[("exit_criterion_met", ic)] * len(at_restore), ("phase_changed", ic),
        ("divergence_reverted", planning),
        *[("exit_criterion_met", ic)] * (len(criteria) - len(at_restore)), ("closed", ic)]
    assert set(state.criteria_met) == set(criteria)
    mitigation = next(r.event for r in records if isinstance(r.event, ev.MitigationApplied))
    assert mitigation.approved_by == state.holder(Role.OPERATIONS_LEAD)

    # PagerDuty: exactly one trigger for the dedup key, resolved; Jira: one ticket, transitioned
    pd = requests_seen(sandboxes, sandboxes.pagerduty_url)
    triggers = [r for r in pd if r["path"] == "/v2/enqueue" and r["body"].get("dedup_key") == incident_id
                and r["body"].get("event_action") == "trigger"]
    assert len(triggers) == 1
    jira = requests_seen(sandboxes, sandboxes.jira_url)
    created = [r for r in jira if r["method"] == "POST" and r["path"] == "/rest/api/2/issue"
               and f"warroom-{incident_id.lower()}-incident" in str(r["body"])]
    assert len(created) == 1
    # the postmortem draft, made at the close: attached once on the ticket and on the postmortem follow-up
    assert sorted(drafts()) == sorted([state.ticket[0], state.followups["postmortem"].tracker_key])  # type: ignore[index]

    # the living document, as Prefect keeps it
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts(limit=50)
    docs = [a for a in artifact if a.key == artifact_key(incident_id)]
    assert docs, "the incident document artifact exists"
    markdown = str(docs[0].data)
    assert "## Timeline (newest first, UTC)" in markdown and "closed:" in markdown


def test_a_jira_that_takes_no_attachments_does_not_hold_the_close_up(runtime: Runtime, sandboxes: Sandboxes) -> None:
    """Attachments switched off in Jira (403 on every upload): the incident still closes, its ticket is
    moved to Done and its desks end; the draft is written, only not attached."""
    incident_id = "INC-LIFE-NOATTACH"
    assert sandboxes.jira_app is not None
    recorder = sandboxes.jira_app.state.recorder

    def seen(key: str, what: str) -> list[int]:
        return [r["response_status"] for r in requests_seen(sandboxes, sandboxes.jira_url)
                if r["method"] == "POST" and r["path"] == f"/rest/api/2/issue/{key}/{what}"]

    dispatcher = make_dispatcher(runtime).start()
    try:
        with Responder(say=lambda _: None, only=frozenset({incident_id})) as responder:
            incident_lifecycle(incident_id, "Search is slow", "checkout", "SEV2", ["customers can see it"], "alice")
            key = str(wait_for("the ticket", lambda: (load_state(incident_id).ticket or (None,))[0]))
            recorder.set_faults([Fault(status=403, path_prefix=f"/rest/api/2/issue/{key}/attachments")])
            wait_for("the close tries to attach the draft", lambda: seen(key, "attachments"))
            wait_for("the desks end", lambda: not desks(incident_id))
    finally:
        dispatcher.stop()
        recorder.set_faults([])
    assert responder.errors == []
    assert load_state(incident_id).phase is Phase.CLOSED
    assert seen(key, "attachments") == [403]  # refused, and not asked again and again
    assert sandboxes.jira_app.state.jira.issue(key).status == "Done"  # the ticket is done all the same
    assert (runtime.home / "postmortems" / f"postmortem-{incident_id}.md").is_file()
