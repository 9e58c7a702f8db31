"""Starting deployment runs (the lifecycle) once per key, now or at a given time; or one run, waited for."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

LIFECYCLE = "lifecycle/lifecycle"
DRILL = "drill/drill"  # flow "drill", deployment "drill" (prefect.yaml)
POSTMORTEM = "draft-postmortem/postmortem"


def start_run(deployment: str, parameters: dict[str, Any], key: str | None = None,
              at: datetime | None = None) -> FlowRun:
    """Create a run and return at once; the same ``key`` returns the run created before."""
    return cast(FlowRun, run_deployment(
        deployment, parameters=parameters, timeout=0, idempotency_key=key, scheduled_time=at, as_subflow=False,
    ))


def run_and_wait(deployment: str, parameters: dict[str, Any], timeout_s: float) -> FlowRun:
    """Create a run and wait up to ``timeout_s`` for it to end; returns it as it then is (its state may not
    be final). Raises prefect's ObjectNotFound when the API has no such deployment."""
    return cast(FlowRun, run_deployment(deployment, parameters=parameters, timeout=timeout_s, as_subflow=False))
