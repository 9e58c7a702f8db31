"""The PagerDuty sandbox's REST behaviour, checked raw (httpx) where the adapter does not reach."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integrations.conftest import PagerDutySandbox


def trigger(sandbox: PagerDutySandbox, http: httpx.Client, key: str, severity: str = "critical") -> None:
    event = {
        "routing_key": sandbox.setup.routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": f"problem {key}", "source": "host-1", "severity": severity},
    }
    assert http.post("/v2/enqueue", json=event).status_code == 202


def test_incident_listing_filters_and_pages_like_pagerduty(pagerduty_sandbox: PagerDutySandbox) -> None:
    headers = pagerduty_sandbox.rest_headers()
    with pagerduty_sandbox.http() as http:
        for n in range(5):
            trigger(pagerduty_sandbox, http, f"k{n}")
        resolve = {
            "routing_key": pagerduty_sandbox.setup.routing_key,
            "event_action": "resolve",
            "dedup_key": "k0",
        }
        http.post("/v2/enqueue", json=resolve)
        page: dict[str, Any] = http.get(
            "/incidents", params={"limit": 2, "offset": 1}, headers=headers
        ).json()
        counted = http.get("/incidents", params={"total": "true", "limit": 200}, headers=headers).json()
        open_only = http.get(
            "/incidents", params={"statuses[]": ["triggered", "acknowledged"]}, headers=headers
        ).json()
        by_key = http.get("/incidents", params={"incident_key": "k3"}, headers=headers).json()
        bad = http.get("/incidents", params={"statuses[]": "open"}, headers=headers)
    assert [i["incident_key"] for i in page["incidents"]] == ["k1", "k2"]
    assert (page["limit"], page["offset"], page["more"], page["total"]) == (2, 1, True, None)
    assert (counted["limit"], counted["total"], counted["more"]) == (100, 5, False)  # limit capped at 100
    assert sorted(i["incident_key"] for i in open_only["incidents"]) == ["k1", "k2", "k3", "k4"]
    assert [i["incident_key"] for i in by_key["incidents"]] == ["k3"]
    assert bad.status_code == 400


def test_self_urls_use_the_base_url_the_client_used(pagerduty_sandbox: PagerDutySandbox) -> None:
    headers = pagerduty_sandbox.rest_headers()
    localhost = pagerduty_sandbox.url.replace("127.0.0.1", "localhost")
    with pagerduty_sandbox.http() as http:
        trigger(pagerduty_sandbox, http, "k")
        incident = http.get(f"{localhost}/incidents", headers=headers).json()["incidents"][0]
    assert incident["self"] == f"{localhost}/incidents/{incident['id']}"
    assert incident["service"]["self"].startswith(localhost)


def test_rest_status_changes_write_log_entries(pagerduty_sandbox: PagerDutySandbox) -> None:
    headers = pagerduty_sandbox.rest_headers(From="grace@example.com")
    with pagerduty_sandbox.http() as http:
        trigger(pagerduty_sandbox, http, "k", severity="warning")
        [incident] = pagerduty_sandbox.state.incidents_for_key("k")
        path = f"/incidents/{incident.id}"
        ack = http.put(
            path, json={"incident": {"type": "incident", "status": "acknowledged"}}, headers=headers
        )
        unack = http.put(
            path, json={"incident": {"type": "incident", "status": "triggered"}}, headers=headers
        )
        done = http.put(
            path,
            json={"incident": {"type": "incident", "status": "resolved", "resolution": "fixed"}},
            headers=headers,
        )
        again = http.put(
            path, json={"incident": {"type": "incident", "status": "acknowledged"}}, headers=headers
        )
        untyped = http.put(path, json={"incident": {"status": "resolved"}}, headers=headers)
        log = http.get(f"{path}/log_entries", headers=headers).json()["log_entries"]
    assert [a.status_code for a in (ack, unack, done)] == [200, 200, 200]
    assert done.json()["incident"]["status"] == "resolved"
    assert "resolved_at" in done.json()["incident"]
    assert done.json()["incident"]["urgency"] == "low"
    assert again.status_code == 400 and untyped.status_code == 400
    assert [e["type"] for e in log] == [
        "resolve_log_entry",
        "unacknowledge_log_entry",
        "acknowledge_log_entry",
        "assign_log_entry",
        "trigger_log_entry",
    ]
    assert log[0]["agent"]["id"] == "PUSR002"
    assert log[0]["note"] == "fixed"


def test_bad_references_are_refused(pagerduty_sandbox: PagerDutySandbox) -> None:
    headers = pagerduty_sandbox.rest_headers(From="ada@example.com")
    with pagerduty_sandbox.http() as http:
        trigger(pagerduty_sandbox, http, "k")
        [incident] = pagerduty_sandbox.state.incidents_for_key("k")
        path = f"/incidents/{incident.id}"
        assign = {
            "incident": {
                "type": "incident",
                "assignments": [{"assignee": {"id": "PNOPE", "type": "user_reference"}}],
            }
        }
        bad_assignee = http.put(path, json=assign, headers=headers)
        bad_requester = http.post(
            f"{path}/responder_requests",
            json={
                "requester_id": "PNOPE",
                "message": "m",
                "responder_request_targets": [
                    {"responder_request_target": {"id": "PUSR002", "type": "user_reference"}}
                ],
            },
            headers=headers,
        )
        empty_note = http.post(f"{path}/notes", json={"note": {"content": " "}}, headers=headers)
        not_json = http.post(
            f"{path}/notes", content=b"{", headers={**headers, "Content-Type": "application/json"}
        )
    for answer in (bad_assignee, bad_requester, empty_note, not_json):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == 2001
    assert incident.assignments[0][0] == "PUSR001" and incident.notes == []


def test_oncalls_users_and_change_events(pagerduty_sandbox: PagerDutySandbox) -> None:
    headers = pagerduty_sandbox.rest_headers()
    with pagerduty_sandbox.http() as http:
        oncalls = http.get("/oncalls", params={"escalation_policy_ids[]": "PESC002"}, headers=headers).json()
        everyone = http.get("/oncalls", headers=headers).json()
        found = http.get("/users", params={"query": "GRACE@example.com"}, headers=headers).json()
        missing = http.get("/users/PNOPE", headers=headers)
        change = http.post(
            "/v2/change/enqueue",
            json={"routing_key": pagerduty_sandbox.setup.routing_key, "payload": {"summary": "deploy 4711"}},
        )
        bad_change = http.post(
            "/v2/change/enqueue", json={"routing_key": pagerduty_sandbox.setup.routing_key}
        )
    assert [(o["user"]["id"], o["escalation_level"]) for o in oncalls["oncalls"]] == [
        ("PUSR004", 1),
        ("PUSR005", 2),
    ]
    assert len(everyone["oncalls"]) == 5
    assert [u["email"] for u in found["users"]] == ["grace@example.com"]
    assert missing.status_code == 404
    assert change.status_code == 202 and bad_change.status_code == 400
    assert [c["summary"] for c in pagerduty_sandbox.state.change_events] == ["deploy 4711"]
    assert pagerduty_sandbox.state.incidents == {}  # change events never open incidents
