"""The retrospective report and the postmortem draft on a ledger built by the real flows: incidents
declared by an alert through the intake and by hand, across severities and services, with an
escalation (a question nobody answered in time), a handoff, an overdue status update, a reopen, a
watched alert never declared, an unroutable alert and a drill. Every answer goes through the Prefect
server's Resume endpoint and the dispatcher, at times set on an injected clock; each figure of the
report is checked against the value worked out by hand from those times."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.flow_runs import resume_flow_run
from prefect.input.actions import read_flow_run_input
from prefect.input.run_input import keyset_from_base_key

from tests.flows.test_pagerduty_events import webhook
from tests.helpers import CONFIGS, Clock, requests_seen
from warroom.flows.desks import OFFER, RESTORED, STOPPED
from warroom.flows.forms import KEYS, keyed
from warroom.flows.intake import receive_alert
from warroom.flows.lifecycle import incident_lifecycle
from warroom.flows.pagerduty_events import receive_pagerduty_event
from warroom.flows.report import ARTIFACT_KEY, postmortem_draft, postmortem_key, retrospective_report
from warroom.incident.models import Alert, Phase, Role
from warroom.incident.postmortem import PEOPLE_SECTIONS, SECTIONS, people_sections
from warroom.incident.report import Report
from warroom.intake import make_dispatcher
from warroom.integrations.alerts.parse import parse_pagerduty_event
from warroom.integrations.sandbox.server import Sandboxes
from warroom.runner import deployments
from warroom.tasks import desks
from warroom.tasks.ledger import load_state
from warroom.tasks.runtime import Runtime
from warroom.tasks.work import Dispatcher

MIN = timedelta(minutes=1)
OPS, COMMS, PLANNING = "dan", "heidi", "bob"


def desk_of(incident_id: str, role: str) -> desks.Desk:
    return next(d for d in desks.desks(incident_id) if d.desk == role)


def schema_of(d: desks.Desk) -> dict[str, Any]:
    return dict(read_flow_run_input(keyset_from_base_key(f"paused-{d.pause_key}")["schema"], d.run_id))


def choices(d: desks.Desk, name: str = "action") -> list[str]:
    schema = schema_of(d)
    prop = schema["properties"][KEYS.get(name, name)]
    ref = prop.get("$ref", "").rsplit("/", 1)[-1]
    return list(schema.get("$defs", {}).get(ref, prop).get("enum", []))


def ticks(d: desks.Desk) -> dict[str, bool]:
    return {name: True for name in schema_of(d)["properties"] if name.startswith("criterion_")}


@dataclass
class Driver:
    """Answers desks at the clock's times, as people would, and lets the dispatcher handle each answer."""

    runtime: Runtime
    clock: Clock
    dispatcher: Dispatcher

    def at(self, when: datetime) -> None:
        self.clock.now = when
        self.dispatcher.run_due()

    def answer(self, incident_id: str, role: str, values: dict[str, Any], when: datetime) -> None:
        self.clock.now = when
        resume_flow_run(desk_of(incident_id, role).run_id, run_input=keyed(values))
        assert self.dispatcher.poll() == 1
        assert self.dispatcher.run_due() >= 1

    def roles(self, incident_id: str, when: datetime) -> str:
        ic = load_state(incident_id).commander
        assert ic is not None
        self.answer(incident_id, "incident_commander", {
            "your_handle": ic, "incident_commander": ic, "operations_lead": OPS, "communications_lead": COMMS,
            "planning_lead": PLANNING}, when)
        return ic

    def mitigate(self, incident_id: str, when: datetime) -> None:
        d = desk_of(incident_id, "operations_lead")
        self.answer(incident_id, "operations_lead", {"action": choices(d)[0], "approved_by": OPS}, when)

    def stopped(self, incident_id: str, when: datetime) -> None:
        ic = load_state(incident_id).commander
        self.answer(incident_id, "incident_commander", {"action": STOPPED, "note": "errors back to normal",
                                                        "your_handle": ic}, when)

    def restored(self, incident_id: str, when: datetime) -> None:
        ic = load_state(incident_id).commander
        d = desk_of(incident_id, "incident_commander")
        self.answer(incident_id, "incident_commander", {"action": RESTORED, "note": "", "your_handle": ic,
                                                        **ticks(d)}, when)

    def revert_all(self, incident_id: str, when: datetime) -> None:
        d = desk_of(incident_id, "planning_lead")
        revert = next(c for c in choices(d) if c.startswith("revert "))
        self.answer(incident_id, "planning_lead", {"action": revert, "your_handle": PLANNING}, when)

    def close(self, incident_id: str, when: datetime) -> None:
        ic = load_state(incident_id).commander
        d = desk_of(incident_id, "incident_commander")
        close = next(c for c in choices(d) if c.startswith("close the incident"))
        self.answer(incident_id, "incident_commander", {"action": close, "note": "Mitigated, restored, reverted.",
                                                        "your_handle": ic, **ticks(d)}, when)
        assert load_state(incident_id).phase is Phase.CLOSED

    def to_close(self, incident_id: str, stopped: datetime, restored: datetime, reverted: datetime,
                 closed: datetime) -> None:
        """The rest of an incident after its mitigation: bleeding stopped, restored, reverted, closed."""
        self.stopped(incident_id, stopped)
        self.restored(incident_id, restored)
        self.revert_all(incident_id, reverted)
        self.close(incident_id, closed)


