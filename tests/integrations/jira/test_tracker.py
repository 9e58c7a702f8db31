"""JiraTracker with the real ``jira`` client against the Jira sandbox over TLS."""

from __future__ import annotations

import logging
import re

import pytest

from tests.integrations.conftest import FakeClock, JiraSandbox, fake_clock_policy
from warroom.incident.errors import IntegrationError
from warroom.incident.ports import Tracker
from warroom.integrations.jira.tracker import (
    DESCRIPTION_MAX,
    DOCUMENT_BEGIN,
    DOCUMENT_END,
    FOLLOWUP_LABEL,
    TICKET_LABEL,
    JiraTracker,
    document_of,
    incident_label,
    intent_label,
    kind_label,
    with_document,
)
from warroom.integrations.retry import RetryPolicy
from warroom.integrations.sandbox.recorder import Fault

INCIDENT = "INC-2025-0042"
CREATE = "/rest/api/2/issue"


def issues_for(sandbox: JiraSandbox, incident_id: str, intent: str) -> list[str]:
    """Keys of the sandbox's issues filed for ``intent``, read from the sandbox's own state."""
    return sandbox.issue_keys(intent_label(incident_id, intent))


def test_it_is_a_tracker(tracker: JiraTracker) -> None:
    port: Tracker = tracker  # mypy checks the signatures
    assert port is tracker


# ------------------------------------------------------------------------------------------ filing


