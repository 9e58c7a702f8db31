"""The local stack of the embedded default: a Prefect server on SQLite (unless ``PREFECT_API_URL`` is
set), the PagerDuty and Jira sandboxes set up from ``configs/``, and a runtime wired to them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_DATABASE_CONNECTION_URL,
    temporary_settings,
)

from incident.policy import WarroomConfig
from integrations.sandbox.from_config import jira_options, pagerduty_setup
from integrations.sandbox.server import Sandboxes
from tasks.runtime import Runtime
from warroom.bootstrap import build_runtime
from warroom.settings import Settings


@dataclass(frozen=True)
class Stack:
    api_url: str
    sandboxes: Sandboxes
    runtime: Runtime
    env: dict[str, str]  # what points a process at this stack (includes sandbox secrets)

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def drain_to_api() -> None:
    """Send Prefect's queued logs and events now; once the server is gone they would be retried for
    a minute or more."""
    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


@contextmanager
def prefect_server(settings: Settings, environ: Mapping[str, str], database_url: str | None = None) -> Iterator[str]:
    """The Prefect API to use: ``PREFECT_API_URL`` if set, else a local server on SQLite under
    ``$WARROOM_HOME`` (or on ``database_url``, e.g. ``postgresql+asyncpg://...``)."""
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), ExitStack() as stack:
        api_url = environ.get("PREFECT_API_URL")
        if not api_url:
            settings.home.mkdir(parents=True, exist_ok=True)
            database = database_url or f"sqlite+aiosqlite:///{settings.home / 'prefect.db'}"
            stack.enter_context(temporary_settings(
                {PREFECT_SERVER_DATABASE_CONNECTION_URL: database, PREFECT_SERVER_ANALYTICS_ENABLED: False}))
            server = SubprocessASGIServer()
            server.start(timeout=90)
            stack.callback(server.stop)
            stack.callback(drain_to_api)  # runs first: logs and events reach the server before it stops
            api_url = server.api_url
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield api_url


@contextmanager
def local_stack(
    settings: Settings,
    environ: Mapping[str, str],
    config: WarroomConfig,
    pagerduty_port: int = 0,
    jira_port: int = 0,
    prefect_database_url: str | None = None,
) -> Iterator[Stack]:
    with ExitStack() as stack:
        api_url = stack.enter_context(prefect_server(settings, environ, prefect_database_url))
        sandboxes = stack.enter_context(Sandboxes(
            settings.home, pagerduty_setup=pagerduty_setup(config), jira_options=jira_options(config),
            pagerduty_port=pagerduty_port, jira_port=jira_port, persist=True,
        ))
        env = {**sandboxes.env(), "PREFECT_API_URL": api_url}
        runtime = build_runtime(settings, {**environ, **env}, config=config)
        stack.callback(runtime.ledger.close)
        yield Stack(api_url=api_url, sandboxes=sandboxes, runtime=runtime, env=env)
