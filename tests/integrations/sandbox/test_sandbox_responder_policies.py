"""The PagerDuty sandbox's responder requests to escalation policies, checked raw (httpx), and the
snapshot of a request from before escalation-policy targets existed."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integrations.conftest import PagerDutySandbox
from tests.integrations.sandbox.test_sandbox_pagerduty import trigger
from warroom.integrations.sandbox.pagerduty import PagerDutySandboxState, _Render, default_setup


def ask(http: httpx.Client, sandbox: PagerDutySandbox, incident_id: str, *targets: dict[str, Any]) -> httpx.Response:
    return http.post(
        f"/incidents/{incident_id}/responder_requests",
        json={
            "requester_id": "PUSR001",
            "message": "join the bridge",
            "responder_request_targets": [{"responder_request_target": t} for t in targets],
        },
        headers=sandbox.rest_headers(),
    )


def test_bad_targets_are_refused_as_pagerduty_refuses_them(pagerduty_sandbox: PagerDutySandbox) -> None:
    with pagerduty_sandbox.http() as http:
        trigger(pagerduty_sandbox, http, "k")
        [incident] = pagerduty_sandbox.state.incidents_for_key("k")
        unknown = ask(http, pagerduty_sandbox, incident.id, {"id": "PNOPE", "type": "escalation_policy_reference"})
        a_user_id_as_policy = ask(
            http, pagerduty_sandbox, incident.id, {"id": "PUSR002", "type": "escalation_policy_reference"}
        )
        a_team = ask(http, pagerduty_sandbox, incident.id, {"id": "PESC002", "type": "team_reference"})
        bare_type = ask(http, pagerduty_sandbox, incident.id, {"id": "PESC002", "type": "escalation_policy"})
    for answer in (unknown, a_user_id_as_policy, a_team):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == 2001
    assert unknown.json()["error"]["errors"] == ["Escalation policy PNOPE not found"]
    assert bare_type.status_code == 200
    assert [r["policy_ids"] for r in incident.responder_requests] == [["PESC002"]]


def test_a_snapshot_from_before_policy_targets_loads_and_renders() -> None:
    setup = default_setup()

    def state() -> PagerDutySandboxState:
        return PagerDutySandboxState(
            api_token=setup.api_token,
            routing_keys=setup.routing_keys,
            users=setup.users,
            escalation_policies=setup.escalation_policies,
        )

    old = state()
    old.enqueue(
        {
            "routing_key": setup.routing_key,
            "event_action": "trigger",
            "dedup_key": "k",
            "payload": {"summary": "s", "source": "h", "severity": "critical"},
        }
    )
    [incident] = old.incidents_for_key("k")
    body = {
        "requester_id": "PUSR001",
        "message": "m",
        "responder_request_targets": [{"responder_request_target": {"id": "PUSR002", "type": "user_reference"}}],
    }
    old.add_responder_request(incident.id, body)
    snapshot = old.snapshot()
    for record in snapshot["incidents"][0]["responder_requests"]:
        del record["policy_ids"]  # as written before escalation-policy targets

    new = state()
    new.restore(snapshot)
    [restored] = new.incidents_for_key("k")
    [record] = restored.responder_requests
    rendered = _Render(new, "https://127.0.0.1:1").responder_request(restored, record)
    assert [t["responder_request_target"]["id"] for t in rendered["responder_request_targets"]] == ["PUSR002"]
    # ... and the restored incident takes new requests to a policy, kept in the next snapshot.
    new.add_responder_request(
        restored.id,
        {
            **body,
            "responder_request_targets": [
                {"responder_request_target": {"id": "PESC002", "type": "escalation_policy_reference"}}
            ],
        },
    )
    again = state()
    again.restore(new.snapshot())
    [reloaded] = again.incidents_for_key("k")
    assert [r.get("policy_ids") for r in reloaded.responder_requests] == [None, ["PESC002"]]
