"""Prints the intake's latency, throughput, body times and the stack's memory (figures, never pass/fail).

Alert-to-page: from the moment an Alertmanager webhook is POSTed to `warroom intake` until the
PagerDuty sandbox receives the trigger (its own receive time), over 200 alerts that each open a new
incident, one at a time. Measured in process (intake + dispatcher, no runner) on the embedded default
(Prefect server and ledger on SQLite) and with the Prefect server and the ledger on PostgreSQL, beside
the floor: the real PagerDuty client sending the same trigger straight to the sandbox, measured in the
same run (bench/sandbox.py). Target: p95 within 15x the floor.

Against the full stack (`warroom up` as a subprocess, SQLite, its runner serving the lifecycle):
  RSS of its process tree, and its processes, idle and with 200 incidents waiting: 200 alerts (each a
      new incident, critical with customer impact) declared one after the other, then waited for until
      each incident's lifecycle run has ended and its incident commander's desk waits (a flow run of the
      flow "desk", tagged warroom-desk, paused with the roles form, named "INC-... · incident commander
      · <person>"); how long that took from the first alert (target: 200 waiting within 1 GB in all), and
      how many lifecycle runs failed on the way (Prefect answering 503 under the load; warroom's
      dispatcher runs each afresh, the bench does nothing about them);
  storms of 2,000 alerts from 8 concurrent clients, in accepted alerts/s (target: at least 500/s):
      joins (20 fingerprints of those declared incidents) and watched (each a new fingerprint that
      the criteria decide to watch: a warning on search, no customer impact);
  one Alertmanager notification of 1,000 and of 10,000 alerts (one group, declared): POST to 202
      (targets: 1 s and 10 s).
The joins storm also runs against each in-process intake (its 20 incidents declared first, once its
dispatcher has carried out the lifecycle run starts the alerts before called for). Beside the
storms, their ceiling on this machine: the same storm against an endpoint that does nothing, served as
the intake is (FastAPI on uvicorn, the answer made in a worker thread): what the HTTP stack and the
storm's own client leave before warroom does any work.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
from _stack import WarroomUp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prefect import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings

from warroom.bootstrap import utc_now
from warroom.config import load_config
from warroom.deployments import lifecycle
from warroom.intake import create_intake_app
from warroom.integrations.ledger.testing import temporary_postgres_database
from warroom.runner import Background, deployments
from warroom.settings import Settings
from warroom.stack import local_stack
from warroom.tasks.desks import DESK_FLOW, TAG
from warroom.tasks.runtime import use_runtime

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-intake-token"
LATENCY_ALERTS = 200
STORM_ALERTS, STORM_FINGERPRINTS, STORM_CLIENTS = 2000, 20, 8
WAITING = 200  # declared incidents, each waiting on its incident commander's desk (a paused run, no process)
WAIT_TIMEOUT_S = 2700.0  # Prefect on SQLite starts the 200 lifecycle runs slowly on a busy machine
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


def load() -> float:
    """The machine's 1-minute load average now (shown beside each figure: other work moves them all)."""
    return os.getloadavg()[0]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def post(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"{url}/v1/alerts/alertmanager", json=body)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def declare(url: str, fingerprints: list[str]) -> list[str]:
    """Open and declare one incident per fingerprint (one body each, as the storm clients send); their ids."""
    declared = []
    with httpx.Client(headers={"authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        for fp in fingerprints:
            alert = post(client, url, notification([fp], CRITICAL))["alerts"][0]
            if alert["action"] != "declared":
                raise RuntimeError(f"{fp}: {alert['action']}, not declared")
            declared.append(str(alert["incident"]))
    return declared


def measure(name: str, prefect_database: str | None, ledger_url: str | None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"warroom-bench-{name}-"))
    settings = Settings.model_validate({"home": home, "config_dir": ROOT / "configs", "database_url": ledger_url,
                                        "intake_tokens": TOKEN})
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    with local_stack(settings, env, load_config(settings.config_dir),
                     prefect_database_url=prefect_database) as stack, use_runtime(stack.runtime):
        for deployment in deployments():
            deployment.apply()
        app = create_intake_app(stack.runtime, settings, utc_now)
        intake = Background(app)
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
            latency_load = load()

            declare(intake.url, [f"join-{name}-{i}" for i in range(STORM_FINGERPRINTS)])
            waited = dispatched(stack.runtime.ledger)
            joins = storm(intake.url, f"join-{name}", STORM_FINGERPRINTS, CRITICAL)
            joins["waited_s"] = waited
        finally:
            intake.stop()
            # its dispatcher loop (run starts on this stack's Prefect) ends before the stack does: a loop
            # left running would reach for an ephemeral Prefect server once this one is gone
            app.state.dispatcher.stop(timeout=120)
    return {"p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99), "load": latency_load, "joins": joins}


def dispatched(ledger: Any, limit_s: float = 180) -> float:
    """Wait until the dispatcher has carried out the work due (the lifecycle run starts the alerts above
    called for, against Prefect), so that the storm measures the intake and not that; how long it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        now = datetime.now(UTC)
        if not [w for w in ledger.work_rows(status="pending", limit=100_000) if w.due_at <= now]:
            break
        time.sleep(0.5)
    return time.perf_counter() - started


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
    result["load"] = load()
    return result


def ceiling() -> dict[str, Any]:
    """The joins storm against an endpoint that reads the body and answers from a worker thread, and
    does nothing else: the most any intake served this way could accept here, with this client."""
    app = FastAPI()
    answer = {"alerts": [{"action": "nothing"}]}

    def nothing() -> dict[str, Any]:
        return answer

    @app.post("/v1/alerts/alertmanager")
    async def receive(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse(await anyio.to_thread.run_sync(nothing), 202)

    server = Background(app)
    try:
        return storm(server.url, "ceiling", STORM_FINGERPRINTS, CRITICAL)
    finally:
        server.stop()


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
    return {**result, "load": load()}


LIFECYCLE_FLOW = lifecycle.name  # the flow of the lifecycle deployment ("lifecycle")
IC_DESK = re.compile(r"^(INC-\S+) · incident commander · \S+$")
NOT_ENDED = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
ENDED_BADLY = [StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]


def runs_now(client: Any) -> dict[str, int]:
    """Paused incident-commander desks; lifecycle runs in all, not ended yet, and ended badly."""
    def count(flow: str, types: list[StateType] | None = None, tags: list[str] | None = None) -> int:
        state = FlowRunFilterState(type=FlowRunFilterStateType(any_=types)) if types else None
        wanted = FlowRunFilter(state=state, tags=FlowRunFilterTags(all_=tags) if tags else None)
        return int(client.count_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                                          flow_run_filter=wanted))

    return {"ic_desks_paused": count(DESK_FLOW, [StateType.PAUSED], [TAG, "role:incident_commander"]),
            "lifecycles": count(LIFECYCLE_FLOW), "lifecycles_running": count(LIFECYCLE_FLOW, NOT_ENDED),
            "lifecycles_ended_badly": count(LIFECYCLE_FLOW, ENDED_BADLY)}


def ic_desks(client: Any) -> set[str]:
    """The incidents whose incident commander's desk is paused, by the desk run's name."""
    wanted = FlowRunFilter(tags=FlowRunFilterTags(all_=[TAG]),
                           state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    found: set[str] = set()
    offset = 0
    while page := client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[DESK_FLOW])),
                                        flow_run_filter=wanted, limit=200, offset=offset):
        found |= {m.group(1) for run in page if (m := IC_DESK.match(run.name))}
        offset += len(page)
    return found


def ended_badly(client: Any) -> list[str]:
    """What each lifecycle run that failed or crashed ended with (warroom's dispatcher runs it afresh)."""
    wanted = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ENDED_BADLY)))
    failed = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[LIFECYCLE_FLOW])),
                                   flow_run_filter=wanted, limit=200)
    return [f"{run.state_name}: {(run.state.message or '').splitlines()[0][:160] if run.state else ''}"
            for run in failed]


