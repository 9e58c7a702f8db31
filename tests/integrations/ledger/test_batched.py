"""The intake's fast paths in the ledger: several reads in one transaction, a batch written with the
work its last fact calls for, and concurrent writers (each told its own outcome)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from warroom.incident import work
from warroom.incident.errors import LedgerConflictError, LedgerError
from warroom.integrations.ledger import Ledger
from warroom.integrations.ledger.ledger import _MarkInbox, _StoreInbox
from warroom.integrations.ledger.schema import inbox

from .helpers import T0, declared, update


def test_one_read_transaction_sees_keys_streams_and_incidents(ledger: Ledger) -> None:
    ledger.append(declared("INC-1"), 0)
    ledger.append(update("INC-1", "INC-1:u1"), 1)
    with ledger.reading() as reader:
        assert reader.incident_of("INC-1:u1") == "INC-1"
        assert reader.incident_of("nowhere") is None
        assert reader.find("nowhere") is None
        assert [r.seq for r in reader.stream("INC-1", after_seq=1)] == [2]
    assert ledger.incident_of("INC-1:declare") == "INC-1"


def test_a_batch_stores_the_work_its_last_fact_calls_for_once(ledger: Ledger) -> None:
    timer = work.watch("INC-2", "fp", T0 + timedelta(hours=1))
    first = ledger.write_many([declared("INC-2"), update("INC-2", "INC-2:u1")], 0, [timer])
    assert [new for _, new in first] == [True, True]
    assert [r.key for r in ledger.work_rows("INC-2")] == [timer.key]
    again = ledger.write_many([declared("INC-2"), update("INC-2", "INC-2:u1")], 2, [timer])
    assert [new for _, new in again] == [False, False]  # stored already: no second row, no error
    assert len(ledger.work_rows("INC-2")) == 1
    assert ledger.list_incidents()[0].last_seq == 2  # the projection follows the batch's last fact


def test_a_refused_batch_stores_neither_facts_nor_work(ledger: Ledger) -> None:
    ledger.append(declared("INC-3"), 0)
    with pytest.raises(LedgerConflictError):
        ledger.write_many([update("INC-3", "INC-3:u1")], 0, [work.watch("INC-3", "fp", T0)])
    assert ledger.last_seq("INC-3") == 1
    assert ledger.work_rows("INC-3") == []


def test_concurrent_writers_each_get_their_own_outcome(ledger: Ledger) -> None:
    """Writers on many incidents at once, a few racing on one: every fact is stored once, every
    conflict is the loser's alone, and the inbox rows written alongside all land."""
    ledger.append(declared("INC-shared"), 0)
    barrier = threading.Barrier(16)

    def one(i: int) -> str:
        barrier.wait()
        inbox_id = ledger.store_inbox("generic", {}, b"{}", T0)
        try:
            if i % 4 == 0:
                ledger.append(update("INC-shared", f"INC-shared:u{i}"), 1)  # one of these wins
            else:
                ledger.append(declared(f"INC-{i}"), 0)
        except LedgerConflictError:
            outcome = "conflict"
        else:
            outcome = "stored"
        ledger.mark_inbox(inbox_id, "accepted", reason=outcome)
        return outcome

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(one, range(16)))
    assert outcomes.count("conflict") == 3 and outcomes.count("stored") == 13
    assert ledger.last_seq("INC-shared") == 2
    assert all(ledger.last_seq(f"INC-{i}") == 1 for i in range(16) if i % 4)
    assert sorted(r.reason or "" for r in ledger.inbox_rows()) == sorted(outcomes)


def test_marking_a_missing_inbox_row_fails_only_that_mark(ledger: Ledger) -> None:
    kept = ledger.store_inbox("generic", {}, b"{}", T0)
    with pytest.raises(LedgerError, match="does not exist"):
        ledger.mark_inbox(kept + 1000, "accepted")
    ledger.mark_inbox(kept, "accepted", reason="fine")
    assert ledger.inbox_row(kept).reason == "fine"


def test_a_write_after_close_is_refused_not_left_waiting(ledger: Ledger) -> None:
    ledger.close()  # its committing thread stops: a write must say so rather than wait for it forever
    with pytest.raises(LedgerError, match="the ledger is closed"):
        ledger.store_inbox("alertmanager", {"content-type": "application/json"}, b"{}")


def _insert_inbox(n: int) -> Callable[[Connection], int]:
    def op(conn: Connection) -> int:
        return int(conn.execute(insert(inbox).values(received_at=T0, source="generic", headers={}, body=str(n),
                                                     status="received").returning(inbox.c.id)).scalar_one())
    return op


def test_in_one_group_commit_an_op_failing_before_any_change_fails_alone(ledger: Ledger) -> None:
    """The group commit's ops share one database transaction (on SQLite with no savepoint each)."""
    def refused(conn: Connection) -> int:
        conn.execute(select(inbox.c.id))  # it read, changed nothing, then gave up
        raise LedgerConflictError("moved on")

    outcomes = ledger._commit_ops([_insert_inbox(1), refused, _insert_inbox(2)])
    assert isinstance(outcomes[1], LedgerConflictError)
    assert [r.body for r in ledger.inbox_rows()] == ["1", "2"]


