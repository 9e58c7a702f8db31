"""Drills on the real flows: a scenario's alerts (or a past incident's, replayed) through the intake's
path, the dispatcher, the lifecycle and the desks, answered by the scripted responder, to close; against
the PagerDuty and Jira sandboxes (their recorded requests, filtered by the incident)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from tests.helpers import CONFIGS, requests_seen, wait_for
from warroom.flows.declare import drill_picks, oncall_handle
from warroom.flows.drill import comparison_lines, plan_drill, send_drill
from warroom.flows.intake import receive_alerts
from warroom.flows.lifecycle import incident_lifecycle
from warroom.incident import events as ev
from warroom.incident.drills import DRILL_LABEL
from warroom.incident.models import Alert, Phase, Role
from warroom.incident.policy import DrillPolicy
from warroom.intake import make_dispatcher
from warroom.integrations.sandbox.server import Sandboxes
from warroom.responder import Responder
from warroom.runner import deployments
from warroom.tasks.document import comparison_key
from warroom.tasks.ledger import load_state
from warroom.tasks.runtime import Runtime

REPO = CONFIGS.parent


@dataclass
class Ticking:
    """An injected clock that runs at the real pace from ``base``, and jumps when a test moves ``base``
    (the original incident's alerts minutes apart, with nothing slept)."""

    base: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)

    def __call__(self) -> datetime:
        return self.base + timedelta(seconds=time.monotonic() - self.started)


def run_to_close(runtime: Runtime, incident_id: str) -> Responder:
    """What `warroom up`'s runner does with the lifecycle run the intake's decision started: run it (here,
    in this process, with the parameters the decision stored), the responder answering every desk."""
    work = runtime.ledger.work_by_key(f"{incident_id}:lifecycle")
    assert work is not None, f"the declaration of {incident_id} started no lifecycle run"
    with Responder(say=lambda _: None, only=frozenset({incident_id})) as responder:
        incident_lifecycle(**work.params["parameters"])
        wait_for(f"{incident_id} closes", lambda: load_state(incident_id).phase is Phase.CLOSED
                 and "postmortem" in load_state(incident_id).followups, within_s=120)
    assert responder.errors == [] and responder.refused == []
    return responder


def enqueued(sandboxes: Sandboxes, incident_id: str) -> list[dict[str, Any]]:
    return [r["body"] for r in requests_seen(sandboxes, sandboxes.pagerduty_url)
            if r["path"] == "/v2/enqueue" and isinstance(r["body"], dict) and r["body"].get("dedup_key") == incident_id]


def issues_filed(sandboxes: Sandboxes, incident_id: str) -> list[dict[str, Any]]:
    return [r["body"]["fields"] for r in requests_seen(sandboxes, sandboxes.jira_url)
            if r["method"] == "POST" and r["path"] == "/rest/api/2/issue"
            and f"warroom-{incident_id.lower()}" in r["body"]["fields"]["labels"]]


