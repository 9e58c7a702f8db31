"""Ledger benchmark: appends/second on SQLite and PostgreSQL (one and four writers), and the time to
read and fold an incident of 10,000 events. Prints figures beside their targets; never pass/fail.

Run from the repo root: ``.venv/bin/python bench/ledger.py``. PostgreSQL runs on a throwaway
database at 127.0.0.1:5432 (as the tests do) and is skipped with a message when unreachable.
"""

from __future__ import annotations

import importlib
import statistics
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from warroom.incident.errors import LedgerError
from warroom.incident.events import CheckpointAnswered, Declared, Event, PhaseChanged, Recorded, StatusUpdatePosted
from warroom.incident.models import Phase
from warroom.integrations.ledger import Ledger, default_url
from warroom.integrations.ledger.testing import temporary_postgres_database

APPENDS = 2_000  # per configuration, shared between its writers
FOLD_EVENTS = 10_000
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def clock() -> datetime:
    return datetime.now(UTC)


def declared(incident_id: str) -> Declared:
    return Declared(
        incident_id=incident_id,
        actor="alice",
        occurred_at=T0,
        idempotency_key=f"{incident_id}:declare",
        title="checkout is failing",
        service="checkout",
        severity="SEV2",
        commander="alice",
        reasons=("customers can see it",),
    )


def fold_stream_events(incident_id: str, count: int) -> list[Event]:
    """Declared, stabilising, then status updates and checkpoints by the IC, alternately."""
    events: list[Event] = [
        declared(incident_id),
        PhaseChanged(
            incident_id=incident_id,
            actor="alice",
            occurred_at=T0,
            idempotency_key=f"{incident_id}:stabilising",
            to=Phase.STABILISING,
        ),
    ]
    for n in range(count - len(events)):
        at = T0 + timedelta(seconds=n)
        key = f"{incident_id}:{n}"
        if n % 2 == 0:
            events.append(
                StatusUpdatePosted(
                    incident_id=incident_id, actor="alice", occurred_at=at, idempotency_key=key, message="m"
                )
            )
        else:
            events.append(
                CheckpointAnswered(
                    incident_id=incident_id,
                    actor="alice",
                    occurred_at=at,
                    idempotency_key=key,
                    bleeding_stopped=False,
                    decision="continue",
                )
            )
    return events


def appends_per_second(ledger: Ledger, writers: int, tag: str) -> float:
    """``APPENDS`` appends by ``writers`` threads, each on its own incident."""
    per_writer = APPENDS // writers

    def write(w: int) -> None:
        incident_id = f"BENCH-{tag}-{w}"
        for seq in range(per_writer):
            ledger.append(
                StatusUpdatePosted(
                    incident_id=incident_id,
                    actor="alice",
                    occurred_at=T0,
                    idempotency_key=f"{incident_id}:{seq}",
                    message="still looking",
                ),
                seq,
            )

    start = perf_counter()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(write, range(writers)))
    return per_writer * writers / (perf_counter() - start)


def bench_appends(name: str, url: str) -> None:
    with Ledger.open(url, clock) as ledger:
        for writers in (1, 4):
            rate = appends_per_second(ledger, writers, f"{writers}w")
            target = "   (target >= 2,000/s)" if (name, writers) == ("SQLite", 1) else ""
            print(f"{name:<10} {writers} writer{'s' if writers > 1 else ' '}: {rate:8,.0f} appends/s{target}")


def median_ms(run: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = perf_counter()
        run()
        times.append((perf_counter() - start) * 1000)
    return statistics.median(times)


def load_fold() -> Callable[[Iterable[Recorded]], Any] | None:
    """``fold`` from ``incident.fold`` (as planned) or ``incident.state`` (where it was written)."""
    for module in ("incident.fold", "incident.state"):
        try:
            fold: Callable[[Iterable[Recorded]], Any] = importlib.import_module(module).fold
        except (ImportError, AttributeError):
            continue
        return fold
    return None


def bench_fold(url: str) -> None:
    incident_id = "BENCH-FOLD"
    with Ledger.open(url, clock) as ledger:
        start = perf_counter()
        for seq, event in enumerate(fold_stream_events(incident_id, FOLD_EVENTS)):
            ledger.append(event, seq)
        print(f"write {FOLD_EVENTS:,} events (SQLite, one writer): {perf_counter() - start:6.2f} s")
        records = ledger.stream(incident_id)
        read_ms = median_ms(lambda: ledger.stream(incident_id))
        print(f"stream {len(records):,} events from SQLite: {read_ms:8.1f} ms")
    fold = load_fold()
    if fold is None:
        print("fold: not available yet")
        return
    try:
        state = fold(records)
    except Exception as exc:
        print(f"fold: failed on the benchmark stream: {exc}")
        return
    print(
        f"fold {len(records):,} events: {median_ms(lambda: fold(records)):8.1f} ms   (target <= 50 ms; "
        f"state at version {getattr(state, 'version', '?')})"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="warroom-bench-") as home:
        bench_appends("SQLite", default_url(Path(home) / "appends"))
        try:
            with temporary_postgres_database() as pg_url:
                bench_appends("PostgreSQL", pg_url)
        except LedgerError as exc:
            print(f"PostgreSQL: skipped ({exc})")
        bench_fold(default_url(Path(home) / "fold"))


if __name__ == "__main__":
    main()