def test_in_one_group_commit_an_op_failing_after_a_change_fails_them_all(ledger: Ledger, ledger_url: str) -> None:
    """Half an op is never committed: on SQLite, where it cannot be taken back alone, the whole batch is."""
    def half_done(conn: Connection) -> int:
        _insert_inbox(3)(conn)
        raise RuntimeError("failed after writing")

    ops = [_insert_inbox(1), half_done, _insert_inbox(2)]
    if ledger_url.startswith("sqlite"):  # no savepoint to take it back to: the batch fails, as a failed commit
        with pytest.raises(RuntimeError, match="failed after writing"):
            ledger._commit_ops(ops)
        assert ledger.inbox_rows() == []
    else:  # PostgreSQL: each op in a savepoint, taken back alone
        assert isinstance(ledger._commit_ops(ops)[1], RuntimeError)
        assert [r.body for r in ledger.inbox_rows()] == ["1", "2"]


def _row(body: str) -> dict[str, object]:
    return {"received_at": T0, "source": "generic", "headers": {}, "body": body, "status": "received"}


def _mark(inbox_id: int, status: str, reason: str | None = None) -> _MarkInbox:
    return _MarkInbox({"b_id": inbox_id, "b_status": status, "b_reason": reason, "b_incident_id": None,
                       "b_fingerprint": None})


def test_a_batch_of_inbox_rows_and_marks_goes_in_one_statement_each_and_a_bad_mark_fails_alone(
        ledger: Ledger) -> None:
    ids = ledger._commit_ops([_StoreInbox(_row("a")), _StoreInbox(_row("b")), _StoreInbox(_row("c"))])
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [ledger.inbox_row(i).body for i in ids] == ["a", "b", "c"]  # each caller gets its own row's id
    refused = ledger._commit_ops([_StoreInbox(_row("d")), _StoreInbox({**_row("e"), "status": "lost"})])
    assert isinstance(refused[1], IntegrityError)  # the one row its database refuses fails alone, and once:
    assert [r.body for r in ledger.inbox_rows()] == ["a", "b", "c", "d"]  # the statement of both was taken back
    ledger.mark_inbox(ids[2], "received", reason="processing failed: once")
    outcomes = ledger._commit_ops([_mark(ids[0], "accepted", "joined"), _mark(ids[1] + 1000, "accepted"),
                                   _mark(ids[2], "duplicate")])
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], LedgerError) and "does not exist" in str(outcomes[1])
    rows = [ledger.inbox_row(i) for i in ids]
    assert [(r.status, r.reason) for r in rows] == [
        ("accepted", "joined"), ("received", None), ("duplicate", "processing failed: once")]  # None keeps it


