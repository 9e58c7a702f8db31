"""The deployments' entry flows (prefect.yaml): each builds the runtime from the settings, once, and
runs the lifecycle or a handoff in it. They are what a worker or ``warroom up``'s runner starts."""

from __future__ import annotations

import os

from prefect import flow

from flows.handoff import Outcome
from flows.handoff import handoff as handoff_flow
from flows.intake import watch_alert
from flows.lifecycle import incident_lifecycle
from tasks.runtime import use_runtime
from warroom.bootstrap import build_runtime
from warroom.settings import Settings


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
    runtime = build_runtime(Settings(), os.environ)
    try:
        with use_runtime(runtime):
            return incident_lifecycle.fn(incident_id, title, service, severity, reasons, declared_by, drill)
    finally:
        runtime.ledger.close()


@flow(name="handoff-command")
def handoff(incident_id: str, to: str) -> Outcome:
    runtime = build_runtime(Settings(), os.environ)
    try:
        with use_runtime(runtime):
            return handoff_flow.fn(incident_id, to)
    finally:
        runtime.ledger.close()


@flow(name="watch-alert")
def watch(incident_id: str, fingerprint: str) -> str:
    runtime = build_runtime(Settings(), os.environ)
    try:
        with use_runtime(runtime):
            return watch_alert.fn(incident_id, fingerprint)
    finally:
        runtime.ledger.close()
