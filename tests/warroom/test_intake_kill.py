"""SIGKILL of a real `warroom intake` process after its decision, with the page or the lifecycle run
still to do: the next intake process on the same ledger does it, once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey
from prefect.settings import PREFECT_API_URL

from tests.helpers import CONFIGS
from tests.warroom.test_intake import TOKEN, am_alert, am_group
from tests.warroom.test_intake_processes import free_port, wait_healthy
from tests.warroom.test_up import until
from warroom.bootstrap import utc_now
from warroom.integrations.ledger import Ledger
from warroom.integrations.sandbox.recorder import Fault
from warroom.integrations.sandbox.server import Sandboxes


def start(port: int, ledger: str, home: Path, sandboxes: Sandboxes, prefect_api: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **sandboxes.env(), "PREFECT_API_URL": prefect_api, "PREFECT_CLIENT_MAX_RETRIES": "0",
           "WARROOM_DATABASE_URL": ledger, "WARROOM_HOME": str(home), "WARROOM_CONFIG_DIR": str(CONFIGS),
           "WARROOM_INTAKE_PORT": str(port), "WARROOM_INTAKE_TOKENS": TOKEN}
    warroom = Path(sys.executable).with_name("warroom")
    process = subprocess.Popen([str(warroom), "intake"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_healthy(f"http://127.0.0.1:{port}", process)
    return process


def lifecycle_runs(incident_id: str) -> int:
    with get_client(sync_client=True) as client:
        return len(client.read_flow_runs(flow_run_filter=FlowRunFilter(
            idempotency_key=FlowRunFilterIdempotencyKey(any_=[f"{incident_id}:lifecycle"]))))


@pytest.mark.parametrize("killed", ["before the page", "before the run start"])
def test_sigkill_after_the_decision_then_a_restart_pages_and_starts_once(
    prefect_server: None, sandboxes: Sandboxes, tmp_path: Path, killed: str
) -> None:
    assert sandboxes.pagerduty_app is not None
    pd = sandboxes.pagerduty_app.state
    ledger_url = f"sqlite:///{tmp_path}/ledger.db"
    real_api = str(PREFECT_API_URL.value())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_api = f"http://127.0.0.1:{s.getsockname()[1]}/api"
    if killed == "before the page":
        pd.recorder.set_faults([Fault(status=503, path_prefix="/v2/enqueue")])  # PagerDuty down
    port = free_port()
    first = start(port, ledger_url, tmp_path / "home", sandboxes,
                  closed_api if killed == "before the run start" else real_api)
    try:
        name = f"Kill{killed.split()[-1].title()}"
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/alerts/alertmanager", timeout=60,
                            json=am_group(am_alert(name, severity="critical", impact="customer")),
                            headers={"authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 202, answer.text
        incident_id = answer.json()["alerts"][0]["incident"]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        pd.recorder.set_faults([])
    paged_before = len(pd.pagerduty.incidents_for_key(incident_id))
    assert paged_before == (0 if killed == "before the page" else 1)
    if killed == "before the run start":
        assert lifecycle_runs(incident_id) == 0

    second = start(port, ledger_url, tmp_path / "home", sandboxes, real_api)
    try:
        until("the restarted intake's dispatcher pages and starts the run",
              lambda: pd.pagerduty.incidents_for_key(incident_id) and lifecycle_runs(incident_id), within_s=60)
    finally:
        second.terminate()
        second.wait(30)
    assert len(pd.pagerduty.incidents_for_key(incident_id)) == 1 and lifecycle_runs(incident_id) == 1
    with Ledger.open(ledger_url, utc_now) as ledger:
        assert [w.status for w in ledger.work_rows(incident_id)] == ["done", "done"]
        assert [r.event.kind for r in ledger.stream(incident_id)].count("paged") == 1
