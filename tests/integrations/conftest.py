"""Fixtures for integration tests: the vendor sandboxes over real TLS sockets, and a fake clock.

- ``sandbox_home`` / ``sandbox_tls``: one local CA per test session (``tmp_path_factory``).
- ``pagerduty_sandbox``: a fresh PagerDuty sandbox per test (clean state, no faults left over),
  served over TLS on an ephemeral 127.0.0.1 port; see :class:`PagerDutySandbox`.
- ``fake_clock``: a clock whose ``sleep`` advances ``monotonic`` at once, for retry policies and
  rate limiters: tests never sleep to wait for time.
- ``pager``: a :class:`~integrations.pagerduty.pager.PagerDutyPager` on the sandbox, on the fake clock.
- ``jira_sandbox``: a fresh Jira Cloud sandbox per test, over TLS; see :class:`JiraSandbox`.
- ``tracker``: a :class:`~integrations.jira.tracker.JiraTracker` on the Jira sandbox, on the fake clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from warroom.integrations.jira.credentials import JiraCredentials
from warroom.integrations.jira.tracker import JiraTracker
from warroom.integrations.pagerduty.credentials import PagerDutyCredentials
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.integrations.retry import RateLimiter, RetryPolicy
from warroom.integrations.sandbox.jira import DEFAULT_EMAIL as JIRA_DEFAULT_EMAIL
from warroom.integrations.sandbox.jira import JiraState, create_jira_app
from warroom.integrations.sandbox.jira import sandbox_env as jira_sandbox_env
from warroom.integrations.sandbox.pagerduty import (
    PagerDutySandboxState,
    PagerDutySetup,
    create_pagerduty_app,
    default_setup,
)
from warroom.integrations.sandbox.recorder import Fault, RecordedRequest, Recorder
from warroom.integrations.sandbox.server import RunningServer, serve_in_thread
from warroom.integrations.sandbox.tls import SandboxTLS, ensure_ca


class FakeClock:
    """``monotonic`` and ``sleep`` for injection: ``sleep(s)`` advances the clock by ``s`` at once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.start = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    @property
    def elapsed(self) -> float:
        return self.now - self.start


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def sandbox_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warroom-home")


@pytest.fixture(scope="session")
def sandbox_tls(sandbox_home: Path) -> SandboxTLS:
    return ensure_ca(sandbox_home)


@dataclass
class PagerDutySandbox:
    """A running PagerDuty sandbox and the handles a test needs."""

    setup: PagerDutySetup
    state: PagerDutySandboxState
    recorder: Recorder
    server: RunningServer
    tls: SandboxTLS

    @property
    def url(self) -> str:
        return self.server.base_url

    def env(self) -> dict[str, str]:
        return {
            "WARROOM_PAGERDUTY_API_TOKEN": self.setup.api_token,
            "WARROOM_PAGERDUTY_ROUTING_KEY": self.setup.routing_key,
            "WARROOM_PAGERDUTY_FROM_EMAIL": self.setup.from_email,
            "WARROOM_PAGERDUTY_API_URL": self.url,
            "WARROOM_PAGERDUTY_EVENTS_URL": self.url,
            "WARROOM_CA_BUNDLE": str(self.tls.ca_path),
        }

    def credentials(self, **overrides: Any) -> PagerDutyCredentials:
        return PagerDutyCredentials.from_env({**self.env(), **overrides})

    def http(self) -> httpx.Client:
        """A plain HTTP client trusting the sandbox CA, for raw checks and the admin API."""
        return httpx.Client(base_url=self.url, verify=self.tls.client_context(), timeout=10.0)

    def rest_headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Token token={self.setup.api_token}", **extra}

    def set_faults(self, *faults: Fault) -> None:
        self.recorder.set_faults(faults)

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        return [
            r
            for r in self.recorder.requests()
            if (method is None or r.method == method) and r.path.startswith(path_prefix)
        ]

    def incident_count(self, dedup_key: str) -> int:
        return len(self.state.incidents_for_key(dedup_key))


