"""`warroom up` as a subprocess for the benches: started in a temporary home on free ports (the Prefect
server's too: ``--prefect-port 0``), its process tree's RSS and size, and its stop (SIGTERM, then SIGKILL
of its process group after 30 s)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
STOP_GRACE_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(root: int) -> list[int]:
    """``root`` and all its descendants, by the ppid links in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process is gone already
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_mb(pid: int) -> float:
    """RSS of ``pid``'s process tree, from /proc/<pid>/status VmRSS."""
    total_kb = 0
    for each in tree(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        if found := re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE):
            total_kb += int(found.group(1))
    return total_kb / 1024


def state(pid: int) -> str:
    """The process's state letter (R, S, Z, ...), or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                members.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return members


class WarroomUp:
    """``.venv/bin/warroom up`` in its own process group; its output goes to ``home/up.log``."""

    def __init__(self, home: Path, token: str, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.intake_port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update({"WARROOM_HOME": str(home), "WARROOM_CONFIG_DIR": str(ROOT / "configs"),
                    "WARROOM_INTAKE_TOKENS": token, "WARROOM_INTAKE_PORT": str(self.intake_port),
                    "PREFECT_HOME": str(home / "prefect-home"), **(extra_env or {})})
        self.log_path = home / "up.log"
        self.log = self.log_path.open("w")
        command = [str(ROOT / ".venv" / "bin" / "warroom"), "up", "--prefect-port", "0",
                   "--pagerduty-port", str(free_port()), "--jira-port", str(free_port())]
        started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.url = f"http://127.0.0.1:{self.intake_port}"
        self.api_url = self._wait_ready(timeout=180)
        self.start_s = time.perf_counter() - started

    def _wait_ready(self, timeout: float) -> str:
        """Wait for GET /healthz; returns the Prefect API url (the printed "Prefect UI: <url>" + /api)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"warroom up exited ({self.process.returncode}): {self.tail()}")
            ui = re.search(r"^Prefect UI: (\S+)", self.log_path.read_text(), re.MULTILINE)
            try:
                if ui and httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return ui.group(1).rstrip("/") + "/api"
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"warroom up was not ready within {timeout:.0f} s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def processes(self) -> int:
        """How many live processes its tree holds now (``warroom up`` itself included; zombies not)."""
        return len([pid for pid in tree(self.process.pid) if state(pid) not in ("", "Z")])

    def stop(self) -> str:
        """SIGTERM, and wait; after 30 s, SIGKILL the process group. Says what happened."""
        pgid = self.process.pid  # start_new_session: the process group is the leader's pid
        started = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOP_GRACE_S)
            said = f"exited {code} {time.perf_counter() - started:.1f} s after SIGTERM"
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait()
            said = f"still running {STOP_GRACE_S:.0f} s after SIGTERM: killed its process group (SIGKILL)"
        time.sleep(1)
        if left := group_members(pgid):
            os.killpg(pgid, signal.SIGKILL)
            said += f"; {len(left)} of its processes outlived it: killed them (SIGKILL)"
        self.log.close()
        return said
