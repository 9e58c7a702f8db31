"""Contract: what JiraTracker (through the real ``jira`` client) sends, and what the Jira sandbox
answers, match Atlassian's OpenAPI documents for the platform REST API.

Every exchange the sandbox records during a full tracker session is checked against
``jira-platform-v2-openapi.json``; the ``/search/jql`` exchanges are also checked against the v3
document's operation (same shapes). Leniencies (DESIGN.md §7), applied only where named:

- ``POST /issueLink``: the client sends ``"comment": null`` when there is no comment; the document
  does not allow null there, Jira accepts it.
- ``POST /issue/{key}/transitions``: the client sends the transition id as an integer; the document
  says string, Jira accepts both.
- Timestamps: Jira writes ``2025-03-01T12:00:00.000+0000`` (the document's own examples do too),
  which the ``date-time`` format checker refuses for the missing colon in the offset; responses are
  checked with the offset written ``+00:00``.
- ``PUT /issue/{key}``, ``POST /issue/{key}/transitions`` (204) and ``POST /issueLink`` (201) are
  answered with no body, as Jira does; the document declares an unconstrained JSON schema (``{}``)
  for them, which an empty answer satisfies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.contract import ContractViolation, load_spec, match_path, validate_exchange
from tests.integrations.conftest import JiraSandbox
from warroom.incident.errors import IntegrationError
from warroom.integrations.jira.tracker import JiraTracker
from warroom.integrations.sandbox.recorder import RecordedRequest

V2 = "jira-platform-v2-openapi.json"
V3 = "jira-platform-openapi.json"


def _comment_may_be_null(body: Any) -> Any:
    if isinstance(body, dict) and body.get("comment", ...) is None:
        del body["comment"]
    return body


def _transition_id_may_be_int(body: Any) -> Any:
    transition = body.get("transition") if isinstance(body, dict) else None
    if isinstance(transition, dict) and isinstance(transition.get("id"), int):
        transition["id"] = str(transition["id"])
    return body


_JIRA_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d)(\d\d)$")


def _jira_timestamps(body: Any) -> Any:
    if isinstance(body, dict):
        return {key: _jira_timestamps(value) for key, value in body.items()}
    if isinstance(body, list):
        return [_jira_timestamps(value) for value in body]
    if isinstance(body, str):
        return _JIRA_TIMESTAMP.sub(r"\1:\2", body)
    return body


def _declares_any_body(spec: dict[str, Any], method: str, template: str, status: int) -> bool:
    response = spec["paths"][template][method.lower()]["responses"].get(str(status), {})
    return bool(response.get("content", {}).get("application/json", {}).get("schema") == {})


REQUEST_FIXUPS: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("POST", "/rest/api/2/issueLink"): _comment_may_be_null,
    ("POST", "/rest/api/2/issue/{issueIdOrKey}/transitions"): _transition_id_may_be_int,
}


#: operations whose request is multipart/form-data, not JSON: their answers are checked here, their
#: requests by :func:`test_an_upload_is_multipart_with_the_xsrf_header`
MULTIPART: frozenset[tuple[str, str]] = frozenset({("POST", "/rest/api/2/issue/{issueIdOrKey}/attachments")})


def check(spec: dict[str, Any], exchange: RecordedRequest, *, prefix: str = "") -> str:
    """Validate one recorded exchange; returns the operation it matched (``METHOD template``)."""
    path = exchange.path if not prefix else exchange.path.replace("/rest/api/2/", prefix, 1)
    template = match_path(spec, exchange.method, path)
    status = exchange.response_status
    assert status is not None, f"{exchange.method} {exchange.path}: no answer recorded"
    answer = exchange.response_body
    if answer is None and _declares_any_body(spec, exchange.method, template, status):
        answer = {}  # an empty answer where the document allows any JSON at all
    validate_exchange(
        spec,
        exchange.method,
        template,
        exchange.body,
        status,
        answer,
        request_fixups=REQUEST_FIXUPS.get((exchange.method, template)),
        response_fixups=_jira_timestamps,
        check_request=(exchange.method, template) not in MULTIPART,
    )
    return f"{exchange.method} {template}"


def run_session(tracker: JiraTracker, sandbox: JiraSandbox) -> None:
    """Everything the tracker does, plus an issue link through the client it uses."""
    ticket = tracker.open_ticket("INC-7", "OPS", "Checkout is down", "Customers see 502s.")
    followup = tracker.file_followup("INC-7", "OPS", "fix-pool", "bug", "Fix the pool", "Pool too small.")
    tracker.file_followup("INC-7", "OPS", "fix-pool", "bug", "Fix the pool", "Pool too small.")
    tracker.comment(ticket.key, "Status: mitigated.")
    tracker.transition(ticket.key, "In Progress")
    tracker.assign(ticket.key, "ada@example.com")
    tracker.link(ticket.key, "https://grafana.example.com/d/checkout", "Checkout dashboard")
    tracker.attach_once(ticket.key, "postmortem-INC-7.md", b"# Postmortem\n")
    assert [f.tracker_key for f in tracker.find_followups("INC-7", status="To Do")] == [followup.tracker_key]
    with pytest.raises(IntegrationError):
        tracker.transition(ticket.key, "Deploy")
    client = tracker._client()  # the same client: its issue-link request, with "comment": null
    client.create_issue_link("Relates", ticket.key, followup.tracker_key)
    with sandbox.http() as http:  # and Jira's refusals, which must match the document too
        http.post(
            "/rest/api/2/issue", json={"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Bug"}}}
        )
        http.get("/rest/api/2/search/jql", params={"jql": "priority = High"})
        [attached] = http.get(f"/rest/api/2/issue/{ticket.key}", params={"fields": "attachment"}).json()[
            "fields"]["attachment"]
        http.get(f"/rest/api/2/attachment/{attached['id']}")
    with sandbox.http(auth=False) as anonymous:
        anonymous.get("/rest/api/2/serverInfo")


def test_every_exchange_matches_the_v2_document(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    spec = load_spec(V2)
    run_session(tracker, jira_sandbox)
    exchanges = jira_sandbox.requests()
    problems: list[str] = []
    seen: set[str] = set()
    for exchange in exchanges:
        try:
            seen.add(check(spec, exchange))
        except ContractViolation as violation:
            problems.append(str(violation))
    assert not problems, "\n".join(problems)
    assert {
        "GET /rest/api/2/serverInfo",
        "POST /rest/api/2/issue",
        "GET /rest/api/2/issue/{issueIdOrKey}",
        "PUT /rest/api/2/issue/{issueIdOrKey}",
        "GET /rest/api/2/search/jql",
        "POST /rest/api/2/issue/{issueIdOrKey}/comment",
        "GET /rest/api/2/issue/{issueIdOrKey}/comment",
        "GET /rest/api/2/issue/{issueIdOrKey}/transitions",
        "POST /rest/api/2/issue/{issueIdOrKey}/transitions",
        "GET /rest/api/2/user/search",
        "GET /rest/api/2/issue/{issueIdOrKey}/remotelink",
        "POST /rest/api/2/issue/{issueIdOrKey}/remotelink",
        "GET /rest/api/2/issueLinkType",
        "POST /rest/api/2/issueLink",
        "POST /rest/api/2/issue/{issueIdOrKey}/attachments",
        "GET /rest/api/2/attachment/{id}",
    } <= seen
    statuses = {(e.method, e.path, e.response_status) for e in exchanges}
    assert ("POST", "/rest/api/2/issue", 400) in statuses
    assert ("GET", "/rest/api/2/search/jql", 400) in statuses
    assert ("GET", "/rest/api/2/serverInfo", 401) in statuses


def test_an_upload_is_multipart_with_the_xsrf_header(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    run_session(tracker, jira_sandbox)
    [upload] = [e for e in jira_sandbox.requests("POST") if e.path.endswith("/attachments")]
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert upload.headers["x-atlassian-token"] == "no-check"
    assert 'name="file"; filename="postmortem-INC-7.md"' in str(upload.body)


def test_search_jql_also_matches_the_v3_document(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    spec = load_spec(V3)
    run_session(tracker, jira_sandbox)
    searches = jira_sandbox.requests("GET", path="/rest/api/2/search/jql")
    assert len(searches) >= 4
    for exchange in searches:
        assert check(spec, exchange, prefix="/rest/api/3/") == "GET /rest/api/3/search/jql"


def test_the_leniencies_are_needed(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    """Without the named leniencies the client's own requests would not validate: they are real."""
    spec = load_spec(V2)
    run_session(tracker, jira_sandbox)
    for method, path, status, field in (
        ("POST", "/rest/api/2/issueLink", 201, "request at comment"),
        ("POST", "/rest/api/2/issue/OPS-1/transitions", 204, "request at transition/id"),
    ):
        (exchange,) = [e for e in jira_sandbox.requests(method, path=path) if e.response_status == status]
        template = match_path(spec, method, path)
        with pytest.raises(ContractViolation) as caught:
            validate_exchange(spec, method, template, exchange.body, status, {})
        where = {line.split(":")[0] for line in str(caught.value).splitlines()}
        assert where == {f"{method} {template} {field}"}  # that, and nothing else
