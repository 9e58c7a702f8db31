"""Prints the intake's latency, throughput, body times and the stack's memory (figures, never pass/fail).

Alert-to-page: from the moment an Alertmanager webhook is POSTed to `warroom intake` until the
PagerDuty sandbox receives the trigger (its own receive time), over 200 alerts that each open a new
incident, one at a time. Measured in process (intake + dispatcher, no runner) on the embedded default
(Prefect server and ledger on SQLite) and with the Prefect server and the ledger on PostgreSQL, beside
the floor: the real PagerDuty client sending the same trigger straight to the sandbox, measured in the
same run (bench/sandbox.py). Target: p95 within 15x the floor.

Against the full stack (`warroom up` as a subprocess, SQLite, its runner serving the deployments):
  RSS of its process tree idle and with 20 declared incidents whose lifecycle runs are paused on the
      roles form; the per-incident figure projects 200 (target: 200 waiting within 1 GB in all);
  storms of 2,000 alerts from 8 concurrent clients, in accepted alerts/s (target: at least 500/s):
      joins (20 fingerprints of those declared incidents) and watched (each a new fingerprint that
      the criteria decide to watch: a warning on search, no customer impact);
  one Alertmanager notification of 1,000 and of 10,000 alerts (one group, declared): POST to 202
      (targets: 1 s and 10 s).
The joins storm also runs against each in-process intake (its 20 incidents declared first).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _stack import WarroomUp
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings

from integrations.ledger.testing import temporary_postgres_database
from tasks.runtime import use_runtime
from warroom.bootstrap import utc_now
from warroom.config import load_config
from warroom.intake import create_intake_app
from warroom.runner import Background, deployments
from warroom.settings import Settings
from warroom.stack import local_stack

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-intake-token"
LATENCY_ALERTS = 200
STORM_ALERTS, STORM_FINGERPRINTS, STORM_CLIENTS = 2000, 20, 8
WAITING = 20  # declared incidents paused on their first form (each holds a flow-run process today)
PROJECTED = 200
BODY_SIZES = {1_000: 1.0, 10_000: 10.0}  # alerts in one notification: target seconds to the 202
FLOOR_MULTIPLE, STORM_TARGET, RSS_TARGET_MB = 15, 500, 1024
CRITICAL = {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical", "impact": "customer"}
WATCHED = {"alertname": "SearchSlow", "service": "search", "severity": "warning"}  # SEV3, not customer-visible


def quiet() -> None:
    """No line per page or per request while measuring: warnings and errors only."""
    logging.getLogger("uvicorn.access").disabled = True
    names = [n for n in logging.root.manager.loggerDict if n.startswith(("prefect", "warroom", "uvicorn"))]
    for name in ["prefect", "warroom", "uvicorn", *names]:
        logging.getLogger(name).setLevel(logging.WARNING)


def notification(fingerprints: list[str], labels: dict[str, str], group_key: str | None = None) -> dict[str, Any]:
    """An Alertmanager webhook body; without a group key each alert is grouped by its fingerprint."""
    body: dict[str, Any] = {"version": "4", "status": "firing", "alerts": [{
        "status": "firing", "fingerprint": fp, "startsAt": datetime.now(UTC).isoformat(), "labels": labels,
        "annotations": {"summary": f"{labels['alertname']} on {labels['service']}"}} for fp in fingerprints]}
    if group_key:
        body["groupKey"] = group_key
    return body


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def post(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"{url}/v1/alerts/alertmanager", json=body)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def declare(url: str, fingerprints: list[str]) -> None:
    """Open and declare one incident per fingerprint (one body each, as the storm clients send)."""
    with httpx.Client(headers={"authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        for fp in fingerprints:
            action = post(client, url, notification([fp], CRITICAL))["alerts"][0]["action"]
            if action != "declared":
                raise RuntimeError(f"{fp}: {action}, not declared")


def measure(name: str, prefect_database: str | None, ledger_url: str | None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"warroom-bench-{name}-"))
    settings = Settings.model_validate({"home": home, "config_dir": ROOT / "configs", "database_url": ledger_url,
                                        "intake_tokens": TOKEN})
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    with local_stack(settings, env, load_config(settings.config_dir),
                     prefect_database_url=prefect_database) as stack, use_runtime(stack.runtime):
        for deployment in deployments():
            deployment.apply()
        intake = Background(create_intake_app(stack.runtime, settings, utc_now))
        quiet()
        try:
            with httpx.Client(headers={"authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
                for i in range(5):  # warm up
                    post(client, intake.url, notification([f"warm-{name}-{i}"], CRITICAL, f"warm-{name}-{i}"))
                sent: dict[str, datetime] = {}
                for i in range(LATENCY_ALERTS):
                    fingerprint = f"lat-{name}-{i}"
                    sent_at = datetime.now(UTC)
                    answer = post(client, intake.url, notification([fingerprint], CRITICAL, fingerprint))
                    sent[answer["alerts"][0]["incident"]] = sent_at
            received = triggers(stack.sandboxes)
            latencies = [(received[i] - at).total_seconds() * 1000 for i, at in sent.items()]

            declare(intake.url, [f"join-{name}-{i}" for i in range(STORM_FINGERPRINTS)])
            joins = storm(intake.url, f"join-{name}", STORM_FINGERPRINTS, CRITICAL)
        finally:
            intake.stop()
    return {"p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99), "joins": joins}


STORM_CLIENT = """
import sys, threading, time, json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
import httpx
url, token, prefix, total, fingerprints, clients, labels = sys.argv[1:8]
labels = json.loads(labels)
local = threading.local()
def send(n):
    if not hasattr(local, "client"):
        local.client = httpx.Client(headers={"authorization": "Bearer " + token}, timeout=120)
    body = {"version": "4", "status": "firing", "alerts": [{"status": "firing",
            "fingerprint": f"{prefix}-{n % int(fingerprints)}", "labels": labels,
            "annotations": {"summary": labels["alertname"] + " on " + labels["service"]}}]}
    answer = local.client.post(url + "/v1/alerts/alertmanager", json=body)
    return answer.status_code, answer.json()["alerts"][0]["action"] if answer.status_code == 202 else "-"
