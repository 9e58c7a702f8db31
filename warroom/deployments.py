"""The deployments' entry flows (prefect.yaml): each builds the runtime from the settings, once, and
runs in it: ``lifecycle`` starts an incident, ``drill`` sends a drill's alerts. They are what a worker
or ``warroom up``'s runner starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Completed

from warroom.bootstrap import build_runtime
from warroom.flows.drill import DEFAULT_SPEED
from warroom.flows.drill import drill as run_drill
from warroom.flows.lifecycle import incident_lifecycle
from warroom.flows.report import postmortem_draft, retrospective_report
from warroom.incident.report import report_period
from warroom.settings import Settings
from warroom.tasks.runtime import use_runtime


@contextmanager
def from_settings() -> Iterator[None]:
    """The runtime built from this process's settings, installed for the flow's life."""
    runtime = build_runtime(Settings(), os.environ)
    try:
        with use_runtime(runtime):
            yield
    finally:
        runtime.ledger.close()


@flow(name="lifecycle")
def lifecycle(
    incident_id: str,
    title: str,
    service: str,
    severity: str,
    reasons: list[str],
    declared_by: str,
    drill: bool = False,
) -> str:
    with from_settings():
        return incident_lifecycle.fn(incident_id, title, service, severity, reasons, declared_by, drill)


@flow(name="drill")
def drill(
    scenario: str | None = None,
    replay: str | None = None,
    speed: float = DEFAULT_SPEED,
    roles: Literal["auto", "ask"] | None = None,
    drill_id: str | None = None,
) -> str:
    """A drill (``warroom drill``, or the policy's schedule): its alerts through the intake's path."""
    with from_settings():
        return run_drill.fn(scenario, replay, speed, roles, drill_id)

@flow(name="scheduled-report")
def report(since: str | None = None, service: str | None = None, post: bool = True) -> str:
    """The retrospective report over the policy's period (or ``since``, e.g. 14d) up to now; returns
    the HTML file's path. prefect.yaml runs it on the policy's schedule (Monday 09:00 by default)."""
    settings = Settings()
    runtime = build_runtime(settings, os.environ)
    try:
        with use_runtime(runtime):
            start, end = report_period(runtime.clock(), runtime.config.policy.reports.period, since=since)
            return retrospective_report(start, end, service, post).html
    finally:
        runtime.ledger.close()


@flow(name="draft-postmortem")
def postmortem(incident_id: str) -> State[None]:
    """The closed incident's postmortem draft (file, attached in Jira once per version, artifact). The run
    ends Completed with a message naming the file and where it was attached: what `warroom postmortem`
    shows when it ran the draft here (no result storage needed to read it)."""
    with from_settings():
        drafted = postmortem_draft(incident_id)
    return Completed(message=f"{drafted.path} (sha256 {drafted.sha256[:12]})\n{drafted.outcome()}")