@dataclass
class Built:
    """What the test did, and when: the facts the expected figures are worked out from."""

    t0: datetime
    ics: dict[str, str]
    sfx: str
    alert: str = "INC-?"

    def id(self, name: str) -> str:
        return f"INC-RPT-{name}-{self.sfx}"


def alert(fingerprint: str, severity: str, service: str, starts_at: datetime, status: str = "firing",
          **labels: str) -> Alert:
    return Alert(source="alertmanager", fingerprint=fingerprint, status=status, service=service,
                 summary=f"{fingerprint} on {service}", labels={"severity": severity, **labels}, starts_at=starts_at)


def build(driver: Driver, sandboxes: Sandboxes, t0: datetime) -> Built:
    built = Built(t0, {}, secrets.token_hex(2))
    run = driver
    # B: search SEV2 by hand; nobody names the roles for 11 min (the 10-min timeout escalates); a handoff
    b = built.id("B")
    run.clock.now = t0
    incident_lifecycle(b, "Search is slow", "search", "SEV2", ["customers can see it"], "erin")
    run.at(t0 + 11 * MIN)  # the roles' question times out: extra responders paged
    built.ics[b] = run.roles(b, t0 + 12 * MIN)
    run.mitigate(b, t0 + 13 * MIN)
    incoming = next(h for h in ("grace", "carol", "alice", "erin") if h != built.ics[b])
    run.answer(b, "incident_commander", {"action": OFFER, "note": "mitigation applied", "offer_to": incoming,
                                         "your_handle": built.ics[b]}, t0 + 14 * MIN)
    run.answer(b, "incoming_commander", {"accept": True, "your_handle": incoming}, t0 + 15 * MIN)
    built.ics[b + ":2"] = incoming
    run.to_close(b, t0 + 16 * MIN, t0 + 20 * MIN, t0 + 22 * MIN, t0 + 24 * MIN)

    # C: payments-api SEV2 by hand at t0+30; the update due 30 min after the declaration is 5 min late
    c, tc = built.id("C"), t0 + 30 * MIN
    run.clock.now = tc
    incident_lifecycle(c, "Card payments fail", "payments-api", "SEV2", ["customers can see it"], "carol")
    built.ics[c] = run.roles(c, tc + 1 * MIN)
    run.mitigate(c, tc + 2 * MIN)
    run.at(tc + 31 * MIN)  # the status update is overdue since tc + 30 min
    run.answer(c, "communications_lead", {"message": "Payments recovering.", "your_handle": COMMS}, tc + 35 * MIN)
    run.to_close(c, tc + 36 * MIN, tc + 40 * MIN, tc + 42 * MIN, tc + 44 * MIN)

    # D: a drill on search, SEV3, at t0+80
    d, td = built.id("DRILL"), t0 + 80 * MIN
    run.clock.now = td
    incident_lifecycle(d, "Drill: search index lost", "search", "SEV3", ["practice"], "grace", drill=True)
    built.ics[d] = run.roles(d, td + 2 * MIN)
    run.mitigate(d, td + 3 * MIN)
    run.to_close(d, td + 7 * MIN, td + 10 * MIN, td + 11 * MIN, td + 13 * MIN)

    # A: checkout SEV1 from an Alertmanager alert that started at t0+100; paged at t0+102 (the
    # dispatcher's round), acknowledged at PagerDuty at t0+105; closed, then reopened by the alert again
    ta = t0 + 100 * MIN
    run.clock.now = ta + 2 * MIN
    first = alert(f"rpt-checkout-{built.sfx}", "critical", "checkout", ta, impact="customer")
    outcome = receive_alert(first, f"inbox-rpt-a-{built.sfx}")
    assert outcome.action == "declared" and outcome.incident_id
    a = built.alert = outcome.incident_id
    run.dispatcher.run_due()  # the page goes out at ta + 2 min
    incident_lifecycle(a, first.summary, "checkout", "SEV1", ["customers can see it"], "warroom")
    assert sandboxes.pagerduty_app is not None
    pd_id = sandboxes.pagerduty_app.state.pagerduty.incidents_for_key(a)[-1].id
    ack = webhook("incident.acknowledged", f"rpt-ack-{built.sfx}", ta + 5 * MIN, a, pd_id=pd_id)
    receive_pagerduty_event(parse_pagerduty_event(ack, "application/json"))
    built.ics[a] = run.roles(a, ta + 3 * MIN)
    run.mitigate(a, ta + 4 * MIN)
    run.to_close(a, ta + 6 * MIN, ta + 8 * MIN, ta + 10 * MIN, ta + 12 * MIN)
    # a watched alert (SEV3 by its label: the criteria watch) and an unroutable one (no such service)
    sfx = built.sfx
    watched = receive_alert(alert(f"rpt-watch-{sfx}", "warning", "search", ta + 13 * MIN), f"inbox-rpt-w-{sfx}")
    assert watched.action == "watching"
    unroutable = receive_alert(alert(f"rpt-nowhere-{sfx}", "critical", "nosuch", ta + 13 * MIN), f"inbox-rpt-u-{sfx}")
    assert unroutable.action == "unroutable"
    run.clock.now = ta + 20 * MIN  # the alert fires again 8 min after the close: reopened
    again = receive_alert(alert(f"rpt-checkout-{sfx}", "critical", "checkout", ta + 19 * MIN, impact="customer"),
                          f"inbox-rpt-a2-{sfx}")
    assert (again.action, again.incident_id) == ("reopened", a)
    return built