@pytest.fixture
def pagerduty_sandbox(sandbox_tls: SandboxTLS) -> Iterator[PagerDutySandbox]:
    setup = default_setup()
    state = PagerDutySandboxState(
        api_token=setup.api_token,
        routing_keys=setup.routing_keys,
        users=setup.users,
        escalation_policies=setup.escalation_policies,
    )
    app = create_pagerduty_app(state)
    server = serve_in_thread(app, sandbox_tls)
    try:
        yield PagerDutySandbox(setup, state, app.state.recorder, server, sandbox_tls)
    finally:
        server.stop()


def fake_clock_policy(clock: FakeClock, **overrides: Any) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, monotonic=clock.monotonic, **overrides)


@pytest.fixture
def pager(pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock) -> Iterator[PagerDutyPager]:
    limiter = RateLimiter(1000.0, 1000.0, monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    adapter = PagerDutyPager(
        pagerduty_sandbox.credentials(), retry=fake_clock_policy(fake_clock), limiter=limiter, timeout_s=5.0
    )
    try:
        yield adapter
    finally:
        adapter.close()


# Jira ------------------------------------------------------------------------------------------

JIRA_USERS = [
    {"accountId": "acc-bot", "displayName": "warroom bot", "emailAddress": JIRA_DEFAULT_EMAIL},
    {"accountId": "acc-ada", "displayName": "Ada Lovelace", "emailAddress": "ada@example.com"},
    # a prefix of the next one's address: a user search for "ada@example.com" returns both
    {"accountId": "acc-ada-au", "displayName": "Ada Byron", "emailAddress": "ada@example.com.au"},
    {"accountId": "acc-grace", "displayName": "Grace Hopper", "emailAddress": "grace@example.com"},
]


@dataclass
class JiraSandbox:
    """A running Jira sandbox (projects OPS and SRE, :data:`JIRA_USERS`) and the handles a test needs."""

    app: FastAPI
    server: RunningServer
    tls: SandboxTLS

    @property
    def url(self) -> str:
        return self.server.base_url

    @property
    def state(self) -> JiraState:
        state: JiraState = self.app.state.jira
        return state

    @property
    def recorder(self) -> Recorder:
        recorder: Recorder = self.app.state.recorder
        return recorder

    def env(self) -> dict[str, str]:
        return {**jira_sandbox_env(self.app, self.url), "WARROOM_CA_BUNDLE": str(self.tls.ca_path)}

    def credentials(self, **overrides: str) -> JiraCredentials:
        return JiraCredentials.from_env({**self.env(), **overrides})

    def http(self, *, auth: bool = True) -> httpx.Client:
        """A plain HTTP client trusting the sandbox CA (signed in unless ``auth=False``)."""
        email, token = self.app.state.credentials
        return httpx.Client(
            base_url=self.url,
            verify=self.tls.client_context(),
            timeout=10.0,
            auth=(email, token) if auth else None,
        )

    def set_faults(self, *faults: Fault) -> None:
        self.recorder.set_faults(faults)

    def requests(
        self, method: str | None = None, path_prefix: str = "", *, path: str | None = None
    ) -> list[RecordedRequest]:
        """What the sandbox saw, once it has finished answering (an answer's last bytes can reach
        the client before the recorder notes it)."""
        self.recorder.wait_idle()
        return [
            r
            for r in self.recorder.requests()
            if (method is None or r.method == method)
            and r.path.startswith(path_prefix)
            and (path is None or r.path == path)
        ]

    def issue_keys(self, label: str) -> list[str]:
        """Keys of the issues carrying ``label``, from the sandbox's own state."""
        return self.state.keys_with_label(label)


@pytest.fixture
def jira_sandbox(sandbox_tls: SandboxTLS) -> Iterator[JiraSandbox]:
    app = create_jira_app(users=JIRA_USERS, projects=["OPS", "SRE"])
    server = serve_in_thread(app, sandbox_tls)
    try:
        yield JiraSandbox(app, server, sandbox_tls)
    finally:
        server.stop()


@pytest.fixture
def tracker(jira_sandbox: JiraSandbox, fake_clock: FakeClock) -> Iterator[JiraTracker]:
    adapter = JiraTracker(jira_sandbox.credentials(), retry=fake_clock_policy(fake_clock), timeout_s=5.0)
    try:
        yield adapter
    finally:
        adapter.close()
