"""Report benchmark: the retrospective report (ledger read, figures, bootstrap intervals, HTML with its
charts) over 10,000 incidents / 200,000 events, on SQLite (the embedded default) and PostgreSQL.
Prints the time and the peak memory beside the target (5 s); never pass/fail. Then the same report
with a year of history before it (as many incidents again, read only for their open divergences and
follow-ups).

Run from the repo root: ``.venv/bin/python bench/report.py [--postgresql-only]``. The ledger is filled
with the rows ``Ledger.write_many`` stores (20 events an incident, 500 incidents a transaction); only
the report is timed. PostgreSQL runs on a throwaway database at 127.0.0.1:5432, skipped when unreachable.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter, process_time

from warroom.config import load_config
from warroom.incident import events as ev
from warroom.incident.errors import LedgerError
from warroom.incident.models import Alert, Evidence, FollowUp, Phase, Role
from warroom.integrations.ledger import Ledger, default_url
from warroom.integrations.ledger.testing import temporary_postgres_database
from warroom.tasks.report import compute_report, rendered

INCIDENTS = 10_000
TARGET_S = 5.0
END = datetime(2026, 12, 1, tzinfo=UTC)
SPAN = timedelta(days=14)  # the incidents are spread over the report's period and the previous one
HISTORY = timedelta(days=365)  # then as many again over the year before: read only for what they still owe
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PEOPLE = ["alice", "carol", "erin", "grace"]


def incident_events(n: int, rng: random.Random, history: bool = False) -> list[ev.Event]:
    """Twenty facts of one incident, as the flows write them (an alert, a page, an acknowledgement,
    roles, a mitigation and its revert, updates, a checkpoint, the phases, evidence, a follow-up, close).
    ``history``: an incident of the year before the report's reach; one in ten left its divergence open."""
    iid = f"INC-{'H' if history else 'B'}-{n:05d}"
    first, span = (END - SPAN - HISTORY, HISTORY) if history else (END - SPAN, SPAN)
    at = first + timedelta(seconds=rng.randrange(int(span.total_seconds()) - 86_400))
    ic = rng.choice(PEOPLE)
    sev = rng.choice(["SEV1", "SEV2", "SEV3"])
    service = rng.choice(["checkout", "payments-api", "search"])
    t = [at + timedelta(minutes=m) for m in sorted(rng.sample(range(1, 600), 18))]

    def env(i: int, actor: str = "warroom", when: datetime | None = None) -> dict[str, object]:
        return {"incident_id": iid, "actor": actor, "occurred_at": when or t[i], "idempotency_key": f"{iid}:{i}"}

    alert = Alert(source="alertmanager", fingerprint=f"fp{n}", status="firing", service=service,
                  summary="errors", starts_at=at - timedelta(minutes=rng.randrange(1, 10)))
    return [
        ev.AlertAttached(**env(100, "alertmanager", at), alert=alert),
        ev.DeclarationDecided(**env(101, "warroom", at), action="declare", reasons=("customers can see it",)),
        ev.Paged(**env(102, "warroom", at), dedup_key=iid, target="PESC001"),
        ev.Declared(**env(0), title="errors", service=service, severity=sev, commander=ic, reasons=("x",)),
        ev.PagerEventReceived(**env(1), event_type="incident.acknowledged", acknowledged=True, at=t[1]),
        ev.RoleAssigned(**env(2, ic), role=Role.OPERATIONS_LEAD, person="dan"),
        ev.RoleAssigned(**env(3, ic), role=Role.COMMUNICATIONS_LEAD, person="heidi"),
        ev.RoleAssigned(**env(4, ic), role=Role.PLANNING_LEAD, person="bob"),
        ev.PhaseChanged(**env(5, ic), to=Phase.STABILISING),
        ev.MitigationApplied(**env(6, "dan"), divergence_id="d1", what="rollback", revert="roll forward",
                             approved_by="dan"),
        ev.StatusUpdatePosted(**env(7, "heidi"), message="working on it"),
        ev.CheckpointAnswered(**env(8, ic), bleeding_stopped=True, decision="continue"),
        ev.PhaseChanged(**env(9, ic), to=Phase.RESTORING),
        ev.StatusUpdatePosted(**env(10, "heidi"), message="recovering"),
        ev.PhaseChanged(**env(11, ic), to=Phase.PRESERVING_EVIDENCE),
        ev.EvidencePreserved(**env(12), evidence=Evidence(kind="file", location="/x", sha256="0" * 64,
                                                          captured_at=t[12])),
        ev.PhaseChanged(**env(13, ic), to=Phase.REVERTING),
        *([] if history and n % 10 == 0 else [ev.DivergenceReverted(**env(14, "bob"), divergence_id="d1")]),
        ev.Closed(**env(15, ic), summary="fixed"),
        ev.FollowUpFiled(**env(16), followup=FollowUp(tracker_key=f"PAY-{n}", kind="postmortem", summary="pm",
                                                      intent="postmortem")),
    ]


