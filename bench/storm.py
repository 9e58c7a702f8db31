"""Storms only, in about a minute: the joins and watched storms of bench/intake.py against an in-process
intake (Prefect server and ledger on SQLite, or on PostgreSQL with ``--postgres``; the intake's own
dispatcher running), with the CPU of each thread per accepted alert, after their ceiling here (the same
storm against a no-op endpoint). Figures, never pass/fail.

    .venv/bin/python bench/storm.py [--alerts 2000] [--statements] [--sample]

``--statements``: the SQL statements and commits per accepted alert too, and the time in each kind.

``--sample``: a sampling profile of every thread of the process while the storms run (the functions
that were on the stack most often, in their own and in total), to find where the time goes.
``--profile FILE``: cProfile of every thread started from then on, merged into FILE (pstats), and the
top of it printed (waits show as lock ``acquire``; the profiler slows everything down).
``--up``: against the full stack instead (`warroom up` as a subprocess: its runner serving, Prefect and the
ledger on SQLite), as bench/intake.py measures it: throughput and the CPU of its process tree only.
``--switch-interval S``: the GIL's switch interval of this process (to try; no steady effect seen here).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
import intake as bench
from _stack import WarroomUp, tree

from warroom.bootstrap import utc_now
from warroom.config import load_config
from warroom.intake import create_intake_app
from warroom.integrations.ledger.hot import Hot
from warroom.integrations.ledger.testing import temporary_postgres_database
from warroom.runner import Background, deployments
from warroom.settings import Settings
from warroom.stack import local_stack
from warroom.tasks.runtime import use_runtime


class Sampler:
    """Every ``interval`` seconds, the stack of each thread but its own: self and total counts per function."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval, self.own, self.total, self.samples = interval, collections.Counter[str](), \
            collections.Counter[str](), 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        me = threading.get_ident()
        while not self.stopped.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                names, f = [], frame
                while f is not None:
                    names.append(f"{Path(f.f_code.co_filename).name}:{f.f_code.co_name}")
                    f = f.f_back
                if names[0].endswith((":wait", ":select", ":_worker", ":get", ":run_forever")):
                    continue  # idle threads
                self.samples += 1
                self.own[names[0]] += 1
                for name in set(names):
                    self.total[name] += 1

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()

    def report(self, top: int = 25) -> None:
        print(f"\nsampled {self.samples} busy thread stacks")
        for title, counts in (("own", self.own), ("total", self.total)):
            print(f"  by {title}:")
            for name, n in counts.most_common(top):
                print(f"    {100 * n / max(1, self.samples):5.1f}%  {name}")


UP_WAIT_S = 300.0  # at most, for the declared incidents to wait on their desks before the storms


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds so far of each thread of this process, by its Python name (or the OS's)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    spent: dict[str, float] = collections.defaultdict(float)
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = names.get(int(task.name)) or (task / "comm").read_text().strip()
            spent[name.split(" (")[0]] += (int(fields[11]) + int(fields[12])) / tick
    return spent


def thread_cpu(before: dict[str, float], per: int) -> str:
    """The threads' CPU since ``before``, per accepted alert (ms), the busiest first."""
    now = thread_cpu_s()
    spent = sorted(((now[k] - before.get(k, 0.0), k) for k in now), reverse=True)
    return ", ".join(f"{k} {1000 * v / per:.2f}" for v, k in spent if v >= 0.01)


def tree_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of ``pid``'s live process tree, from /proc/<pid>/stat, by process
    (its pid and the start of its command line)."""
    spent: dict[str, float] = {}
    for each in tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{each}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        name = " ".join(Path(word).name if word.startswith("/") else word for word in command.split()[:4])
        spent[f"{each} {name[:60]}"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return spent


def count_hot(before: Callable[..., None], after: Callable[..., None]) -> None:
    """The ledger's hot statements (run on the driver's cursor, which fires no SQLAlchemy events) counted
    and timed as the others are."""
    execute = Hot._execute

    def counted(conn: Any, sql: str, values: list[Any], many: bool) -> Any:
        before(conn, None, sql)
        try:
            return execute(conn, sql, values, many)
        finally:
            after(conn, None, sql)

    Hot._execute = staticmethod(counted)  # type: ignore[method-assign]


def gc_timer(collected: dict[str, float]) -> Callable[[str, dict[str, int]], None]:
    """A ``gc.callbacks`` entry adding up the collections' time into ``collected`` (s, runs, oldest)."""
    started = [0.0]

    def timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        collected["s"] += time.perf_counter() - started[0]
        collected["runs"] += 1
        collected["oldest"] += info["generation"] == 2
    return timer


