"""The sandboxes keep their data across a restart when asked to (``Sandboxes(persist=True)``), as the
real PagerDuty and Jira do: warroom's own adapters, on the real ``pagerduty`` and ``jira`` clients,
find after a restart what they made before it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from warroom.integrations.jira.credentials import JiraCredentials
from warroom.integrations.jira.tracker import JiraTracker
from warroom.integrations.pagerduty.credentials import PagerDutyCredentials
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.integrations.sandbox.server import Sandboxes

KEY = "inc-2026-0007"
JIRA_OPTIONS = {"projects": ["PAY", "OPS"]}


@contextmanager
def adapters(boxes: Sandboxes) -> Iterator[tuple[PagerDutyPager, JiraTracker]]:
    env = boxes.env()
    pager = PagerDutyPager(PagerDutyCredentials.from_env(env))
    tracker = JiraTracker(JiraCredentials.from_env(env))
    try:
        yield pager, tracker
    finally:
        pager.close()
        tracker.close()


def boxes_on(home: Path, *, persist: bool = True) -> Sandboxes:
    return Sandboxes(home, persist=persist, jira_options=JIRA_OPTIONS)


def page(pager: PagerDutyPager, summary: str = "payments 5xx above 5%") -> None:
    assert pager.page(KEY, summary, "critical", "payments-api", {"runbook": "rb-7"}).dedup_key == KEY


def test_what_was_made_before_a_restart_is_there_after_it(tmp_path: Path) -> None:
    with boxes_on(tmp_path) as boxes, adapters(boxes) as (pager, tracker):
        page(pager)
        pager.add_note(KEY, "looking at the pool")
        ticket = tracker.open_ticket("INC-7", "PAY", "Payments are down", "Customers see 502s.")
        tracker.comment(ticket.key, "Rolled back the deploy.")
        assert tracker.attach_once(ticket.key, "postmortem-INC-7.md", b"# Postmortem \xe2\x80\x94 draft\n")
        tracker.transition(ticket.key, "In Progress")
        before = boxes.pagerduty_app.state.pagerduty.incidents_for_key(KEY)[0]
    assert ticket.key == "PAY-1"
    assert (tmp_path / "sandbox" / "pagerduty.json").is_file()
    assert (tmp_path / "sandbox" / "jira.json").is_file()

    with boxes_on(tmp_path) as boxes, adapters(boxes) as (pager, tracker):
        pd = boxes.pagerduty_app.state.pagerduty
        (incident,) = pd.incidents_for_key(KEY)
        assert (incident.id, incident.number, incident.status) == (before.id, 1, "triggered")
        assert [n["content"] for n in incident.notes] == ["looking at the pool"]
        assert [e.type for e in pager.log_entries(KEY)] == [e.type for e in before.log]

        page(pager, "payments 5xx above 5% (again)")  # the open incident is joined, not a second one
        (joined,) = pd.incidents_for_key(KEY)
        assert joined.alerts == 2

        pager.acknowledge(KEY)  # the REST and Events APIs both still know it
        assert joined.status == "acknowledged"

        jira = boxes.jira_app.state.jira
        issue = jira.issue("PAY-1")
        assert issue.status == "In Progress"
        assert [c.body for c in issue.comments] == ["Rolled back the deploy."]
        assert [(a.filename, a.content) for a in issue.attachments] == [
            ("postmortem-INC-7.md", b"# Postmortem \xe2\x80\x94 draft\n")]
        assert not tracker.attach_once("PAY-1", "postmortem-INC-7.md", b"again")  # still there: not again
        tracker.transition("PAY-1", "Done")  # no 404 "Issue does not exist"
        assert jira.issue("PAY-1").status == "Done"
        assert tracker.open_ticket("INC-7", "PAY", "Payments are down", "").key == "PAY-1"  # found again
        assert tracker.open_ticket("INC-8", "PAY", "Refunds are slow", "").key == "PAY-2"  # not PAY-1
        assert tracker.open_ticket("INC-9", "OPS", "Disk full", "").key == "OPS-1"
        comment_ids = [c.id for i in jira.issues.values() for c in i.comments]
        tracker.comment("PAY-2", "second")
        assert jira.issue("PAY-2").comments[0].id not in comment_ids

    with boxes_on(tmp_path) as boxes:  # and again: each change was saved as it was made
        assert boxes.pagerduty_app.state.pagerduty.incidents_for_key(KEY)[0].status == "acknowledged"
        jira = boxes.jira_app.state.jira
        assert sorted(jira.issues) == ["OPS-1", "PAY-1", "PAY-2"]
        assert jira.issue("PAY-1").status == "Done"


def test_a_change_is_on_disk_once_it_is_answered(tmp_path: Path) -> None:
    """No stop needed (a kill -9 loses nothing answered): the file is written before the answer."""
    with boxes_on(tmp_path) as boxes, adapters(boxes) as (pager, tracker):
        page(pager)
        key = tracker.open_ticket("INC-7", "PAY", "Payments are down", "").key
        saved_pd = json.loads((tmp_path / "sandbox" / "pagerduty.json").read_text())
        saved_jira = json.loads((tmp_path / "sandbox" / "jira.json").read_text())
        assert [i["incident_key"] for i in saved_pd["incidents"]] == [KEY]
        assert [i["key"] for i in saved_jira["issues"]] == [key]
        assert saved_jira["next"]["number"]["PAY"] == 2
        # the run's test tooling is not part of it, nor are the secrets
        text = json.dumps([saved_pd, saved_jira])
        assert "recorder" not in text and "faults" not in text
        assert boxes.pagerduty_setup.api_token not in text and boxes.pagerduty_setup.routing_key not in text
        # no temporary file left behind
        assert sorted(p.name for p in (tmp_path / "sandbox").iterdir()) == ["jira.json", "pagerduty.json"]


@pytest.mark.parametrize("name", ["pagerduty.json", "jira.json"])
@pytest.mark.parametrize("content", [b"{\"version\": 1, \"issu", b"[1, 2]", b"\xff\xfe", b'{"version": 99}'])
def test_an_unreadable_file_is_set_aside_and_the_sandbox_starts_empty(
    tmp_path: Path, name: str, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with boxes_on(tmp_path) as boxes, adapters(boxes) as (pager, tracker):
        page(pager)
        tracker.open_ticket("INC-7", "PAY", "Payments are down", "")
    path = tmp_path / "sandbox" / name
    path.write_bytes(content)

    with caplog.at_level(logging.WARNING, logger="warroom.sandbox"), boxes_on(tmp_path) as boxes:
        pd = boxes.pagerduty_app.state.pagerduty
        jira = boxes.jira_app.state.jira
        if name == "pagerduty.json":
            assert pd.incidents == {}
            assert list(jira.issues) == ["PAY-1"]
        else:
            assert jira.issues == {}
            assert len(pd.incidents_for_key(KEY)) == 1
        with adapters(boxes) as (pager, tracker):  # and it works, saving over the bad file's place
            page(pager)
            assert tracker.open_ticket("INC-8", "PAY", "Refunds are slow", "").key in ("PAY-1", "PAY-2")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "starting empty" in warnings[0] and "\n" not in warnings[0]
    assert (tmp_path / "sandbox" / f"{name}.corrupt").read_bytes() == content
    assert json.loads(path.read_text())["version"] == 1


def test_without_persist_the_sandboxes_start_empty_and_write_nothing(tmp_path: Path) -> None:
    with boxes_on(tmp_path, persist=False) as boxes, adapters(boxes) as (pager, tracker):
        page(pager)
        assert tracker.open_ticket("INC-7", "PAY", "Payments are down", "").key == "PAY-1"
    assert not (tmp_path / "sandbox").exists()
    with boxes_on(tmp_path, persist=False) as boxes, adapters(boxes) as (pager, tracker):
        assert boxes.pagerduty_app.state.pagerduty.incidents == {}
        assert boxes.jira_app.state.jira.issues == {}
        assert tracker.open_ticket("INC-8", "PAY", "Refunds are slow", "").key == "PAY-1"


def test_a_persisted_home_is_not_read_without_persist(tmp_path: Path) -> None:
    with boxes_on(tmp_path) as boxes, adapters(boxes) as (pager, _):
        page(pager)
    with boxes_on(tmp_path, persist=False) as boxes:
        assert boxes.pagerduty_app.state.pagerduty.incidents == {}
    assert (tmp_path / "sandbox" / "pagerduty.json").is_file()
