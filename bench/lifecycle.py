"""Prints one whole incident's wall time and what each desk answer costs (figures, never pass/fail).

Runs one whole incident on the embedded default (a local Prefect server on SQLite, the sandboxes), a
scripted responder answering the desks and the dispatcher handling the answers, as in `warroom up`.
For each answer it reads from the Prefect API:
  handle    the `desk-answer` flow run: recording what the answer decides, moving the incident on,
            rewriting the document and showing every desk its next form (its tasks' share apart),
  to next   from the answer (the desk run resumed) to the desk paused again with its next form.
Targets: the whole incident within 60 s; answer to next form within 1.5 s (p95).
Waiting costs nothing: the processes of this benchmark are counted while every desk waits.
"""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from prefect import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterTags

from warroom.config import load_config
from warroom.demo import until_closed
from warroom.flows.lifecycle import incident_lifecycle
from warroom.intake import make_dispatcher
from warroom.responder import Responder
from warroom.runner import descendants
from warroom.settings import Settings
from warroom.stack import local_stack
from warroom.tasks.runtime import use_runtime

ROOT = Path(__file__).resolve().parents[1]
INCIDENT = "INC-BENCH-1"


def seconds(delta: timedelta | None) -> float:
    return delta.total_seconds() if delta else 0.0


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)] if values else 0.0


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="warroom-bench-"))
    settings = Settings(home=home, config_dir=ROOT / "configs")
    config = load_config(settings.config_dir)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    started = time.perf_counter()
    with local_stack(settings, env, config) as stack, use_runtime(stack.runtime):
        ready = time.perf_counter()
        dispatcher = make_dispatcher(stack.runtime).start()
        incident_lifecycle(INCIDENT, "Checkout returns 500s", "checkout", "SEV1", ["customers can see it"], "alice")
        waiting_processes = len(descendants(os.getpid()))  # the roles desk waits: nothing runs for it
        with Responder(say=lambda _: None):
            until_closed(INCIDENT)
        done = time.perf_counter()
        dispatcher.stop()
        handle, to_next = answer_figures()
    stopped = time.perf_counter()

    print(f"stack start (Prefect server, sandboxes): {ready - started:6.2f} s")
    print(f"one whole incident, scripted responder:  {done - ready:6.2f} s   (target <= 60 s)")
    print(f"stack stop:                              {stopped - done:6.2f} s")
    print(f"processes beside this one while a desk waits: {waiting_processes} (the Prefect server and "
          "nothing per desk)\n")
    for name, values in (("handle an answer", handle), ("answer to next form", to_next)):
        if values:
            print(f"{name:22} n={len(values):2}  p50 {statistics.median(values):5.2f} s  p95 {p95(values):5.2f} s  "
                  f"max {max(values):5.2f} s")
    print("\ntarget: answer to next form <= 1.5 s (p95)")


def answer_figures() -> tuple[list[float], list[float]]:
    handle, to_next = [], []
    with get_client(sync_client=True) as client:
        answers = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["desk-answer"])), limit=200)
        handle = [seconds(r.end_time - r.start_time) for r in answers if r.start_time and r.end_time]
        desks = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["desk"])),
                                      flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"incident:{INCIDENT}"])),
                                      limit=50)
        for run in desks:
            states = sorted(client.read_flow_run_states(run.id), key=lambda s: s.timestamp)
            for resumed, after in itertools.pairwise(states):
                if resumed.is_running() and (after.is_paused() or after.is_completed()):
                    to_next.append(seconds(after.timestamp - resumed.timestamp))
    return handle, to_next


if __name__ == "__main__":
    main()
