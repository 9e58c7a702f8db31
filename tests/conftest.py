"""Flows and the intake on a real Prefect test server, against the PagerDuty and Jira sandboxes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from tests.helpers import CONFIGS
from warroom.bootstrap import build_runtime, utc_now
from warroom.config import load_config
from warroom.incident.errors import LedgerError
from warroom.incident.policy import WarroomConfig
from warroom.integrations.ledger.testing import temporary_postgres_database
from warroom.integrations.sandbox.from_config import jira_options, pagerduty_setup
from warroom.integrations.sandbox.server import Sandboxes
from warroom.runner import deployments
from warroom.settings import Settings
from warroom.tasks.runtime import Runtime, use_runtime


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=60), temporary_settings(
        {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_SERVER_ANALYTICS_ENABLED: False}
    ):
        for deployment in deployments():  # what the intake starts runs of
            deployment.apply()
        yield


@pytest.fixture(scope="session")
def config() -> WarroomConfig:
    return load_config(CONFIGS)


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory, config: WarroomConfig) -> Iterator[Sandboxes]:
    home = tmp_path_factory.mktemp("sandbox-home")
    with Sandboxes(home, pagerduty_setup=pagerduty_setup(config), jira_options=jira_options(config)) as s:
        yield s


def fast(config: WarroomConfig, seconds: int = 30) -> WarroomConfig:
    """The sample configuration with every approval timeout set to ``seconds``."""
    approvals = config.policy.approvals.model_copy(
        update=dict.fromkeys(type(config.policy.approvals).model_fields, timedelta(seconds=seconds))
    )
    return config.model_copy(update={"policy": config.policy.model_copy(update={"approvals": approvals})})


@pytest.fixture()
def make_runtime(
    prefect_server: None, sandboxes: Sandboxes, config: WarroomConfig, tmp_path: Path
) -> Iterator[Callable[..., Runtime]]:
    """Install a runtime whose approval timeouts are all ``seconds`` long."""
    with ExitStack() as stack:

        def make(
            seconds: int = 30, clock: Callable[[], datetime] = utc_now, database_url: str | None = None
        ) -> Runtime:
            settings = Settings(home=tmp_path / "home", config_dir=CONFIGS,
                                database_url=database_url)
            rt = build_runtime(settings, sandboxes.env(), config=fast(config, seconds), clock=clock)
            stack.callback(rt.ledger.close)
            stack.enter_context(use_runtime(rt))
            return rt

        yield make


@pytest.fixture()
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime(30)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh ``warroom_test_<hex>`` database for the session; skipped if unreachable, unless CI."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_postgres_database())
        except LedgerError as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"{exc}. CI=true: the PostgreSQL ledger tests must run here.")
            pytest.skip(f"{exc}. Start PostgreSQL on 127.0.0.1:5432 (trust auth) to run these.")
        yield url
