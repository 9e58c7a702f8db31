"""Starting a deployment's run on warroom's client: once per key, now or at a given time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prefect.client.schemas.objects import StateType

from warroom.tasks.prefect_client import prefect_client
from warroom.tasks.runs import LIFECYCLE, start_run

LATER = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)  # never picked up by a runner here


def parameters(incident_id: str) -> dict[str, object]:
    return {"incident_id": incident_id, "title": "checkout is down", "service": "checkout", "severity": "SEV2",
            "reasons": ["customer impact"], "declared_by": "alertmanager"}


def test_the_same_key_starts_one_run_and_a_time_schedules_it_then(prefect_server: None) -> None:
    key = f"INC-runs-{uuid.uuid4().hex[:6]}:lifecycle"
    first = start_run(LIFECYCLE, parameters("INC-runs-1"), key=key, at=LATER)
    again = start_run(LIFECYCLE, parameters("INC-runs-1"), key=key, at=LATER)
    assert again.id == first.id
    with prefect_client() as client:
        stored = client.read_flow_run(first.id)
        deployment = client.read_deployment_by_name(LIFECYCLE)
    assert stored.deployment_id == deployment.id
    assert stored.idempotency_key == key
    assert stored.parameters["incident_id"] == "INC-runs-1"
    assert stored.state is not None and stored.state.type is StateType.SCHEDULED
    assert stored.state.state_details.scheduled_time == LATER


def test_without_a_time_the_run_is_scheduled_now(prefect_server: None) -> None:
    before = datetime.now(UTC)
    run = start_run(LIFECYCLE, parameters("INC-runs-2"), key=f"INC-runs-{uuid.uuid4().hex[:6]}:lifecycle")
    assert run.state is not None and run.state.type is StateType.SCHEDULED
    scheduled = run.state.state_details.scheduled_time
    assert scheduled is not None and before - timedelta(seconds=5) <= scheduled <= datetime.now(UTC)
