"""The responders' console: a real `warroom up` serves the Prefect UI and says where it is in
``$WARROOM_HOME/stack.json`` (no secret in it); `warroom declare` finds it by itself; the expected
errors are a line or two, never a traceback; SIGTERM stops `warroom demo` and its Prefect server."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from prefect import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.helpers import CONFIGS
from tests.warroom.test_intake import TOKEN
from warroom.cli import main, new_incident_id
from warroom.config import load_config
from warroom.discovery import NO_STACK
from warroom.integrations.sandbox.from_config import pagerduty_setup
from warroom.runner import descendants

WARROOM = Path(sys.executable).with_name("warroom")  # the installed entry point, beside this Python
READY_WITHIN_S = 180  # a fresh Prefect database is migrated first: 20-40 s on a busy machine
STOP_WITHIN_S = 20
INCIDENT_ID = re.compile(r"INC-\d{8}-\d{6}-[0-9a-f]{4}")

T = TypeVar("T")


def until(what: str, check: Callable[[], T | None], within_s: float = READY_WITHIN_S) -> T:
    tick = threading.Event()
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if (result := check()) is not None:
            return result
        tick.wait(0.2)  # polling a subprocess's readiness, with a deadline
    raise AssertionError(f"not within {within_s} s: {what}")


def environment(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any PREFECT_* or WARROOM_* setting, pointed at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WARROOM_"))}
    env.update(WARROOM_HOME=str(home), WARROOM_CONFIG_DIR=str(CONFIGS), **extra)
    return env


def warroom(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WARROOM), *args], env=env, capture_output=True, text=True, timeout=timeout)


def gone(pids: list[int]) -> bool:
    return not [p for p in pids if Path(f"/proc/{p}").exists()]


class Running:
    """A warroom command in the background; its output goes to ``home/<name>.log``."""

    def __init__(self, home: Path, name: str, *args: str, env: dict[str, str]) -> None:
        self.home = home
        self.log_path = home / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen([str(WARROOM), *args], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        assert self.process.poll() is None, f"exited {self.process.returncode}:\n{self.output()[-3000:]}"
        return True

    def stop(self, signum: int = signal.SIGTERM) -> tuple[float, list[int]]:
        """Send ``signum``; return how long it took to exit and what it had started that is left."""
        below = descendants(self.process.pid)
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=60)
        finally:
            self.log.close()
        took = time.monotonic() - started
        with contextlib.suppress(AssertionError):  # what is left after 5 s more is returned
            until("its processes are gone", lambda: gone(below) or None, within_s=5)
        return took, [p for p in below if Path(f"/proc/{p}").exists()]

    def kill(self) -> None:
        if self.process.poll() is None:
            for pid in [*descendants(self.process.pid), self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A real `warroom up`, every port picked free (port 0)."""
    home = tmp_path_factory.mktemp("up-home")
    running = Running(home, "up", "up", "--prefect-port", "0", "--intake-port", "0", "--pagerduty-port", "0",
                      "--jira-port", "0", env=environment(home, WARROOM_INTAKE_TOKENS=TOKEN))
    try:
        until("warroom up writes stack.json",
              lambda: (running.alive() and (home / "stack.json").exists() and "declare with" in running.output())
              or None)
        yield running
    finally:
        running.kill()


def stack_json(home: Path) -> dict[str, object]:
    data = json.loads((home / "stack.json").read_text())
    assert isinstance(data, dict)
    return data


def test_up_serves_the_prefect_ui_and_says_where_it_is_without_secrets(up: Running) -> None:
    stack = stack_json(up.home)
    ui, api = str(stack["ui_url"]), str(stack["api_url"])
    assert stack["pid"] == up.process.pid
    assert api == f"{ui}/api"
    printed = up.output()
    assert f"Prefect UI: {ui}\n" in printed
    assert f"export PREFECT_API_URL={api}" in printed
    assert f"intake: {stack['intake_url']}/v1/alerts/" in printed

    browser = {"accept": "text/html,application/xhtml+xml"}  # the UI is a single-page app: every page is index.html
    for page in ("/", f"/runs/flow-run/{uuid.uuid4()}"):
        answer = httpx.get(f"{ui}{page}", headers=browser, timeout=10, follow_redirects=True)
        assert answer.status_code == 200, (page, answer.status_code, answer.text[:200])
        assert answer.headers["content-type"].startswith("text/html"), page
        assert "<!DOCTYPE html>" in answer.text[:200], page
    assert httpx.get(f"{api}/health", timeout=10).json() is True
    settings = httpx.get(f"{ui}/ui-settings", timeout=10).json()
    assert settings["api_url"] == api  # where the UI in the browser sends its API calls

    text = (up.home / "stack.json").read_text()
    setup = pagerduty_setup(load_config(CONFIGS))
    for secret in (TOKEN, setup.api_token, *setup.routing_keys):
        assert secret not in text
    assert not re.search(r"token|secret|password|key", text, re.IGNORECASE), text


