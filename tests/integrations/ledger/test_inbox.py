"""The inbox: every raw alert body is kept, including the rejected ones and their reasons."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from warroom.incident.errors import LedgerError
from warroom.integrations.ledger import Ledger

from .helpers import FakeClock


def test_store_mark_and_count(ledger: Ledger, clock: FakeClock) -> None:
    first = ledger.store_inbox("alertmanager", {"content-type": "application/json"}, b'{"alerts": []}')
    second = ledger.store_inbox("grafana", {}, b'{"state": "alerting"}')

    assert second > first
    assert ledger.count_inbox() == 2
    assert ledger.count_inbox("received") == 2

    ledger.mark_inbox(first, "rejected", reason="signature does not match")
    ledger.mark_inbox(second, "accepted", incident_id="INC-1", fingerprint="fp-1")

    assert (ledger.count_inbox("received"), ledger.count_inbox("rejected")) == (0, 1)
    [rejected] = ledger.inbox_rows("rejected")
    assert rejected.id == first
    assert rejected.source == "alertmanager"
    assert rejected.headers == {"content-type": "application/json"}
    assert rejected.body == '{"alerts": []}'
    assert rejected.reason == "signature does not match"
    assert rejected.received_at == clock.readings[0]
    assert rejected.received_at.tzinfo == UTC
    [accepted] = ledger.inbox_rows("accepted")
    assert (accepted.incident_id, accepted.fingerprint, accepted.reason) == ("INC-1", "fp-1", None)

    ledger.mark_inbox(second, "duplicate", reason="already on INC-1")

    [duplicate] = ledger.inbox_rows("duplicate")
    assert (duplicate.incident_id, duplicate.reason) == ("INC-1", "already on INC-1")
    assert [row.id for row in ledger.inbox_rows()] == [first, second]
    assert [row.id for row in ledger.inbox_rows(limit=1)] == [first]


def test_a_body_that_is_not_utf8_is_still_stored(ledger: Ledger) -> None:
    body = b'{"summary": "caf\xe9 \xff\xfe down"}\x00trailing'
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    inbox_id = ledger.store_inbox("generic", {"x-source": "legacy"}, body, received_at=at)
    ledger.mark_inbox(inbox_id, "rejected", reason="body is not UTF-8")

    [row] = ledger.inbox_rows()
    assert row.body == '{"summary": "caf\ufffd \ufffd\ufffd down"}\ufffdtrailing'
    assert row.received_at == at
    assert ledger.count_inbox("rejected") == 1


def test_marking_refuses_an_unknown_row_or_status(ledger: Ledger) -> None:
    inbox_id = ledger.store_inbox("generic", {}, b"{}")

    with pytest.raises(LedgerError, match="inbox row 999999 does not exist"):
        ledger.mark_inbox(999999, "rejected", reason="nope")
    with pytest.raises(LedgerError, match="unknown inbox status 'lost'"):
        ledger.mark_inbox(inbox_id, "lost")

    assert ledger.count_inbox("received") == 1


def test_concurrent_inbox_writes_share_commits_and_each_caller_hears_its_own_outcome(ledger: Ledger) -> None:
    barrier = threading.Barrier(16)

    def store(n: int) -> int:
        barrier.wait()
        return ledger.store_inbox("generic", {}, f'{{"n": {n}}}'.encode())

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(store, range(16)))
    assert len(set(ids)) == 16
    rows = {r.id: r.body for r in ledger.inbox_rows()}
    assert [rows[i] for i in ids] == [f'{{"n": {n}}}' for n in range(16)]

    def mark(inbox_id: int) -> str:
        barrier.wait()
        try:
            ledger.mark_inbox(inbox_id, "accepted")
        except LedgerError as refused:
            return str(refused)
        return "ok"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(mark, [*ids[:15], 999_999]))
    assert outcomes == ["ok"] * 15 + ["inbox row 999999 does not exist"]
    assert ledger.count_inbox("accepted") == 15
