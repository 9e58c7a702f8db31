"""Kill the process that moves the incident on (SIGKILL) at every phase boundary and start it again:
nothing happens twice. The child runs the deployment's entry flow, which builds its runtime from the
environment, then a dispatcher handling the desks' answers until the incident is closed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from prefect.settings import PREFECT_API_URL

from tests.helpers import CONFIGS
from warroom.integrations.jira.tracker import intent_label
from warroom.integrations.sandbox.server import Sandboxes
from warroom.responder import Responder
from warroom.tasks.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
BOUNDARIES = ["phase:stabilising", "phase:restoring", "phase:preserving_evidence", "phase:reverting",
              "closed"]


def start_lifecycle(incident_id: str, runtime: Runtime, sandboxes: Sandboxes) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **sandboxes.env(),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "WARROOM_HOME": str(runtime.home),
        "WARROOM_DATABASE_URL": runtime.ledger.url,
        "WARROOM_CONFIG_DIR": str(CONFIGS),
    }
    code = (
        "from warroom.deployments import from_settings, lifecycle\n"
        "from warroom.intake import make_dispatcher\n"
        "from warroom.tasks.ledger import load_state\n"
        "from warroom.tasks.runtime import current_runtime\n"
        f"lifecycle({incident_id!r}, 'Payments API declines cards', 'payments-api', 'SEV1', "
        "['customers can see it'], 'alice')\n"
        "with from_settings():\n"
        "    dispatcher = make_dispatcher(current_runtime())\n"
        f"    while not (s := load_state({incident_id!r})).closed_at or 'postmortem' not in s.followups:\n"
        "        dispatcher.round()\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(runtime: Runtime, key: str, child: subprocess.Popen[bytes], limit_s: float = 120) -> None:
    """Until the ledger holds ``key`` (checked each time the child may have moved on)."""
    tick = threading.Event()
    for _ in range(int(limit_s * 20)):
        if runtime.ledger.find(key) is not None:
            return
        assert child.poll() is None, child.stderr.read().decode()[-3000:] if child.stderr else ""
        tick.wait(0.05)
    raise AssertionError(f"{key} not recorded within {limit_s} s")


def test_killed_at_every_phase_boundary_and_restarted_nothing_happens_twice(
    runtime: Runtime, sandboxes: Sandboxes
) -> None:
    incident_id = "INC-CRASH-1"
    with Responder(say=lambda _: None, only=frozenset({incident_id})):
        for boundary in BOUNDARIES:
            child = start_lifecycle(incident_id, runtime, sandboxes)
            wait_for(runtime, f"{incident_id}:{boundary}", child)
            child.kill()
            child.wait()
        child = start_lifecycle(incident_id, runtime, sandboxes)
        _, err = child.communicate(timeout=180)
        assert child.returncode == 0, err.decode()[-3000:]

    records = runtime.ledger.stream(incident_id)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))  # contiguous
    keys = [r.event.idempotency_key for r in records]
    assert len(keys) == len(set(keys))
    kinds = [r.event.kind for r in records]
    assert kinds.count("declared") == 1 and kinds.count("closed") == 1 and kinds.count("paged") == 1

    assert sandboxes.pagerduty_app is not None and sandboxes.jira_app is not None
    assert len(sandboxes.pagerduty_app.state.pagerduty.incidents_for_key(incident_id)) == 1
    jira = sandboxes.jira_app.state.jira
    assert len(jira.keys_with_label(intent_label(incident_id, "incident"))) == 1
    assert len(jira.keys_with_label(intent_label(incident_id, "postmortem"))) == 1
