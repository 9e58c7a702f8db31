"""The local stack of the embedded default: a Prefect server with its UI, on SQLite (unless
``PREFECT_API_URL`` is set), the PagerDuty and Jira sandboxes set up from ``configs/``, and a runtime
wired to them."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import prefect.context
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_UI_URL,
    temporary_settings,
)

from warroom.bootstrap import build_runtime
from warroom.incident.errors import WarroomError
from warroom.incident.policy import WarroomConfig
from warroom.integrations.sandbox.from_config import jira_options, pagerduty_setup
from warroom.integrations.sandbox.server import Sandboxes
from warroom.settings import Settings
from warroom.tasks.runtime import Runtime

LOCALHOST = "127.0.0.1"
PREFECT_PORT = 4200  # Prefect's own default, for `warroom up`
START_TIMEOUT_S = 120.0  # a first start migrates a fresh database: 10-20 s here, more on a busy machine
STOP_GRACE_S = 5.0  # then SIGKILL
# what a warroom process may have in its environment that is not about the server it starts
_NOT_FOR_THE_SERVER = frozenset({"PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_DATABASE_CONNECTION_URL",
                                 "PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_UI_URL"})


class PortInUseError(WarroomError):
    """A port asked for is taken (or the address cannot be bound)."""


class PrefectServerError(WarroomError):
    """The local Prefect server did not start."""


@dataclass(frozen=True)
class Stack:
    api_url: str
    sandboxes: Sandboxes
    runtime: Runtime
    env: dict[str, str]  # what points a process at this stack (includes sandbox secrets)

    @property
    def ui_url(self) -> str:
        return ui_url_for(self.api_url)


def ui_url_for(api_url: str) -> str:
    """The Prefect UI that goes with ``api_url`` (``PREFECT_UI_URL`` if set; Prefect Cloud's too)."""
    with temporary_settings({PREFECT_API_URL: api_url}):
        return str(PREFECT_UI_URL.value() or api_url.removesuffix("/api")).rstrip("/")


def url_host(host: str) -> str:
    """How a URL names ``host``: a wildcard address is reached on 127.0.0.1; IPv6 in brackets."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104  (naming the wildcard, not binding it)
        return LOCALHOST
    return f"[{host}]" if ":" in host else host


def sandbox_host(host: str) -> str:
    """The sandboxes' certificate names 127.0.0.1 and localhost only: they stay there unless asked for one."""
    return host if host in (LOCALHOST, "localhost", "::1") else LOCALHOST


def check_port(host: str, port: int, option: str) -> None:
    """Raise :class:`PortInUseError` naming ``option`` if ``host:port`` cannot be bound now (port 0: any
    free one, always fine)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUseError(f"cannot listen on {host!r}: {exc.strerror} (check --host)") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {port} on {host} is in use: stop what holds it or choose another with {option} "
                    "(0 picks a free one)") from None
            raise PortInUseError(f"cannot listen on {host}:{port} ({option}): {exc.strerror}") from None


def free_port(host: str) -> int:
    infos = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.bind(address)
        return int(sock.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` (Linux) that has the child sent SIGTERM when this process dies, even by SIGKILL,
    so no Prefect server outlives a killed warroom. (The signal follows the *thread* that started the
    child: start the server from the main thread, or from one that lives as long as the server.)"""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return preexec


class PrefectServer:
    """``prefect server start`` (API, UI and services) as a child process, with its state under ``home``:
    the database (SQLite at ``home/prefect.db`` unless ``database_url``), ``PREFECT_HOME`` at
    ``home/prefect`` (the UI's static files, the log ``server.log``), never ``~/.prefect``.

    It runs in its own process group, so a Ctrl-C at the terminal reaches warroom only, which stops it
    after its own runs and logs are done with it; and it gets SIGTERM if warroom dies (Linux)."""

    def __init__(self, home: Path, database_url: str | None = None, host: str = LOCALHOST, port: int = 0,
                 environ: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.database_url = database_url or f"sqlite+aiosqlite:///{home / 'prefect.db'}"
        self.host = host
        self.port = port
        self.environ = dict(os.environ if environ is None else environ)
        self.prefect_home = home / "prefect"
        self.log_path = self.prefect_home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in self.environ.items() if k not in _NOT_FOR_THE_SERVER}
        env.update({
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.database_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true",
            "PREFECT_UI_URL": self.url,
            # the UI's own copy of its static files, here rather than inside the installed package
            "PREFECT_UI_STATIC_DIRECTORY": str(self.prefect_home / "ui"),
            # one UI: the home page is the same UI as the links warroom prints ({ui}/runs/flow-run/<id>);
            # the other one stays at /v2
            "PREFECT_SERVER_UI_V2_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        })
        env.setdefault("PREFECT_UI_API_URL", self.api_url)  # set it to reach the UI from another machine
        return env

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        self.prefect_home.mkdir(parents=True, exist_ok=True)
        pick = self.port == 0
        attempts = 3 if pick else 1
        for attempt in range(attempts):
            if pick:
                self.port = free_port(self.host)
            try:
                self._start_once(timeout)
                return
            except PrefectServerError:
                # a free port taken between choosing it and binding it: choose again
                if attempt + 1 == attempts or "already in use" not in self._log_tail():
                    raise

    def _start_once(self, timeout: float) -> None:
        with self.log_path.open("ab") as log:
            self._spawn(log)
        assert self.process is not None
        try:
            deadline = time.monotonic() + timeout
            tick = threading.Event()
            with httpx.Client(timeout=2) as client:
                while time.monotonic() < deadline:
                    if (code := self.process.poll()) is not None:
                        self.process = None
                        raise PrefectServerError(
                            f"the Prefect server exited ({code}) before it answered: {self._log_tail()} "
                            f"(log: {self.log_path})")
                    try:
                        if client.get(f"{self.api_url}/health").status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    tick.wait(0.1)  # polling the child's readiness, with a deadline
            raise PrefectServerError(f"the Prefect server did not answer at {self.api_url}/health within "
                                     f"{timeout:.0f} s (log: {self.log_path})")
        except BaseException:  # Ctrl-C or SIGTERM while it starts, too: leave no server behind
            self.stop()
            raise

    def _spawn(self, log: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port)],
            env=self.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.prefect_home, process_group=0, preexec_fn=_die_with_parent(),
        )

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _log_tail(self, lines: int = 3) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").strip().splitlines()
            return " / ".join(line.strip() for line in text[-lines:] if line.strip()) or "(no output)"
        return "(no log)"


@contextmanager
def every_thread() -> Iterator[None]:
    """Make this thread's Prefect settings (``temporary_settings``) every thread's for the duration.

    A new thread has no settings context of its own: it reads the process-global one, made when
    prefect was imported (no ``PREFECT_API_URL`` then). The runner, the intake and the demo's responder
    run in threads and must reach the same server. Prefect's test harness does the same."""
    with prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()):
        yield