started = time.perf_counter()
with ThreadPoolExecutor(int(clients)) as pool:
    answers = list(pool.map(send, range(int(total))))
print(json.dumps({"accepted": sum(1 for s, _ in answers if s == 202), "seconds": time.perf_counter() - started,
                  "actions": Counter(a for _, a in answers)}))
"""


def storm(url: str, prefix: str, fingerprints: int, labels: dict[str, str]) -> dict[str, Any]:
    """STORM_ALERTS alerts from STORM_CLIENTS threads, fingerprints ``prefix-(n % fingerprints)``. The
    clients run in a process of their own, so they do not share this one's GIL (nor the stack's)."""
    args = [url, TOKEN, prefix, str(STORM_ALERTS), str(fingerprints), str(STORM_CLIENTS), json.dumps(labels)]
    done = subprocess.run([sys.executable, "-c", STORM_CLIENT, *args], capture_output=True, text=True,
                          check=True, timeout=1200)
    result: dict[str, Any] = json.loads(done.stdout)
    result["per_s"] = result["accepted"] / result["seconds"]
    return result


def triggers(sandboxes: Any) -> dict[str, datetime]:
    """When the PagerDuty sandbox received each trigger, by dedup key (the incident id)."""
    seen = httpx.get(f"{sandboxes.pagerduty_url}/_sandbox/requests", verify=sandboxes.tls.client_context()).json()
    return {r["body"]["dedup_key"]: datetime.fromisoformat(r["received_at"]) for r in seen
            if r["path"] == "/v2/enqueue" and r["body"].get("event_action") == "trigger"}


def floor(n: int) -> dict[str, float]:
    spec = importlib.util.spec_from_file_location("bench_sandbox", ROOT / "bench" / "sandbox.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: dict[str, float] = module.measure_trigger_floor(n)
    return result


def flow_runs(api_url: str) -> Counter[str]:
    """The stack's flow runs that are paused, crashed or failed, counted by state type."""
    types = [StateType.PAUSED, StateType.CRASHED, StateType.FAILED]
    wanted = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=types)))
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        return Counter(run.state_type.value for run in client.read_flow_runs(flow_run_filter=wanted)
                       if run.state_type is not None)


def wait_paused(api_url: str, n: int, timeout: float = 900) -> tuple[float, Counter[str]]:
    """Wait until ``n`` flow runs are paused, or crashed or failed on the way (the caller reports those)."""
    started = time.perf_counter()
    while (runs := flow_runs(api_url)).total() < n:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"after {timeout:.0f} s, flow runs by state: {dict(runs)}")
        time.sleep(2)
    return time.perf_counter() - started, runs


