"""The phase machine and the chapter's rules, table-driven, plus properties over random streams."""

from __future__ import annotations

import copy

import pytest
from hypothesis import event as event_note
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.incident.helpers import Stream, declared
from warroom.incident import events as ev
from warroom.incident.errors import IllegalTransitionError, NotAuthorisedError
from warroom.incident.models import Evidence, FollowUp, Phase, Role
from warroom.incident.state import ALLOWED, NEXT_PHASE, IncidentState, apply, check, fold

SHA = "a" * 64


def to_phase(stream: Stream, target: Phase) -> IncidentState:
    """Declare and walk the phases, in order, up to ``target``."""
    declared(stream)
    state = fold(stream.records)
    while state.phase is not target:
        state = apply(state, stream.add(ev.PhaseChanged, to=NEXT_PHASE[state.phase]))
    return state


def test_declaration_sets_the_commander_and_the_phase() -> None:
    s = Stream()
    s.add(ev.AlertAttached, actor="intake", alert={
        "source": "alertmanager", "fingerprint": "fp1", "status": "firing", "summary": "5xx on checkout",
        "service": "checkout"})
    state = fold(s.records)
    assert state.phase is Phase.PENDING and state.commander is None
    declared(s, commander="bob")
    state = fold(s.records)
    assert state.phase is Phase.DECLARED
    assert state.commander == "bob" and state.holder(Role.OPERATIONS_LEAD) == "bob"
    assert state.timeline[0].text.startswith("alert firing from alertmanager")
    assert state.version == 2


@pytest.mark.parametrize(
    ("phase", "kind", "allowed"),
    [
        (Phase.PENDING, "declared", True),
        (Phase.PENDING, "mitigation_applied", False),
        (Phase.PENDING, "closed", False),
        (Phase.DECLARED, "mitigation_applied", False),
        (Phase.STABILISING, "mitigation_applied", True),
        (Phase.RESTORING, "mitigation_applied", True),
        (Phase.PRESERVING_EVIDENCE, "mitigation_applied", False),
        (Phase.STABILISING, "evidence_preserved", False),
        (Phase.PRESERVING_EVIDENCE, "evidence_preserved", True),
        (Phase.STABILISING, "closed", False),
        (Phase.REVERTING, "closed", True),
        (Phase.CLOSED, "status_update_posted", True),
        (Phase.CLOSED, "mitigation_applied", False),
        (Phase.CLOSED, "declared", False),
    ],
)
def test_transition_table(phase: Phase, kind: str, allowed: bool) -> None:
    assert (kind in ALLOWED[phase]) is allowed


@pytest.mark.parametrize("phase", [p for p in Phase if p.is_open])
def test_handoff_is_allowed_in_every_open_phase(phase: Phase) -> None:
    s = Stream()
    state = to_phase(s, phase)
    state = apply(state, s.add(ev.HandoffOffered, actor="alice", to="carol", briefing="db failover done"))
    state = apply(state, s.add(ev.HandoffAccepted, actor="carol"))
    assert state.commander == "carol" and state.commanders == ["alice", "carol"]


@pytest.mark.parametrize(
    ("phase", "to"),
    [
        (Phase.DECLARED, Phase.RESTORING),  # skipping stabilise
        (Phase.STABILISING, Phase.DECLARED),  # going back
        (Phase.RESTORING, Phase.CLOSED),  # closing is its own event
        (Phase.REVERTING, Phase.STABILISING),
    ],
)
def test_phases_move_only_forward_one_step(phase: Phase, to: Phase) -> None:
    s = Stream()
    state = to_phase(s, phase)
    before = copy.deepcopy(state)
    with pytest.raises(IllegalTransitionError, match="the next phase is"):
        apply(state, s.record(s.event(ev.PhaseChanged, to=to)))
    assert state == before


def test_an_event_the_phase_does_not_allow_changes_nothing() -> None:
    s = Stream()
    state = to_phase(s, Phase.DECLARED)
    before = copy.deepcopy(state)
    event = s.event(ev.MitigationApplied, divergence_id="d1", what="roll back", revert="roll forward",
                    approved_by="alice")
    refusal = "in phase declared: only allowed in phase stabilising, restoring"
    with pytest.raises(IllegalTransitionError, match=refusal):
        check(state, event)
    assert state == before


def mitigate(s: Stream, state: IncidentState, approver: str, did: str = "d1") -> IncidentState:
    return apply(state, s.add(ev.MitigationApplied, actor="dan", divergence_id=did,
                              what="roll back checkout to v41", revert="roll forward to v42",
                              approved_by=approver, mitigation="rollback"))


