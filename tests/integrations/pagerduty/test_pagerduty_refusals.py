"""What PagerDuty (the sandbox) refuses, in its own words, and how the adapter reports it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.integrations.conftest import FakeClock, PagerDutySandbox, fake_clock_policy
from warroom.incident.errors import IntegrationError
from warroom.integrations.pagerduty.pager import PagerDutyPager

KEY = "inc-refusals"


def adapter(sandbox: PagerDutySandbox, clock: FakeClock, **env: str) -> PagerDutyPager:
    return PagerDutyPager(sandbox.credentials(**env), retry=fake_clock_policy(clock))


def test_a_wrong_api_token_is_refused_without_leaking_it(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = "wrong-token-" + "9f3b2c7d"
    pager = adapter(pagerduty_sandbox, fake_clock, WARROOM_PAGERDUTY_API_TOKEN=token)
    pager.page(KEY, "s", "error", "src", {})  # the Events API does not need the token
    with caplog.at_level(logging.DEBUG), pytest.raises(IntegrationError) as caught:
        pager.add_note(KEY, "hello")
    error = caught.value
    assert (error.service, error.call, error.status) == ("PagerDuty", "add_note", 401)
    assert "PagerDuty add_note failed (last status 401)" in str(error)
    assert "Authentication failed" in str(error)
    # Neither the token nor the tail the vendor client shows ("*c7d") is in the message or the logs.
    for text in (str(error), caplog.text):
        assert token not in text
        assert token[-4:] not in text
    assert fake_clock.sleeps == []  # 401 is not retried
    # The vendor client's own error, with its detail, stays reachable as the cause.
    assert error.__cause__ is not None


def test_a_wrong_routing_key_is_refused_without_leaking_it(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    key = "0123456789abcdef0123456789abcdef"
    pager = adapter(pagerduty_sandbox, fake_clock, WARROOM_PAGERDUTY_ROUTING_KEY=key)
    with caplog.at_level(logging.DEBUG), pytest.raises(IntegrationError) as caught:
        pager.page(KEY, "s", "error", "src", {})
    assert (caught.value.call, caught.value.status) == ("page", 400)
    assert "Invalid routing key" in str(caught.value)
    assert key not in str(caught.value)
    assert key not in caplog.text
    assert pagerduty_sandbox.incident_count(KEY) == 0
    # The recorder keeps no routing key either.
    assert pagerduty_sandbox.requests()[0].body["routing_key"] == "[redacted]"


def test_rest_without_a_token_gets_pagerdutys_401_body(pagerduty_sandbox: PagerDutySandbox) -> None:
    with pagerduty_sandbox.http() as http:
        answer = http.get("/incidents")
        wrong = http.get("/incidents", headers={"Authorization": "Token token=nope"})
    assert answer.status_code == 401
    assert answer.json() == {"error": {"message": "Authentication failed", "code": 2006}}
    assert wrong.status_code == 401


def test_a_trigger_without_severity_gets_the_events_api_400_body(pagerduty_sandbox: PagerDutySandbox) -> None:
    event: dict[str, Any] = {
        "routing_key": pagerduty_sandbox.setup.routing_key,
        "event_action": "trigger",
        "dedup_key": KEY,
        "payload": {"summary": "s", "source": "src"},
    }
    with pagerduty_sandbox.http() as http:
        answer = http.post("/v2/enqueue", json=event)
        no_source = http.post("/v2/enqueue", json={**event, "payload": {"summary": "s", "severity": "info"}})
        bad_severity = http.post(
            "/v2/enqueue", json={**event, "payload": {**event["payload"], "severity": "p1"}}
        )
        not_json = http.post(
            "/v2/enqueue", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        short_key = http.post("/v2/enqueue", json={**event, "routing_key": "short"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert body["errors"] == ["'payload.severity' is missing or blank"]
    assert no_source.status_code == 400
    assert "'payload.source' is missing or blank" in no_source.json()["errors"]
    assert bad_severity.status_code == 400
    assert not_json.status_code == 400
    assert not_json.json()["errors"] == ["JSON parse error"]
    assert short_key.status_code == 400
    assert pagerduty_sandbox.incident_count(KEY) == 0


def test_acknowledging_an_unknown_dedup_key_is_accepted_and_changes_nothing(
    pagerduty_sandbox: PagerDutySandbox,
) -> None:
    event = {
        "routing_key": pagerduty_sandbox.setup.routing_key,
        "event_action": "acknowledge",
        "dedup_key": "x",
    }
    with pagerduty_sandbox.http() as http:
        answer = http.post("/v2/enqueue", json=event)
        missing_key = http.post("/v2/enqueue", json={**event, "dedup_key": None})
    assert answer.status_code == 202
    assert answer.json()["dedup_key"] == "x"
    assert missing_key.status_code == 400
    assert pagerduty_sandbox.state.incidents == {}


def test_writes_without_from_get_pagerdutys_400_body(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    pager.page(KEY, "s", "critical", "src", {})
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    headers = pagerduty_sandbox.rest_headers()
    with pagerduty_sandbox.http() as http:
        note = http.post(f"/incidents/{incident.id}/notes", json={"note": {"content": "x"}}, headers=headers)
        update = http.post(f"/incidents/{incident.id}/status_updates", json={"message": "x"}, headers=headers)
        put = http.put(
            f"/incidents/{incident.id}",
            json={"incident": {"type": "incident", "status": "acknowledged"}},
            headers=headers,
        )
        stranger = http.post(
            f"/incidents/{incident.id}/notes",
            json={"note": {"content": "x"}},
            headers={**headers, "From": "stranger@example.com"},
        )
    for answer in (note, update, put, stranger):
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == 2001
        assert error["message"] == "Invalid Input Provided"
        assert "From" in error["errors"][0]
    assert incident.notes == [] and incident.status_updates == [] and incident.status == "triggered"


def test_unknown_incident_gets_404(pagerduty_sandbox: PagerDutySandbox) -> None:
    with pagerduty_sandbox.http() as http:
        answer = http.get("/incidents/PNOSUCH", headers=pagerduty_sandbox.rest_headers())
    assert answer.status_code == 404
    assert answer.json() == {"error": {"message": "Not Found", "code": 2100}}
