"""Prints alert-to-page latency and the intake's throughput (figures, never pass/fail).

Alert-to-page: from the moment an Alertmanager webhook is POSTed to `warroom intake` until the
PagerDuty sandbox receives the trigger (its own receive time), over 200 alerts that each open a new
incident, one at a time. Measured on the embedded default (Prefect server and ledger on SQLite) and
with the Prefect server and the ledger on PostgreSQL, beside the floor: the real PagerDuty client
sending the same trigger straight to the sandbox, measured in the same run (bench/sandbox.py).
Storm: 2,000 alerts across 20 fingerprints from 8 concurrent clients; accepted alerts per second.
Targets: p95 within 1 s on PostgreSQL and 2 s on the embedded default; at least 300 alerts/s.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

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


def alert(fingerprint: str) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "groupKey": fingerprint, "alerts": [{
        "status": "firing", "fingerprint": fingerprint, "startsAt": datetime.now(UTC).isoformat(),
        "labels": {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical",
                   "impact": "customer"},
        "annotations": {"summary": "Checkout returns 500s"}}]}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def measure(name: str, prefect_database: str | None, ledger_url: str | None) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix=f"warroom-bench-{name}-"))
    settings = Settings.model_validate({"home": home, "config_dir": ROOT / "configs", "database_url": ledger_url,
                                        "intake_tokens": TOKEN})
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    with local_stack(settings, env, load_config(settings.config_dir),
                     prefect_database_url=prefect_database) as stack, use_runtime(stack.runtime):
        for deployment in deployments():
            deployment.apply()
        intake = Background(create_intake_app(stack.runtime, settings, utc_now))
        headers = {"authorization": f"Bearer {TOKEN}"}
        try:
            with httpx.Client(headers=headers, timeout=60) as client:
                for i in range(5):  # warm up
                    client.post(f"{intake.url}/v1/alerts/alertmanager", json=alert(f"warm-{name}-{i}"))
                sent: dict[str, datetime] = {}
                for i in range(LATENCY_ALERTS):
                    fingerprint = f"lat-{name}-{i}"
                    sent_at = datetime.now(UTC)
                    answer = client.post(f"{intake.url}/v1/alerts/alertmanager", json=alert(fingerprint)).json()
                    sent[answer["alerts"][0]["incident"]] = sent_at
            received = triggers(stack.sandboxes)
            latencies = [(received[i] - at).total_seconds() * 1000 for i, at in sent.items()]

            accepted, storm_s = storm(intake.url, name)
        finally:
            intake.stop()
    return {"p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99), "accepted": accepted, "alerts_per_s": accepted / storm_s}


STORM_CLIENT = """
import sys, threading, time, json
from concurrent.futures import ThreadPoolExecutor
import httpx
url, token, name, total, fingerprints, clients = sys.argv[1:7]
local = threading.local()
def send(n):
    if not hasattr(local, "client"):
        local.client = httpx.Client(headers={"authorization": "Bearer " + token}, timeout=60)
    fp = f"storm-{name}-{n % int(fingerprints)}"
    body = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "fingerprint": fp,
            "labels": {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical",
                       "impact": "customer"}, "annotations": {"summary": "Checkout returns 500s"}}]}
    return local.client.post(url + "/v1/alerts/alertmanager", json=body).status_code
started = time.perf_counter()
with ThreadPoolExecutor(int(clients)) as pool:
    statuses = list(pool.map(send, range(int(total))))
print(json.dumps({"accepted": statuses.count(202), "seconds": time.perf_counter() - started}))
"""


def storm(url: str, name: str) -> tuple[int, float]:
    """The storm's clients run in a process of their own, so they do not share this one's GIL."""
    args = [url, TOKEN, name, str(STORM_ALERTS), str(STORM_FINGERPRINTS), str(STORM_CLIENTS)]
    done = subprocess.run([sys.executable, "-c", STORM_CLIENT, *args], capture_output=True, text=True,
                          check=True, timeout=1200)
    result = json.loads(done.stdout)
    return int(result["accepted"]), float(result["seconds"])


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


def main() -> None:
    base = floor(LATENCY_ALERTS)
    results = {"embedded (SQLite)": measure("sqlite", None, None)}
    try:
        with temporary_postgres_database() as prefect_db, temporary_postgres_database() as ledger_db:
            asyncpg = prefect_db.replace("postgresql+psycopg://", "postgresql+asyncpg://")
            results["PostgreSQL"] = measure("postgres", asyncpg, ledger_db)
    except Exception as exc:  # a bench prints what it could not measure, and goes on
        print(f"PostgreSQL: not measured ({exc})")

    print(f"floor (real client -> sandbox, {LATENCY_ALERTS} triggers): p50 {base['p50_ms']:.1f} ms, "
          f"p95 {base['p95_ms']:.1f} ms, p99 {base['p99_ms']:.1f} ms\n")
    print(f"alert-to-page, {LATENCY_ALERTS} alerts, each a new incident (POST sent -> trigger received):")
    print(f"{'':20} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p95/floor':>10} {'target p95':>11} "
          f"{'storm alerts/s':>15}")
    targets = {"embedded (SQLite)": 2000, "PostgreSQL": 1000}
    for name, r in results.items():
        print(f"{name:20} {r['p50_ms']:8.0f} {r['p95_ms']:8.0f} {r['p99_ms']:8.0f} "
              f"{r['p95_ms'] / base['p95_ms']:9.0f}x {targets[name]:>9} ms {r['alerts_per_s']:15.0f}")
    print(f"\nstorm: {STORM_ALERTS} alerts across {STORM_FINGERPRINTS} fingerprints from {STORM_CLIENTS} "
          "clients; target at least 300 accepted alerts/s")


if __name__ == "__main__":
    main()