def post_body(url: str, alerts: int) -> dict[str, Any]:
    """One notification of ``alerts`` alerts in one group: seconds from POST to the 202."""
    body = notification([f"body{alerts}-{i}" for i in range(alerts)], CRITICAL, f"bench-body-{alerts}")
    content = json.dumps(body).encode()
    started = time.perf_counter()
    answer = httpx.post(f"{url}/v1/alerts/alertmanager", content=content, timeout=300,
                        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"})
    seconds = time.perf_counter() - started
    actions = Counter(a["action"] for a in answer.json().get("alerts", [])) if answer.status_code == 202 else {}
    return {"status": answer.status_code, "seconds": seconds, "mb": len(content) / 2**20, "actions": dict(actions)}


def measure_up(r: dict[str, Any]) -> None:
    """The full stack: `warroom up` as a subprocess; fills ``r`` as it goes, and always stops the stack."""
    up = WarroomUp(Path(tempfile.mkdtemp(prefix="warroom-bench-up-")), TOKEN,
                   {"PREFECT_LOGGING_LEVEL": "WARNING"})
    r.update(pid=up.process.pid, start_s=up.start_s, log=up.log_path)
    try:
        time.sleep(5)  # let it settle
        r["idle_mb"] = up.rss_mb()
        r["step"] = f"declaring {WAITING} incidents"
        declare(up.url, [f"join-up-{i}" for i in range(WAITING)])
        r["step"] = "waiting for their lifecycle runs to pause"
        r["paused_s"], r["paused_states"] = wait_paused(up.api_url, WAITING)
        r["waiting_mb"] = up.rss_mb()
        r["waiting"] = r["paused_states"]["PAUSED"]
        r["per_mb"] = (r["waiting_mb"] - r["idle_mb"]) / max(1, r["waiting"])
        r["step"] = "the joins storm"
        r["joins"] = storm(up.url, "join-up", STORM_FINGERPRINTS, CRITICAL)
        r["step"] = "the watched storm"
        r["watched"] = storm(up.url, "watch-up", STORM_ALERTS, WATCHED)
        r["step"] = "the bodies"
        r["bodies"] = {n: post_body(up.url, n) for n in BODY_SIZES}
        r["end_mb"] = up.rss_mb()
        r["step"] = "done"
    finally:
        r["stop"] = up.stop()


def storm_line(name: str, s: dict[str, Any]) -> str:
    actions = ", ".join(f"{n} {a}" for a, n in sorted(s["actions"].items()))
    return (f"  {name:18} {s['accepted']:5} of {STORM_ALERTS} accepted in {s['seconds']:5.1f} s = "
            f"{s['per_s']:4.0f} alerts/s  ({actions})")


def main() -> None:
    quiet()
    print(f"bench/intake.py: figures, never pass/fail; {os.cpu_count()} CPUs, load average at the start "
          f"{os.getloadavg()[0]:.1f} (other work on the machine moves every figure, the floor too)\n", flush=True)
    base = floor(LATENCY_ALERTS)
    results: dict[str, dict[str, Any]] = {}
    try:
        results["embedded (SQLite)"] = measure("sqlite", None, None)
    except Exception as exc:  # a bench prints what it could not measure, and goes on
        print(f"embedded (SQLite): not measured ({exc})")
    try:
        with temporary_postgres_database() as prefect_db, temporary_postgres_database() as ledger_db:
            asyncpg = prefect_db.replace("postgresql+psycopg://", "postgresql+asyncpg://")
            results["PostgreSQL"] = measure("postgres", asyncpg, ledger_db)
    except Exception as exc:
        print(f"PostgreSQL: not measured ({exc})")
    up: dict[str, Any] = {}
    try:
        measure_up(up)
    except Exception as exc:
        print(f"full stack: not all measured: {type(exc).__name__} in {up.get('step', 'starting it')}: {exc} "
              f"(its output: {up.get('log')})")

    print(f"floor (real client -> sandbox, {LATENCY_ALERTS} triggers): p50 {base['p50_ms']:.1f} ms, "
          f"p95 {base['p95_ms']:.1f} ms, p99 {base['p99_ms']:.1f} ms\n")
    print(f"alert-to-page, {LATENCY_ALERTS} alerts, each a new incident (POST sent -> trigger received), "
          "in-process intake + dispatcher:")
    print(f"{'':20} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p95/floor':>10}   target")
    for name, r in results.items():
        print(f"{name:20} {r['p50_ms']:8.0f} {r['p95_ms']:8.0f} {r['p99_ms']:8.0f} "
              f"{r['p95_ms'] / base['p95_ms']:9.0f}x   p95 within {FLOOR_MULTIPLE}x the floor")
    print(f"\njoins storm, in-process intake (no runner): {STORM_ALERTS} alerts across {STORM_FINGERPRINTS} "
          f"declared incidents from {STORM_CLIENTS} clients; target at least {STORM_TARGET} accepted alerts/s")
    for name, r in results.items():
        print(storm_line(name, r["joins"]))

    if "pid" in up:
        print(f"\nfull stack: `warroom up` as a subprocess (Prefect server and ledger on SQLite, runner serving "
              f"lifecycle and handoff), pid {up['pid']}, ready after {up['start_s']:.1f} s")
    if "idle_mb" in up:
        print(f"  RSS of its process tree, idle: {up['idle_mb']:.0f} MB")
    if "waiting_mb" in up:
        per, states = up["per_mb"], ", ".join(f"{n} {s}" for s, n in up["paused_states"].items())
        print(f"  {WAITING} incidents declared; their lifecycle runs by state {up['paused_s']:.0f} s after the first "
              f"alert: {states} (paused: on the roles form)")
        print(f"    RSS {up['waiting_mb']:.0f} MB in all; {per:.0f} MB per waiting incident over idle")
        print(f"    PROJECTION (not measured): {PROJECTED} waiting -> {up['idle_mb']:.0f} + {PROJECTED} x {per:.0f} "
              f"MB = {(up['idle_mb'] + PROJECTED * per) / 1024:.1f} GB; target {PROJECTED} waiting incidents within "
              f"{RSS_TARGET_MB / 1024:.0f} GB RSS in all")
    for name in ("joins", "watched"):
        if name in up:
            if name == "joins":
                print(f"  storms: {STORM_ALERTS} alerts from {STORM_CLIENTS} clients; target at least "
                      f"{STORM_TARGET} accepted alerts/s")
            print(storm_line(name, up[name]))
    for n, b in up.get("bodies", {}).items():
        actions = ", ".join(f"{count} {a}" for a, count in b["actions"].items())
        print(f"  one notification of {n:,} alerts ({b['mb']:.1f} MB): {b['status']} after {b['seconds']:.2f} s "
              f"(target {BODY_SIZES[n]:.0f} s)  ({actions})")
    if "end_mb" in up:
        print(f"  RSS after the storms and bodies: {up['end_mb']:.0f} MB")
    if "stop" in up:
        print(f"  stop: {up['stop']}")

    print(f"\nsummary (figures, never pass/fail; load average at the end {os.getloadavg()[0]:.1f})")
    rows: list[tuple[str, str, str]] = []
    for name, r in results.items():
        rows.append((f"alert-to-page p95, {name}", f"{r['p95_ms']:.0f} ms = {r['p95_ms'] / base['p95_ms']:.0f}x floor",
                     f"within {FLOOR_MULTIPLE}x floor ({FLOOR_MULTIPLE * base['p95_ms']:.0f} ms)"))
    for name, r in results.items():
        rows.append((f"joins storm, in-process {name}", f"{r['joins']['per_s']:.0f} alerts/s", f">= {STORM_TARGET}/s"))
    for name in ("joins", "watched"):
        if name in up:
            rows.append((f"{name} storm, warroom up", f"{up[name]['per_s']:.0f} alerts/s", f">= {STORM_TARGET}/s"))
    for n, b in up.get("bodies", {}).items():
        rows.append((f"body of {n:,} alerts, POST -> 202", f"{b['seconds']:.2f} s", f"<= {BODY_SIZES[n]:.0f} s"))
    if "idle_mb" in up:
        rows.append(("RSS, warroom up idle", f"{up['idle_mb']:.0f} MB", "-"))
    if "waiting_mb" in up:
        per = up["per_mb"]
        rows.append((f"RSS, {up['waiting']} waiting incidents", f"{up['waiting_mb']:.0f} MB ({per:.0f} MB each)", "-"))
        rows.append((f"RSS, {PROJECTED} waiting (PROJECTION)", f"{(up['idle_mb'] + PROJECTED * per) / 1024:.1f} GB",
                     f"<= {RSS_TARGET_MB / 1024:.0f} GB"))
    for label, measured, target in rows:
        print(f"  {label:42} {measured:26} {target}")


if __name__ == "__main__":
    main()
