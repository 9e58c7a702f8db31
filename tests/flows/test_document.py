"""The living document where people read it: the Jira ticket's description and the Prefect artifact are
the document, after every phase, and Jira is written once per change. The communications lead keeps
the summary and the detailed status from their desk."""

from __future__ import annotations

from prefect.client.orchestration import get_client

from tests.flows.test_decisions import answer, start, take_roles
from warroom.flows.forms import EDIT_DETAILED, EDIT_SUMMARY
from warroom.incident import events as ev
from warroom.incident.document import artifact_key
from warroom.tasks.ledger import load_state
from warroom.tasks.runtime import Runtime


def artifact(incident_id: str) -> str:
    with get_client(sync_client=True) as client:
        found = [a for a in client.read_latest_artifacts(limit=200) if a.key == artifact_key(incident_id)]
    assert found, f"no artifact {artifact_key(incident_id)}"
    return str(found[0].data)


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
