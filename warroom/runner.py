"""Serving the deployments of prefect.yaml from this process (a local runner for `warroom up`)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, cast

import uvicorn
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from warroom.deployments import drill, lifecycle, postmortem, report
from warroom.incident.policy import DrillPolicy, ReportPolicy

RUN_LIMIT = 20  # a lifecycle run ends once the desks are shown: this bounds only starts at once


def deployments(drills: DrillPolicy | None = None, reports: ReportPolicy | None = None) -> list[RunnerDeployment]:
    """The deployments, named as in prefect.yaml: lifecycle, postmortem, the drill on the policy's schedule
    (``drills.schedule``; monthly by default) and the report on its own (``reports.schedule`` in
    ``reports.time_zone``; Monday 09:00 by default)."""
    drills, reports = drills or DrillPolicy(), reports or ReportPolicy()
    return [
        cast(RunnerDeployment, lifecycle.to_deployment(name="lifecycle", tags=["warroom"])),
        cast(RunnerDeployment, drill.to_deployment(
            name="drill", tags=["warroom", "drill"], schedules=[Cron(drills.schedule, timezone=drills.timezone)],
            description="A drill on the real flows: the policy's scenario, roles by rotation (policy.yaml drills).")),
        cast(RunnerDeployment, report.to_deployment(name="report", tags=["warroom"], schedules=[
            Cron(reports.schedule, timezone=reports.time_zone)])),
        cast(RunnerDeployment, postmortem.to_deployment(name="postmortem", tags=["warroom"])),
    ]


def serve_deployments(drills: DrillPolicy | None = None, reports: ReportPolicy | None = None) -> None:
    """Serve the deployments until Ctrl-C."""
    serve(*deployments(drills, reports), limit=RUN_LIMIT)


def serve_in_background(drills: DrillPolicy | None = None, reports: ReportPolicy | None = None) -> threading.Thread:
    """Serve the deployments from a daemon thread: the runner then leaves SIGTERM to this process
    (from the main thread, it would cancel every waiting incident's run on the way out)."""
    thread = threading.Thread(target=serve_deployments, args=(drills, reports), name="warroom-runner",
                              daemon=True)
    thread.start()
    return thread


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux: the parent links in /proc), children first."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def flow_run_processes(pid: int) -> list[int]:
    """The flow runs' engine processes below ``pid`` (the runner starts one per run)."""
    found = []
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            if b"prefect.engine" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


def stop_processes(pids: list[int], grace_s: float = 3.0, first: int = signal.SIGTERM) -> None:
    """``first`` (SIGTERM), then SIGKILL whatever is left after ``grace_s``: no process is left behind."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, first)
    deadline = time.monotonic() + grace_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and not _zombie(p)]
        if alive:
            threading.Event().wait(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class Background:
    """An ASGI app served by uvicorn in a daemon thread (the intake inside `warroom up`, tests)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="warroom-intake", daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"could not serve on {host}:{port} (is the port taken?)")
            self.thread.join(0.01)
        sock = self.server.servers[0].sockets[0]
        self.url = f"http://{host}:{sock.getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_for_interrupt() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