def test_mitigation_needs_the_operations_lead() -> None:
    s = Stream()
    state = to_phase(s, Phase.DECLARED)
    state = apply(state, s.add(ev.RoleAssigned, actor="alice", role=Role.OPERATIONS_LEAD, person="dan"))
    state = apply(state, s.add(ev.PhaseChanged, to=Phase.STABILISING))
    with pytest.raises(NotAuthorisedError, match="the operations lead is dan"):
        check(state, s.event(ev.MitigationApplied, divergence_id="d1", what="x", revert="y",
                             approved_by="alice"))
    state = mitigate(s, state, approver="dan")
    assert [d.id for d in state.open_divergences] == ["d1"]
    assert state.divergences["d1"].approved_by == "dan"


def test_close_is_refused_while_a_divergence_is_open_or_evidence_is_missing() -> None:
    s = Stream()
    state = to_phase(s, Phase.STABILISING)
    state = mitigate(s, state, approver="alice")
    for target in (Phase.RESTORING, Phase.PRESERVING_EVIDENCE, Phase.REVERTING):
        state = apply(state, s.add(ev.PhaseChanged, to=target))
    close = s.event(ev.Closed, summary="fixed")
    with pytest.raises(IllegalTransitionError) as refused:
        check(state, close)
    assert "divergence d1 is still open" in str(refused.value)
    assert "no evidence preserved" in str(refused.value)

    state = apply(state, s.add(ev.DivergenceAccepted, actor="alice", divergence_id="d1",
                               reason="v41 is fine to keep"))
    with pytest.raises(IllegalTransitionError, match="no evidence preserved"):
        check(state, s.event(ev.Closed, summary="fixed"))
    state = apply(state, s.add(ev.EvidenceWaived, actor="alice", reason="drill, nothing to keep"))
    state = apply(state, s.add(ev.Closed, summary="fixed"))
    assert state.phase is Phase.CLOSED and state.close_blockers() == []


def test_only_the_ic_accepts_a_divergence_and_a_reason_is_required() -> None:
    s = Stream()
    state = to_phase(s, Phase.STABILISING)
    state = mitigate(s, state, approver="alice")
    with pytest.raises(NotAuthorisedError, match="incident commander"):
        check(state, s.event(ev.DivergenceAccepted, actor="bob", divergence_id="d1", reason="fine"))
    with pytest.raises(ValueError, match="reason"):
        s.event(ev.DivergenceAccepted, actor="alice", divergence_id="d1", reason="")
    with pytest.raises(IllegalTransitionError, match="no divergence d9"):
        check(state, s.event(ev.DivergenceReverted, divergence_id="d9"))


def test_only_the_planning_lead_reverts_a_divergence() -> None:
    s = Stream()
    state = to_phase(s, Phase.DECLARED)
    state = apply(state, s.add(ev.RoleAssigned, actor="alice", role=Role.PLANNING_LEAD, person="grace"))
    state = apply(state, s.add(ev.PhaseChanged, to=Phase.STABILISING))
    state = mitigate(s, state, approver="alice")
    with pytest.raises(NotAuthorisedError, match="reverting a divergence is the planning lead's decision"):
        check(state, s.event(ev.DivergenceReverted, actor="alice", divergence_id="d1"))
    state = apply(state, s.add(ev.DivergenceReverted, actor="grace", divergence_id="d1"))
    assert state.divergences["d1"].status == "reverted" and state.divergences["d1"].closed_by == "grace"


def test_handoff_needs_the_offered_person_to_accept() -> None:
    s = Stream()
    state = to_phase(s, Phase.STABILISING)
    with pytest.raises(IllegalTransitionError, match="no handoff has been offered"):
        check(state, s.event(ev.HandoffAccepted, actor="carol"))
    state = apply(state, s.add(ev.HandoffOffered, actor="alice", to="carol", briefing="b"))
    with pytest.raises(NotAuthorisedError, match="only they can accept"):
        check(state, s.event(ev.HandoffAccepted, actor="bob"))
    state = apply(state, s.add(ev.HandoffLapsed, actor="warroom", reason="no answer in 10m"))
    assert state.commander == "alice" and state.handoff is None
    with pytest.raises(IllegalTransitionError, match="live handoff"):
        check(state, s.event(ev.RoleAssigned, role=Role.INCIDENT_COMMANDER, person="carol"))


def test_command_moves_only_by_acceptance_even_at_declaration() -> None:
    s = Stream()
    state = to_phase(s, Phase.DECLARED)
    with pytest.raises(IllegalTransitionError, match="live handoff"):
        check(state, s.event(ev.RoleAssigned, actor="alice", role=Role.INCIDENT_COMMANDER, person="carol"))
    state = apply(state, s.add(ev.HandoffOffered, actor="alice", to="carol", briefing="named in the roles"))
    state = apply(state, s.add(ev.HandoffAccepted, actor="carol"))
    assert state.commander == "carol"


