"""Engaging another team: PagerDutyPager.add_responders with escalation policies, on the real
``pagerduty`` client against the PagerDuty sandbox over TLS.

A team is engaged by its escalation policy (``escalation_policy`` in configs/services.yaml): the
policy is a target of the incident's responder request, beside any users, in one request.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract import load_spec, match_path, validate_exchange
from tests.integrations.conftest import PagerDutySandbox
from warroom.incident.errors import IntegrationError
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.integrations.sandbox.recorder import RecordedRequest

KEY = "inc-2026-0042"
SEARCH_TEAM = "PESC002"  # the search service's policy in configs/services.yaml: Katherine, then Radia


def page(pager: PagerDutyPager) -> Any:
    assert pager.page(KEY, "search latency above 2 s", "critical", "search-api", {}).dedup_key == KEY


def only_incident(sandbox: PagerDutySandbox) -> Any:
    [incident] = sandbox.state.incidents_for_key(KEY)
    return incident


def responder_posts(sandbox: PagerDutySandbox) -> list[RecordedRequest]:
    return [r for r in sandbox.requests("POST", "/incidents/") if r.path.endswith("/responder_requests")]


def test_engaging_a_team_requests_its_escalation_policy(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    pager.add_responders(KEY, [], "search team: join the bridge", escalation_policies=[SEARCH_TEAM])

    [request] = only_incident(pagerduty_sandbox).responder_requests
    assert request["policy_ids"] == [SEARCH_TEAM]
    assert request["target_ids"] == []
    assert request["requester_id"] == "PUSR001"  # ada@example.com, the From user
    assert request["message"] == "search team: join the bridge"

    # What went over the wire is PagerDuty's documented reference type.
    [post] = responder_posts(pagerduty_sandbox)
    assert post.body["responder_request_targets"] == [
        {"responder_request_target": {"id": SEARCH_TEAM, "type": "escalation_policy_reference"}}
    ]
    # PagerDuty's answer shows the policy as a target, asked through its level 1 (Katherine).
    [target] = post.response_body["responder_request"]["responder_request_targets"]
    shown = target["responder_request_target"]
    assert (shown["type"], shown["id"], shown["summary"]) == (
        "escalation_policy",
        SEARCH_TEAM,
        f"Escalation policy {SEARCH_TEAM}",
    )
    [pending] = shown["incidents_responders"]
    assert pending["user"]["id"] == "PUSR004" and pending["state"] == "pending"

    # The incident's log, read back through the adapter (GET .../log_entries), names the team.
    [logged] = [e for e in pager.log_entries(KEY) if e.type == "responder_request_log_entry"]
    assert f"Escalation policy {SEARCH_TEAM}" in logged.summary


def test_the_request_and_the_answer_match_pagerdutys_document(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    pager.add_responders(KEY, ["grace@example.com"], "join the bridge", escalation_policies=[SEARCH_TEAM])
    spec = load_spec("pagerduty-rest-openapiv3.json")
    [post] = responder_posts(pagerduty_sandbox)
    template = match_path(spec, post.method, post.path)
    assert template == "/incidents/{id}/responder_requests"
    validate_exchange(spec, post.method, template, post.body, post.response_status, post.response_body)


def test_users_and_a_team_in_one_call_make_one_request(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    pager.add_responders(
        KEY,
        ["grace@example.com", "Radia@Example.com"],
        "join the bridge",
        escalation_policies=[SEARCH_TEAM, f" {SEARCH_TEAM}", "PESC001"],
    )
    [post] = responder_posts(pagerduty_sandbox)
    assert [t["responder_request_target"]["type"] for t in post.body["responder_request_targets"]] == [
        "user_reference",
        "user_reference",
        "escalation_policy_reference",
        "escalation_policy_reference",
    ]
    [request] = only_incident(pagerduty_sandbox).responder_requests
    assert request["target_ids"] == ["PUSR002", "PUSR005"]
    assert request["policy_ids"] == [SEARCH_TEAM, "PESC001"]  # each policy once
    [logged] = [e for e in pager.log_entries(KEY) if e.type == "responder_request_log_entry"]
    assert logged.summary == (
        "Ada Lovelace requested responders: Grace Hopper, Radia Perlman, "
        f"Escalation policy {SEARCH_TEAM}, Escalation policy PESC001."
    )


def test_an_unknown_policy_is_refused_naming_it_and_nothing_is_requested(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    with pytest.raises(IntegrationError) as caught:
        pager.add_responders(
            KEY, ["grace@example.com"], "join the bridge", escalation_policies=[SEARCH_TEAM, "PNOSUCH"]
        )
    refused = caught.value
    assert (refused.service, refused.call, refused.status) == ("PagerDuty", "add_responders", 400)
    assert "escalation policy 'PNOSUCH'" in str(refused)
    assert f"'{SEARCH_TEAM}'" not in str(refused)  # only the policy PagerDuty named
    assert "services.yaml" in str(refused)  # what to do about it
    # A 400 is final: one request, refused in PagerDuty's error shape, and nothing recorded.
    [post] = responder_posts(pagerduty_sandbox)
    assert post.response_status == 400
    assert post.response_body == {
        "error": {
            "message": "Invalid Input Provided",
            "code": 2001,
            "errors": ["Escalation policy PNOSUCH not found"],
        }
    }
    assert only_incident(pagerduty_sandbox).responder_requests == []
    assert "responder_request_log_entry" not in [e.type for e in pager.log_entries(KEY)]


def test_a_refusal_that_names_no_policy_names_every_policy_asked_for(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    pager.resolve(KEY)  # PagerDuty refuses responders on a resolved incident (400, not about a policy)
    with pytest.raises(IntegrationError) as caught:
        pager.add_responders(KEY, [], "join the bridge", escalation_policies=[SEARCH_TEAM, "PESC001"])
    assert caught.value.status == 400
    assert f"escalation policies '{SEARCH_TEAM}', 'PESC001'" in str(caught.value)
    assert "Incident Already Resolved" in str(caught.value)


def test_nothing_to_request_sends_nothing(pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox) -> None:
    page(pager)
    before = len(pagerduty_sandbox.requests())
    pager.add_responders(KEY, [], "join the bridge", escalation_policies=[])
    pager.add_responders(KEY, (), "join the bridge")
    assert len(pagerduty_sandbox.requests()) == before
    assert only_incident(pagerduty_sandbox).responder_requests == []


def test_a_blank_policy_id_fails_before_anything_is_sent(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    before = len(pagerduty_sandbox.requests())
    with pytest.raises(IntegrationError) as caught:
        pager.add_responders(KEY, ["grace@example.com"], "join the bridge", escalation_policies=[" "])
    assert "blank" in str(caught.value)
    assert len(pagerduty_sandbox.requests()) == before
