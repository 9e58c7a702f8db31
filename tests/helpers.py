"""Small helpers shared by the flow and intake tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from warroom.integrations.sandbox.server import Sandboxes

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@dataclass
class Clock:
    """An injected clock: tests move time by setting ``now``, never by sleeping."""

    now: datetime = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def requests_seen(sandboxes: Sandboxes, base_url: str | None) -> list[dict[str, Any]]:
    """Every request a sandbox has seen (its admin API)."""
    assert sandboxes.tls is not None and base_url is not None
    answer = httpx.get(f"{base_url}/_sandbox/requests", verify=sandboxes.tls.client_context())
    seen: list[dict[str, Any]] = answer.json()
    return seen


def shared_payload(name: str) -> bytes:
    """A real webhook body from ``shared_dir()/payloads``. Absent: the test is skipped with the reason,
    except under ``CI=true``, where it fails (CI must run it)."""
    path = shared_dir() / "payloads" / name
    if not path.is_file():
        message = (f"{path} is absent: this test reads real webhook bodies; set WARROOM_SHARED_DIR to a "
                   "folder holding payloads/ to run it")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the payloads must be present)")
        pytest.skip(message)
    return path.read_bytes()


def shared_dir() -> Path:
    """The workspace's ``shared/`` (vendor specs, real webhook payloads): ``$WARROOM_SHARED_DIR``, else
    the folder beside the repository."""
    configured = os.environ.get("WARROOM_SHARED_DIR")
    return Path(configured) if configured else CONFIGS.parents[1] / "shared"


def wait_for(what: str, predicate: Callable[[], Any], within_s: float = 90.0) -> Any:
    """Poll ``predicate`` until it is truthy (other threads or processes are working); fail with
    ``what`` after ``within_s``. It waits for work to finish, never for time to pass."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {within_s} s: {what}")
