"""Serving the deployments of prefect.yaml from this process (a local runner for `warroom up`)."""

from __future__ import annotations

import contextlib
import threading
from typing import cast

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from warroom.deployments import handoff, lifecycle, watch


def deployments() -> list[RunnerDeployment]:
    """The lifecycle, handoff and watch deployments, named as in prefect.yaml."""
    return [
        cast(RunnerDeployment, entry.to_deployment(name=name, tags=["warroom"]))
        for entry, name in ((lifecycle, "lifecycle"), (handoff, "handoff"), (watch, "watch"))
    ]


def serve_deployments() -> None:
    """Serve the deployments until Ctrl-C."""
    serve(*deployments(), limit=20)


def wait_for_interrupt() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
