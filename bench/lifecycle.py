"""Prints the demo's wall time and Prefect's overhead per phase (figures, never pass/fail).

Runs one whole incident on the embedded default (a local Prefect server on SQLite, the sandboxes),
a scripted responder filling the forms. For each phase flow run it reads from the Prefect API:
  wall     the run's start to end,
  person   time paused until the answer arrived (the scripted responder polls every 0.2 s),
  poll     from the answer to the flow going on: pause_flow_run notices a resume only at its next
           poll (poll_interval, an integer of at least 1 s; warroom sets 1 s),
  tasks    time inside task runs (the side effects: PagerDuty, Jira, ledger, artifacts),
  overhead wall - person - poll - tasks: Prefect's orchestration of the run and its tasks, plus
           warroom's own reads of the ledger between steps (an upper bound on Prefect's cost).
Targets: the whole incident within 60 s; at most 150 ms of Prefect overhead per phase.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from prefect import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

from flows.lifecycle import incident_lifecycle
from tasks.runtime import use_runtime
from warroom.config import load_config
from warroom.responder import Responder
from warroom.settings import Settings
from warroom.stack import local_stack

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["declare", "stabilise", "restore", "preserve-evidence", "revert-divergences", "close"]


def seconds(delta: timedelta | None) -> float:
    return delta.total_seconds() if delta else 0.0


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="warroom-bench-"))
    settings = Settings(home=home, config_dir=ROOT / "configs", form_poll_seconds=1)
    config = load_config(settings.config_dir)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    started = time.perf_counter()
    with local_stack(settings, env, config) as stack, use_runtime(stack.runtime):
        ready = time.perf_counter()
        with Responder(say=lambda _: None):
            incident_lifecycle("INC-BENCH-1", "Checkout returns 500s", "checkout", "SEV1",
                               ["customers can see it"], "alice")
        done = time.perf_counter()
        rows = phase_figures()
    stopped = time.perf_counter()

    print(f"stack start (Prefect server, sandboxes): {ready - started:6.2f} s")
    print(f"one whole incident, scripted responder:  {done - ready:6.2f} s   (target <= 60 s)")
    print(f"stack stop:                              {stopped - done:6.2f} s")
    print(f"demo wall time (start to stop):          {stopped - started:6.2f} s\n")
    print(f"{'phase':20} {'runs':>4} {'forms':>5} {'wall s':>7} {'person s':>8} {'poll s':>7} {'tasks':>5} "
          f"{'tasks s':>7} {'overhead ms':>11}")
    for name, runs, forms, wall, person, poll, ntasks, task_s in rows:
        overhead = (wall - person - poll - task_s) * 1000
        print(f"{name:20} {runs:4} {forms:5} {wall:7.2f} {person:8.2f} {poll:7.2f} {ntasks:5} {task_s:7.3f} "
              f"{overhead:11.0f}")
    print("\ntarget: overhead <= 150 ms per phase (the ~1 s flow heartbeat is switched off)")


def phase_figures() -> list[tuple[str, int, int, float, float, float, int, float]]:
    rows = []
    with get_client(sync_client=True) as client:
        all_runs = client.read_flow_runs(limit=200)
        flows = {f.id: f.name for f in client.read_flows(limit=100)}
        for phase in PHASES:
            runs = [r for r in all_runs if flows.get(r.flow_id) == phase]
            wall = person = poll = task_s = 0.0
            ntasks = forms = 0
            for run in runs:
                if run.start_time is None or run.end_time is None:
                    continue
                wall += seconds(run.end_time - run.start_time)
                tasks = client.read_task_runs(task_run_filter=TaskRunFilter(
                    flow_run_id=TaskRunFilterFlowRunId(any_=[run.id])))
                ntasks += len(tasks)
                task_s += sum(seconds(t.total_run_time) for t in tasks)
                starts = [*sorted(t.start_time for t in tasks if t.start_time), run.end_time]
                states = sorted(client.read_flow_run_states(run.id), key=lambda s: s.timestamp)
                for state, resumed in itertools.pairwise(states):
                    if state.is_paused():
                        forms += 1
                        person += seconds(resumed.timestamp - state.timestamp)
                        went_on = next(t for t in starts if t >= resumed.timestamp)
                        poll += seconds(went_on - resumed.timestamp)
            rows.append((phase, len(runs), forms, wall, person, poll, ntasks, task_s))
    return rows


if __name__ == "__main__":
    main()
