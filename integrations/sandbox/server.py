"""Serve sandbox apps over TLS on 127.0.0.1, each in a daemon thread.

Programmatic use::

    with Sandboxes(home) as boxes:
        os.environ.update(boxes.env())      # or pass boxes.env() to a subprocess
        ...                                  # warroom talks to boxes.pagerduty_url, boxes.jira_url

:func:`serve_in_thread` serves any ASGI app; :class:`Sandboxes` starts the PagerDuty sandbox and, when
``integrations.sandbox.jira`` is importable, the Jira sandbox, all on one local CA (:mod:`.tls`).

With ``persist=True`` (as ``warroom up``, ``sandbox`` and ``demo`` run them) each sandbox keeps its
data in ``home/sandbox/{pagerduty,jira}.json`` (:class:`StateFile`), as the real services keep
theirs: loaded at start, saved after every request that may change it, before its answer goes out.
A file is replaced whole (a temporary file renamed over it), so killing the process never leaves half
of one. The recorder's requests and the fault plan are per-run test tooling and are not kept.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Protocol

import uvicorn
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warroom.integrations.sandbox.recorder import ADMIN_PREFIX
from warroom.integrations.sandbox.tls import SandboxTLS, ensure_ca

_START_TIMEOUT_S = 15.0
STATE_DIR = "sandbox"  # under home: pagerduty.json, jira.json

log = logging.getLogger("warroom.sandbox")


@dataclass
class RunningServer:
    """A uvicorn server running in a daemon thread; ``base_url`` is ``https://HOST:PORT``."""

    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 10.0) -> None:
        """Make the server exit at once (idle keep-alive TLS connections are not waited for)."""
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout)


