"""Sandbox benchmark: the floor of one page. Latency of a trigger sent by the real, reused
``pagerduty.EventsApiV2Client`` to the PagerDuty sandbox over TLS on 127.0.0.1, one at a time with
distinct dedup keys (each opens an incident), and the requests per second that gives. Figures only;
never pass/fail.

Run from the repo root: ``.venv/bin/python bench/sandbox.py [N]`` (default 500 triggers).
``bench/intake.py`` can import :func:`measure_trigger_floor` to print the page's floor beside the
intake's own figures.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

from warroom.integrations.pagerduty.credentials import PagerDutyCredentials
from warroom.integrations.sandbox.server import Sandboxes

WARMUP = 20


def _percentile(sorted_ms: list[float], q: float) -> float:
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    return statistics.quantiles(sorted_ms, n=100, method="inclusive")[int(q) - 1]


def measure_trigger_floor(n: int = 500) -> dict[str, Any]:
    """Send ``n`` triggers (after a short warm-up) and return latency percentiles and throughput.

    Keys: ``n``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``, ``requests_per_s``.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    with (
        tempfile.TemporaryDirectory(prefix="warroom-bench-") as home,
        Sandboxes(Path(home), jira=False) as boxes,
    ):
        client = PagerDutyCredentials.from_env(boxes.env()).get_events_client(timeout_s=10.0)
        try:
            for i in range(WARMUP):
                client.trigger("warm-up", "bench", dedup_key=f"warm-{i}", severity="info")
            timings: list[float] = []
            started = perf_counter()
            for i in range(n):
                t0 = perf_counter()
                client.trigger("bench page", "bench", dedup_key=f"bench-{i}", severity="critical")
                timings.append((perf_counter() - t0) * 1000)
            wall = perf_counter() - started
        finally:
            client.close()
        incidents = len(boxes.pagerduty_app.state.pagerduty.incidents)
    if incidents != n + WARMUP:
        raise RuntimeError(f"expected {n + WARMUP} incidents in the sandbox, found {incidents}")
    timings.sort()
    return {
        "n": n,
        "p50_ms": _percentile(timings, 50),
        "p95_ms": _percentile(timings, 95),
        "p99_ms": _percentile(timings, 99),
        "max_ms": timings[-1],
        "requests_per_s": n / wall,
    }


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 500
    figures = measure_trigger_floor(n)
    print(f"PagerDuty sandbox, Events API v2 trigger, reused EventsApiV2Client over TLS, n={figures['n']}")
    print(
        f"  latency  p50 {figures['p50_ms']:.2f} ms   p95 {figures['p95_ms']:.2f} ms   "
        f"p99 {figures['p99_ms']:.2f} ms   max {figures['max_ms']:.2f} ms"
    )
    print(f"  throughput  {figures['requests_per_s']:.0f} requests/s (one client, sequential)")


if __name__ == "__main__":
    main(sys.argv)
