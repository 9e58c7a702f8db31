"""Carrying open incidents on when ``warroom up`` starts again.

A stopped ``up`` leaves no process behind, so the lifecycle runs it served hold nothing any more. On
the next start, those runs are marked crashed and every open incident gets a fresh lifecycle run,
started by the dispatcher: it reruns from the top, does nothing twice (the ledger), and shows each desk
again. The desks themselves are left as they are: they never held a process, and one answered while
``up`` was stopped is handled as soon as the dispatcher runs. A desk's timeout is due work in the
ledger, so one that passed while ``up`` was stopped escalates at once.
"""

from __future__ import annotations

from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Crashed

from warroom.incident import work
from warroom.incident.state import fold
from warroom.tasks.desks import TAG
from warroom.tasks.runtime import Runtime

LEFT_BEHIND = [StateType.RUNNING, StateType.PAUSED, StateType.PENDING, StateType.CANCELLING]


def carry_on(runtime: Runtime) -> tuple[int, int]:
    """Mark the runs a stopped ``up`` left behind as crashed, and store a fresh lifecycle run (work)
    for every open incident. Returns (runs marked, incidents carried on)."""
    with get_client(sync_client=True) as client:
        left = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=LEFT_BEHIND))),
        )
        stale = [run for run in left if "incident_id" in run.parameters and TAG not in run.tags]  # not desks
        for run in stale:
            client.set_flow_run_state(run.id, Crashed(
                message="warroom up stopped while this run was in progress; a fresh run carries the incident on"),
                force=True)
    now = runtime.clock()
    boot = now.strftime("%Y%m%dT%H%M%S%f")
    items = []
    for row in runtime.ledger.list_incidents(status="open", limit=10_000):
        state = fold(runtime.ledger.stream(row.incident_id), row.incident_id)
        assert state.service is not None and state.severity is not None
        parameters = {"incident_id": row.incident_id, "title": state.title, "service": state.service,
                      "severity": state.severity, "reasons": list(state.declared_reasons), "declared_by": "warroom",
                      "drill": state.drill}
        items.append(work.start_lifecycle(row.incident_id, f"{row.incident_id}:lifecycle:resume:{boot}",
                                          parameters, now))
    runtime.ledger.add_work(items)
    return len(stale), len(items)