@pytest.fixture()
def built(make_runtime: Callable[..., Runtime], sandboxes: Sandboxes) -> tuple[Runtime, Clock, Built]:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    clock = Clock(t0)
    runtime = make_runtime(600, clock=clock)
    driver = Driver(runtime, clock, make_dispatcher(runtime))
    return runtime, clock, build(driver, sandboxes, t0)


def seconds(minutes: float) -> float:
    return minutes * 60.0


def test_every_figure_of_the_report_against_the_hand_worked_values(
    built: tuple[Runtime, Clock, Built], sandboxes: Sandboxes, tmp_path: Path
) -> None:
    runtime, clock, b = built
    t0, a = b.t0, b.alert
    end = t0 + 130 * MIN
    clock.now = end
    run = retrospective_report(t0 - 10 * MIN, end, post=True, postmortems=False)
    report: Report = run.report
    o = report.overall

    # counts: A, B, C declared (the drill apart); the watched alert never declared; A reopened
    B, C, D = b.id("B"), b.id("C"), b.id("DRILL")
    assert {a, B, C} <= set(report.incidents) and D not in report.incidents
    assert (o.declared, o.watched_never_declared, o.reopened) == (3, 1, 1)
    assert report.unroutable_alerts == 1
    assert o.alerts_per_incident.n == 1 and o.alerts_per_incident.median == 1.0  # only A came from an alert
    # durations: A's alert at ta, page at ta+2, ack at ta+5; declarations: B t0, C t0+30, A ta+2
    dur = o.durations
    assert (dur["alert_to_page"].n, dur["alert_to_page"].median) == (1, seconds(2))
    assert (dur["page_to_ack"].n, dur["page_to_ack"].median) == (1, seconds(3))
    # to bleeding stopped: B 16, C 36, A 4 (6 - 2) min
    stopped = dur["declared_to_stopped"]
    assert (stopped.n, stopped.median, stopped.minimum, stopped.maximum) == (3, seconds(16), seconds(4), seconds(36))
    assert stopped.p90 == pytest.approx(seconds(16 + 0.8 * (36 - 16)))  # linear between the closest ranks
    assert stopped.ci_low is not None and stopped.ci_high is not None
    assert seconds(4) <= stopped.ci_low <= seconds(16) <= stopped.ci_high <= seconds(36)
    restored = dur["declared_to_restored"]
    assert sorted(restored.values) == [seconds(6), seconds(20), seconds(40)]  # A 8-2, B 20, C 40
    closed = dur["declared_to_closed"]
    assert sorted(closed.values) == [seconds(24), seconds(44)]  # A reopened: not closed; B 24, C 44
    # per severity and per service
    assert {g.name: g.declared for g in report.by_severity} == {"SEV1": 1, "SEV2": 2}
    assert {g.name: g.declared for g in report.by_service} == {"checkout": 1, "payments-api": 1, "search": 1}
    sev2 = next(g for g in report.by_severity if g.name == "SEV2")
    assert sorted(sev2.durations["declared_to_stopped"].values) == [seconds(16), seconds(36)]
    # against the previous period (empty): too few samples, said plainly
    assert all(not c.meaningful and "too few samples" in c.verdict for c in report.comparisons)

    # the chapter's practices
    p = report.practices
    assert (p.updates_overdue, p.overdue_by.values) == (1, (seconds(5),))  # C: due tc+30, posted tc+35
    assert p.updates_posted >= 1 and p.updates_on_time == p.updates_posted - 1
    assert (p.checkpoints, p.checkpoints_on_cadence) == (3, 3)  # each 'bleeding stopped' within the cadence
    assert p.timed_out == 1  # B's roles, unanswered for 11 min
    assert (p.handoffs_offered, p.handoffs_accepted, p.handoffs_lapsed) == (1, 1, 0)

    # change it around: B's first IC held command 15 min (t0 to the accepted handoff), the next 9 min
    roles = {(r.person, r.role): r for r in report.roles}
    first_ic, second_ic = b.ics[B], b.ics[B + ":2"]
    ic_spells: dict[str, list[float]] = {}
    for person, minutes in ((first_ic, 15), (second_ic, 9), (b.ics[C], 44)):
        ic_spells.setdefault(person, []).append(seconds(minutes))
    # A: its IC held command from ta+2 to the close at ta+12, and again from the reopen at ta+20 to the end
    ic_spells.setdefault(b.ics[a], []).extend([seconds(10), (end - (t0 + 120 * MIN)).total_seconds()])
    for person, spells in ic_spells.items():
        assert roles[(person, "incident_commander")].times == len(spells)
        assert roles[(person, "incident_commander")].seconds == pytest.approx(sum(spells))
    # the operations lead: B t0+12 to t0+24, C tc+1 to tc+44, A ta+3 to ta+12 and ta+20 to the end
    assert roles[(OPS, "operations_lead")].times == 4
    assert roles[(OPS, "operations_lead")].seconds == seconds(12 + 43 + 9 + 10)
    eligible_ic = runtime.config.roster.eligible(Role.INCIDENT_COMMANDER)
    assert set(report.never_ic) == set(eligible_ic) - set(ic_spells)
    assert report.load[OPS] == 3 and report.load[COMMS] == 3

    # divergence debt: every mitigation was reverted
    assert report.divergence_debt == ()

    # follow-ups: the postmortem of B and C, status read from Jira by JQL; mark C's done in Jira
    counts = {f.incident_id: f for f in report.followups}
    assert (counts[B].filed, counts[B].open, counts[B].overdue) == (1, 1, 0)
    c_key = counts[C].lines[0].key
    runtime.tracker.transition(c_key, "In Progress")
    runtime.tracker.transition(c_key, "Done")
    again = retrospective_report(t0 - 10 * MIN, end, post=False, postmortems=False).report
    assert {f.incident_id: f.open for f in again.followups}[C] == 0
    assert again.practices == report.practices  # the same figures, the same intervals (seeded)
    assert again.overall == report.overall
    jql = [r for r in requests_seen(sandboxes, sandboxes.jira_url) if "search" in r["path"]
           and f"warroom-{C.lower()}" in json.dumps(r)]
    assert jql, "the follow-ups' status came from Jira's search"

    # drills apart: one held, its people and its phases (declared td, stabilising at the roles td+2,
    # restoring td+7, preserving evidence td+10, then reverting, closed td+13)
    dr = report.drills
    assert (dr.held, dr.incidents) == (1, (D,))
    assert {(r.person, r.role) for r in dr.roles} >= {(b.ics[D], "incident_commander"),
                                                        (OPS, "operations_lead")}
    assert dr.phase_durations["stabilising → restoring"].values == (seconds(5),)
    assert dr.phase_durations["restoring → preserving_evidence"].values == (seconds(3),)
    assert OPS not in dr.not_practised["operations_lead"]
    assert "alice" in dr.not_practised["operations_lead"]  # eligible, never practised in a drill

    # the files and artifacts: HTML under $WARROOM_HOME/reports, Markdown on the run, the Jira comment
    html = Path(run.html)
    assert html.parent == runtime.home / "reports" and html.is_file()
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        keys = {x.key for x in client.read_latest_artifacts(limit=200)}
    assert ARTIFACT_KEY in keys
    assert run.posted_on is not None
    comments = [r for r in requests_seen(sandboxes, sandboxes.jira_url) if r["method"] == "POST"
                and r["path"].endswith(f"/issue/{run.posted_on}/comment")]
    assert len(comments) == 1 and "declared 3" in json.dumps(comments[0]["body"])
    assert runtime.config.policy.reports.jira_project and run.posted_on.startswith(
        runtime.config.policy.reports.jira_project)

    # the postmortem drafts (one build of the ledger serves both: it takes two minutes)
    postmortem_checks(runtime, clock, b, sandboxes)


