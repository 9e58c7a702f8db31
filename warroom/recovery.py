"""Carrying open incidents on when ``warroom up`` starts again.

A stopped ``up`` leaves no process behind, so the lifecycle runs it served hold nothing any more. On
the next start, those runs are marked crashed and every open incident gets a fresh lifecycle run,
started by the dispatcher: it reruns from the top, does nothing twice (the ledger), and shows each desk
again. The desks themselves are left as they are: they never held a process, and one answered while
``up`` was stopped is handled as soon as the dispatcher runs. A desk's timeout is due work in the
ledger, so one that passed while ``up`` was stopped escalates at once.

While ``up`` (or ``warroom intake``) runs, a lifecycle run can also end Failed or Crashed on its own:
Prefect's API answering 503 under a storm's load, a run's process killed. Its incident would then wait on
no desk; so the dispatcher looks for such runs (:class:`FailedLifecycles`) and stores a fresh lifecycle
run for each one's incident, as work, once per failed run, after a bounded backoff.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Crashed

from warroom.incident import work
from warroom.incident.models import Phase
from warroom.incident.state import fold
from warroom.tasks.desks import TAG
from warroom.tasks.ledger import load_state
from warroom.tasks.prefect_client import prefect_client
from warroom.tasks.runs import LIFECYCLE
from warroom.tasks.runtime import Runtime, current_runtime

log = logging.getLogger("warroom.recovery")

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


ENDED_BADLY = [StateType.FAILED, StateType.CRASHED]  # not Cancelled: someone meant it
LOOK_EVERY_S = 5.0
LOOKBACK = timedelta(days=1)  # a process starting looks this far back
OVERLAP = timedelta(seconds=60)  # a run the server records as ended a little before the last one seen
PAGE = 200


class FailedLifecycles:
    """Finds the lifecycle runs that ended Failed or Crashed and stores, for each whose incident is not
    closed, a fresh lifecycle run (work keyed by the failed run: once per failure), due after the
    dispatcher's backoff for that incident's reruns so far. A run is left alone when a later lifecycle
    run was stored for its incident (``carry_on``'s, or a rerun already) or when the ledger does not know
    its incident (another warroom's, on one Prefect). Looks at most every ``every_s`` seconds; each look
    asks Prefect only for runs that ended since the last (less an overlap), not seen yet."""

    def __init__(self, every_s: float = LOOK_EVERY_S) -> None:
        self._every_s = every_s
        self._next = float("-inf")
        self._after: datetime | None = None
        self._seen: dict[UUID, datetime] = {}  # run id: its end time, for runs ended after ``_after``

    def look(self) -> int:
        """How many fresh lifecycle runs it stored."""
        if time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self._every_s
        runtime = current_runtime()
        self._after = self._after or runtime.clock() - LOOKBACK
        flow, deployment = LIFECYCLE.split("/")
        with prefect_client() as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(not_any_=list(self._seen)) if self._seen else None,
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ENDED_BADLY)),
                    end_time=FlowRunFilterEndTime(after_=self._after)),
                sort=FlowRunSort.END_TIME_DESC, limit=PAGE)
        stored = 0
        for run in runs:
            stored += runtime.ledger.add_work(_rerun(run, runtime))
            self._seen[run.id] = run.end_time or self._after
        if len(runs) < PAGE and self._seen:  # every run that ended after ``_after`` is seen: look on from the last
            self._after = max(self._after, max(self._seen.values()) - OVERLAP)
            self._seen = {run_id: ended for run_id, ended in self._seen.items() if ended >= self._after}
        return stored


def _rerun(run: FlowRun, runtime: Runtime) -> list[work.Work]:
    incident_id = str(run.parameters.get("incident_id", ""))
    if not incident_id:
        return []
    state = load_state(incident_id)
    if state.version == 0 or state.phase is Phase.CLOSED:
        return []
    starts = [row for row in runtime.ledger.work_rows(incident_id, kind="start_run")
              if row.params.get("deployment") == LIFECYCLE]
    if starts and starts[-1].params.get("run_key") != run.idempotency_key:
        return []  # a later lifecycle run carries the incident on
    reruns = sum(":lifecycle:rerun:" in row.key for row in starts)
    delay = work.retry_delay(reruns + 1)
    why = next(iter((run.state.message or "").strip().splitlines()), "")[:300] if run.state else ""
    log.warning("lifecycle run %s of %s ended %s (%s): a fresh run carries it on in %.0f s", run.name, incident_id,
                run.state_name, why or "no reason given", delay.total_seconds())
    return [work.start_lifecycle(incident_id, f"{incident_id}:lifecycle:rerun:{run.id}", dict(run.parameters),
                                 runtime.clock() + delay)]
