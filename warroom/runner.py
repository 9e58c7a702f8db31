"""Serving the deployments of prefect.yaml from this process (a local runner for `warroom up`)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, cast

import uvicorn
from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from warroom.deployments import handoff, lifecycle


def deployments() -> list[RunnerDeployment]:
    """The lifecycle and handoff deployments, named as in prefect.yaml."""
    return [
        cast(RunnerDeployment, entry.to_deployment(name=name, tags=["warroom"]))
        for entry, name in ((lifecycle, "lifecycle"), (handoff, "handoff"))
    ]


def serve_deployments() -> None:
    """Serve the deployments until Ctrl-C."""
    serve(*deployments(), limit=20)


class Background:
    """An ASGI app served by uvicorn in a daemon thread (the intake inside `warroom up`, tests)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="warroom-intake", daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"could not serve on {host}:{port} (is the port taken?)")
            self.thread.join(0.01)
        sock = self.server.servers[0].sockets[0]
        self.url = f"http://{host}:{sock.getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_for_interrupt() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
