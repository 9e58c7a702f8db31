"""Serving and starting the deployments of prefect.yaml."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, cast

from prefect import serve
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.deployments.runner import RunnerDeployment

from warroom.deployments import handoff, lifecycle


def serve_deployments() -> None:
    """Serve the lifecycle and handoff deployments in this process until Ctrl-C (a local runner)."""
    serve(
        cast(RunnerDeployment, lifecycle.to_deployment(name="lifecycle", tags=["warroom"])),
        cast(RunnerDeployment, handoff.to_deployment(name="handoff", tags=["warroom"])),
        limit=20,
    )


def start_deployment(name: str, parameters: dict[str, Any]) -> str:
    """Start a run of a deployment and return its id at once (the run waits for a runner/worker)."""
    run = cast(FlowRun, run_deployment(name, parameters=parameters, timeout=0))
    return str(run.id)


def wait_for_interrupt() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