def postmortem_checks(runtime: Runtime, clock: Clock, b: Built, sandboxes: Sandboxes) -> None:
    """The draft (made when the incident closed) has every template section, keeps what people wrote,
    and is attached in Jira (the ticket and the postmortem follow-up) once per version."""
    incident_id = b.id("B")
    from warroom.incident.errors import WarroomError
    with pytest.raises(WarroomError, match="is not closed"):
        postmortem_draft(b.alert)  # reopened: no postmortem while it is open
    first = postmortem_draft(incident_id)
    for section in SECTIONS:
        assert section in first.text, section
    assert set(people_sections(first.text)) == set(PEOPLE_SECTIONS)
    assert "Draft" in first.text and b.ics[incident_id + ":2"] in first.text  # the handoff, in the response
    assert "escalated: waited 11 min" in first.text
    state = load_state(incident_id)
    for evidence in state.evidence:
        assert evidence.sha256 in first.text
    assert state.ticket is not None
    issues = {state.ticket[0], state.followups["postmortem"].tracker_key}
    assert set(first.issues) == issues
    assert first.attached_to == ()  # closing drafted it and attached it on each: asked again, nothing new
    jira = sandboxes.jira_app.state.jira  # type: ignore[union-attr]

    def attached() -> dict[str, list[tuple[str, bytes]]]:
        """Each issue's postmortem attachments as the Jira sandbox holds them (name, bytes)."""
        return {key: [(a.filename, a.content) for a in jira.issue(key).attachments
                      if a.filename.startswith(f"postmortem-{incident_id}-")] for key in issues}

    def notes() -> int:
        return sum(1 for key in issues for c in jira.issue(key).comments
                   if f"the postmortem draft of {incident_id}" in c.body)

    v1 = (f"postmortem-{incident_id}-{first.sha256[:12]}.md", first.path.read_bytes())
    assert first.filename == v1[0] and v1[1].decode("utf-8") == first.text
    assert attached() == {key: [v1] for key in issues}  # the very bytes of the file, once on each
    assert notes() == 2 and all(v1[0] in c.body for key in issues for c in jira.issue(key).comments
                                if "postmortem draft" in c.body)
    uploads = [r for r in requests_seen(sandboxes, sandboxes.jira_url) if r["method"] == "POST"
               and r["path"].endswith("/attachments") and r["path"].split("/")[-2] in issues]
    assert len(uploads) == 2
    # the bytes read back through Jira's API (the attachment's content URL) equal the file
    from warroom.integrations.jira.credentials import JiraCredentials
    client = JiraCredentials.from_env(sandboxes.env()).get_client(timeout_s=10.0, max_retries=0)
    try:
        [meta] = [a for a in client.issue(state.ticket[0], fields="attachment").fields.attachment
                  if a.filename == v1[0]]
        assert meta.get() == first.path.read_bytes()
    finally:
        client.close()

    clock.now += timedelta(hours=1)
    assert postmortem_draft(incident_id).attached_to == ()  # asked again, nothing new: nothing attached
    assert attached() == {key: [v1] for key in issues} and notes() == 2
    # people write their part in the file; a redraft keeps it
    edited = first.path.read_text().replace(
        "_(to be written by the people who were there)_ why it happened.", "A stale search index alias.")
    first.path.write_text(edited)
    again = postmortem_draft(incident_id)
    assert "A stale search index alias." in again.text
    assert people_sections(again.text)["root-causes"] == "A stale search index alias."
    v2 = (f"postmortem-{incident_id}-{again.sha256[:12]}.md", again.path.read_bytes())
    assert v2[0] != v1[0] and set(again.attached_to) == issues
    assert attached() == {key: [v1, v2] for key in issues}  # a new version: once more on each
    assert notes() == 4
    assert postmortem_draft(incident_id).attached_to == ()  # and that version is not attached twice
    assert attached() == {key: [v1, v2] for key in issues}
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        shown = [x for x in client.read_latest_artifacts(limit=200) if x.key == postmortem_key(incident_id)]
    assert shown and "A stale search index alias." in str(shown[0].data)  # the artifact shows the latest draft