def serve_in_thread(app: Any, tls: SandboxTLS, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` over TLS (certificate from ``tls``) in a daemon thread; return once it listens.

    ``port=0`` picks a free port; the port really bound is in the returned ``base_url``.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls.cert_path),
        ssl_keyfile=str(tls.key_path),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"sandbox server on {host}:{port} failed to start (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"sandbox server on {host}:{port} did not start in {_START_TIMEOUT_S:.0f} s")
        time.sleep(0.005)  # waiting for the server thread to bind, not for the passage of time
    bound = port
    for srv in server.servers:
        for sock in srv.sockets:
            bound = sock.getsockname()[1]
            break
    url_host = f"[{host}]" if ":" in host else host
    return RunningServer(base_url=f"https://{url_host}:{bound}", server=server, thread=thread)


# keeping the sandboxes' data ---------------------------------------------------------------------


class SandboxState(Protocol):
    """What :class:`StateFile` needs of a sandbox's state (PagerDuty's, Jira's)."""

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, data: Any) -> None: ...


class StateFile:
    """A sandbox's state kept in ``path`` as JSON."""

    def __init__(self, path: Path, state: SandboxState) -> None:
        self.path = path
        self.state = state
        self._saved: dict[str, Any] | None = None  # what the file holds, once this object wrote it

    def load(self) -> None:
        """Restore the state from the file, if there is one.

        A file that cannot be read or is not a snapshot is renamed ``*.corrupt`` and the state stays
        empty, with one warning naming the file and the reason.
        """
        try:
            self.state.restore(json.loads(self.path.read_bytes()))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            try:
                os.replace(self.path, aside)
                kept = f"is kept as {aside}"
            except OSError as rename_error:
                kept = f"could not be set aside ({rename_error})"
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            log.warning("sandbox state %s is unreadable (%s); starting empty; the file %s", self.path, reason, kept)

    def save(self) -> None:
        """Write the state if it changed since the last save: to a temporary file renamed over the
        file, under the state's lock (so saves land in the order of the changes). A write that fails
        is one warning; the next save tries again."""
        with self.state.lock:
            data = self.state.snapshot()
            if data == self._saved:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as out:
                        out.write(json.dumps(data))  # dumps, no indent: the C encoder (dump is pure Python)
                    os.replace(tmp, self.path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
            except OSError as exc:
                log.warning("sandbox state %s could not be saved: %s", self.path, exc)
                return
            self._saved = data


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class SaveAfterChanges:
    """ASGI middleware: after a request that may change the state (not a read, not ``/_sandbox``),
    ``save`` runs before the answer starts, so an answered change is on disk."""

    def __init__(self, app: ASGIApp, save: Callable[[], None]) -> None:
        self.app = app
        self.save = save

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        saved = False

        async def save_then_send(message: Message) -> None:
            nonlocal saved
            if message["type"] == "http.response.start" and not saved:
                saved = True
                await run_in_threadpool(self.save)
            await send(message)

        try:
            await self.app(scope, receive, save_then_send)
        finally:
            if not saved:  # no answer (an error on the way): the change, if any, is kept all the same
                self.save()


def _jira_module() -> ModuleType | None:
    try:
        return importlib.import_module("warroom.integrations.sandbox.jira")
    except ModuleNotFoundError as exc:
        if exc.name in ("warroom.integrations.sandbox.jira",):
            return None
        raise


class Sandboxes:
    """Start the PagerDuty sandbox (and the Jira sandbox, when present) over TLS.

    ``home`` holds the CA (``home/sandbox-ca``). The PagerDuty setup (token, routing key, users,
    escalation policies) defaults to :func:`integrations.sandbox.pagerduty.default_setup`.
    ``jira_options`` are passed to ``integrations.sandbox.jira.create_jira_app``. ``persist=True``
    keeps their data in ``home/sandbox/`` across restarts (see the module's doc); off by default, so
    tests' sandboxes start empty.
    """

    def __init__(
        self,
        home: Path,
        *,
        pagerduty_setup: Any | None = None,
        jira: bool = True,
        jira_options: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        pagerduty_port: int = 0,
        jira_port: int = 0,
        persist: bool = False,
    ) -> None:
        from warroom.integrations.sandbox.pagerduty import default_setup

        self.home = Path(home)
        self.pagerduty_setup = pagerduty_setup if pagerduty_setup is not None else default_setup()
        self._want_jira = jira
        self._jira_options = dict(jira_options or {})
        self._host = host
        self._pagerduty_port = pagerduty_port
        self._jira_port = jira_port
        self.persist = persist
        self._state_files: list[StateFile] = []
        self.tls: SandboxTLS | None = None
        self.pagerduty_app: Any = None
        self.jira_app: Any = None
        self._jira_mod: ModuleType | None = None
        self._servers: list[RunningServer] = []
        self._pagerduty: RunningServer | None = None
        self._jira: RunningServer | None = None

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Sandboxes:
        from warroom.integrations.sandbox.pagerduty import create_pagerduty_app

        self.tls = ensure_ca(self.home)
        setup = self.pagerduty_setup
        self.pagerduty_app = create_pagerduty_app(
            api_token=setup.api_token,
            routing_keys=setup.routing_keys,
            users=setup.users,
            escalation_policies=setup.escalation_policies,
        )
        self._keep(self.pagerduty_app, self.pagerduty_app.state.pagerduty, "pagerduty")
        try:
            self._pagerduty = serve_in_thread(self.pagerduty_app, self.tls, self._host, self._pagerduty_port)
            self._servers.append(self._pagerduty)
            self._jira_mod = _jira_module() if self._want_jira else None
            if self._jira_mod is not None and hasattr(self._jira_mod, "create_jira_app"):
                self.jira_app = self._jira_mod.create_jira_app(**self._jira_options)
                self._keep(self.jira_app, self.jira_app.state.jira, "jira")
                self._jira = serve_in_thread(self.jira_app, self.tls, self._host, self._jira_port)
                self._servers.append(self._jira)
        except BaseException:
            self.stop()
            raise
        return self

    def _keep(self, app: Any, state: SandboxState, name: str) -> None:
        """With ``persist``: load ``state`` from its file and save it after every change."""
        if not self.persist:
            return
        state_file = StateFile(self.home / STATE_DIR / f"{name}.json", state)
        state_file.load()
        app.add_middleware(SaveAfterChanges, save=state_file.save)
        self._state_files.append(state_file)

    def stop(self) -> None:
        while self._servers:
            self._servers.pop().stop()
        while self._state_files:
            self._state_files.pop().save()

    def __enter__(self) -> Sandboxes:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # where they are -----------------------------------------------------------------------------
    @property
    def pagerduty_url(self) -> str:
        if self._pagerduty is None:
            raise RuntimeError("the sandboxes are not started")
        return self._pagerduty.base_url

    @property
    def events_url(self) -> str:
        """The Events API v2 base URL (the same server as the REST API)."""
        return self.pagerduty_url

    @property
    def jira_url(self) -> str | None:
        """The Jira sandbox's base URL, or None when the Jira sandbox is not available."""
        return self._jira.base_url if self._jira is not None else None

    def env(self) -> dict[str, str]:
        """The ``WARROOM_*`` settings that point warroom at these sandboxes (values include secrets)."""
        if self.tls is None:
            raise RuntimeError("the sandboxes are not started")
        setup = self.pagerduty_setup
        env = {
            "WARROOM_CA_BUNDLE": str(self.tls.ca_path),
            "WARROOM_PAGERDUTY_API_URL": self.pagerduty_url,
            "WARROOM_PAGERDUTY_EVENTS_URL": self.events_url,
            "WARROOM_PAGERDUTY_API_TOKEN": setup.api_token,
            "WARROOM_PAGERDUTY_ROUTING_KEY": setup.routing_key,
            "WARROOM_PAGERDUTY_FROM_EMAIL": setup.from_email,
        }
        if setup.drill_routing_key:
            env["WARROOM_PAGERDUTY_DRILL_ROUTING_KEY"] = setup.drill_routing_key
        if self._jira is not None:
            env["WARROOM_JIRA_URL"] = self._jira.base_url
            jira_env = getattr(self._jira_mod, "sandbox_env", None)
            if callable(jira_env):
                env.update(jira_env(self.jira_app, self._jira.base_url))
        return env
