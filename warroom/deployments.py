"""The deployment's entry flow (prefect.yaml): it builds the runtime from the settings, once, and
starts the incident in it. It is what a worker or ``warroom up``'s runner starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import flow

from warroom.bootstrap import build_runtime
from warroom.flows.lifecycle import incident_lifecycle
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

