"""How a command finds the running stack: ``PREFECT_API_URL`` if set; else the ``stack.json`` that
``warroom up`` keeps in ``$WARROOM_HOME`` while it runs (its process alive and its Prefect API
answering); else a one-line error saying what to do.

``stack.json`` says where things are, never a secret: the sandboxes' tokens stay with ``warroom up``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import httpx
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

from warroom.incident.errors import WarroomError
from warroom.settings import Settings
from warroom.stack import every_thread, ui_url_for

STACK_FILE = "stack.json"
NO_STACK = "no warroom stack is running: start one with `warroom up` (or set PREFECT_API_URL)"
HEALTH_TIMEOUT_S = 3.0


class NoStackError(WarroomError):
    """No running stack was found."""


@dataclass(frozen=True)
class RunningStack:
    """Where a running stack is. Outside ``pid`` and ``api_url``, None when ``PREFECT_API_URL`` said
    where Prefect is (nothing more is known then)."""

    api_url: str
    ui_url: str
    pid: int | None = None  # the `warroom up` process
    intake_url: str | None = None
    pagerduty_url: str | None = None
    jira_url: str | None = None
    home: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunningStack:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def stack_file(home: Path) -> Path:
    return home / STACK_FILE


def write_stack_file(home: Path, stack: RunningStack) -> Path:
    """Write ``home/stack.json`` atomically (a reader never sees half of it)."""
    path = stack_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{STACK_FILE}.{os.getpid()}.tmp")
    temporary.write_text(stack.to_json())
    temporary.replace(path)
    return path


def remove_stack_file(home: Path, pid: int | None = None) -> None:
    """Remove ``home/stack.json`` if it is the one ``pid`` (default: this process) wrote."""
    pid = os.getpid() if pid is None else pid
    recorded = read_stack_file(home)
    if recorded is not None and recorded.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            stack_file(home).unlink()


def read_stack_file(home: Path) -> RunningStack | None:
    """What ``home/stack.json`` says, or None if there is none (or it is unreadable)."""
    try:
        return RunningStack.from_json(stack_file(home).read_text())
    except (OSError, ValueError, TypeError):
        return None


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live warroom process (not a zombie, not an unrelated process that got
    the number since)."""
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():  # not Linux: the process exists, at least
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and b"warroom" in cmdline


def answers(api_url: str, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    """Whether the Prefect API at ``api_url`` answers its health check."""
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def running_stack(home: Path) -> RunningStack | None:
    """The stack ``home/stack.json`` describes if its `warroom up` is alive, else None (a stale file
    left by a killed `warroom up` is ignored)."""
    recorded = read_stack_file(home)
    if recorded is None or recorded.pid is None or not alive(recorded.pid):
        return None
    return recorded


def find_stack(settings: Settings, environ: Mapping[str, str]) -> RunningStack:
    """The stack a command should use: ``PREFECT_API_URL`` if set; else the live `warroom up` of
    ``$WARROOM_HOME`` whose Prefect API answers; else :class:`NoStackError`."""
    if api_url := environ.get("PREFECT_API_URL", "").strip():
        return RunningStack(api_url=api_url, ui_url=environ.get("PREFECT_UI_URL") or ui_url_for(api_url))
    stack = running_stack(settings.home)
    if stack is None:
        raise NoStackError(NO_STACK)
    if not answers(stack.api_url):
        raise NoStackError(f"warroom up (pid {stack.pid}) runs, but its Prefect API at {stack.api_url} does not "
                           "answer: is it still starting? (or set PREFECT_API_URL)")
    return stack


@contextmanager
def using(stack: RunningStack) -> Iterator[RunningStack]:
    """Point this process's Prefect client (every thread's) at ``stack`` for the duration."""
    with temporary_settings({PREFECT_API_URL: stack.api_url, PREFECT_UI_URL: stack.ui_url}), every_thread():
        yield stack


@contextmanager
def prefect_api(settings: Settings, environ: Mapping[str, str]) -> Iterator[RunningStack]:
    """Find the running stack and point this process's Prefect client at it (``find_stack`` + ``using``)."""
    with using(find_stack(settings, environ)) as stack:
        yield stack
