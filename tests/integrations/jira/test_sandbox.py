"""The Jira sandbox itself, over raw HTTPS: Jira's answers, refusals and pagination."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integrations.conftest import JiraSandbox
from warroom.integrations.jira.credentials import JiraCredentials
from warroom.integrations.jira.tracker import JiraTracker
from warroom.integrations.sandbox.recorder import Fault
from warroom.integrations.sandbox.server import Sandboxes

API = "/rest/api/2"


def create(http: httpx.Client, summary: str = "A bug", **fields: Any) -> dict[str, Any]:
    body = {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Bug"}, "summary": summary, **fields}}
    response = http.post(f"{API}/issue", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_every_api_call_needs_the_right_basic_credentials(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http(auth=False) as http:
        for auth in (None, ("warroom-bot@example.com", "wrong"), ("someone@example.com", "x")):
            response = http.get(f"{API}/myself", auth=auth) if auth else http.get(f"{API}/myself")
            assert response.status_code == 401
            assert response.json() == {
                "errorMessages": ["Client must be authenticated to access this resource."],
                "errors": {},
            }
            assert response.headers["x-seraph-loginreason"] == "AUTHENTICATED_FAILED"
    with jira_sandbox.http() as http:
        me = http.get(f"{API}/myself").json()
        assert me["emailAddress"] == "warroom-bot@example.com"
        assert me["self"].startswith(jira_sandbox.url + "/rest/api/2/user?accountId=")
        assert http.get("/rest/api/latest/myself").json() == me  # the client uses "latest" for some calls


def test_server_info_says_cloud_and_where(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        info = http.get(f"{API}/serverInfo").json()
    assert info["deploymentType"] == "Cloud"
    assert info["baseUrl"] == jira_sandbox.url
    assert info["versionNumbers"][0] >= 1000


def test_created_issues_number_per_project_with_self_on_the_served_url(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        first = create(http)
        second = create(http, project={"key": "SRE"})
        third = create(http, project={"id": str(jira_sandbox.state.projects["OPS"])})
        issue = http.get(f"{API}/issue/{first['key']}", params={"fields": "summary,status"}).json()
    assert [first["key"], second["key"], third["key"]] == ["OPS-1", "SRE-1", "OPS-2"]
    assert first["self"] == f"{jira_sandbox.url}/rest/api/2/issue/{first['id']}"
    assert set(issue["fields"]) == {"summary", "status"}
    assert issue["fields"]["status"]["name"] == "To Do"


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"summary": "   "}, {"summary": "You must specify a summary of the issue."}),
        (
            {"summary": "two\nlines"},
            {"summary": "The summary is invalid because it contains newline characters."},
        ),
        ({"summary": "x" * 256}, {"summary": "Summary must be less than 255 characters."}),
        ({"project": {"key": "NOPE"}}, {"project": "valid project is required"}),
        (
            {"project": None, "issuetype": None},
            {"project": "Specify a valid project ID or key", "issuetype": "Specify an issue type"},
        ),
        ({"issuetype": {"name": "Epic"}}, {"issuetype": "The issue type selected is invalid."}),
        ({"labels": ["has space"]}, {"labels": "The label 'has space' contains spaces which is invalid."}),
        ({"assignee": {"accountId": "nobody"}}, {"assignee": "User 'nobody' does not exist."}),
    ],
)
def test_create_refusals_are_jiras(
    jira_sandbox: JiraSandbox, fields: dict[str, Any], errors: dict[str, str]
) -> None:
    body = {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Bug"}, "summary": "ok", **fields}}
    with jira_sandbox.http() as http:
        response = http.post(f"{API}/issue", json=body)
    assert response.status_code == 400
    assert response.json() == {"errorMessages": [], "errors": errors}
    assert jira_sandbox.state.issues == {}


def test_unknown_things_are_404_in_jiras_shape(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        missing = http.get(f"{API}/issue/OPS-99")
        nowhere = http.get(f"{API}/no/such/route")
        bad_json = http.post(
            f"{API}/issue", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]
    assert nowhere.status_code == 404 and "errorMessages" in nowhere.json()
    assert bad_json.status_code == 400 and bad_json.json()["errorMessages"][0].startswith(
        "Unexpected character"
    )


def test_search_pages_with_next_page_token(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        for n in range(5):
            create(http, summary=f"issue {n}", labels=["paged"])
        seen: list[str] = []
        params: dict[str, Any] = {
            "jql": "labels = paged ORDER BY key DESC",
            "maxResults": 2,
            "fields": "summary",
        }
        pages = 0
        while True:
            page = http.get(f"{API}/search/jql", params=params).json()
            pages += 1
            seen += [issue["key"] for issue in page["issues"]]
            assert all(set(issue["fields"]) == {"summary"} for issue in page["issues"])
            if page["isLast"]:
                assert "nextPageToken" not in page
                break
            params["nextPageToken"] = page["nextPageToken"]
        stale = http.get(
            f"{API}/search/jql", params={"jql": "labels = other", "nextPageToken": params["nextPageToken"]}
        )
        posted = http.post(
            f"{API}/search/jql", json={"jql": "labels = paged", "maxResults": 10, "fields": ["key"]}
        )
    assert pages == 3
    assert seen == ["OPS-5", "OPS-4", "OPS-3", "OPS-2", "OPS-1"]
    assert stale.status_code == 400  # a token belongs to its query
    assert [i["key"] for i in posted.json()["issues"]] == ["OPS-1", "OPS-2", "OPS-3", "OPS-4", "OPS-5"]


def test_without_fields_a_search_gives_ids_and_keys_only(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        create(http)
        page = http.get(f"{API}/search/jql", params={"jql": "project = OPS"}).json()
    assert page["issues"] == [
        {
            "expand": page["issues"][0]["expand"],
            "id": "10000",
            "self": page["issues"][0]["self"],
            "key": "OPS-1",
        }
    ]


def test_a_bad_query_is_jiras_400(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        response = http.get(f"{API}/search/jql", params={"jql": 'project = OPS AND summary = "x"'})
    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": [
            "Error in the JQL Query: The operator '=' is not supported by the 'summary' field "
            "(line 1, character 27)"
        ],
        "errors": {},
    }


def test_the_workflow_and_transition_ids(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        key = create(http)["key"]
        offered = http.get(f"{API}/issue/{key}/transitions").json()["transitions"]
        wrong = http.post(f"{API}/issue/{key}/transitions", json={"transition": {"id": "31"}})
        missing = http.post(f"{API}/issue/{key}/transitions", json={})
        as_int = http.post(f"{API}/issue/{key}/transitions", json={"transition": {"id": 21}})
        as_str = http.post(
            f"{API}/issue/{key}/transitions",
            json={"transition": {"id": "31"}, "update": {"comment": [{"add": {"body": "Fixed."}}]}},
        )
    assert [(t["id"], t["name"], t["to"]["name"]) for t in offered] == [("21", "In Progress", "In Progress")]
    assert wrong.status_code == 400
    assert wrong.json()["errorMessages"] == ["Transition id '31' is not valid for this issue."]
    assert missing.status_code == 400
    assert (as_int.status_code, as_str.status_code) == (204, 204)
    issue = jira_sandbox.state.issue(key)
    assert issue.status == "Done"
    assert [c.body for c in issue.comments] == ["Fixed."]


def test_editing_labels_and_assignee(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        key = create(http, labels=["a", "b"])["key"]
        edited = http.put(
            f"{API}/issue/{key}",
            json={"fields": {"summary": "Renamed"}, "update": {"labels": [{"add": "c"}, {"remove": "a"}]}},
        )
        assigned = http.put(f"{API}/issue/{key}/assignee", json={"accountId": "acc-grace"})
        by_name = http.put(f"{API}/issue/{key}/assignee", json={"name": "grace"})
        unknown_field = http.put(f"{API}/issue/{key}", json={"fields": {"priority": {"name": "High"}}})
    assert (edited.status_code, assigned.status_code) == (204, 204)
    assert by_name.status_code == 400  # Cloud: accountId only
    assert unknown_field.status_code == 400
    issue = jira_sandbox.state.issue(key)
    assert (issue.summary, issue.labels) == ("Renamed", ["b", "c"])
    assert issue.assignee is not None and issue.assignee.account_id == "acc-grace"


def test_remote_links_with_a_global_id_are_updated_not_added(jira_sandbox: JiraSandbox) -> None:
    link = {"globalId": "system=grafana&id=1", "object": {"url": "https://g/1", "title": "Dash"}}
    with jira_sandbox.http() as http:
        key = create(http)["key"]
        first = http.post(f"{API}/issue/{key}/remotelink", json=link)
        again = http.post(
            f"{API}/issue/{key}/remotelink", json={**link, "object": {"url": "https://g/1", "title": "New"}}
        )
        untitled = http.post(f"{API}/issue/{key}/remotelink", json={"object": {"url": "https://g/2"}})
        listed = http.get(f"{API}/issue/{key}/remotelink").json()
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert untitled.status_code == 400 and untitled.json()["errors"] == {"title": "'title' is required."}
    assert [entry["object"]["title"] for entry in listed] == ["New"]


def test_user_search_matches_like_cloud(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as http:
        by_mail = http.get(f"{API}/user/search", params={"query": "ada@example.com"}).json()
        by_word = http.get(f"{API}/user/search", params={"query": "hop"}).json()
        by_account = http.get(f"{API}/user/search", params={"query": "acc-ada"}).json()
    assert [u["accountId"] for u in by_mail] == ["acc-ada", "acc-ada-au"]  # a prefix match
    assert [u["accountId"] for u in by_word] == ["acc-grace"]
    assert by_account == []  # Cloud's query does not match account ids


def test_faults_answer_in_jiras_shape(jira_sandbox: JiraSandbox) -> None:
    jira_sandbox.set_faults(Fault(status=429, retry_after="5", count=1))
    with jira_sandbox.http() as http:
        limited = http.get(f"{API}/myself")
        fine = http.get(f"{API}/myself")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "5"
    assert limited.json() == {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    assert fine.status_code == 200
    recorded = jira_sandbox.requests("GET", path=f"{API}/myself")
    assert [r.response_status for r in recorded] == [429, 200]
    assert all(r.headers["authorization"] == "[redacted]" for r in recorded)


def test_sandboxes_start_the_jira_sandbox_and_point_warroom_at_it(tmp_path: Path) -> None:
    with Sandboxes(tmp_path) as boxes:
        env = boxes.env()
        assert env["WARROOM_JIRA_URL"] == boxes.jira_url
        tracker = JiraTracker(JiraCredentials.from_env(env))
        try:
            ticket = tracker.open_ticket("INC-1", "OPS", "Down", "")
        finally:
            tracker.close()
    assert ticket.url == f"{env['WARROOM_JIRA_URL']}/browse/OPS-1"