def measure_up(alerts: int) -> None:
    print(f"bench/storm.py --up: {alerts} alerts from {bench.STORM_CLIENTS} clients against `warroom up` (SQLite); "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    up = WarroomUp(Path(tempfile.mkdtemp(prefix="warroom-storm-up-")), bench.TOKEN,
                   {"PREFECT_LOGGING_LEVEL": "WARNING"})
    print(bench.storm_line("ceiling (no-op)", bench.ceiling()), flush=True)
    try:
        started = time.perf_counter()
        incidents = bench.declare(up.url, [f"join-up-{i}" for i in range(bench.STORM_FINGERPRINTS)])
        # as bench/intake.py does: the storms start once the incidents' lifecycle runs are waiting on their
        # desks (else the runner starting 20 lifecycle processes is measured with the joins)
        bench.WAIT_TIMEOUT_S = UP_WAIT_S
        waiting = bench.wait_waiting(up.api_url, incidents, started)
        print(f"  {waiting['ic_desks_paused']} of {len(incidents)} incidents waiting on their desks after "
              f"{waiting['waiting_s']:.0f} s{' (gave up waiting)' if waiting['timed_out'] else ''}", flush=True)
        for name, prefix, fingerprints, labels in (
                ("joins", "join-up", bench.STORM_FINGERPRINTS, bench.CRITICAL),
                ("watched", "watch-up", alerts, bench.WATCHED)):
            before = tree_cpu_s(up.process.pid)
            r = bench.storm(up.url, prefix, fingerprints, labels)
            after = tree_cpu_s(up.process.pid)
            spent = sorted(((v - before.get(k, 0.0), k) for k, v in after.items()), reverse=True)
            per = max(1, r["accepted"])
            print(bench.storm_line(name, r) + f"  load {r['load']:.1f}")
            print(f"    CPU of warroom up's process tree per accepted alert: "
                  f"{1000 * sum(v for v, _ in spent) / per:.2f}"
                  f" ms: {', '.join(f'{k} {1000 * v / per:.2f}' for v, k in spent if v >= 0.01)}", flush=True)
    finally:
        print(f"  stop: {up.stop()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=bench.STORM_ALERTS)
    parser.add_argument("--sample", action="store_true")
    parser.add_argument("--statements", action="store_true", help="count the SQL statements and commits per alert")
    parser.add_argument("--profile", metavar="FILE")
    parser.add_argument("--up", action="store_true")
    parser.add_argument("--postgres", action="store_true", help="the Prefect server and the ledger on PostgreSQL")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval for this process (s)")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.up:
        bench.STORM_ALERTS = args.alerts
        return measure_up(args.alerts)
    profiles: list[cProfile.Profile] = []
    if args.profile:
        def start_profile(*_: object) -> None:  # the first event of a new thread: profile it from here on
            profile = cProfile.Profile()
            profiles.append(profile)
            profile.enable()

        threading.setprofile(start_profile)
    bench.STORM_ALERTS = args.alerts
    home = Path(tempfile.mkdtemp(prefix="warroom-storm-"))
    with contextlib.ExitStack() as databases:
        ledger_url = prefect_url = None
        if args.postgres:
            ledger_url = databases.enter_context(temporary_postgres_database())
            prefect_url = databases.enter_context(temporary_postgres_database()).replace(
                "postgresql+psycopg://", "postgresql+asyncpg://")
        measure_here(args, home, ledger_url, prefect_url, profiles)


def measure_here(args: argparse.Namespace, home: Path, ledger_url: str | None, prefect_url: str | None,
                 profiles: list[cProfile.Profile]) -> None:
    settings = Settings.model_validate({"home": home, "config_dir": bench.ROOT / "configs",
                                        "intake_tokens": bench.TOKEN, "database_url": ledger_url})
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    print(f"bench/storm.py: {args.alerts} alerts from {bench.STORM_CLIENTS} clients, in-process intake on "
          f"{'PostgreSQL' if ledger_url else 'SQLite'}; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    with local_stack(settings, env, load_config(settings.config_dir), prefect_database_url=prefect_url) as stack, \
            use_runtime(stack.runtime):
        for deployment in deployments():
            deployment.apply()
        statements, commits = collections.Counter[str](), [0]
        engine = stack.runtime.ledger._engine  # counting only: the statements the ledger sends

        spent = collections.Counter[str]()
        started: dict[int, float] = {}

        def kind(sql: str) -> str:
            words = sql.split(None, 2)
            return " ".join(words[:2]).upper() if words[0].upper() == "BEGIN" else words[0].upper()

        def _count(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            statements[kind(sql)] += 1
            started[id(conn)] = time.perf_counter()

        def _timed(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            spent[kind(sql)] += time.perf_counter() - started.pop(id(conn), time.perf_counter())

        def _commit(_conn: Any) -> None:
            commits[0] += 1

        if args.statements:  # the listeners cost the committing thread ~0.07 ms an alert: only when asked
            event.listen(engine, "before_cursor_execute", _count)
            event.listen(engine, "after_cursor_execute", _timed)
            event.listen(engine, "commit", _commit)
            count_hot(_count, _timed)
        collected: dict[str, float] = collections.defaultdict(float)
        gc.callbacks.append(gc_timer(collected))

        app = create_intake_app(stack.runtime, settings, utc_now)
        intake = Background(app)
        bench.quiet()
        print(bench.storm_line("ceiling (no-op)", bench.ceiling()), flush=True)
        try:
            bench.declare(intake.url, [f"join-storm-{i}" for i in range(bench.STORM_FINGERPRINTS)])
            time.sleep(2)  # let the dispatcher page and start the 20 runs
            results = {}
            sampler = Sampler() if args.sample else None
            if sampler:
                sampler.__enter__()
            for name, prefix, fingerprints, labels in (
                    ("joins", "join-storm", bench.STORM_FINGERPRINTS, bench.CRITICAL),
                    ("watched", "watch-storm", args.alerts, bench.WATCHED)):
                statements.clear()
                spent.clear()
                collected.clear()
                commits[0] = 0
                cpu = time.process_time()
                threads = thread_cpu_s()
                results[name] = r = bench.storm(intake.url, prefix, fingerprints, labels)
                per = max(1, r["accepted"])
                cpu = time.process_time() - cpu
                print(bench.storm_line(name, r) + f"  load {r['load']:.1f}")
                print(f"    CPU per accepted alert by thread: {thread_cpu(threads, per)}")
                print(f"    CPU of this process (intake, dispatcher, sandboxes) per accepted alert: "
                      f"{1000 * cpu / per:.2f} ms (at most {per / cpu if cpu else 0:.0f} alerts per CPU-second)")
                print(f"    of which the garbage collector: {1000 * collected['s'] / per:.3f} ms "
                      f"({collected['runs']:.0f} collections, {collected['oldest']:.0f} of the oldest generation)")
                if not args.statements:
                    continue
                print(f"    per accepted alert: {sum(statements.values()) / per:.2f} statements "
                      f"({', '.join(f'{k} {v / per:.2f}' for k, v in statements.most_common())}), "
                      f"{commits[0] / per:.2f} commits (BEGIN IMMEDIATE: a write transaction); ms in the database "
                      f"per alert: {', '.join(f'{k} {1000 * v / per:.2f}' for k, v in spent.most_common())}",
                      flush=True)
            if sampler:
                sampler.__exit__()
                sampler.report()
        finally:
            intake.stop()
            app.state.dispatcher.stop(timeout=120)
    if profiles:
        for profile in profiles:
            profile.disable()
        stats = pstats.Stats(*profiles)
        stats.dump_stats(args.profile)
        stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
