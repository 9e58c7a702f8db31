"""The living incident document follows the chapter's template section by section, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.incident.helpers import T0, Stream, declared, policy
from warroom.incident import events as ev
from warroom.incident.document import SECTIONS, artifact_key, render
from warroom.incident.errors import IllegalTransitionError, NotAuthorisedError
from warroom.incident.models import Evidence, FollowUp, Phase, Role
from warroom.incident.policy import Policy
from warroom.incident.state import check, fold

ERRORS = "errors under SLO for 30 minutes"
DIVERGENCES = "every divergence reverted or accepted"
INFO = "https://wiki.example.com/incident-management"


def the_policy() -> Policy:
    return policy(exit_criteria=[ERRORS, DIVERGENCES], incident_management_info=INFO)


def section(doc: str, heading: str) -> list[str]:
    """The lines of the section whose heading starts with ``heading`` (without the heading)."""
    for part in doc.split("\n## ")[1:]:
        head, _, body = part.partition("\n")
        if f"## {head}".startswith(heading):
            return [line for line in body.splitlines() if line]
    raise AssertionError(f"no section {heading!r} in:\n{doc}")


def whole_incident() -> Stream:
    """An incident through every phase, as the desks record it (one minute between facts, from 03:01)."""
    s = Stream("INC-42")
    declared(s, commander="alice")  # 03:01
    s.add(ev.TicketOpened, actor="warroom", key="OPS-7", url="https://jira.example.com/browse/OPS-7")
    s.add(ev.RoleAssigned, role=Role.OPERATIONS_LEAD, person="dan")
    s.add(ev.RoleAssigned, role=Role.COMMUNICATIONS_LEAD, person="frank")
    s.add(ev.RoleAssigned, role=Role.PLANNING_LEAD, person="grace")  # 03:05
    s.add(ev.PhaseChanged, to=Phase.STABILISING)
    s.add(ev.SubleadNamed, actor="dan", area="database", person="bob")
    s.add(ev.Escalated, actor="warroom", reason="no answer from the operations lead (dan)", responders=("erin",))
    s.add(ev.MitigationApplied, actor="dan", divergence_id="d1", what="roll back checkout",
          revert="roll forward", approved_by="dan")
    s.add(ev.StatusUpdatePosted, actor="frank", message="Rolled back; errors falling.")  # 03:10
    s.add(ev.SummaryEdited, actor="frank", text="Checkout answered 500s after deploy 4711; rolled back.")
    s.add(ev.CheckpointAnswered, bleeding_stopped=True, decision="continue")
    s.add(ev.PhaseChanged, to=Phase.RESTORING)
    s.add(ev.ExitCriterionMet, criterion=ERRORS)  # 03:14
    s.add(ev.PhaseChanged, to=Phase.PRESERVING_EVIDENCE)
    s.add(ev.EvidencePreserved, actor="warroom", evidence=Evidence(
        kind="logs", location="/evidence/INC-42/1-logs", sha256="ab" * 32, captured_at=T0 + timedelta(minutes=16)))
    s.add(ev.PhaseChanged, actor="warroom", to=Phase.REVERTING)
    s.add(ev.DivergenceReverted, actor="grace", divergence_id="d1")
    s.add(ev.FollowUpFiled, actor="warroom", followup=FollowUp(
        tracker_key="OPS-8", kind="bug", summary="alert on checkout 500s", intent="bug-1"))
    s.add(ev.DetailedStatusEdited, actor="frank", text="Reverted and watching; postmortem next.")  # 03:20
    s.add(ev.NextCommanderArranged, actor="grace", person="carol")
    s.add(ev.HandoffOffered, to="carol", briefing="all reverted, close it when the criteria hold")
    s.add(ev.HandoffAccepted, actor="carol")
    s.add(ev.ExitCriterionMet, actor="carol", criterion=DIVERGENCES)
    s.add(ev.Closed, actor="carol", summary="a bad deploy, rolled back")  # 03:25
    s.add(ev.FollowUpFiled, actor="warroom", followup=FollowUp(
        tracker_key="OPS-9", kind="postmortem", summary="Postmortem for INC-42", intent="postmortem"))
    return s


def test_a_whole_incident_renders_every_section_of_the_template_with_its_content() -> None:
    s = whole_incident()
    doc = render(fold(s.records), the_policy())
    lines = doc.splitlines()

    assert lines[0] == "# Incident INC-42 · Checkout returns 500s: 2026-11-26"
    assert lines[2] == f"Incident management info: {INFO}"
    headings = [line for line in lines if line.startswith("## ")]
    assert [h.split(" (last")[0] for h in headings] == list(SECTIONS)
    assert headings[4] == "## Detailed status (last updated at 2026-11-26 03:20:00 UTC by frank)"

    assert section(doc, "## Summary") == [
        "(The communications lead keeps the summary up to date.)",
        "Checkout answered 500s after deploy 4711; rolled back.",
        "_(last updated at 2026-11-26 03:11:00 UTC by frank)_",
        "Declared 2026-11-26 03:01:00 UTC by alice because: customers can see it.",
        "Closed 2026-11-26 03:25:00 UTC: a bad deploy, rolled back",
    ]
    assert section(doc, "## Status") == [
        "**closed**, severity SEV2, ticket [OPS-7](https://jira.example.com/browse/OPS-7)"]
    assert section(doc, "## Command post(s)") == ["#inc-bridge"]
    assert section(doc, "## Command hierarchy") == [
        "- current incident commander: carol",
        "- operations lead: dan",
        "  - database: bob (sub-lead)",
        "- planning lead: grace",
        "- communications lead: frank",
        "- next incident commander: to be determined",  # carol was arranged, and took command
        "- all responders: carol (incident commander), dan (operations lead), grace (planning lead), "
        "frank (communications lead), bob (database sub-lead), alice (former incident commander), "
        "erin (paged in)",
    ]
    assert section(doc, "## Detailed status") == ["Reverted and watching; postmortem next."]
    assert section(doc, "## Exit criteria") == [
        f"- DONE {ERRORS} (by alice, 2026-11-26 03:14:00 UTC)",
        f"- DONE {DIVERGENCES} (by carol, 2026-11-26 03:24:00 UTC)",
    ]
    assert section(doc, "## TODO list and bugs filed") == [
        "- DONE d1 reverted by grace: roll back checkout",
        f"- DONE evidence logs: `/evidence/INC-42/1-logs` sha256 `{'ab' * 8}…` (2026-11-26 03:16:00 UTC)",
        "- bug filed: OPS-8 (bug, open): alert on checkout 500s",
        "- bug filed: OPS-9 (postmortem, open): Postmortem for INC-42",
    ]
    timeline = section(doc, "## Timeline")
    assert len(timeline) == len(s.records)  # one line per fact
    assert timeline[0] == "- 2026-11-26 03:26:00 UTC · warroom · follow-up OPS-9 filed: Postmortem for INC-42"
    assert timeline[-1] == ("- 2026-11-26 03:01:00 UTC · alice · declared SEV2 on checkout, alice commanding "
                            "(customers can see it)")
    times = [line.split(" · ")[0] for line in timeline]
    assert times == sorted(times, reverse=True) and all(t.endswith(" UTC") for t in times)
    assert "- 2026-11-26 03:24:00 UTC · carol · exit criterion met: every divergence reverted or accepted" in timeline
    assert ("- 2026-11-26 03:11:00 UTC · frank · summary edited: Checkout answered 500s after deploy 4711; "
            "rolled back.") in timeline


def test_midway_the_document_says_what_is_still_to_do() -> None:
    s = whole_incident()
    restoring = fold(s.records[:14])  # the first criterion met, d1 open, no evidence yet
    assert restoring.phase is Phase.RESTORING
    doc = render(restoring, the_policy(), ("next status update due 03:40 UTC",))
    assert section(doc, "## Status") == ["**active**, phase: restoring, severity SEV2, ticket "
                                         "[OPS-7](https://jira.example.com/browse/OPS-7)",
                                         "- next status update due 03:40 UTC"]
    assert section(doc, "## Exit criteria") == [f"- DONE {ERRORS} (by alice, 2026-11-26 03:14:00 UTC)",
                                                f"- TODO {DIVERGENCES}"]
    assert section(doc, "## TODO list and bugs filed") == [
        "- TODO revert d1: roll back checkout (revert: roll forward)",
        "- TODO no evidence preserved: preserve it, or waive it with a reason",
    ]
    # no detailed status written yet: the latest status update stands in, with its writer and time
    assert "## Detailed status (last updated at 2026-11-26 03:10:00 UTC by frank)" in doc
    assert section(doc, "## Detailed status") == ["the latest status update: Rolled back; errors falling."]
    assert "- next incident commander: to be determined" in doc


def test_a_fresh_incident_has_every_section_and_says_what_is_missing() -> None:
    s = Stream("INC-43")
    declared(s, commander="alice")
    s.add(ev.HandoffOffered, to="carol", briefing="over to you")
    doc = render(fold(s.records), policy())
    assert [line for line in doc.splitlines() if line.startswith("## ")] == list(SECTIONS)
    assert "Incident management info: (not set: put a link in policy.yaml, `incident_management_info`)" in doc
    assert section(doc, "## Summary")[1] == "Checkout returns 500s on **checkout**, severity **SEV2**."
    assert section(doc, "## Detailed status") == [
        "(not written yet: the communications lead writes it on their desk)"]
    assert "- communications lead: alice" in doc  # not delegated: the IC holds it
    assert "- next incident commander: carol (offered by alice, not yet accepted)" in doc
    assert section(doc, "## Exit criteria") == ["- TODO errors under SLO for 30 minutes"]


def test_only_the_communications_lead_edits_the_summary_and_the_detailed_status() -> None:
    s = Stream("INC-44")
    declared(s, commander="alice")
    s.add(ev.RoleAssigned, role=Role.COMMUNICATIONS_LEAD, person="frank")
    state = fold(s.records)
    with pytest.raises(NotAuthorisedError, match=r"dan is not the communications lead \(frank is\)"):
        check(state, s.event(ev.SummaryEdited, actor="dan", text="mine"))
    with pytest.raises(NotAuthorisedError, match="alice is not the communications lead"):
        check(state, s.event(ev.DetailedStatusEdited, actor="alice", text="mine"))
    check(state, s.event(ev.SummaryEdited, actor="frank", text="his"))


def test_an_exit_criterion_is_met_once_by_the_commander() -> None:
    s = Stream("INC-45")
    declared(s, commander="alice")
    s.add(ev.ExitCriterionMet, criterion=ERRORS)
    state = fold(s.records)
    with pytest.raises(IllegalTransitionError, match="alice said it holds already"):
        check(state, s.event(ev.ExitCriterionMet, criterion=ERRORS))
    with pytest.raises(NotAuthorisedError, match="dan is not the incident commander"):
        check(state, s.event(ev.ExitCriterionMet, actor="dan", criterion=DIVERGENCES))


def test_artifact_key_is_what_prefect_accepts() -> None:
    assert artifact_key("INC-2026_11.26") == "incident-inc-2026-11-26"
