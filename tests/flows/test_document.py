"""The living document where people read it: the Jira ticket's description (in Jira's wiki markup)
and the Prefect artifact (Markdown) are the document, after every phase, and Jira is written once per
change. The communications lead keeps the summary and the detailed status from their desk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.client.orchestration import get_client

from tests.flows.test_decisions import ROLLBACK, answer, start, take_roles
from tests.helpers import Clock, requests_seen
from warroom.flows.desks import CLOSE, RESTORED, STOPPED, revert_action
from warroom.flows.forms import EDIT_DETAILED, EDIT_SUMMARY
from warroom.incident import events as ev
from warroom.incident.document import artifact_key
from warroom.incident.models import Phase
from warroom.integrations.jira.tracker import document_of
from warroom.integrations.jira.wiki import to_wiki
from warroom.integrations.sandbox.recorder import Fault
from warroom.integrations.sandbox.server import Sandboxes
from warroom.tasks.document import document, publish_document
from warroom.tasks.ledger import load_state
from warroom.tasks.runtime import Runtime


def artifact(incident_id: str) -> str:
    with get_client(sync_client=True) as client:
        found = [a for a in client.read_latest_artifacts(limit=200) if a.key == artifact_key(incident_id)]
    assert found, f"no artifact {artifact_key(incident_id)}"
    return str(found[0].data)


class Ticket:
    def __init__(self, sandboxes: Sandboxes, incident_id: str) -> None:
        self.sandboxes, self.incident_id = sandboxes, incident_id
        assert sandboxes.jira_app is not None
        self.jira = sandboxes.jira_app.state.jira

    @property
    def key(self) -> str:
        ticket = load_state(self.incident_id).ticket
        assert ticket is not None
        return ticket[0]

    def document(self) -> str | None:
        return document_of(self.jira.issue(self.key).description)

    def edits(self) -> int:
        """Writes of the ticket's description (the client writes by the issue's id)."""
        issue = self.jira.issue(self.key)
        paths = {f"/rest/api/2/issue/{issue.key}", f"/rest/api/2/issue/{issue.id}"}
        return len([r for r in requests_seen(self.sandboxes, self.sandboxes.jira_url)
                    if r["method"] == "PUT" and r["path"] in paths and "description" in str(r["body"])])


def test_the_ticket_and_the_artifact_are_the_document_after_each_phase_written_once_per_change(
    runtime: Runtime, sandboxes: Sandboxes
) -> None:
    incident_id = "INC-DOC-JIRA"
    dispatcher = start(incident_id, runtime)
    ticket = Ticket(sandboxes, incident_id)

    def the_same_everywhere(step: str) -> None:
        text = document(load_state(incident_id))
        assert ticket.document() == to_wiki(text).rstrip("\n"), step  # in Jira's wiki markup
        assert artifact(incident_id).startswith(text), step  # Markdown, then the links to the desks
        assert ticket.document() != text.rstrip("\n"), step  # Jira is not shown Markdown

    the_same_everywhere("declared")
    ic = load_state(incident_id).commander

    def act(role: str, values: dict[str, Any]) -> Callable[[], None]:
        return lambda: answer(dispatcher, incident_id, role, values)

    steps: list[tuple[str, Callable[[], None]]] = [
        ("roles", lambda: take_roles(dispatcher, incident_id)),
        ("mitigation", act("operations_lead", {"action": ROLLBACK, "approved_by": "dan"})),
        ("refused", act("operations_lead", {"action": ROLLBACK, "approved_by": "erin"})),
        ("bleeding stopped", act("incident_commander", {"action": STOPPED, "your_handle": ic})),
        ("restored", act("incident_commander", {"action": RESTORED, "your_handle": ic, "criterion_1": True,
                                                "criterion_2": True})),
    ]
    phases = []
    for step, do in steps:
        before, edits = ticket.document(), ticket.edits()
        do()
        the_same_everywhere(step)
        assert ticket.edits() - edits == (1 if ticket.document() != before else 0), step
        phases.append(load_state(incident_id).phase)
    assert phases == [Phase.STABILISING, Phase.STABILISING, Phase.STABILISING, Phase.RESTORING, Phase.REVERTING]

    d1 = next(iter(load_state(incident_id).divergences.values()))
    for step, do in [("reverted", act("planning_lead", {"action": revert_action(d1.id, d1.revert),
                                                         "your_handle": "grace"})),
                     ("close refused", act("incident_commander", {"action": CLOSE, "note": "index rolled back",
                                                                  "your_handle": ic, "criterion_1": True})),
                     ("closed", act("incident_commander", {"action": CLOSE, "note": "index rolled back",
                                                           "your_handle": ic, "criterion_1": True,
                                                           "criterion_2": True}))]:
        edits = ticket.edits()
        do()
        the_same_everywhere(step)
        assert ticket.edits() - edits == 1, step
    state = load_state(incident_id)
    assert state.phase is Phase.CLOSED and "postmortem" in state.followups
    refused = [t.text for t in state.timeline if t.text.startswith("not recorded (incident commander desk): to close")]
    assert refused == ["not recorded (incident commander desk): to close, tick each remaining exit criterion that "
                       "holds; not ticked: Evidence preserved and follow-up bugs filed in Jira"]
    assert f"* bug filed: {state.followups['postmortem'].tracker_key} (postmortem" in (ticket.document() or "")
    assert "* DONE Error rate of the affected service back under its SLO for 30 minutes." in (ticket.document() or "")
    assert (ticket.document() or "").startswith(f"h1. Incident {incident_id} · ")
    assert "\nh2. Timeline (newest first, UTC)\n" in (ticket.document() or "")

    edits = ticket.edits()
    publish_document.fn(incident_id)  # a rerun: nothing changed, nothing written
    assert ticket.edits() == edits


def test_the_communications_lead_rewrites_the_summary_and_the_detailed_status(runtime: Runtime) -> None:
    incident_id = "INC-DOC-COMMS"
    dispatcher = start(incident_id, runtime)
    take_roles(dispatcher, incident_id)
    answer(dispatcher, incident_id, "communications_lead", {
        "action": EDIT_SUMMARY, "message": "Search answers slowly for all customers since 03:00.",
        "your_handle": "frank"})
    answer(dispatcher, incident_id, "communications_lead", {
        "action": EDIT_DETAILED, "message": "Index rebuild failed at 02:55; rolling back to the previous one.",
        "your_handle": "frank"})
    answer(dispatcher, incident_id, "communications_lead", {
        "action": EDIT_SUMMARY, "message": "not mine to write", "your_handle": "dan"})  # refused: not comms
    state = load_state(incident_id)
    assert state.summary is not None and state.summary.by == "frank"
    assert state.summary.text == "Search answers slowly for all customers since 03:00."
    assert state.detailed_status is not None and state.detailed_status.by == "frank"
    facts = [r.event for r in runtime.ledger.stream(incident_id)]
    assert [(f.kind, f.actor) for f in facts if isinstance(f, ev.SummaryEdited | ev.DetailedStatusEdited)] == [
        ("summary_edited", "frank"), ("detailed_status_edited", "frank")]
    refused = [f for f in facts if isinstance(f, ev.AnswerNoted) and f.refused]
    assert [(f.actor, f.desk) for f in refused] == [("dan", "communications_lead")]
    assert "rewriting the summary is the communications lead's decision" in refused[0].text

    text = artifact(incident_id)
    assert "Search answers slowly for all customers since 03:00." in text
    at = state.detailed_status.at
    assert f"## Detailed status (last updated at {at:%Y-%m-%d %H:%M:%S} UTC by frank)" in text
    assert "Index rebuild failed at 02:55; rolling back to the previous one." in text
    # nothing was posted to PagerDuty for these: they are the document's, not status updates
    assert not [f for f in facts if isinstance(f, ev.StatusUpdatePosted)]


def test_a_jira_outage_holds_nothing_back_and_the_ticket_catches_up(
    make_runtime: Callable[..., Runtime], sandboxes: Sandboxes
) -> None:
    clock = Clock(datetime.now(UTC))
    runtime = make_runtime(30, clock=clock)
    incident_id = "INC-DOC-OUTAGE"
    dispatcher = start(incident_id, runtime)
    ticket = Ticket(sandboxes, incident_id)
    assert sandboxes.jira_app is not None
    recorder = sandboxes.jira_app.state.recorder
    recorder.set_faults([Fault(status=403, count=1, path_prefix="/rest/api/2/issue/")])  # Jira refuses once
    try:
        take_roles(dispatcher, incident_id)  # recorded, and the desks move on, though Jira refused
    finally:
        recorder.set_faults([])
    state = load_state(incident_id)
    assert state.phase is Phase.STABILISING
    assert ticket.document() != to_wiki(document(state)).rstrip("\n")  # behind
    [retry] = [w for w in runtime.ledger.work_rows(incident_id, status="pending") if w.kind == "document"]
    clock.now += timedelta(seconds=2)
    assert dispatcher.run_due() >= 1
    assert runtime.ledger.work_by_key(retry.key).status == "done"  # type: ignore[union-attr]
    assert ticket.document() == to_wiki(document(load_state(incident_id))).rstrip("\n")  # caught up