def test_the_report_is_scheduled_in_prefect_yaml_and_in_what_warroom_up_serves() -> None:
    from warroom.config import load_config

    reports = load_config(CONFIGS).policy.reports
    spec = yaml.safe_load((CONFIGS.parent / "prefect.yaml").read_text())
    [deployment] = [d for d in spec["deployments"] if d["name"] == "report"]
    [schedule] = deployment["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == (reports.schedule, reports.time_zone) == ("0 9 * * 1", "UTC")
    assert deployment["entrypoint"] == "warroom/deployments.py:report"
    served = {d.name: d for d in deployments(reports=reports)}
    assert set(served) >= {"lifecycle", "report", "postmortem"}
    [served_schedule] = served["report"].schedules
    assert served_schedule.schedule.cron == "0 9 * * 1"  # type: ignore[union-attr]
    assert served_schedule.schedule.timezone == "UTC"  # type: ignore[union-attr]
    other = reports.model_copy(update={"schedule": "30 7 * * 5", "time_zone": "Europe/Paris"})
    [moved] = {d.name: d for d in deployments(reports=other)}["report"].schedules
    assert (moved.schedule.cron, moved.schedule.timezone) == ("30 7 * * 5", "Europe/Paris")  # type: ignore[union-attr]


def test_divergences_and_followups_left_open_by_earlier_incidents_stay_in_the_report(
    make_runtime: Callable[..., Runtime], sandboxes: Sandboxes
) -> None:
    """An incident opened long before the previous period (and the practice window) still owes a
    divergence and a follow-up: the report lists both, with their age, marked as earlier; an earlier
    incident that reverted its divergence and whose follow-up is done in Jira owes nothing; a drill's
    open divergence is a drill's."""
    from warroom.incident import events as ev
    from warroom.incident.report_text import render_markdown, report_data

    end = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(end)
    runtime = make_runtime(600, clock=clock)
    sfx = secrets.token_hex(2)
    start = end - timedelta(days=7)
    window = timedelta(days=runtime.config.policy.rotation_window_days)
    assert end - window < start - timedelta(days=7)  # the full read reaches back to the practice window

    def incident(name: str, opened: datetime, service: str, *, reverted: bool = False, drill: bool = False,
                 followup: bool = True) -> tuple[str, datetime, str | None]:
        iid = f"INC-OLD-{name}-{sfx}"

        def env(n: int, at: datetime) -> dict[str, Any]:
            return {"incident_id": iid, "actor": "carol", "occurred_at": at, "idempotency_key": f"{iid}:{n}"}

        applied = opened + 10 * MIN
        batch: list[ev.Event] = [
            ev.Declared(**env(1, opened), title=f"{name} broke", service=service, severity="SEV2",
                        commander="carol", reasons=("customers can see it",), drill=drill),
            ev.MitigationApplied(**env(2, applied), divergence_id="d1", what=f"{name}: feature flag off",
                                 revert="flag on", approved_by="dan"),
        ]
        if reverted:
            batch.append(ev.DivergenceReverted(**env(3, opened + 90 * MIN), divergence_id="d1"))
        batch.append(ev.Closed(**env(4, opened + 2 * 60 * MIN), summary="fixed"))
        key = None
        if followup:  # filed in Jira, as the lifecycle files it, and recorded in the ledger
            filed = runtime.tracker.file_followup(iid, "PAY", "postmortem", "postmortem", f"Postmortem {iid}", "")
            batch.append(ev.FollowUpFiled(**env(5, opened + 2 * 60 * MIN), followup=filed))
            key = filed.tracker_key
        runtime.ledger.write_many(batch, expected_seq=0)
        return iid, applied, key

    old, old_applied, old_key = incident("OPEN", end - timedelta(days=200), "checkout")
    done, _, done_key = incident("DONE", end - timedelta(days=150), "checkout", reverted=True)
    drill, _, _ = incident("DRILL", end - timedelta(days=180), "checkout", drill=True, followup=False)
    prev, prev_applied, _ = incident("PREV", start - timedelta(days=3), "search", followup=False)
    assert done_key is not None
    runtime.tracker.transition(done_key, "In Progress")
    runtime.tracker.transition(done_key, "Done")
    # the ledger holds each follow-up as filed ("To Do"); Jira says what it is now

    report = retrospective_report(start, end, post=False, postmortems=False).report

    # divergence debt: the 200-day-old incident's and the previous period's, ages worked out by hand
    debt = {(x.divergence.incident_id, x.divergence.divergence_id): x for x in report.divergence_debt}
    assert set(debt) == {(old, "d1"), (prev, "d1")}  # not the reverted one, not the drill's
    assert debt[(old, "d1")].age == (end - old_applied).total_seconds() == timedelta(days=200).total_seconds() - 600
    assert debt[(prev, "d1")].age == (end - prev_applied).total_seconds() == timedelta(days=10).total_seconds() - 600
    assert debt[(old, "d1")].earlier and debt[(old, "d1")].opened_at == end - timedelta(days=200)
    owed = debt[(old, "d1")].divergence
    assert (owed.status, owed.what) == ("open", "OPEN: feature flag off")
    assert [x.divergence.incident_id for x in report.divergence_debt] == [old, prev]  # oldest first
    # follow-ups: the old incident's is open in Jira and overdue (closed 200 days ago, due in 30); the
    # other old one's is done in Jira: listed no more
    follow = {f.incident_id: f for f in report.followups}
    assert old in follow and done not in follow and drill not in follow
    assert (follow[old].filed, follow[old].open, follow[old].overdue, follow[old].earlier) == (1, 1, 1, True)
    assert [(x.key, x.status) for x in follow[old].lines] == [(old_key, "To Do")]
    searches = [r for r in requests_seen(sandboxes, sandboxes.jira_url) if "search" in r["path"]
                and f"warroom-{old.lower()}" in json.dumps(r) and f"warroom-{done.lower()}" in json.dumps(r)]
    assert searches, "the earlier incidents' follow-ups were asked of Jira in one search"
    # the outputs say which items come from incidents before the period
    markdown = render_markdown(report)
    row = next(line for line in markdown.splitlines() if line.startswith(f"| {old} |") and "feature flag" in line)
    assert f"{end - timedelta(days=200):%Y-%m-%d} (**before this period**)" in row and "| 200.0 d |" in row
    data = report_data(report)
    assert any(x["earlier"] and x["divergence"]["incident_id"] == old for x in data["divergence_debt"])
    # a report on another service leaves them out
    other = retrospective_report(start, end, service="payments-api", post=False, postmortems=False).report
    assert other.divergence_debt == () and other.followups == ()