def test_a_stream_with_a_gap_is_refused() -> None:
    s = Stream()
    declared(s)
    s.seq += 1  # skip a number
    s.add(ev.PhaseChanged, to=Phase.STABILISING)
    with pytest.raises(IllegalTransitionError, match="does not follow"):
        fold(s.records)


def test_an_event_of_another_incident_is_refused() -> None:
    s = Stream()
    state = to_phase(s, Phase.DECLARED)
    other = Stream("INC-2")
    with pytest.raises(IllegalTransitionError, match="belongs to incident INC-2"):
        check(state, other.event(ev.PhaseChanged, to=Phase.STABILISING))


# ---------------------------------------------------------------------------------------------
# Properties over random streams: candidate events are drawn at random; those the core accepts
# form the stream. Whatever was accepted must fold, and the chapter's invariants must hold.

PEOPLE = ["alice", "bob", "carol", "dan"]


def candidate(data: st.DataObject, s: Stream, state: IncidentState) -> ev.Event:
    kind = data.draw(st.sampled_from([
        "declared", "role", "phase", "mitigation", "revert", "accept", "evidence", "waive",
        "offer", "accept_handoff", "lapse", "status", "checkpoint", "close", "followup",
    ]))
    actor = data.draw(st.sampled_from([*PEOPLE, state.commander or "alice"]))
    divergence = data.draw(st.sampled_from([*state.divergences, "d-new"]))
    match kind:
        case "declared":
            return s.event(ev.Declared, actor=actor, title="t", service="checkout", severity="SEV2",
                           commander=actor, reasons=("r",))
        case "role":
            return s.event(ev.RoleAssigned, actor=actor, role=data.draw(st.sampled_from(list(Role))),
                           person=data.draw(st.sampled_from(PEOPLE)))
        case "phase":
            # mostly the right next phase, so that streams get far; sometimes any phase at all
            to = NEXT_PHASE.get(state.phase, Phase.CLOSED)
            if data.draw(st.integers(0, 4)) == 0:
                to = data.draw(st.sampled_from(list(Phase)))
            return s.event(ev.PhaseChanged, actor=actor, to=to)
        case "mitigation":
            return s.event(ev.MitigationApplied, actor=actor, divergence_id=f"d{len(state.divergences)}",
                           what="w", revert="r", approved_by=data.draw(st.sampled_from(PEOPLE)))
        case "revert":
            return s.event(ev.DivergenceReverted, actor=actor, divergence_id=divergence)
        case "accept":
            return s.event(ev.DivergenceAccepted, actor=actor, divergence_id=divergence, reason="ok")
        case "evidence":
            return s.event(ev.EvidencePreserved, actor=actor, evidence=Evidence(
                kind="file", location="x", sha256=SHA, captured_at=s.now))
        case "waive":
            return s.event(ev.EvidenceWaived, actor=actor, reason="nothing to keep")
        case "offer":
            return s.event(ev.HandoffOffered, actor=actor, to=data.draw(st.sampled_from(PEOPLE)),
                           briefing="b")
        case "accept_handoff":
            return s.event(ev.HandoffAccepted, actor=actor)
        case "lapse":
            return s.event(ev.HandoffLapsed, actor="warroom", reason="timeout")
        case "status":
            return s.event(ev.StatusUpdatePosted, actor=actor, message="still on it")
        case "checkpoint":
            return s.event(ev.CheckpointAnswered, actor=actor, bleeding_stopped=True, decision="continue")
        case "followup":
            return s.event(ev.FollowUpFiled, actor=actor, followup=FollowUp(
                tracker_key="OPS-1", kind="bug", summary="s", intent=f"i{s.seq}"))
        case _:
            return s.event(ev.Closed, actor=actor, summary="done")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_valid_streams_fold_and_keep_the_invariants(data: st.DataObject) -> None:
    s = Stream()
    state = IncidentState(s.incident_id)
    for _ in range(data.draw(st.integers(min_value=1, max_value=60))):
        event = candidate(data, s, state)
        before = copy.deepcopy(state)
        try:
            check(state, event)
        except IllegalTransitionError:
            assert state == before  # a refused event changes nothing
            continue
        applied = apply(state, s.record(event))
        assert state == before  # applying makes a new state: the one it started from is left as it was
        state = applied
        assert state.phase is Phase.PENDING or state.commander is not None  # one IC from declaration on
        assert state.commander is None or isinstance(state.commander, str)
        if state.phase is Phase.CLOSED:
            event_note("closed")
            assert state.open_divergences == []
            assert state.evidence_settled

    folded = fold(s.records, s.incident_id)  # never raises on an accepted stream
    assert folded == state
    assert [r.seq for r in s.records] == list(range(1, len(s.records) + 1))
    assert folded.version == len(s.records)
    if folded.phase is not Phase.PENDING:
        assert folded.commanders and folded.commander == folded.commanders[-1]