def test_a_mark_not_waited_for_is_read_back_at_once_and_a_failed_one_is_logged(
        ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    kept = ledger.store_inbox("generic", {}, b"{}", T0)
    ledger.mark_inbox(kept, "accepted", reason="joined INC-1", wait=False)
    assert ledger.inbox_row(kept).status == "accepted"  # this process reads what it queued
    ledger.mark_inbox(kept + 1000, "accepted", wait=False)  # no caller waits to hear it: the log does
    assert ledger.count_inbox("accepted") == 1
    assert f"inbox row {kept + 1000} does not exist: it stays received" in caplog.text


def test_a_batch_commits_what_its_thread_wrote_at_once_and_reads_its_own_writes(ledger: Ledger) -> None:
    with ThreadPoolExecutor(1) as other, ledger.batch():
        kept = ledger.store_inbox("generic", {}, b"{}", T0)
        ledger.append(declared("INC-1"), 0)
        ledger.mark_inbox(kept, "accepted", reason="declared INC-1", wait=False)
        ledger.add_work([work.watch("INC-1", "fp", T0)])
        with ledger.reading() as reader:  # the batch reads what it wrote
            assert reader.incident_of("INC-1:declare") == "INC-1"
        assert ledger.inbox_row(kept).status == "accepted"
        assert other.submit(ledger.last_seq, "INC-1").result() == 0  # nobody else sees it before the commit
        ledger.memory("states")["INC-1"] = "learnt in the batch"
        assert "INC-1" not in other.submit(ledger.memory, "states").result()  # nor what it learnt
        several = ledger.store_inbox_rows([("generic", {}, b"a"), ("grafana", {}, b"b"), ("generic", {}, b"c")], T0)
    assert [ledger.inbox_row(i).body for i in several] == ["a", "b", "c"]  # in one statement, each its own id
    assert ledger.last_seq("INC-1") == 1
    assert (ledger.inbox_row(kept).status, ledger.inbox_row(kept).reason) == ("accepted", "declared INC-1")
    assert [w.kind for w in ledger.work_rows("INC-1")] == ["watch"]
    assert ledger.memory("states")["INC-1"] == "learnt in the batch"  # committed: true for everyone now


def test_a_part_that_fails_before_it_changed_anything_leaves_the_batch_on_sqlite_and_fails_it_on_postgresql(
        ledger: Ledger, ledger_url: str) -> None:
    """On PostgreSQL, which counts no changes, a part that tried a write and failed fails its batch."""
    def batch_with_a_refused_part() -> None:
        with ledger.batch():
            kept = ledger.store_inbox("generic", {}, b"{}", T0)
            ledger.memory("states")["before"] = 1
            with pytest.raises(LedgerConflictError), ledger.part():  # refused: nothing written
                ledger.append(update("INC-3", "INC-3:u1"), 4)
            ledger.append(declared("INC-3"), 0)
            ledger.mark_inbox(kept, "received", reason="processing failed: INC-3 moved on")

    if ledger_url.startswith("sqlite"):
        batch_with_a_refused_part()
        assert ledger.last_seq("INC-3") == 1
        assert ledger.inbox_rows()[0].reason == "processing failed: INC-3 moved on"
    else:
        with pytest.raises(LedgerError, match="none of the batch is stored"):
            batch_with_a_refused_part()
        assert ledger.last_seq("INC-3") == 0 and ledger.count_inbox() == 0
    assert "before" not in ledger.memory("states")  # forgotten: it may have been learnt from the part


def test_the_inbox_marks_of_a_part_that_fails_are_not_written(ledger: Ledger) -> None:
    with ledger.batch():
        kept = ledger.store_inbox("generic", {}, b"{}", T0)
        with pytest.raises(RuntimeError, match="after the mark"), ledger.part():
            ledger.mark_inbox(kept, "accepted", reason="declared INC-4")  # queued for the batch's end
            raise RuntimeError("after the mark")
    assert (ledger.inbox_row(kept).status, ledger.inbox_row(kept).reason) == ("received", None)


def test_a_part_that_fails_after_writing_fails_its_whole_batch(ledger: Ledger) -> None:
    """No savepoints: a part that fails half way cannot be taken back alone, so none of its batch is
    stored (the intake then stores and processes each body alone)."""
    spoiled = r"failed after it had written .*failed half way.*none of the batch"
    with pytest.raises(LedgerError, match=spoiled), ledger.batch():
        ledger.store_inbox("generic", {}, b"{}", T0)
        with pytest.raises(RuntimeError, match="failed half way"), ledger.part():
            ledger.append(declared("INC-2"), 0)
            ledger.memory("states")["INC-2"] = 2
            raise RuntimeError("failed half way")
        ledger.append(declared("INC-3"), 0)
    assert ledger.count_inbox() == 0 and ledger.last_seq("INC-3") == 0 and ledger.last_seq("INC-2") == 0
    assert "INC-2" not in ledger.memory("states")


def test_a_batch_that_raises_stores_nothing_and_remembers_nothing(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError, match="commit refused"), ledger.batch():
        ledger.store_inbox("generic", {}, b"{}", T0)
        ledger.append(declared("INC-4"), 0)
        ledger.memory("episodes")["group"] = (1, "INC-4")
        raise RuntimeError("commit refused")
    assert ledger.inbox_rows() == [] and ledger.last_seq("INC-4") == 0
    assert ledger.memory("episodes") == {}
    with ledger.batch(), pytest.raises(LedgerError, match="do not nest"), ledger.batch():
        pass


def test_a_batch_claims_the_pages_it_decided_with_its_own_commit(ledger: Ledger) -> None:
    """The intake claims the pages a batch decided in that batch: they are leased once it commits (no
    other dispatcher takes them), and none of it is, if the batch fails."""
    pages = [work.page(f"INC-{n}", f"INC-{n}:paged", "down", "SEV1", "checkout", T0) for n in (1, 2, 3)]
    with ledger.batch():
        ledger.add_work(pages)
        claimed = ledger.claim_work(T0, timedelta(seconds=15), limit=20, incident_ids=["INC-1", "INC-2"],
                                    kinds=["page"], even_if_not_due=True)
    assert sorted(r.incident_id for r in claimed) == ["INC-1", "INC-2"]
    assert all(r.lease_until == T0 + timedelta(seconds=15) for r in claimed)
    assert [r.incident_id for r in ledger.claim_work(T0, timedelta(seconds=15), limit=20)] == ["INC-3"]

    with pytest.raises(RuntimeError), ledger.batch():
        ledger.add_work([work.page("INC-4", "INC-4:paged", "down", "SEV1", "checkout", T0)])
        ledger.claim_work(T0, timedelta(seconds=15), limit=20, incident_ids=["INC-4"], even_if_not_due=True)
        raise RuntimeError("the batch fails after its claim")
    assert ledger.work_rows("INC-4") == []
