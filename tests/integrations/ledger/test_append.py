"""Appending and reading events: round trips, idempotency, optimistic concurrency under threads."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta, timezone
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from warroom.incident.errors import LedgerConflictError, LedgerError
from warroom.incident.events import (
    AlertAttached,
    Event,
    EvidencePreserved,
    MitigationApplied,
    Recorded,
    RoleAssigned,
)
from warroom.incident.models import Alert, Evidence, Role
from warroom.integrations.ledger import Ledger

from .helpers import T0, FakeClock, declared, update

R = TypeVar("R")
PLUS_TWO = timezone(timedelta(hours=2))


def run_together(count: int, work: Callable[[int], R]) -> list[R | BaseException]:
    """Run ``work(i)`` in ``count`` threads released at the same instant; results or exceptions."""
    barrier = threading.Barrier(count)

    def one(i: int) -> R | BaseException:
        barrier.wait()
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def some_events(incident_id: str) -> list[Event]:
    later = T0.astimezone(PLUS_TWO)  # a non-UTC offset: must come back as the same instant, in UTC
    return [
        declared(incident_id, at=later),
        RoleAssigned(
            incident_id=incident_id,
            actor="alice",
            occurred_at=T0 + timedelta(minutes=1),
            idempotency_key=f"{incident_id}:role:ops",
            role=Role.OPERATIONS_LEAD,
            person="bob",
        ),
        AlertAttached(
            incident_id=incident_id,
            actor="intake",
            occurred_at=T0 + timedelta(minutes=2),
            idempotency_key=f"{incident_id}:alert:fp1",
            alert=Alert(
                source="alertmanager",
                fingerprint="fp1",
                status="firing",
                service="checkout",
                summary="5xx over 2% — «checkout»",
                labels={"alertname": "HighErrorRate", "team": "payments"},
                annotations={"runbook": "https://runbooks.example/checkout"},
                starts_at=T0.astimezone(PLUS_TWO) - timedelta(minutes=5),
                links=("https://grafana.example/d/1", "https://grafana.example/d/2"),
            ),
        ),
        MitigationApplied(
            incident_id=incident_id,
            actor="bob",
            occurred_at=T0 + timedelta(minutes=3),
            idempotency_key=f"{incident_id}:mitigation:rollback",
            divergence_id="div-1",
            what="rolled checkout back to v41",
            revert="deploy v42 again",
            approved_by="bob",
            mitigation="rollback",
        ),
        EvidencePreserved(
            incident_id=incident_id,
            actor="carol",
            occurred_at=T0 + timedelta(minutes=4),
            idempotency_key=f"{incident_id}:evidence:heap",
            evidence=Evidence(
                kind="heap dump",
                location="s3://evidence/inc/heap.hprof",
                sha256="ab" * 32,
                captured_at=T0 + timedelta(minutes=4),
            ),
        ),
    ]


def test_append_then_stream_round_trips_every_field(ledger: Ledger, clock: FakeClock) -> None:
    sent = some_events("INC-1")
    ledger.append(declared("INC-2"), 0)  # another incident's event must not show up

    appended = [ledger.append(event, seq) for seq, event in enumerate(sent)]

    streamed = ledger.stream("INC-1")
    assert streamed == appended
    for seq, (event, recorded) in enumerate(zip(sent, streamed, strict=True), start=1):
        assert recorded.seq == seq
        assert uuid.UUID(recorded.event_id).version == 4
        assert type(recorded.event) is type(event)
        assert recorded.event.model_dump() == event.model_dump()
        assert recorded.event.occurred_at.utcoffset() == timedelta(0)
        assert recorded.recorded_at.tzinfo is not None
        assert recorded.recorded_at.utcoffset() == timedelta(0)
        assert ledger.find(event.idempotency_key) == recorded
    assert streamed[0].event.occurred_at == T0
    assert [r.recorded_at for r in streamed] == clock.readings[1:]
    assert len({r.event_id for r in streamed}) == len(sent)
    alert = streamed[2].event
    assert isinstance(alert, AlertAttached)
    assert alert.alert.links == ("https://grafana.example/d/1", "https://grafana.example/d/2")
    assert alert.alert.starts_at == T0 - timedelta(minutes=5)

    assert ledger.stream("INC-1", after_seq=3) == appended[3:]
    assert ledger.last_seq("INC-1") == len(sent)
    assert ledger.last_seq("INC-404") == 0
    assert ledger.stream("INC-404") == []
    assert ledger.find("no-such-key") is None


def test_same_key_again_returns_the_stored_event_and_writes_nothing(ledger: Ledger) -> None:
    first = ledger.append(declared("INC-1"), 0)
    ledger.append(update("INC-1", "u1"), 1)

    stale = ledger.append(declared("INC-1"), 0)
    ahead = ledger.append(declared("INC-1", at=T0 + timedelta(hours=1)), 7)

    assert stale == first
    assert ahead == first
    assert ahead.event.occurred_at == T0  # the first write wins
    assert ledger.last_seq("INC-1") == 2
    assert [r.seq for r in ledger.stream("INC-1")] == [1, 2]


def test_a_key_reused_for_another_fact_is_refused(ledger: Ledger) -> None:
    ledger.append(declared("INC-1", key="shared"), 0)

    with pytest.raises(LedgerError, match="already records a declared event of INC-1") as caught:
        ledger.append(update("INC-2", "shared"), 0)

    assert not isinstance(caught.value, LedgerConflictError)  # retrying would not help
    assert ledger.last_seq("INC-2") == 0


def test_eight_threads_appending_the_same_key_store_it_once(ledger: Ledger) -> None:
    for round_ in range(5):
        incident = f"INC-{round_}"

        def same_key(_i: int, inc: str = incident) -> Recorded:
            return ledger.append(declared(inc, key=f"k-{inc}"), 0)

        results = run_together(8, same_key)

        assert [r for r in results if not isinstance(r, Recorded)] == []
        assert len({r.event_id for r in results if isinstance(r, Recorded)}) == 1
        stored = ledger.stream(incident)
        assert len(stored) == 1
        assert results[0] == stored[0]


def test_of_eight_threads_writing_one_key_exactly_one_is_told_it_stored_it(ledger: Ledger) -> None:
    for round_ in range(5):
        incident = f"INC-W{round_}"
        results = run_together(8, lambda _i, inc=incident: ledger.write(declared(inc, key=f"w-{inc}"), 0))
        written = [r for r in results if isinstance(r, tuple)]
        assert len(written) == 8
        assert [stored for _, stored in written].count(True) == 1
        assert len({recorded.event_id for recorded, _ in written}) == 1


def test_two_writers_with_the_same_expected_seq_one_wins(ledger: Ledger) -> None:
    ledger.append(declared("INC-12"), 0)
    winner = ledger.append(update("INC-12", "alice-1", "alice's view"), 1)

    with pytest.raises(LedgerConflictError) as caught:
        ledger.append(update("INC-12", "bob-1", "bob's view"), 1)

    assert str(caught.value) == (
        "incident INC-12 moved on to seq 2 while you expected 1: re-read and decide again"
    )
    assert [r.event_id for r in ledger.stream("INC-12")][1:] == [winner.event_id]
    assert ledger.last_seq("INC-12") == 2


def test_two_concurrent_writers_with_the_same_expected_seq_one_wins(ledger: Ledger) -> None:
    for round_ in range(5):
        incident = f"INC-{round_}"
        ledger.append(declared(incident), 0)

        def own_key(i: int, inc: str = incident) -> Recorded:
            return ledger.append(update(inc, f"{inc}:w{i}"), 1)

        results = run_together(2, own_key)

        won = [r for r in results if isinstance(r, Recorded)]
        lost = [r for r in results if isinstance(r, LedgerConflictError)]
        assert (len(won), len(lost)) == (1, 1), results
        assert "moved on to seq 2 while you expected 1" in str(lost[0])
        assert ledger.stream(incident)[1:] == won


def test_a_gap_and_a_stale_expected_seq_are_refused(ledger: Ledger) -> None:
    ledger.append(declared("INC-7"), 0)
    ledger.append(update("INC-7", "u1"), 1)

    with pytest.raises(LedgerConflictError, match="INC-7 is at seq 2, not 5"):
        ledger.append(update("INC-7", "gap"), 5)
    with pytest.raises(LedgerConflictError, match="INC-7 moved on to seq 2 while you expected 0"):
        ledger.append(update("INC-7", "stale"), 0)
    with pytest.raises(LedgerConflictError, match="INC-8 is at seq 0, not 1"):
        ledger.append(declared("INC-8"), 1)
    with pytest.raises(LedgerError, match="expected_seq must be 0"):
        ledger.append(update("INC-7", "negative"), -1)

    assert ledger.last_seq("INC-7") == 2
    assert ledger.last_seq("INC-8") == 0
    assert ledger.find("gap") is None
    assert ledger.find("stale") is None


def test_many_writers_retrying_on_conflict_lose_nothing(ledger: Ledger) -> None:
    writers, each = 8, 15

    def write(i: int) -> int:
        for n in range(each):
            event = update("INC-1", f"w{i}-{n}", f"writer {i} update {n}")
            while True:
                try:
                    ledger.append(event, ledger.last_seq("INC-1"))
                    break
                except LedgerConflictError:
                    continue  # someone else got there first: re-read and try again
        return i

    results = run_together(writers, write)

    assert results == list(range(writers))
    stored = ledger.stream("INC-1")
    assert [r.seq for r in stored] == list(range(1, writers * each + 1))
    assert {r.event.idempotency_key for r in stored} == {
        f"w{i}-{n}" for i in range(writers) for n in range(each)
    }
    [row] = ledger.list_incidents()
    assert row.last_seq == writers * each


def test_naive_times_are_refused(ledger: Ledger) -> None:
    naive = declared("INC-1", at=T0.replace(tzinfo=None))

    with pytest.raises(LedgerError, match="has no timezone"):
        ledger.append(naive, 0)

    assert ledger.last_seq("INC-1") == 0


def test_database_errors_become_ledger_errors(ledger: Ledger, ledger_url: str) -> None:
    engine = create_engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE events"))
    engine.dispose()

    with pytest.raises(LedgerError, match="appending to INC-1 failed") as caught:
        ledger.append(declared("INC-1"), 0)

    assert isinstance(caught.value.__cause__, SQLAlchemyError)
    assert "events" in str(caught.value)


def test_a_connection_error_never_shows_the_password() -> None:
    url = "postgresql+psycopg://warroom:s3cr3t-pw@127.0.0.1:1/ledger"

    with pytest.raises(LedgerError) as caught:
        Ledger.open(url, FakeClock())

    assert "s3cr3t-pw" not in str(caught.value)
    assert "warroom:***@127.0.0.1:1/ledger" in str(caught.value)
    assert isinstance(caught.value.__cause__, SQLAlchemyError)


@pytest.mark.parametrize("url", ["not a url", "mysql://root:pw@localhost/ledger"])
def test_an_unusable_url_is_refused(url: str) -> None:
    with pytest.raises(LedgerError, match="sqlite") as caught:
        Ledger.open(url, FakeClock())

    assert ":pw@" not in str(caught.value)


def test_recorded_times_are_utc_even_from_a_non_utc_clock(ledger_url: str) -> None:
    with Ledger.open(ledger_url, lambda: T0.astimezone(PLUS_TWO)) as ledger:
        recorded = ledger.append(declared("INC-1"), 0)
        [streamed] = ledger.stream("INC-1")

    assert recorded.recorded_at == streamed.recorded_at == T0
    assert streamed.recorded_at.tzinfo == UTC