def test_a_drill_from_a_scenario_runs_to_close_on_the_drill_key_and_drill_labelled_issues(
    runtime: Runtime, sandboxes: Sandboxes
) -> None:
    plan = plan_drill(runtime.config, runtime.ledger.stream, runtime.clock(), "checkout-release-errors", roles="auto")
    slept: list[float] = []
    dispatcher = make_dispatcher(runtime).start()
    try:
        outcomes = send_drill(plan, sleep=slept.append, drive=dispatcher.drive)
        assert [o.action for o in outcomes] == ["declared", "joined", "resolved"]
        assert {o.incident_id for o in outcomes} == {plan.incident_id}
        assert slept == [60.0, 300.0]  # the scenario's delays, through the injected sleep
        responder = run_to_close(runtime, plan.incident_id)
    finally:
        dispatcher.stop()
    iid = plan.incident_id
    state = load_state(iid)
    assert state.drill and state.phase is Phase.CLOSED
    # the alerts came in through the intake's path: stored in the inbox, routed, attached in order
    inbox = [row for row in runtime.ledger.inbox_rows() if row.incident_id == iid]
    assert [row.source for row in inbox] == ["drill"] * 3 and all(row.status == "accepted" for row in inbox)
    records = runtime.ledger.stream(iid)
    attached = [r.event.alert.summary for r in records if isinstance(r.event, ev.AlertAttached)]
    assert attached == [a.summary for a in runtime.config.drills["checkout-release-errors"].alerts[:2]]

    # roles by rotation (auto): no roles form; each lead's assignment says why; the IC is not the on-call
    assert "RolesForm" not in [form.name for form, _ in responder.answered]
    assigned = [r.event for r in records if isinstance(r.event, ev.RoleAssigned)]
    assert len(assigned) == 3 and all((e.reason or "").startswith("drill rotation: ") for e in assigned)
    holders = [state.holder(role) for role in Role]
    assert len(set(holders)) == 4  # four people practise four roles
    assert oncall_handle("checkout") not in holders

    # PagerDuty: only the drill routing key, never the production one; the summary says [DRILL]
    setup = sandboxes.pagerduty_setup
    events = enqueued(sandboxes, iid)
    assert {e["event_action"] for e in events} >= {"trigger", "resolve"}
    trigger = next(e for e in events if e["event_action"] == "trigger")
    assert trigger["payload"]["summary"].startswith("[DRILL] [SEV1] ")
    # (the recorder redacts routing keys: the sandbox's services tell them apart)
    pd = sandboxes.pagerduty_app.state.pagerduty
    drill_service, production_service = pd.routing_keys[setup.drill_routing_key], pd.routing_keys[setup.routing_key]
    assert drill_service != production_service
    paged = pd.incidents_for_key(iid)
    assert [(i.service_id, i.status) for i in paged] == [(drill_service, "resolved")]
    assert paged[0].title.startswith("[DRILL] ")

    # Jira: every issue filed for the drill carries the drill label and says [DRILL]; they are the ticket
    # and the follow-ups the ledger knows
    filed = issues_filed(sandboxes, iid)
    assert len(filed) == 1 + len(state.followups) >= 2
    assert all("drill" in f["labels"] and f["summary"].startswith("[DRILL] ") for f in filed)
    ticket = next(f for f in filed if "warroom-incident" in f["labels"])
    # the description is the document in Jira's wiki markup, where a bracket is escaped
    assert "This is a drill" in ticket["description"] and "h1. \\[DRILL\\] Incident" in ticket["description"]
    assert {f["project"]["key"] for f in filed} == {runtime.config.services.services["checkout"].jira_project}
    # the drill stays apart in the ledger
    assert [row.incident_id for row in runtime.ledger.list_incidents(include_drills=False)] == []
    assert [row.drill for row in runtime.ledger.list_incidents()] == [True]


def test_a_replay_sends_the_original_alerts_in_order_compressed_and_compares_both_timelines(
    make_runtime: Callable[..., Runtime], sandboxes: Sandboxes
) -> None:
    clock = Ticking()
    runtime = make_runtime(30, clock=clock)
    tag = uuid.uuid4().hex[:8]

    def alert(name: str, summary: str, status: str = "firing") -> Alert:
        return Alert(source="alertmanager", fingerprint=f"{tag}-{name}", status=status, service="search",
                     summary=summary, labels={"severity": "page", "impact": "customer"})

    original_alerts = [(timedelta(0), alert("timeouts", "Search times out for 12% of queries")),
                       (timedelta(minutes=10), alert("alias", "Search alias points at an empty snapshot")),
                       (timedelta(minutes=40), alert("timeouts", "Search times out", "resolved"))]
    dispatcher = make_dispatcher(runtime).start()
    try:
        # the original, built by the real flows: its alerts through the intake's path, minutes apart
        start = clock.base
        original = None
        for at, item in original_alerts:
            clock.base = start + at
            outcome = receive_alerts([item], f"original-{tag}-{at.seconds}", group_key=f"search-{tag}",
                                     drive=dispatcher.drive)[0]
            original = original or outcome.incident_id
            if at == timedelta(0):
                assert outcome.action == "declared"
                run_to_close_later = outcome.incident_id
        assert original is not None and original == run_to_close_later
        run_to_close(runtime, original)

        # the replay, at 20x: the same alerts, in the same order, 10 min -> 30 s, 30 min more -> 90 s
        plan = plan_drill(runtime.config, runtime.ledger.stream, clock(), replay=original, speed=20, roles="ask")
        slept: list[float] = []
        send_drill(plan, sleep=slept.append, drive=dispatcher.drive)
        assert slept == pytest.approx([30.0, 90.0], abs=0.5)  # (the clock ticks while the test runs)
        responder = run_to_close(runtime, plan.incident_id)
    finally:
        dispatcher.stop()

    def alerts_of(iid: str) -> list[tuple[str, str]]:
        out = []
        for rec in runtime.ledger.stream(iid):
            if isinstance(rec.event, ev.AlertAttached):
                out.append((rec.event.alert.summary, "firing"))
            elif isinstance(rec.event, ev.AlertResolved):
                out.append((rec.event.fingerprint.rsplit("-", 1)[-1], "resolved"))
        return out

    assert alerts_of(plan.incident_id) == alerts_of(original)
    assert load_state(plan.incident_id).drill and not load_state(original).drill
    drill_alert = next(r.event.alert for r in runtime.ledger.stream(plan.incident_id)
                       if isinstance(r.event, ev.AlertAttached))
    assert drill_alert.labels[DRILL_LABEL] == plan.drill_id
    # roles: ask -> the IC's roles form, with the drill rotation's suggestions prefilled
    roles_form = next(form for form, _ in responder.answered if form.name == "RolesForm")
    assert "Suggestions by the drill rotation" in roles_form.description

    # the comparison: the time of each phase in both, and both timelines
    lines = comparison_lines(runtime.ledger.stream, plan.incident_id)
    assert lines[0].split() == ["phase", original, plan.incident_id]
    assert [line.split()[0] for line in lines[1:6]] == ["declared", "stabilising", "restoring", "preserving",
                                                        "reverting"]
    assert f"{original}: what was done (time since declared)" in lines
    assert f"{plan.incident_id}: what was done (time since declared)" in lines
    closes = [line for line in lines if " closed: " in line]
    assert len(closes) == 2
    # and as the drill closed, the same comparison became an artifact
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        found = [a for a in client.read_latest_artifacts(limit=100) if a.key == comparison_key(plan.incident_id)]
    assert found and "\n".join(lines) in str(found[0].data)