def wait_waiting(api_url: str, incidents: list[str], since: float) -> dict[str, Any]:
    """Wait until every incident commander's desk is paused and no lifecycle run is left to end; ``since``:
    the first alert's POST. The lifecycle runs that failed on the way are counted with what they failed
    with (warroom runs each afresh). After the timeout, says how far it got (``timed_out``)."""
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        while True:
            now = runs_now(client)
            done = (now["ic_desks_paused"] >= len(incidents) and now["lifecycles_running"] == 0
                    and not set(incidents) - ic_desks(client))
            timed_out = not done and time.perf_counter() - since > WAIT_TIMEOUT_S  # measured as it is, and said so
            if done or timed_out:
                return {"waiting_s": time.perf_counter() - since, "failed": ended_badly(client),
                        "timed_out": timed_out, **now}
            time.sleep(3)


def post_body(url: str, alerts: int) -> dict[str, Any]:
    """One notification of ``alerts`` alerts in one group: seconds from POST to the 202."""
    body = notification([f"body{alerts}-{i}" for i in range(alerts)], CRITICAL, f"bench-body-{alerts}")
    content = json.dumps(body).encode()
    started = time.perf_counter()
    answer = httpx.post(f"{url}/v1/alerts/alertmanager", content=content, timeout=300,
                        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"})
    seconds = time.perf_counter() - started
    actions = Counter(a["action"] for a in answer.json().get("alerts", [])) if answer.status_code == 202 else {}
    return {"status": answer.status_code, "seconds": seconds, "mb": len(content) / 2**20, "actions": dict(actions),
            "load": load()}


def measure_up(r: dict[str, Any]) -> None:
    """The full stack: `warroom up` as a subprocess; fills ``r`` as it goes, and always stops the stack."""
    up = WarroomUp(Path(tempfile.mkdtemp(prefix="warroom-bench-up-")), TOKEN,
                   {"PREFECT_LOGGING_LEVEL": "WARNING"})
    r.update(pid=up.process.pid, start_s=up.start_s, log=up.log_path)
    try:
        time.sleep(5)  # let it settle
        r["idle_mb"], r["idle_procs"], r["idle_load"] = up.rss_mb(), up.processes(), load()
        r["step"] = f"declaring {WAITING} incidents"
        started = time.perf_counter()
        incidents = declare(up.url, [f"join-up-{i}" for i in range(WAITING)])
        r["declare_s"] = time.perf_counter() - started
        r["step"] = f"waiting until the {WAITING} lifecycle runs have ended and each incident commander's desk waits"
        r["waiting"] = wait_waiting(up.api_url, incidents, started)
        r["waiting_mb"], r["waiting_procs"], r["waiting_load"] = up.rss_mb(), up.processes(), load()
        r["step"] = "the joins storm"
        r["joins"] = storm(up.url, "join-up", STORM_FINGERPRINTS, CRITICAL)
        r["step"] = "the watched storm"
        r["watched"] = storm(up.url, "watch-up", STORM_ALERTS, WATCHED)
        r["step"] = "the bodies"
        r["bodies"] = {n: post_body(up.url, n) for n in BODY_SIZES}
        r["end_mb"], r["end_procs"] = up.rss_mb(), up.processes()
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
    top = ceiling()
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
          f"declared incidents from {STORM_CLIENTS} clients (the storms' target, {STORM_TARGET} accepted "
          "alerts/s, is for the full stack's, below)")
    print(storm_line("ceiling (no-op)", top))
    for name, r in results.items():
        print(storm_line(name, r["joins"]) + f"  (after {r['joins']['waited_s']:.0f} s for the dispatcher's "
              "run starts)")

    if "pid" in up:
        print(f"\nfull stack: `warroom up` as a subprocess (Prefect server and ledger on SQLite, runner serving "
              f"the lifecycle), pid {up['pid']}, ready after {up['start_s']:.1f} s")
    if "idle_mb" in up:
        print(f"  RSS of its process tree, idle: {up['idle_mb']:.0f} MB in {up['idle_procs']} processes")
    if "declare_s" in up:
        print(f"  {WAITING} alerts, each a new incident declared: POSTed one after another in {up['declare_s']:.1f} s")
    if "waiting_mb" in up:
        w = up["waiting"]
        if w["timed_out"]:
            print(f"    NOT ALL WAITING after {w['waiting_s']:.0f} s (the bench's limit): {w['ic_desks_paused']} "
                  f"incident commander desks paused; {w['lifecycles']} lifecycle runs, "
                  f"{w['lifecycles_running']} not ended; measured as it was")
        else:
            print(f"    {WAITING} waiting {w['waiting_s']:.0f} s after the first alert: {w['ic_desks_paused']} "
                  f"incident commander desks paused on the roles form; {w['lifecycles']} lifecycle runs, all ended")
        if w["failed"]:
            print(f"    {len(w['failed'])} lifecycle runs failed or crashed on the way, each run afresh by warroom: "
                  + "; ".join(f"{n} x {why}" for why, n in Counter(w["failed"]).most_common(3)))
        print(f"    RSS {up['waiting_mb']:.0f} MB in {up['waiting_procs']} processes (measured, {WAITING} waiting); "
              f"target {WAITING} waiting incidents within {RSS_TARGET_MB / 1024:.0f} GB RSS in all")
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
        print(f"  RSS after the storms and bodies: {up['end_mb']:.0f} MB in {up['end_procs']} processes")
    if "stop" in up:
        print(f"  stop: {up['stop']}")

    print(f"\nsummary (figures, never pass/fail; {os.cpu_count()} CPUs shared with other work: beside each figure "
          f"the 1-minute load average when it was taken; at the end {load():.1f})")
    rows: list[tuple[str, str, str, float]] = [
        ("floor p95 (client -> sandbox)", f"{base['p95_ms']:.1f} ms", "-", base["load"]),
        ("storm ceiling (no-op endpoint)", f"{top['per_s']:.0f} alerts/s", "-", top["load"])]
    for name, r in results.items():
        rows.append((f"alert-to-page p95, {name}", f"{r['p95_ms']:.0f} ms = {r['p95_ms'] / base['p95_ms']:.0f}x floor",
                     f"within {FLOOR_MULTIPLE}x floor ({FLOOR_MULTIPLE * base['p95_ms']:.0f} ms)", r["load"]))
    for name, r in results.items():
        rows.append((f"joins storm, in-process {name}", f"{r['joins']['per_s']:.0f} alerts/s",
                     "- (the targets are up's)", r["joins"]["load"]))
    for name in ("joins", "watched"):
        if name in up:
            rows.append((f"{name} storm, warroom up", f"{up[name]['per_s']:.0f} alerts/s", f">= {STORM_TARGET}/s",
                         up[name]["load"]))
    for n, b in up.get("bodies", {}).items():
        rows.append((f"body of {n:,} alerts, POST -> 202", f"{b['seconds']:.2f} s", f"<= {BODY_SIZES[n]:.0f} s",
                     b["load"]))
    if "idle_mb" in up:
        rows.append(("RSS, warroom up idle", f"{up['idle_mb']:.0f} MB, {up['idle_procs']} processes", "-",
                     up["idle_load"]))
    if "waiting_mb" in up:
        w = up["waiting"]
        label = f"{w['ic_desks_paused']} desks waiting (NOT ALL)" if w["timed_out"] else f"{WAITING} incidents waiting"
        rows.append((f"RSS, {label} (measured)",
                     f"{up['waiting_mb']:.0f} MB, {up['waiting_procs']} processes", f"<= {RSS_TARGET_MB} MB",
                     up["waiting_load"]))
        took = (f"gave up after {w['waiting_s']:.0f} s" if w["timed_out"]
                else f"{w['waiting_s']:.0f} s after the 1st alert")
        rows.append((f"time until {WAITING} waiting", took, "-", up["waiting_load"]))
        if w["failed"]:
            rows.append(("lifecycle runs failed on the way", f"{len(w['failed'])}, each run afresh by warroom", "-",
                         up["waiting_load"]))
    print(f"  {'':42} {'measured':34} {'target':28} load")
    for label, measured, target, at in rows:
        print(f"  {label:42} {measured:34} {target:28} {at:4.1f}")


if __name__ == "__main__":
    main()
