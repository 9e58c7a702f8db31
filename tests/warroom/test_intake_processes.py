"""Two `warroom intake` processes on one PostgreSQL ledger, sent the same alerts: one incident each."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL

from tests.helpers import CONFIGS
from tests.warroom.test_intake import TOKEN, am_alert, am_group
from warroom.integrations.ledger import Ledger
from warroom.integrations.ledger.testing import reset_postgres_database
from warroom.integrations.sandbox.server import Sandboxes

pytestmark = pytest.mark.postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_intake(port: int, database: str, home: Path, sandboxes: Sandboxes) -> subprocess.Popen[bytes]:
    env = {**os.environ, **sandboxes.env(), "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           "WARROOM_DATABASE_URL": database, "WARROOM_HOME": str(home), "WARROOM_CONFIG_DIR": str(CONFIGS),
           "WARROOM_INTAKE_PORT": str(port), "WARROOM_INTAKE_TOKENS": TOKEN}
    warroom = Path(sys.executable).with_name("warroom")  # the project's own entry point, beside this Python
    return subprocess.Popen([str(warroom), "intake"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    tick = threading.Event()
    for _ in range(600):
        assert process.poll() is None, process.stderr.read().decode()[-3000:] if process.stderr else ""
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            tick.wait(0.1)
    raise AssertionError(f"{url} did not come up")


def test_two_intake_processes_on_one_ledger_make_one_incident_per_fingerprint(
    prefect_server: None, sandboxes: Sandboxes, postgres_url: str, tmp_path: Path
) -> None:
    reset_postgres_database(postgres_url)
    Ledger.open(postgres_url, lambda: datetime.now(UTC)).close()  # migrate once, before both start
    ports = [free_port(), free_port()]
    processes = [start_intake(p, postgres_url, tmp_path / f"home{n}", sandboxes) for n, p in enumerate(ports)]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url, process in zip(urls, processes, strict=True):
            wait_healthy(url, process)
        fingerprints = [f"twin{n:02d}" for n in range(10)]
        sends = [(url, am_group(am_alert(fp, severity="critical", impact="customer")))
                 for _ in range(3) for fp in fingerprints for url in urls]

        def send(item: tuple[str, dict[str, object]]) -> int:
            url, body = item
            return httpx.post(f"{url}/v1/alerts/alertmanager", json=body, timeout=60,
                              headers={"authorization": f"Bearer {TOKEN}"}).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(send, sends)) == {202}
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)

    with Ledger.open(postgres_url, lambda: datetime.now(UTC)) as ledger:
        rows = ledger.list_incidents(limit=100)
        assert ledger.count_inbox() == len(sends)
    assert len(rows) == len(fingerprints)
    assert sandboxes.pagerduty_app is not None
    pd = sandboxes.pagerduty_app.state.pagerduty
    assert all(len(pd.incidents_for_key(row.incident_id)) == 1 for row in rows)
