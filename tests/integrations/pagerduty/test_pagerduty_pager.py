"""PagerDutyPager with the real ``pagerduty`` client against the PagerDuty sandbox over TLS."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integrations.conftest import FakeClock, PagerDutySandbox, fake_clock_policy
from warroom.incident.errors import IntegrationError
from warroom.incident.ports import OnCall, Pager
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.integrations.retry import RateLimiter

KEY = "inc-2026-0001"


def page(pager: PagerDutyPager, key: str = KEY, summary: str = "checkout 5xx above 5%") -> None:
    receipt = pager.page(key, summary, "critical", "checkout-api", {"runbook": "rb-1"})
    assert receipt.dedup_key == key
    assert receipt.status == "success"


def only_incident(sandbox: PagerDutySandbox, key: str = KEY) -> Any:
    incidents = sandbox.state.incidents_for_key(key)
    assert len(incidents) == 1, f"expected one incident for {key}, found {len(incidents)}"
    return incidents[0]


def test_the_adapter_is_a_pager(pager: PagerDutyPager) -> None:
    port: Pager = pager  # mypy checks the protocol; this line fails type-checking if it drifts
    assert port is pager


def test_page_opens_an_incident_keyed_by_the_dedup_key(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    incident = only_incident(pagerduty_sandbox)
    assert incident.status == "triggered"
    assert incident.title == "checkout 5xx above 5%"
    assert incident.details == {"runbook": "rb-1"}
    assert incident.severity == "critical"
    # Level 1 of the service's escalation policy is paged.
    assert [pagerduty_sandbox.state.users[uid].email for uid, _ in incident.assignments] == [
        "ada@example.com"
    ]
    sent = pagerduty_sandbox.requests("POST", "/v2/enqueue")[0].body
    assert sent["dedup_key"] == KEY
    assert sent["event_action"] == "trigger"
    assert sent["routing_key"] == "[redacted]"


def test_paging_twice_joins_the_open_incident(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    page(pager, summary="checkout 5xx above 5% (again)")
    incident = only_incident(pagerduty_sandbox)
    assert incident.alerts == 2
    answers = [r.response_body for r in pagerduty_sandbox.requests("POST", "/v2/enqueue")]
    assert answers == [{"status": "success", "message": "Event processed", "dedup_key": KEY}] * 2


def test_acknowledge_then_resolve_move_the_status(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    pager.acknowledge(KEY)
    assert only_incident(pagerduty_sandbox).status == "acknowledged"
    pager.resolve(KEY)
    incident = only_incident(pagerduty_sandbox)
    assert incident.status == "resolved"
    assert incident.assignments == []
    types = [e.type for e in pager.log_entries(KEY)]
    assert types == ["trigger_log_entry", "assign_log_entry", "acknowledge_log_entry", "resolve_log_entry"]


def test_a_page_after_resolve_opens_a_new_incident_and_calls_follow_it(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    pager.resolve(KEY)
    page(pager, summary="it is back")
    incidents = sorted(pagerduty_sandbox.state.incidents_for_key(KEY), key=lambda i: i.number)
    assert [i.status for i in incidents] == ["resolved", "triggered"]
    pager.add_note(KEY, "second occurrence")
    assert incidents[0].notes == []
    assert [n["content"] for n in incidents[1].notes] == ["second occurrence"]


def test_add_note(pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox) -> None:
    page(pager)
    pager.add_note(KEY, "rolled back deploy 4711")
    incident = only_incident(pagerduty_sandbox)
    assert [(n["content"], n["user_id"]) for n in incident.notes] == [("rolled back deploy 4711", "PUSR001")]
    sent = pagerduty_sandbox.requests("POST", f"/incidents/{incident.id}/notes")[0]
    assert sent.headers["from"] == "ada@example.com"
    assert sent.body == {"note": {"content": "rolled back deploy 4711"}}
    assert "annotate_log_entry" in [e.type for e in pager.log_entries(KEY)]


def test_post_status_update(pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox) -> None:
    page(pager)
    pager.post_status_update(KEY, "Checkout is degraded; mitigation under way.")
    incident = only_incident(pagerduty_sandbox)
    assert [u["message"] for u in incident.status_updates] == ["Checkout is degraded; mitigation under way."]
    assert "status_update_log_entry" in [e.type for e in pager.log_entries(KEY)]


def test_a_status_update_is_its_writers_in_pagerduty(pager: PagerDutyPager,
                                                      pagerduty_sandbox: PagerDutySandbox) -> None:
    page(pager)
    writer = next(u for u in pagerduty_sandbox.setup.users if u.email != "ada@example.com")
    pager.post_status_update(KEY, "Rolled back; watching.", author_email=writer.email)
    incident = only_incident(pagerduty_sandbox)
    assert [(u["message"], u["user_id"]) for u in incident.status_updates] == [("Rolled back; watching.", writer.id)]
    sent = pagerduty_sandbox.requests("POST", f"/incidents/{incident.id}/status_updates")[0]
    assert sent.headers["from"] == writer.email
    with pytest.raises(IntegrationError) as refused:  # not a PagerDuty user: PagerDuty refuses, nothing posted
        pager.post_status_update(KEY, "Another.", author_email="stranger@example.com")
    assert refused.value.status == 400 and len(incident.status_updates) == 1


def test_add_responders_asks_as_the_from_user_for_users_found_by_email(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    pager.add_responders(
        KEY, ["grace@example.com", "Radia@Example.com", "grace@example.com"], "join the bridge"
    )
    incident = only_incident(pagerduty_sandbox)
    [request] = incident.responder_requests
    assert request["requester_id"] == "PUSR001"  # ada@example.com, the From user
    assert request["target_ids"] == ["PUSR002", "PUSR005"]
    assert request["message"] == "join the bridge"
    assert "responder_request_log_entry" in [e.type for e in pager.log_entries(KEY)]


def test_add_responders_with_an_unknown_email_fails_naming_it(pager: PagerDutyPager) -> None:
    page(pager)
    with pytest.raises(IntegrationError) as caught:
        pager.add_responders(KEY, ["nobody@example.com"], "help")
    assert caught.value.service == "PagerDuty"
    assert caught.value.call == "add_responders"
    assert "nobody@example.com" in str(caught.value)


def test_reassign_follows_the_incident_self_url(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    pager.reassign(KEY, "margaret@example.com")
    incident = only_incident(pagerduty_sandbox)
    assert [uid for uid, _ in incident.assignments] == ["PUSR003"]
    assert incident.assigned_via == "direct_assignment"
    [put] = pagerduty_sandbox.requests("PUT")
    assert put.path == f"/incidents/{incident.id}"
    assert put.body == {
        "incident": {
            "type": "incident_reference",
            "assignments": [{"assignee": {"id": "PUSR003", "type": "user_reference"}}],
        }
    }
    entries = pager.log_entries(KEY)
    assert entries[-1].type == "assign_log_entry"
    assert "Margaret Hamilton" in entries[-1].summary


def test_oncall_lists_each_level_with_email(pager: PagerDutyPager) -> None:
    assert pager.oncall("PESC001") == [
        OnCall(email="ada@example.com", name="Ada Lovelace", escalation_level=1),
        OnCall(email="grace@example.com", name="Grace Hopper", escalation_level=2),
        OnCall(email="margaret@example.com", name="Margaret Hamilton", escalation_level=3),
    ]
    assert [o.email for o in pager.oncall("PESC002")] == ["katherine@example.com", "radia@example.com"]
    assert pager.oncall("PNOSUCH") == []


def test_log_entries_are_oldest_first(pager: PagerDutyPager) -> None:
    page(pager)
    pager.add_note(KEY, "one")
    pager.post_status_update(KEY, "two")
    pager.acknowledge(KEY)
    entries = pager.log_entries(KEY)
    assert [e.type for e in entries] == [
        "trigger_log_entry",
        "assign_log_entry",
        "annotate_log_entry",
        "status_update_log_entry",
        "acknowledge_log_entry",
    ]
    assert all(e.at.tzinfo is not None for e in entries)
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_finding_the_incident_pages_through_get_incidents(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    pagerduty_sandbox.state.max_page_size = 2  # the client asks for 100; the server answers 2 a page
    for n in range(4):
        page(pager, summary=f"occurrence {n}")
        pager.resolve(KEY)
    page(pager, summary="occurrence 4")
    pagerduty_sandbox.recorder.clear()
    pager.add_note(KEY, "on the open one")
    lists = pagerduty_sandbox.requests("GET", "/incidents")
    lists = [r for r in lists if r.path == "/incidents"]
    assert [r.query["offset"] for r in lists] == [["0"], ["2"], ["4"]]
    assert [r.response_body["more"] for r in lists] == [True, True, False]
    incidents = sorted(pagerduty_sandbox.state.incidents_for_key(KEY), key=lambda i: i.number)
    assert len(incidents) == 5
    assert [len(i.notes) for i in incidents] == [0, 0, 0, 0, 1]


def test_a_dedup_key_without_incident_fails_after_bounded_retries(
    pager: PagerDutyPager, fake_clock: FakeClock
) -> None:
    with pytest.raises(IntegrationError) as caught:
        pager.add_note("never-paged", "x")
    assert caught.value.call == "add_note"
    assert "never-paged" in str(caught.value)
    assert fake_clock.elapsed <= 30.0
    assert len(fake_clock.sleeps) == 4  # five attempts in all


def test_every_rest_request_passes_the_rate_limiter(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    # One request a second, no burst: n REST requests wait n - 1 seconds on the fake clock.
    limiter = RateLimiter(1.0, 1.0, monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    adapter = PagerDutyPager(
        pagerduty_sandbox.credentials(), retry=fake_clock_policy(fake_clock), limiter=limiter
    )
    try:
        adapter.page(KEY, "s", "warning", "src", {})  # Events API: not REST, not limited
        pagerduty_sandbox.recorder.clear()
        adapter.add_note(KEY, "a")
        adapter.add_note(KEY, "b")
        adapter.oncall("PESC002")
    finally:
        adapter.close()
    rest_requests = len(pagerduty_sandbox.requests())
    assert rest_requests == 2 + 2 + 1 + 2  # find + note, find + note, oncalls + two users
    assert fake_clock.elapsed == pytest.approx(rest_requests - 1)
