"""The real `warroom up`, stopped and started again with an incident waiting on a desk: it stops on
SIGTERM within 10 s leaving no process behind, and started again the incident carries on: its form is
waiting again, and nothing was done twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterIdempotencyKey,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Completed, Failed

from tests.helpers import CONFIGS
from tests.warroom.test_intake import TOKEN, am_alert, am_group
from tests.warroom.test_intake_processes import free_port
from warroom.bootstrap import utc_now
from warroom.integrations.ledger import Ledger, WorkRow
from warroom.runner import descendants, flow_run_processes

STOP_WITHIN_S = 10
T = TypeVar("T")


def until(what: str, check: Callable[[], T], within_s: float = 90) -> T:
    tick = threading.Event()
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        tick.wait(0.2)
    raise AssertionError(f"not within {within_s} s: {what}")


class Up:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.intake_port, self.pd_port, self.jira_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WARROOM_"))}
        env.update(WARROOM_HOME=str(home), WARROOM_CONFIG_DIR=str(CONFIGS), WARROOM_INTAKE_TOKENS=TOKEN,
                   WARROOM_INTAKE_PORT=str(self.intake_port))
        warroom = Path(sys.executable).with_name("warroom")
        self.log = (home / "up.log").open("wb")
        self.process = subprocess.Popen(
            [str(warroom), "up", "--pagerduty-port", str(self.pd_port), "--jira-port", str(self.jira_port),
             "--prefect-port", "0"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.api_url = str(until("warroom up prints its Prefect UI", self._ui_url))
        until("the intake answers", self._healthy)

    def output(self) -> str:
        return (self.home / "up.log").read_text(errors="replace")

    def _ui_url(self) -> str | None:
        assert self.process.poll() is None, self.output()[-3000:]
        line = next((x for x in self.output().splitlines() if x.startswith("Prefect UI: ")), None)
        return f"{line.removeprefix('Prefect UI: ').strip()}/api" if line else None

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.intake_port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def waiting_runs(self, incident_id: str) -> list[FlowRun]:
        with temporary_settings({PREFECT_API_URL: self.api_url}), get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))
        return [r for r in runs if r.parameters.get("incident_id") == incident_id]

    def declared(self, alertname: str) -> str:
        """A critical, customer-facing alert to the stack's intake: the incident it declares."""
        answer = httpx.post(f"http://127.0.0.1:{self.intake_port}/v1/alerts/alertmanager", timeout=30,
                            json=am_group(am_alert(alertname, severity="critical", impact="customer")),
                            headers={"authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 202, answer.text
        return str(answer.json()["alerts"][0]["incident"])

    def work_rows(self, incident_id: str) -> list[WorkRow]:
        with Ledger.open(f"sqlite:///{self.home}/ledger.db", utc_now) as ledger:
            return ledger.work_rows(incident_id)

    def stop(self, signum: int) -> float:
        below = descendants(self.process.pid)
        assert below, "warroom up runs its Prefect server as a child process"
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=60)
        finally:
            self.log.close()
        took = time.monotonic() - started
        left = [p for p in below if Path(f"/proc/{p}").exists()]
        assert left == [], f"processes left behind: {left}"
        return took


def test_up_stopped_with_an_incident_waiting_carries_it_on_when_started_again(tmp_path: Path) -> None:
    first = Up(tmp_path)
    try:
        incident_id = first.declared("UpRestart")
        before = until("the roles desk waits", lambda: first.waiting_runs(incident_id))
        assert [r.name for r in before] == [f"{incident_id} · incident commander · alice"]
        # waiting holds no process: the runner's lifecycle run has ended; only the Prefect server is below up
        until("the lifecycle run ends", lambda: flow_run_processes(first.process.pid) == [])
    finally:
        took = first.stop(signal.SIGTERM)
    assert took < STOP_WITHIN_S, f"warroom up took {took:.1f} s to stop"

    second = Up(tmp_path)
    try:
        assert "carrying on 1 open incident" in second.output()
        until("the lifecycle ran again", lambda: any(
            w.status == "done" and ":lifecycle:resume:" in w.key for w in second.work_rows(incident_id)))
        waiting = second.waiting_runs(incident_id)
        # the very desk that waited before: it held nothing, and shows the same form (no second desk)
        assert [(r.id, r.state and r.state.state_details.pause_key) for r in waiting] == [
            (r.id, r.state and r.state.state_details.pause_key) for r in before]
    finally:
        took = second.stop(signal.SIGINT)
    assert took < STOP_WITHIN_S, f"warroom up took {took:.1f} s to stop on Ctrl-C"

    with Ledger.open(f"sqlite:///{tmp_path}/ledger.db", utc_now) as ledger:
        facts = [r.event for r in ledger.stream(incident_id)]
        work = ledger.work_rows(incident_id)
    assert [f.kind for f in facts].count("paged") == 1
    assert [f.kind for f in facts].count("declared") == 1
    assert [f.kind for f in facts].count("ticket_opened") == 1
    assert [w.kind for w in work if w.status == "done"].count("page") == 1


def test_a_lifecycle_run_that_failed_under_up_is_run_afresh_and_its_desk_waits_again(tmp_path: Path) -> None:
    """What a lifecycle run that met Prefect's 503 before it showed the desks leaves: the run Failed, no
    desk. `up`'s dispatcher starts a fresh run, once, and the incident commander's desk waits again."""
    up = Up(tmp_path)
    try:
        incident_id = up.declared("LifecycleFailed")
        [desk] = until("the roles desk waits", lambda: up.waiting_runs(incident_id))
        until("the lifecycle run ends", lambda: flow_run_processes(up.process.pid) == [])
        with temporary_settings({PREFECT_API_URL: up.api_url}), get_client(sync_client=True) as client:
            [run] = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                idempotency_key=FlowRunFilterIdempotencyKey(any_=[f"{incident_id}:lifecycle"])))
            client.set_flow_run_state(desk.id, Completed(message="as if never shown"), force=True)
            client.set_flow_run_state(run.id, Failed(message="Server error '503 Service Unavailable'"), force=True)
        assert up.waiting_runs(incident_id) == []
        [again] = until("a fresh lifecycle run shows the desk again",
                        lambda: up.waiting_runs(incident_id))
        assert again.name == f"{incident_id} · incident commander · alice" and again.id != desk.id
        reruns = [(w.key, w.status) for w in up.work_rows(incident_id) if ":lifecycle:rerun:" in w.key]
        assert reruns == [(f"{incident_id}:lifecycle:rerun:{run.id}", "done")]
    finally:
        up.stop(signal.SIGTERM)
