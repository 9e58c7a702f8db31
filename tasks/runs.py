"""Starting deployment runs (the lifecycle) once per key, now or at a given time; or one run, waited for."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.states import Scheduled
from prefect.types._datetime import now

from warroom.tasks.prefect_client import prefect_client

LIFECYCLE = "lifecycle/lifecycle"
DRILL = "drill/drill"  # flow "drill", deployment "drill" (prefect.yaml)
POSTMORTEM = "draft-postmortem/postmortem"


def start_run(deployment: str, parameters: dict[str, Any], key: str | None = None,
              at: datetime | None = None) -> FlowRun:
    """Create a run and return at once; the same ``key`` returns the run created before. What
    ``run_deployment(..., timeout=0, as_subflow=False)`` does, on warroom's client: Prefect's makes a new
    TLS context per call (25 ms of CPU a run start, taken from the pages the intake sends meanwhile)."""
    with prefect_client() as client:
        found = client.read_deployment_by_name(deployment)
        return client.create_flow_run_from_deployment(
            found.id, parameters=parameters, state=Scheduled(scheduled_time=at or now("UTC")), idempotency_key=key)


def run_and_wait(deployment: str, parameters: dict[str, Any], timeout_s: float) -> FlowRun:
    """Create a run and wait up to ``timeout_s`` for it to end; returns it as it then is (its state may not
    be final). Raises prefect's ObjectNotFound when the API has no such deployment."""
    return cast(FlowRun, run_deployment(deployment, parameters=parameters, timeout=timeout_s, as_subflow=False))
