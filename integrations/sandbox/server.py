"""Serve sandbox apps over TLS on 127.0.0.1, each in a daemon thread.

Programmatic use::

    with Sandboxes(home) as boxes:
        os.environ.update(boxes.env())      # or pass boxes.env() to a subprocess
        ...                                  # warroom talks to boxes.pagerduty_url, boxes.jira_url

:func:`serve_in_thread` serves any ASGI app; :class:`Sandboxes` starts the PagerDuty sandbox and, when
``integrations.sandbox.jira`` is importable, the Jira sandbox, all on one local CA (:mod:`.tls`).
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import uvicorn

from integrations.sandbox.tls import SandboxTLS, ensure_ca

_START_TIMEOUT_S = 15.0


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


def _jira_module() -> ModuleType | None:
    try:
        return importlib.import_module("integrations.sandbox.jira")
    except ModuleNotFoundError as exc:
        if exc.name in ("integrations.sandbox.jira",):
            return None
        raise


class Sandboxes:
    """Start the PagerDuty sandbox (and the Jira sandbox, when present) over TLS.

    ``home`` holds the CA (``home/sandbox-ca``). The PagerDuty setup (token, routing key, users,
    escalation policies) defaults to :func:`integrations.sandbox.pagerduty.default_setup`.
    ``jira_options`` are passed to ``integrations.sandbox.jira.create_jira_app``.
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
    ) -> None:
        from integrations.sandbox.pagerduty import default_setup

        self.home = Path(home)
        self.pagerduty_setup = pagerduty_setup if pagerduty_setup is not None else default_setup()
        self._want_jira = jira
        self._jira_options = dict(jira_options or {})
        self._host = host
        self._pagerduty_port = pagerduty_port
        self._jira_port = jira_port
        self.tls: SandboxTLS | None = None
        self.pagerduty_app: Any = None
        self.jira_app: Any = None
        self._jira_mod: ModuleType | None = None
        self._servers: list[RunningServer] = []
        self._pagerduty: RunningServer | None = None
        self._jira: RunningServer | None = None

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Sandboxes:
        from integrations.sandbox.pagerduty import create_pagerduty_app

        self.tls = ensure_ca(self.home)
        setup = self.pagerduty_setup
        self.pagerduty_app = create_pagerduty_app(
            api_token=setup.api_token,
            routing_keys=setup.routing_keys,
            users=setup.users,
            escalation_policies=setup.escalation_policies,
        )
        try:
            self._pagerduty = serve_in_thread(self.pagerduty_app, self.tls, self._host, self._pagerduty_port)
            self._servers.append(self._pagerduty)
            self._jira_mod = _jira_module() if self._want_jira else None
            if self._jira_mod is not None and hasattr(self._jira_mod, "create_jira_app"):
                self.jira_app = self._jira_mod.create_jira_app(**self._jira_options)
                self._jira = serve_in_thread(self.jira_app, self.tls, self._host, self._jira_port)
                self._servers.append(self._jira)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self._servers:
            self._servers.pop().stop()

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
        if self._jira is not None:
            env["WARROOM_JIRA_URL"] = self._jira.base_url
            jira_env = getattr(self._jira_mod, "sandbox_env", None)
            if callable(jira_env):
                env.update(jira_env(self.jira_app, self._jira.base_url))
        return env