def test_the_drill_deployment_is_scheduled_from_policy_in_prefect_yaml_and_in_what_up_serves() -> None:
    declared = {d["name"]: d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]}
    assert declared["drill"]["entrypoint"] == "warroom/deployments.py:drill"
    policy = yaml.safe_load((CONFIGS / "policy.yaml").read_text())["drills"]
    assert declared["drill"]["schedules"] == [{"cron": policy["schedule"], "timezone": policy["timezone"]}]
    assert policy["schedule"] == DrillPolicy().schedule  # monthly, the default

    served = {d.name: d for d in deployments(drills=DrillPolicy(schedule="30 9 * * 1", timezone="Europe/Paris"))}
    assert set(served) == {"lifecycle", "drill", "report", "postmortem"} == {name for name in declared}
    schedule = served["drill"].schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("30 9 * * 1", "Europe/Paris")
    assert served["drill"].entrypoint is not None and served["drill"].entrypoint.endswith("deployments.py:drill")
    scheduled = {d.name: bool(d.schedules) for d in deployments()}
    assert scheduled == {"lifecycle": False, "drill": True, "report": True, "postmortem": False}


def test_roles_auto_picks_by_the_rotation_rule_from_the_ledgers_history(runtime: Runtime) -> None:
    """The sample roster, three past incidents in the ledger (one a drill, one outside the 90-day window)
    and erin on call: each role goes to whoever held it least, not erin, one role each, ties by handle."""
    now = runtime.clock()

    def past(iid: str, days_ago: int, ic: str, leads: dict[Role, str], drill: bool = False) -> None:
        at = now - timedelta(days=days_ago)
        envelope = {"incident_id": iid, "occurred_at": at}
        events: list[ev.Event] = [ev.Declared(**envelope, actor="alertmanager", idempotency_key=f"{iid}:declared",
                                              title="t", service="checkout", severity="SEV2", commander=ic,
                                              reasons=("r",), drill=drill)]
        events += [ev.RoleAssigned(**envelope, actor=ic, idempotency_key=f"{iid}:role:{role.value}", role=role,
                                   person=person) for role, person in leads.items()]
        runtime.ledger.write_many(events, 0)

    past("INC-OLD", 200, "grace", {Role.OPERATIONS_LEAD: "heidi"})  # outside the window: does not count
    past("INC-REAL", 10, "alice", {Role.OPERATIONS_LEAD: "bob", Role.COMMUNICATIONS_LEAD: "carol",
                                   Role.PLANNING_LEAD: "frank"})
    past("INC-DRILL", 5, "carol", {Role.OPERATIONS_LEAD: "dan", Role.COMMUNICATIONS_LEAD: "frank",
                                   Role.PLANNING_LEAD: "grace"}, drill=True)
    picks = drill_picks("INC-THIS-DRILL", oncall="erin")
    assert {role: pick.person for role, pick in picks.items()} == {
        Role.INCIDENT_COMMANDER: "grace",  # alice and carol commanded once each; erin is on call
        Role.OPERATIONS_LEAD: "alice",  # alice and heidi never (heidi's was 200 days ago): alice by handle
        Role.COMMUNICATIONS_LEAD: "heidi",  # carol and frank once each; grace is taken
        Role.PLANNING_LEAD: "bob",  # frank once (the drill counts too); grace is taken
    }
    assert picks[Role.PLANNING_LEAD].reason == (
        "bob: planning lead 0 times in the last 90 days (never); not on call (erin is)")
    assert drill_picks("INC-THIS-DRILL", oncall="erin") == picks  # deterministic
