"""Each decision's line in the timeline says who did what; an escalation says whom it waited for, how long."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.incident.helpers import Stream, declared
from warroom.incident import events as ev
from warroom.incident.state import fold


@pytest.mark.parametrize(("span", "said"), [
    (timedelta(seconds=31), "31 s"), (timedelta(minutes=10), "10 min"), (timedelta(hours=1), "1 h"),
    (timedelta(hours=1, minutes=5, seconds=59), "1 h 5 min"), (timedelta(seconds=-3), "0 s"),
])
def test_a_duration_is_said_as_people_say_it(span: timedelta, said: str) -> None:
    assert ev.duration(span) == said


def test_an_escalation_says_whom_it_waited_for_how_long_and_whom_it_paged() -> None:
    s = Stream("INC-50")
    declared(s, commander="alice")
    s.add(ev.Escalated, actor="warroom", reason="no answer from the operations lead (dan) within 0:10:00",
          responders=("grace", "dan"), waited_for="the operations lead (dan)", waited=timedelta(minutes=20))
    s.add(ev.Escalated, actor="warroom", reason="no answer (no one more to page)",
          waited_for="the operations lead (dan)", waited=timedelta(minutes=30))
    s.add(ev.Escalated, actor="warroom", reason="alice asked for more support", responders=("grace",))
    state = fold(s.records)
    assert [(t.actor, t.text) for t in state.timeline[1:]] == [
        ("warroom", "escalated: waited 20 min for the operations lead (dan), no answer; paged grace, dan"),
        ("warroom", "escalated: waited 30 min for the operations lead (dan), no answer; no one more to page"),
        ("warroom", "escalated: alice asked for more support"),  # asked for, not waited for
    ]
    assert state.escalations == 3 and state.responders == {"grace": "paged in", "dan": "paged in"}


def test_the_waiting_survives_the_ledger_round_trip() -> None:
    s = Stream("INC-51")
    declared(s)
    event = s.event(ev.Escalated, actor="warroom", reason="r", waited_for="the incident commander (alice)",
                    waited=timedelta(seconds=95))
    again = ev.event_from_parts(event.kind, event.payload(), incident_id=event.incident_id, actor=event.actor,
                                occurred_at=event.occurred_at, idempotency_key=event.idempotency_key)
    assert again == event and again.describe().startswith("escalated: waited 1 min for the incident commander")


def test_refusals_no_change_and_criteria_have_their_person_and_words() -> None:
    s = Stream("INC-52")
    declared(s, commander="alice")
    s.add(ev.AnswerNoted, actor="erin", desk="operations_lead", refused=True,
          text="approving a change is the operations lead's decision; erin is not the operations lead (dan is)")
    s.add(ev.AnswerNoted, actor="dan", desk="operations_lead", text="no change (observe only)")
    s.add(ev.ExitCriterionMet, actor="alice", criterion="errors under SLO for 30 minutes")
    assert [(t.actor, t.text) for t in fold(s.records).timeline[1:]] == [
        ("erin", "not recorded (operations lead desk): approving a change is the operations lead's decision; "
                 "erin is not the operations lead (dan is)"),
        ("dan", "operations lead: no change (observe only)"),
        ("alice", "exit criterion met: errors under SLO for 30 minutes"),
    ]