def fill(ledger: Ledger, per_transaction: int = 500, history: bool = False) -> int:
    """The rows ``Ledger.write_many`` stores (events and the incidents projection), ``per_transaction``
    incidents a transaction: one transaction an incident took many minutes on a loaded PostgreSQL."""
    from warroom.integrations.ledger import ledger as module

    rng = random.Random(11)
    written = 0
    started = perf_counter()
    now = datetime.now(UTC)
    for first in range(0, INCIDENTS, per_transaction):
        with ledger._engine.begin() as conn:
            for n in range(first, min(first + per_transaction, INCIDENTS)):
                added = [(ev.Recorded(event_id=str(uuid.uuid4()), seq=i, recorded_at=now, event=e), payload)
                         for i, (e, payload) in enumerate(map(module._rebuild, incident_events(n, rng, history)), 1)]
                module._INSERT_EVENT.run(conn, [module._event_values(r, payload) for r, payload in added])
                module._project(conn, [r for r, _ in added])
                written += len(added)
        print(f"  filled {first + per_transaction:,} incidents ({perf_counter() - started:.0f} s)", file=sys.stderr)
    return written


def measure(name: str, url: str) -> None:
    config = load_config(CONFIGS)
    with Ledger.open(url, lambda: datetime.now(UTC)) as ledger:
        events = fill(ledger)
        start, end = END - SPAN / 2, END
        began, cpu = perf_counter(), process_time()
        report, facts = compute_report(ledger, None, config, start, end, None)
        computed = perf_counter() - began
        page = rendered(report, "html")
        total, cpu = perf_counter() - began, process_time() - cpu
        tracemalloc.start()
        compute_report(ledger, None, config, start, end, None)
        rendered(report, "html")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{name}: {len(facts):,} incidents / {events:,} events read; report {computed:.2f} s, with the "
              f"HTML ({len(page) / 1e6:.1f} MB) {total:.2f} s (target {TARGET_S:.0f} s; this process's CPU time "
              f"{cpu:.2f} s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); peak Python memory "
              f"{peak / 1e6:.0f} MB; {report.overall.declared:,} declared in the period")
        fill(ledger, history=True)
        began = perf_counter()
        report, _ = compute_report(ledger, None, config, start, end, None)
        page = rendered(report, "html")
        print(f"  with a year of history before it ({INCIDENTS:,} incidents more, read only for what they still owe: "
              f"{len(report.divergence_debt):,} divergences open, and with no Jira to say which follow-ups are done, "
              f"every follow-up listed): report with the HTML ({len(page) / 1e6:.1f} MB) "
              f"{perf_counter() - began:.2f} s")


def main() -> None:
    if "--postgresql-only" not in sys.argv:
        with tempfile.TemporaryDirectory() as home:
            measure("SQLite (embedded default)", default_url(Path(home)))
    try:
        with temporary_postgres_database() as pg_url:
            measure("PostgreSQL", pg_url)
    except LedgerError as exc:
        print(f"PostgreSQL: skipped ({exc})")


if __name__ == "__main__":
    main()