def drain_to_api() -> None:
    """Send Prefect's queued logs and events now; once the server is gone they would be retried for
    a minute or more."""
    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


@contextmanager
def prefect_server(settings: Settings, environ: Mapping[str, str], database_url: str | None = None,
                   host: str = LOCALHOST, port: int = 0) -> Iterator[str]:
    """The Prefect API to use: ``PREFECT_API_URL`` if set, else a local server with its UI on
    ``host:port`` (0: any free port), on SQLite under ``$WARROOM_HOME`` (or on ``database_url``, e.g.
    ``postgresql+asyncpg://...``), stopped on the way out."""
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), ExitStack() as stack:
        api_url = environ.get("PREFECT_API_URL")
        if not api_url:
            settings.home.mkdir(parents=True, exist_ok=True)
            server = PrefectServer(settings.home, database_url, host, port)
            server.start()
            stack.callback(server.stop)
            stack.callback(drain_to_api)  # runs first: logs and events reach the server before it stops
            api_url = server.api_url
        with temporary_settings({PREFECT_API_URL: api_url}), every_thread():
            yield api_url


@contextmanager
def local_stack(
    settings: Settings,
    environ: Mapping[str, str],
    config: WarroomConfig,
    pagerduty_port: int = 0,
    jira_port: int = 0,
    prefect_database_url: str | None = None,
    host: str = LOCALHOST,
    prefect_port: int = 0,
) -> Iterator[Stack]:
    with ExitStack() as stack:
        api_url = stack.enter_context(prefect_server(settings, environ, prefect_database_url, host, prefect_port))
        sandboxes = stack.enter_context(Sandboxes(
            settings.home, pagerduty_setup=pagerduty_setup(config), jira_options=jira_options(config),
            host=sandbox_host(host), pagerduty_port=pagerduty_port, jira_port=jira_port, persist=True,
        ))
        env = {**sandboxes.env(), "PREFECT_API_URL": api_url}
        runtime = build_runtime(settings, {**environ, **env}, config=config)
        stack.callback(runtime.ledger.close)
        yield Stack(api_url=api_url, sandboxes=sandboxes, runtime=runtime, env=env)