def test_declare_finds_the_running_stack_by_itself(up: Running) -> None:
    api = str(stack_json(up.home)["api_url"])
    env = environment(up.home)
    assert "PREFECT_API_URL" not in env
    done = warroom("declare", "checkout", "Checkout returns 500s", "--by", "alice", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    incident_id = INCIDENT_ID.search(done.stdout)
    run_id = re.search(r"lifecycle run ([0-9a-f-]{36})", done.stdout)
    assert incident_id and run_id, done.stdout
    assert f"{stack_json(up.home)['ui_url']}/runs/flow-run/{run_id.group(1)}" in done.stdout

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        run = client.read_flow_run(uuid.UUID(run_id.group(1)))
        deployment = client.read_deployment(run.deployment_id) if run.deployment_id else None
    assert run.parameters["incident_id"] == incident_id.group(0)
    assert run.parameters["service"] == "checkout"
    assert deployment is not None and deployment.name == "lifecycle"

    def waiting() -> str | None:  # the runner starts the lifecycle, which shows the IC's roles desk
        listed = warroom("waiting", "--incident", incident_id.group(0), env=env)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        return listed.stdout if "incident commander" in listed.stdout else None

    line = str(until("warroom waiting lists the roles desk", waiting))
    assert incident_id.group(0) in line and f"{stack_json(up.home)['ui_url']}/runs/flow-run/" in line
    roster = load_config(CONFIGS).roster.people
    ic = next(p for p in roster if f" {p} " in line)
    assert incident_id.group(0) in warroom("waiting", "--for", ic, env=env).stdout
    other = next(p for p in roster if p != ic)
    assert warroom("waiting", "--for", other, env=env).stdout.strip() == f"nothing is waiting for {other}"


def test_a_stopped_up_removes_its_stack_file_and_leaves_no_process(up: Running) -> None:
    assert (up.home / "stack.json").exists()
    below = descendants(up.process.pid)
    assert any(b"prefect\x00server\x00start" in Path(f"/proc/{p}/cmdline").read_bytes() for p in below)
    took, left = up.stop(signal.SIGTERM)
    assert left == [], f"processes left behind: {left}"
    assert took < STOP_WITHIN_S
    assert not (up.home / "stack.json").exists()


def test_declare_with_no_stack_running_says_so_in_one_line(tmp_path: Path) -> None:
    # a stack.json left by a `warroom up` that was killed: its process is gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "stack.json").write_text(json.dumps({"api_url": "http://127.0.0.1:9/api", "ui_url": "-",
                                                     "pid": dead.pid}))
    done = warroom("declare", "checkout", "Checkout returns 500s", env=environment(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == NO_STACK
    assert "Traceback" not in done.stdout + done.stderr


def test_a_busy_port_is_one_line_naming_its_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = warroom("up", "--prefect-port", port, "--intake-port", "0", env=environment(tmp_path), timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--prefect-port" in lines[0] and port in lines[0], done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_intake_without_credentials_is_a_short_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for name in list(os.environ):
        if name.startswith(("PREFECT_", "WARROOM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WARROOM_HOME", str(tmp_path))
    monkeypatch.setenv("WARROOM_CONFIG_DIR", str(CONFIGS))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # a stack is found; never reached
    with pytest.raises(SystemExit) as exit_:
        main(["intake", "--port", "0"])
    assert exit_.value.code == 1
    out, err = capsys.readouterr()
    assert "WARROOM_PAGERDUTY_API_TOKEN is not set" in err
    assert len(err.strip().splitlines()) <= 4, err
    assert "Traceback" not in out + err


def test_incident_ids_declared_in_the_same_second_differ() -> None:
    now = datetime(2026, 12, 2, 15, 30, 12, tzinfo=UTC)
    first, second = new_incident_id(now), new_incident_id(now)
    assert first != second
    assert INCIDENT_ID.fullmatch(first) and first.startswith("INC-20261202-153012-")


def test_sigterm_stops_the_interactive_demo_and_its_prefect_server(tmp_path: Path) -> None:
    demo = Running(tmp_path, "demo", "demo", "--interactive", env=environment(tmp_path))
    try:
        until("the demo waits on its first form", lambda: (demo.alive() and "\nwaiting: " in demo.output()) or None)
        below = descendants(demo.process.pid)
        assert any(b"prefect\x00server\x00start" in Path(f"/proc/{p}/cmdline").read_bytes() for p in below)
        took, left = demo.stop(signal.SIGTERM)
    finally:
        demo.kill()
    assert left == [], f"processes left behind: {left}"
    assert took < STOP_WITHIN_S, f"the demo took {took:.1f} s to stop"
    assert "Traceback" not in demo.output()