def test_open_ticket_files_once(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    first = tracker.open_ticket(INCIDENT, "OPS", "Checkout is down", "Customers see 502s.")
    again = tracker.open_ticket(INCIDENT, "OPS", "Checkout is down", "Customers see 502s.")

    assert first == again
    assert first.key == "OPS-1"
    assert first.url == f"{jira_sandbox.url}/browse/OPS-1"
    issue = jira_sandbox.state.issue("OPS-1")
    assert issue.summary == "Checkout is down"
    assert issue.issuetype == "Bug"
    assert set(issue.labels) == {incident_label(INCIDENT), intent_label(INCIDENT, "incident"), TICKET_LABEL}
    assert document_of(issue.description) == "Customers see 502s."  # the description is the document
    assert len(jira_sandbox.requests("POST", path=CREATE)) == 1


def edits(sandbox: JiraSandbox, key: str) -> int:
    """Edits of an issue's description (the client edits by the issue's ``self`` URL: its id)."""
    issue_id = str(sandbox.state.issue(key).id)
    return len([r for r in sandbox.requests("PUT", path_prefix="/rest/api/2/issue/")
                if r.path.rstrip("/").rsplit("/", 1)[-1] in (key, issue_id) and "description" in str(r.body)])


def test_the_ticket_description_is_the_document_written_once_per_change(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    ticket = tracker.open_ticket(INCIDENT, "OPS", "Checkout is down", "# doc v1\n\n## Timeline\n- declared\n")
    assert edits(jira_sandbox, ticket.key) == 0
    assert tracker.set_document(ticket.key, "# doc v1\n\n## Timeline\n- declared\n") is False  # unchanged
    assert edits(jira_sandbox, ticket.key) == 0

    v2 = "# doc v2\n\n## Timeline\n- paged\n- declared\n"
    assert tracker.set_document(ticket.key, v2) is True
    assert tracker.set_document(ticket.key, v2) is False  # a retry or a rerun writes nothing
    assert edits(jira_sandbox, ticket.key) == 1
    description = jira_sandbox.state.issue(ticket.key).description
    assert document_of(description) == "h1. doc v2\n\nh2. Timeline\n* paged\n* declared"  # Jira's wiki markup
    assert description is not None and description.startswith(DOCUMENT_BEGIN)
    # the intent marker stays last: the ticket is still found as the incident's
    assert description.splitlines()[-1].startswith('warroom: {"incident": "INC-2025-0042", "intent": "incident"')
    assert tracker.open_ticket(INCIDENT, "OPS", "Checkout is down", "ignored: filed already") == ticket


def test_the_document_is_compared_as_jira_holds_it_in_wiki_markup(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    markdown = "## Status\n**active**, ticket [OPS-1](https://jira.example.com/browse/OPS-1)\n- paged `bob`\n"
    ticket = tracker.open_ticket(INCIDENT, "OPS", "Checkout is down", markdown)
    wiki = "h2. Status\n*active*, ticket [OPS-1|https://jira.example.com/browse/OPS-1]\n* paged {{bob}}"
    assert document_of(jira_sandbox.state.issue(ticket.key).description) == wiki  # filed converted
    assert tracker.set_document(ticket.key, markdown) is False
    # another Markdown spelling of the same document: Jira would hold the same text, nothing is written
    assert tracker.set_document(ticket.key, markdown.replace("- paged", "* paged").replace("**", "__")) is False
    assert edits(jira_sandbox, ticket.key) == 0
    assert tracker.set_document(ticket.key, markdown.replace("`bob`", "`bob` and {carol}")) is True
    assert document_of(jira_sandbox.state.issue(ticket.key).description) == wiki + " and \\{carol\\}"


def test_what_people_write_around_the_document_stays(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    ticket = tracker.open_ticket(INCIDENT, "OPS", "Checkout is down", "v1")
    issue = jira_sandbox.state.issue(ticket.key)
    people = "Customer ticket ZD-881 is about this.\nCall Bob before any failover."
    with jira_sandbox.http() as http:  # someone edits the description in Jira
        answer = http.put(f"/rest/api/2/issue/{ticket.key}",
                          json={"fields": {"description": f"{people}\n\n{issue.description}\n\nBelow, too."}})
        assert answer.status_code == 204
    assert tracker.set_document(ticket.key, "v2") is True
    description = jira_sandbox.state.issue(ticket.key).description or ""
    assert description.startswith(people + "\n\n" + DOCUMENT_BEGIN + "\nv2\n" + DOCUMENT_END)
    assert "Below, too." in description and document_of(description) == "v2"
    assert tracker.set_document(ticket.key, "v2") is False


def test_a_document_longer_than_jira_holds_is_cut_at_a_line_with_a_note(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    ticket = tracker.open_ticket(INCIDENT, "OPS", "Checkout is down", "v1")
    long_doc = "# doc\n" + "".join(f"- line {n} of the timeline\n" for n in range(3000))  # ~80,000 chars
    assert tracker.set_document(ticket.key, long_doc) is True  # the sandbox refuses > 32,767, as Jira does
    description = jira_sandbox.state.issue(ticket.key).description or ""
    assert len(description) <= DESCRIPTION_MAX
    kept = document_of(description) or ""
    assert kept.startswith("h1. doc\n* line 0 of the timeline\n")
    body, note = kept.rsplit("\n", 1)
    assert note.startswith("… (cut here: Jira holds 32,767 characters")
    assert body.endswith(" of the timeline")  # cut at a line, not inside one
    assert tracker.set_document(ticket.key, long_doc) is False  # the cut is the same each time


def test_with_document_has_no_markers_to_find_in_plain_text() -> None:
    assert document_of("just text someone wrote") is None
    assert with_document("just text", "doc") == f"just text\n\n{DOCUMENT_BEGIN}\ndoc\n{DOCUMENT_END}"
    assert with_document(None, "doc") == f"{DOCUMENT_BEGIN}\ndoc\n{DOCUMENT_END}"
    with_people = "p" * 100
    assert with_document(with_people, "x\n" * 100, limit=250).startswith(with_people)  # never cut


def test_a_cut_closes_the_code_or_quote_block_it_leaves_open() -> None:
    doc = "h2. Logs\n{quote}\n{noformat}\n" + "".join(f"log line {n}\n" for n in range(100)) + "{noformat}\n{quote}"
    cut = document_of(with_document(None, doc, limit=600)) or ""
    body, note = cut.rsplit("\n", 1)
    assert note.startswith("… (cut here: Jira holds 600 characters")
    assert body.startswith("h2. Logs\n{quote}\n{noformat}\nlog line 0\n")
    assert len(with_document(None, doc, limit=600)) <= 600
    lines = body.splitlines()
    assert lines[-2:] == ["{noformat}", "{quote}"] and lines[-3].startswith("log line ")


def test_followup_filed_twice_is_one_issue(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    first = tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "Pool too small.")
    again = tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "Pool too small.")

    assert first == again
    assert first.tracker_key == "OPS-1"
    assert (first.kind, first.summary, first.status, first.intent) == (
        "bug",
        "Fix the pool",
        "To Do",
        "fix-pool",
    )
    assert issues_for(jira_sandbox, INCIDENT, "fix-pool") == ["OPS-1"]
    assert len(jira_sandbox.requests("POST", path=CREATE)) == 1
    labels = set(jira_sandbox.state.issue("OPS-1").labels)
    assert {FOLLOWUP_LABEL, kind_label("bug"), incident_label(INCIDENT)} <= labels


def test_the_create_request_is_shaped_for_cloud(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    tracker.file_followup(INCIDENT, "SRE", "alerting", "action", "Tune the alert", "Fired late.")
    (create,) = jira_sandbox.requests("POST", path=CREATE)
    fields = create.body["fields"]
    assert fields["project"] == {"key": "SRE"}  # no project lookup
    assert fields["issuetype"] == {"name": "Bug"}  # no issue type lookup
    # prefetch=False: no full GET of the new issue (only the summary and status are read back)
    reads = jira_sandbox.requests("GET", path="/rest/api/2/issue/SRE-1")
    assert [r.query.get("fields") for r in reads] == [["summary,status"]]
    assert create.headers["authorization"] == "[redacted]"


def test_distinct_intents_and_incidents_get_distinct_issues(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    a = tracker.file_followup(INCIDENT, "OPS", "fix pool", "bug", "A", "")
    b = tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "B", "")  # same slug, other intent
    c = tracker.file_followup("INC-2025-0043", "OPS", "fix-pool", "bug", "C", "")
    assert len({a.tracker_key, b.tracker_key, c.tracker_key}) == 3


def test_a_summary_jira_would_refuse_is_folded_and_cut(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    followup = tracker.file_followup(INCIDENT, "OPS", "long", "bug", "line one\nline two " + "x" * 400, "")
    summary = jira_sandbox.state.issue(followup.tracker_key).summary
    assert summary.startswith("line one line two x")
    assert len(summary) == 255 and summary.endswith("…")


def test_the_ticket_intent_is_reserved(tracker: JiraTracker) -> None:
    with pytest.raises(ValueError, match="reserved"):
        tracker.file_followup(INCIDENT, "OPS", "incident", "bug", "x", "")


# ----------------------------------------------------------------------------- the other calls


def test_comment(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    ticket = tracker.open_ticket(INCIDENT, "OPS", "Down", "")
    tracker.comment(ticket.key, "Status: mitigated, watching error rates.")
    tracker.comment(ticket.key, "Status: resolved.")
    assert [c.body for c in jira_sandbox.state.issue(ticket.key).comments] == [
        "Status: mitigated, watching error rates.",
        "Status: resolved.",
    ]


def test_transition_by_name(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    tracker.transition(key, "in progress")  # names are matched case-insensitively
    assert jira_sandbox.state.issue(key).status == "In Progress"
    tracker.transition(key, "Done")
    assert jira_sandbox.state.issue(key).status == "Done"
    posted = [
        r.body["transition"]["id"]
        for r in jira_sandbox.requests("POST", path=f"/rest/api/2/issue/{key}/transitions")
    ]
    assert posted == [21, 31]  # the client sends the id as an integer; the sandbox accepts it


def test_transition_to_where_it_already_is_does_nothing(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    tracker.transition(key, "In Progress")
    tracker.transition(key, "In Progress")
    assert len(jira_sandbox.requests("POST", path=f"/rest/api/2/issue/{key}/transitions")) == 1


def test_an_unknown_transition_names_the_available_ones(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    tracker.transition(key, "In Progress")
    with pytest.raises(IntegrationError) as caught:
        tracker.transition(key, "Deploy")
    assert caught.value.service == "Jira"
    assert caught.value.call == "transition"
    assert "no transition named 'Deploy'" in str(caught.value)
    assert "available: 'Done', 'To Do'" in str(caught.value)
    assert jira_sandbox.state.issue(key).status == "In Progress"


def test_assign_by_email_picks_the_exact_address(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    tracker.assign(key, "ada@example.com")  # the user search also returns ada@example.com.au
    assignee = jira_sandbox.state.issue(key).assignee
    assert assignee is not None and assignee.account_id == "acc-ada"
    searched = jira_sandbox.requests("GET", path="/rest/api/2/user/search")
    assert searched[0].query["query"] == ["ada@example.com"]
    tracker.assign(key, "grace@example.com")
    assignee = jira_sandbox.state.issue(key).assignee
    assert assignee is not None and assignee.account_id == "acc-grace"


def test_assign_to_an_unknown_address_says_so(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    with pytest.raises(
        IntegrationError, match=re.escape("no Jira user has the e-mail address 'nobody@example.com'")
    ):
        tracker.assign(key, "nobody@example.com")
    assert jira_sandbox.state.issue(key).assignee is None


def test_link_once_per_url(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    tracker.link(key, "https://grafana.example.com/d/checkout", "Checkout dashboard")
    tracker.link(key, "https://grafana.example.com/d/checkout", "Checkout dashboard")
    tracker.link(key, "https://runbooks.example.com/checkout", "Runbook")
    links = jira_sandbox.state.issue(key).remote_links
    assert [(link.object["url"], link.object["title"]) for link in links] == [
        ("https://grafana.example.com/d/checkout", "Checkout dashboard"),
        ("https://runbooks.example.com/checkout", "Runbook"),
    ]


def test_find_followups_by_incident_label_and_status(tracker: JiraTracker) -> None:
    tracker.open_ticket(INCIDENT, "OPS", "Down", "")  # the ticket is not a follow-up
    pool = tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")
    revert = tracker.file_followup(INCIDENT, "SRE", "revert d-1", "divergence", "Revert the flag", "")
    pm = tracker.file_followup(INCIDENT, "OPS", "postmortem", "postmortem", "Write it up", "")
    tracker.file_followup("INC-OTHER", "OPS", "fix-pool", "bug", "Someone else's", "")
    tracker.transition(pm.tracker_key, "In Progress")

    assert [f.tracker_key for f in tracker.find_followups(INCIDENT)] == [
        pool.tracker_key,
        revert.tracker_key,
        pm.tracker_key,
    ]
    assert tracker.find_followups(INCIDENT, label=kind_label("divergence")) == [revert]
    (found,) = tracker.find_followups(INCIDENT, status="In Progress")
    assert (found.tracker_key, found.kind, found.intent, found.status) == (
        pm.tracker_key,
        "postmortem",
        "postmortem",
        "In Progress",
    )
    assert tracker.find_followups(INCIDENT, label="no-such-label") == []
    assert tracker.find_followups("INC-NOBODY") == []


def test_intents_come_back_exactly(tracker: JiraTracker) -> None:
    odd = 'revert "feature flag" \\ checkout — ünïcode'
    filed = tracker.file_followup(INCIDENT, "OPS", odd, "divergence", "Revert", "")
    (found,) = tracker.find_followups(INCIDENT)
    assert found == filed
    assert found.intent == odd


# ------------------------------------------------------------------------------ refusals, injection


def test_wrong_token_is_an_integration_error_without_the_token(
    jira_sandbox: JiraSandbox, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-token-7c1d9e"
    tracker = JiraTracker(
        jira_sandbox.credentials(WARROOM_JIRA_API_TOKEN=wrong), retry=fake_clock_policy(fake_clock)
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(IntegrationError) as caught:
        tracker.open_ticket(INCIDENT, "OPS", "Down", "")
    error = caught.value
    assert (error.service, error.call, error.status) == ("Jira", "open_ticket", 401)
    assert "Jira refused the credentials" in str(error)
    assert wrong not in str(error) and wrong not in repr(error)
    assert wrong not in str(error.__cause__)
    assert wrong not in caplog.text
    assert fake_clock.sleeps == []  # a refusal is not retried
    assert jira_sandbox.state.issues == {}


def test_an_issue_without_summary_gets_jiras_400(jira_sandbox: JiraSandbox) -> None:
    with jira_sandbox.http() as client:
        response = client.post(
            "/rest/api/2/issue", json={"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Bug"}}}
        )
    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": [],
        "errors": {"summary": "You must specify a summary of the issue."},
    }


def test_a_vendor_refusal_becomes_an_integration_error(tracker: JiraTracker) -> None:
    with pytest.raises(IntegrationError) as caught:
        tracker.file_followup(INCIDENT, "NOPE", "x", "bug", "In a project that does not exist", "")
    assert (caught.value.service, caught.value.call, caught.value.status) == ("Jira", "file_followup", 400)
    assert "valid project is required" in str(caught.value)


HOSTILE = '" OR project != "X'


def test_a_hostile_label_or_status_cannot_widen_a_search(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    tracker.file_followup("INC-A", "OPS", "fix-pool", "bug", "Theirs", "")
    assert tracker.find_followups("INC-B", label=HOSTILE) == []
    assert tracker.find_followups("INC-B", status=HOSTILE) == []
    assert tracker.find_followups(HOSTILE) == []
    searches = [r.query["jql"][0] for r in jira_sandbox.requests("GET", path="/rest/api/2/search/jql")]
    assert 'labels = "\\" OR project != \\"X"' in searches[-3]
    assert 'status = "\\" OR project != \\"X"' in searches[-2]


def test_a_hostile_intent_or_summary_files_one_issue_of_its_own(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    mine = tracker.file_followup("INC-A", "OPS", "fix-pool", "bug", "Mine", "")
    hostile = tracker.file_followup("INC-A", "OPS", HOSTILE, "bug", HOSTILE, HOSTILE)
    again = tracker.file_followup("INC-A", "OPS", HOSTILE, "bug", HOSTILE, HOSTILE)
    assert hostile == again
    assert hostile.tracker_key != mine.tracker_key
    assert hostile.intent == HOSTILE
    assert jira_sandbox.state.issue(hostile.tracker_key).summary == HOSTILE
    assert len(jira_sandbox.state.issues) == 2


# ------------------------------------------------------------------------------------------ faults


def test_429_with_retry_after_then_success(
    tracker: JiraTracker, jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    jira_sandbox.set_faults(Fault(status=429, retry_after="7", count=1, path_prefix=CREATE))
    followup = tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")
    assert fake_clock.sleeps == [7.0]  # the server's Retry-After, honoured on the fake clock
    assert issues_for(jira_sandbox, INCIDENT, "fix-pool") == [followup.tracker_key]
    assert [r.response_status for r in jira_sandbox.requests("POST", path=CREATE)] == [429, 201]


def test_429_forever_gives_up_within_the_deadline(jira_sandbox: JiraSandbox, fake_clock: FakeClock) -> None:
    policy = fake_clock_policy(fake_clock, max_attempts=100, deadline_s=20.0)
    tracker = JiraTracker(jira_sandbox.credentials(), retry=policy)
    jira_sandbox.set_faults(Fault(status=429, retry_after="3", path_prefix=CREATE))
    with pytest.raises(IntegrationError) as caught:
        tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")
    assert (caught.value.service, caught.value.status) == ("Jira", 429)
    assert "deadline" in str(caught.value)
    assert fake_clock.elapsed <= 20.0
    assert issues_for(jira_sandbox, INCIDENT, "fix-pool") == []

    jira_sandbox.set_faults()  # the storm passes; filing again files exactly one
    tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")
    tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")
    assert len(issues_for(jira_sandbox, INCIDENT, "fix-pool")) == 1


def test_503_then_success(tracker: JiraTracker, jira_sandbox: JiraSandbox, fake_clock: FakeClock) -> None:
    jira_sandbox.set_faults(Fault(status=503, count=2, path_prefix=CREATE))
    tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")
    assert len(fake_clock.sleeps) == 2 and all(
        0 < s <= 8.0 for s in fake_clock.sleeps
    )  # backoff, no real wait
    assert len(issues_for(jira_sandbox, INCIDENT, "fix-pool")) == 1


def test_503_on_search_then_success(
    tracker: JiraTracker, jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    jira_sandbox.set_faults(Fault(status=503, count=1, path_prefix="/rest/api/2/search/jql"))
    tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")
    assert len(fake_clock.sleeps) == 1
    assert len(issues_for(jira_sandbox, INCIDENT, "fix-pool")) == 1


def test_reset_connection_then_success(
    tracker: JiraTracker, jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    jira_sandbox.set_faults(Fault(drop_connection=True, count=1, path_prefix=CREATE))
    tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")
    assert len(fake_clock.sleeps) == 1
    assert len(issues_for(jira_sandbox, INCIDENT, "fix-pool")) == 1
    assert [r.response_status for r in jira_sandbox.requests("POST", path=CREATE)] == [None, 201]


def test_a_create_slower_than_the_timeout_is_found_not_filed_again(
    jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    # The client gives up after 0.5 s; the sandbox creates the issue anyway once its 1.2 s pass,
    # during the retry's wait (see lost_answer_tracker). The retry's search finds it.
    tracker = lost_answer_tracker(jira_sandbox, fake_clock)
    jira_sandbox.set_faults(Fault(latency_ms=1200, count=1, path_prefix=CREATE))

    followup = tracker.file_followup(INCIDENT, "OPS", "fix-pool", "bug", "Fix the pool", "")

    assert len(fake_clock.sleeps) == 1
    assert issues_for(jira_sandbox, INCIDENT, "fix-pool") == [followup.tracker_key]
    assert len(jira_sandbox.requests("POST", path=CREATE)) == 1  # found by the search, not created again


def slow_second_request(sandbox: JiraSandbox, path: str) -> None:
    """The first request to ``path`` goes through; the second is answered only after 1.2 s."""
    sandbox.set_faults(
        Fault(count=1, path_prefix=path),  # a fault that does nothing, to let the first one pass
        Fault(latency_ms=1200, count=1, path_prefix=path),
    )


def lost_answer_tracker(sandbox: JiraSandbox, clock: FakeClock) -> JiraTracker:
    """A tracker that gives up after 0.5 s, on the fake clock; each of its sleeps also waits for the
    sandbox to finish what it is handling, so the request whose answer was lost has landed before
    the retry (a wait on the server, not on time)."""

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        sandbox.recorder.wait_idle(timeout=10)

    policy = RetryPolicy(sleep=sleep, monotonic=clock.monotonic)
    return JiraTracker(sandbox.credentials(), retry=policy, timeout_s=0.5)


def opened_ticket(sandbox: JiraSandbox) -> str:
    """A ticket to work on, opened by a tracker with the usual timeout: only the call under test meets
    the short one (on a loaded machine the opening alone could take 0.5 s)."""
    patient = JiraTracker(sandbox.credentials())
    try:
        return patient.open_ticket(INCIDENT, "OPS", "Down", "").key
    finally:
        patient.close()


def test_a_comment_whose_answer_was_lost_is_not_posted_twice(
    jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    tracker = lost_answer_tracker(jira_sandbox, fake_clock)
    key = opened_ticket(jira_sandbox)
    tracker.comment(key, "Status: investigating.")
    path = f"/rest/api/2/issue/{key}/comment"
    slow_second_request(jira_sandbox, path)  # the read of the comments passes, the post is slow

    tracker.comment(key, "Status: investigating.")  # the same words again: a new status update

    assert len(fake_clock.sleeps) == 1
    assert [c.body for c in jira_sandbox.state.issue(key).comments] == ["Status: investigating."] * 2
    assert len(jira_sandbox.requests("POST", path=path)) == 2  # one per call, none repeated


def test_a_transition_whose_answer_was_lost_is_not_repeated(
    jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    tracker = lost_answer_tracker(jira_sandbox, fake_clock)
    key = opened_ticket(jira_sandbox)
    path = f"/rest/api/2/issue/{key}/transitions"
    slow_second_request(jira_sandbox, path)  # the list of transitions passes, the post is slow

    tracker.transition(key, "In Progress")

    assert len(fake_clock.sleeps) == 1
    assert jira_sandbox.state.issue(key).status == "In Progress"
    assert len(jira_sandbox.requests("POST", path=path)) == 1


def test_a_link_whose_answer_was_lost_is_not_added_twice(
    jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    tracker = lost_answer_tracker(jira_sandbox, fake_clock)
    key = opened_ticket(jira_sandbox)
    path = f"/rest/api/2/issue/{key}/remotelink"
    slow_second_request(jira_sandbox, path)

    tracker.link(key, "https://grafana.example.com/d/checkout", "Checkout dashboard")

    assert len(fake_clock.sleeps) == 1
    assert len(jira_sandbox.state.issue(key).remote_links) == 1


# ------------------------------------------------------------------------------------- attachments


def attachments_on(sandbox: JiraSandbox, key: str) -> list[tuple[str, bytes]]:
    return [(a.filename, a.content) for a in sandbox.state.issue(key).attachments]


def test_attach_once_attaches_each_name_once_and_the_bytes_read_back(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    v1 = "# Postmortem\n\nCaf\u00e9 \u2014 d\u00e9j\u00e0 vu.\n".encode()

    assert tracker.attach_once(key, "postmortem-v1.md", v1) is True
    assert tracker.attach_once(key, "postmortem-v1.md", v1) is False  # a rerun attaches nothing
    assert tracker.attach_once(key, "postmortem-v2.md", v1 + b"more\n") is True  # a new version, once

    assert attachments_on(jira_sandbox, key) == [("postmortem-v1.md", v1), ("postmortem-v2.md", v1 + b"more\n")]
    posts = jira_sandbox.requests("POST", path=f"/rest/api/2/issue/{key}/attachments")
    assert [r.response_status for r in posts] == [200, 200]
    # read back through the sandbox's API, as a person's browser would: the issue lists it, the
    # metadata names it, the content URL gives the very bytes
    with jira_sandbox.http() as http:
        [first, _] = http.get(f"/rest/api/2/issue/{key}", params={"fields": "attachment"}).json()["fields"][
            "attachment"]
        assert (first["filename"], first["size"], first["mimeType"]) == ("postmortem-v1.md", len(v1), "text/markdown")
        meta = http.get(f"/rest/api/2/attachment/{first['id']}").json()
        assert (meta["id"], meta["filename"]) == (int(first["id"]), "postmortem-v1.md")
        assert http.get(first["content"]).content == v1
        assert "attachment" not in http.get(f"/rest/api/2/issue/{key}", params={"fields": "summary"}).json()["fields"]


def test_an_attachment_whose_answer_was_lost_is_not_attached_twice(
    jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    tracker = lost_answer_tracker(jira_sandbox, fake_clock)
    key = opened_ticket(jira_sandbox)
    path = f"/rest/api/2/issue/{key}/attachments"
    jira_sandbox.set_faults(Fault(latency_ms=1200, count=1, path_prefix=path))  # stored after the client gave up

    assert tracker.attach_once(key, "postmortem-v1.md", b"draft\n") is True  # the retry finds it: its own

    assert len(fake_clock.sleeps) == 1
    assert attachments_on(jira_sandbox, key) == [("postmortem-v1.md", b"draft\n")]
    assert len(jira_sandbox.requests("POST", path=path)) == 1


def test_an_attachment_after_a_503_is_sent_again_in_full(
    tracker: JiraTracker, jira_sandbox: JiraSandbox, fake_clock: FakeClock
) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    path = f"/rest/api/2/issue/{key}/attachments"
    jira_sandbox.set_faults(Fault(status=503, count=1, path_prefix=path))

    assert tracker.attach_once(key, "postmortem-v1.md", b"the whole draft\n") is True

    assert len(fake_clock.sleeps) == 1
    assert attachments_on(jira_sandbox, key) == [("postmortem-v1.md", b"the whole draft\n")]


def test_the_sandbox_refuses_an_upload_without_the_xsrf_header(
    tracker: JiraTracker, jira_sandbox: JiraSandbox
) -> None:
    key = tracker.open_ticket(INCIDENT, "OPS", "Down", "").key
    files = {"file": ("x.md", b"hello\n", "text/markdown")}
    with jira_sandbox.http() as http:
        refused = http.post(f"/rest/api/2/issue/{key}/attachments", files=files)
        assert refused.status_code == 403
        assert refused.json() == {"errorMessages": ["XSRF check failed"], "errors": {}}
        assert jira_sandbox.state.issue(key).attachments == []
        taken = http.post(f"/rest/api/2/issue/{key}/attachments", files=files,
                          headers={"X-Atlassian-Token": "no-check"})
        assert taken.status_code == 200
        [one] = taken.json()
        assert {"self", "id", "filename", "author", "created", "size", "mimeType", "content"} <= set(one)
        assert (one["filename"], one["size"]) == ("x.md", 6)
        assert http.get(f"/rest/api/2/attachment/{int(one['id']) + 1}").status_code == 404
    recorded = jira_sandbox.requests("POST", path=f"/rest/api/2/issue/{key}/attachments")
    assert [r.response_status for r in recorded] == [403, 200]  # recorded, as every request


def test_find_followups_of_many_incidents_in_one_search(tracker: JiraTracker, jira_sandbox: JiraSandbox) -> None:
    first = tracker.file_followup("INC-1", "OPS", "postmortem", "postmortem", "Postmortem 1", "")
    fix = tracker.file_followup("INC-1", "OPS", "fix-pool", "bug", "Fix the pool", "")
    other = tracker.file_followup("INC-12", "SRE", "postmortem", "postmortem", "Postmortem 12", "")
    tracker.open_ticket("INC-1", "OPS", "Down", "")  # the ticket is not a follow-up
    tracker.transition(fix.tracker_key, "In Progress")
    jira_sandbox.recorder.clear()

    found = tracker.find_followups_of(["INC-1", "INC-12", "INC-99", "INC-1"])

    assert found == {
        "INC-1": [first, fix.model_copy(update={"status": "In Progress"})],
        "INC-12": [other],
        "INC-99": [],  # asked, none filed
    }
    assert found["INC-1"] == tracker.find_followups("INC-1")  # the same as asked one by one
    searches = [r for r in jira_sandbox.requests() if "search" in r.path]
    assert len(searches) == 2  # one for the three incidents, one for INC-1 alone
    assert "labels in" in str(searches[0].query) + str(searches[0].body)
