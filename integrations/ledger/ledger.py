"""The incident ledger (DESIGN §4): every fact about an incident, appended once, in order.

SQLite (WAL) is the embedded default, PostgreSQL (psycopg 3) the production store. Writers use
optimistic concurrency: ``append(event, expected_seq)`` stores the event as ``expected_seq + 1`` or
refuses with :class:`LedgerConflictError`, so two writers never both act on the same view.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import ChainMap
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    type_coerce,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from warroom.incident.errors import LedgerConflictError, LedgerError
from warroom.incident.events import (
    AlertAttached,
    AnyEvent,
    Closed,
    Declared,
    Event,
    PhaseChanged,
    Recorded,
    bounded_key,
    event_from_parts,
)
from warroom.incident.models import Phase
from warroom.incident.report import RawEvent
from warroom.incident.work import Work
from warroom.integrations.ledger.batch import GroupCommit
from warroom.integrations.ledger.hot import Hot
from warroom.integrations.ledger.schema import INBOX_STATUSES, INCIDENT_STATUSES, events, inbox, incidents, work

log = logging.getLogger("warroom.ledger")
Clock = Callable[[], datetime]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_BUSY_TIMEOUT_MS = 30_000
_Op = Callable[[Connection], Any]
_T = TypeVar("_T")  # a write transaction's work, given its connection
_PG_CONNECT_TIMEOUT_S = 10
_PING_IDLE_S = 10.0  # a pooled PostgreSQL connection idle this long is pinged before use
_PG_MIGRATION_LOCK = 0x7761_7272_6F6F_6D  # pg_advisory_xact_lock key: "warroom"
_READ_ONLY = "warroom_ledger_read_only"


@dataclass(frozen=True)
class IncidentRow:
    """One incident as the ``incidents`` projection lists it."""

    incident_id: str
    status: str
    phase: str
    service: str | None
    severity: str | None
    title: str | None
    drill: bool
    opened_at: datetime
    declared_at: datetime | None
    closed_at: datetime | None
    last_seq: int
    updated_at: datetime


@dataclass(frozen=True)
class WorkRow:
    """One piece of work as the ledger keeps it: what to do, and how far it got."""

    id: int
    key: str
    incident_id: str
    kind: str
    params: dict[str, Any]
    status: str
    due_at: datetime
    lease_until: datetime | None
    attempts: int
    last_error: str | None
    outcome: str | None
    created_at: datetime
    done_at: datetime | None


@dataclass(frozen=True)
class InboxRow:
    """One raw alert body as received, with what became of it."""

    id: int
    received_at: datetime
    source: str
    headers: dict[str, str]
    body: str
    status: str
    reason: str | None
    incident_id: str | None
    fingerprint: str | None


def default_url(home: Path) -> str:
    """The embedded ledger under ``home`` (``$WARROOM_HOME``): ``sqlite:///{home}/ledger.db``."""
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home}/ledger.db"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the ledger's migrations, run on ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class Reader:
    """Reads of the ledger within one read transaction (:meth:`Ledger.reading`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def stream(self, incident_id: str, after_seq: int = 0) -> list[Recorded]:
        """The incident's events after ``after_seq``, in order."""
        return _stream(self._conn, incident_id, after_seq)

    def find(self, idempotency_key: str) -> Recorded | None:
        """The event stored under ``idempotency_key``, if any."""
        return _find(self._conn, bounded_key(idempotency_key))

    def incident_of(self, idempotency_key: str) -> str | None:
        """The incident whose event is stored under ``idempotency_key``, if any."""
        return _incident_of(self._conn, bounded_key(idempotency_key))

    def work_rows(self, incident_id: str, status: str | None = None) -> list[WorkRow]:
        """The incident's work in the order it was stored, optionally only with one status."""
        return _work_rows(self._conn, incident_id, status)


class Ledger:
    """The ledger on one database. Thread-safe; open it with :meth:`Ledger.open`."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        # SQLite has one writer at a time. Threads of this process queue here, on a lock that wakes
        # the next at once, rather than in SQLite's busy handler, which sleeps up to 100 ms a try.
        self._one_writer: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        # Group commit: concurrent writers' transactions share one database transaction (each taken
        # back alone if it fails: see _commit_ops) and one flush to disk; each caller returns once its
        # writes are committed. On SQLite (one writer, a commit costs an fsync) every fact and the inbox go this
        # way; on PostgreSQL, which commits concurrent transactions in parallel, the inbox only.
        self._writer: GroupCommit[_Op, Any] = GroupCommit(self._commit_ops)
        self._group_facts = engine.dialect.name == "sqlite"
        self._url = engine.url.render_as_string(hide_password=True)
        self._password = engine.url.password
        self._batch = threading.local()  # .now: the batch (:meth:`batch`) this thread is in, if any
        # Reads: on SQLite a read transaction (one consistent view); on PostgreSQL each read sees the latest
        # commits anyway (READ COMMITTED), so no transaction is opened for them: two round trips fewer each
        self._read_transactions = engine.execution_options(**{_READ_ONLY: True})
        self._readers = engine.execution_options(isolation_level="AUTOCOMMIT") if engine.dialect.name == \
            "postgresql" else self._read_transactions
        self._memory: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(cls, url: str, clock: Clock) -> Ledger:
        """Connect to ``url`` and bring its schema to the latest migration."""
        ledger = cls(_create_engine(url), clock)
        try:
            ledger._upgrade()
        except BaseException:
            ledger.close()
            raise
        return ledger

    def close(self) -> None:
        self._writer.close()
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url

    # -- events ---------------------------------------------------------------------------------

    def append(self, event: Event, expected_seq: int) -> Recorded:
        """Store ``event`` as seq ``expected_seq + 1`` (``expected_seq`` = the last seq you saw).

        The same idempotency key again returns what was stored the first time and writes nothing.
        Raises :class:`LedgerConflictError` when the incident is not at ``expected_seq``.
        """
        return self.write(event, expected_seq)[0]

    def write(self, event: Event, expected_seq: int, calls_for: Sequence[Work] = ()) -> tuple[Recorded, bool]:
        """:meth:`append`, also saying whether this very call stored the event (True) or found it
        stored already under its idempotency key (False), by an earlier call or another process.

        ``calls_for``: the work the fact calls for, stored in the same transaction (or not at all)."""
        if expected_seq < 0:
            raise LedgerError(f"expected_seq must be 0 (a new incident) or more, not {expected_seq}")
        rebuilt, payload = _rebuild(event)

        def transaction(conn: Connection) -> tuple[Recorded, bool]:
            stored = _find(conn, event.idempotency_key)
            if stored is not None:
                return _same_intent(stored, event), False
            current = _last_seq(conn, event.incident_id)
            if current != expected_seq:
                # On PostgreSQL each statement sees the latest commits: the seq that moved on
                # may be this very key, stored by a concurrent writer since the lookup above.
                stored = _find(conn, event.idempotency_key)
                if stored is not None:
                    return _same_intent(stored, event), False
                raise LedgerConflictError(_conflict(event.incident_id, expected_seq, current))
            recorded = Recorded(
                event_id=str(uuid.uuid4()),
                seq=expected_seq + 1,
                recorded_at=_utc(self._clock(), "the clock's time"),
                event=rebuilt,
            )
            _INSERT_EVENT.run(conn, _event_values(recorded, payload))
            _project(conn, [recorded])
            if calls_for:
                _INSERT_WORK.run(conn, [_work_values(item, recorded.recorded_at) for item in calls_for])
            return recorded, True

        try:
            return self._transact(transaction)
        except IntegrityError as exc:
            lost_race = exc
        except SQLAlchemyError as exc:
            raise LedgerError(self._describe(f"appending to {event.incident_id}", exc)) from exc
        # Another writer committed this key, or this seq, between our read and our insert.
        stored = self.find(event.idempotency_key)
        if stored is not None:
            return _same_intent(stored, event), False
        current = self.last_seq(event.incident_id)
        if current != expected_seq:
            raise LedgerConflictError(_conflict(event.incident_id, expected_seq, current)) from lost_race
        raise LedgerError(self._describe(f"appending to {event.incident_id}", lost_race)) from lost_race

    def write_many(self, batch: Sequence[Event], expected_seq: int,
                   calls_for: Sequence[Work] = ()) -> list[tuple[Recorded, bool]]:
        """:meth:`write` of several events of one incident in one transaction, in order (a large
        alert group): those whose key is stored already are returned as stored, with False.

        ``calls_for``: the work the batch's last event calls for (a decision after the alert that
        opened the incident), stored with it in the same transaction, or not at all when that event
        was stored already."""
        if not batch:
            return []
        incident_id = batch[0].incident_id
        if any(e.incident_id != incident_id for e in batch):
            raise LedgerError("write_many takes the events of one incident")
        rebuilt = [_rebuild(e) for e in batch]  # each with its payload
        keys = list(dict.fromkeys(e.idempotency_key for e, _ in rebuilt))

        def transaction(conn: Connection) -> list[tuple[Recorded, bool]]:
            # A new incident's first facts need no reads: if it has facts already, its seq 1 is taken
            # and the insert is refused by the unique (incident, seq) index, as a lost race; and none of
            # these keys can be stored (one stored for another incident is refused by its unique index).
            current = _last_seq(conn, incident_id) if expected_seq else 0
            if current != expected_seq:
                raise LedgerConflictError(_conflict(incident_id, expected_seq, current))
            stored: dict[str, Recorded] = {}
            for start in range(0, len(keys) if current else 0, _KEYS_PER_QUERY):
                chunk = keys[start:start + _KEYS_PER_QUERY]
                found = conn.execute(_BY_KEYS, {"keys": chunk})
                stored.update((r.event.idempotency_key, r) for r in (_recorded(row) for row in found))
            now = _utc(self._clock(), "the clock's time")
            results: list[tuple[Recorded, bool]] = []
            added: list[tuple[Recorded, dict[str, Any]]] = []
            seq = expected_seq
            for each, payload in rebuilt:
                if each.idempotency_key in stored:
                    results.append((_same_intent(stored[each.idempotency_key], each), False))
                    continue
                seq += 1
                recorded = Recorded(event_id=str(uuid.uuid4()), seq=seq, recorded_at=now, event=each)
                stored[each.idempotency_key] = recorded
                added.append((recorded, payload))
                results.append((recorded, True))
            if added:  # one statement for the rows, one for the incident's projection
                _INSERT_EVENT.run(conn, [_event_values(r, payload) for r, payload in added])
                _project(conn, [r for r, _ in added])
            if calls_for and results[-1][1]:
                _INSERT_WORK.run(conn, [_work_values(item, now) for item in calls_for])
            return results

        try:
            return self._transact(transaction)
        except IntegrityError as exc:  # another writer got in between: the caller re-reads and retries
            raise LedgerConflictError(f"incident {incident_id} moved on while writing {len(batch)} events") from exc
        except SQLAlchemyError as exc:
            raise LedgerError(self._describe(f"appending {len(batch)} events to {incident_id}", exc)) from exc

    def last_seq(self, incident_id: str) -> int:
        """The incident's last seq, 0 when it has no events."""
        with self._read(f"reading the last seq of {incident_id}") as conn:
            return _last_seq(conn, incident_id)

    def stream(self, incident_id: str, after_seq: int = 0) -> list[Recorded]:
        """The incident's events after ``after_seq``, in order."""
        with self._read(f"reading the events of {incident_id}") as conn:
            return _stream(conn, incident_id, after_seq)

    def find(self, idempotency_key: str) -> Recorded | None:
        """The event stored under ``idempotency_key``, if any."""
        with self._read("looking up an idempotency key") as conn:
            return _find(conn, bounded_key(idempotency_key))

    def incident_of(self, idempotency_key: str) -> str | None:
        """The incident whose event is stored under ``idempotency_key``, if any (the row is not read)."""
        with self._read("looking up an idempotency key") as conn:
            return _incident_of(conn, bounded_key(idempotency_key))

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        """Several reads on one connection: one trip to the connection pool; on SQLite in one read
        transaction, one consistent view (what a writer commits meanwhile is seen by none of them, or by
        all); on PostgreSQL each sees the latest commits, as each statement of a transaction would there."""
        with self._read("reading the ledger") as conn:
            yield Reader(conn)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Everything this thread does with the ledger in the block, in one write transaction, committed
        when the block ends (or none of it, if it raises): the intake's bodies that came together go in
        one commit. Reads in the block see its writes; see :meth:`part` for a part of it that fails."""
        if self._current() is not None:
            raise LedgerError("a batch is open in this thread already: batches do not nest")
        batch: _Batch | None = None
        try:
            with self._one_writer, self._engine.begin() as conn:
                batch = self._batch.now = _Batch(conn)
                yield
                if batch.spoiled is not None:
                    raise LedgerError(f"a part of the batch failed after it had written ({batch.spoiled}): "
                                      "none of the batch is stored") from batch.spoiled
                batch.write_marks()
        except SQLAlchemyError as exc:
            raise LedgerError(self._describe("committing a batch", exc)) from exc
        finally:
            self._batch.now = None
        assert batch is not None
        for name, learnt in batch.learnt.items():  # committed: what it read is true for everyone now
            self._memory.setdefault(name, {}).update(learnt)

    @contextmanager
    def part(self) -> Iterator[None]:
        """In a :meth:`batch`: a block that raises after it wrote spoils the batch (none of it is stored,
        and the batch raises at its end; the intake then does each body alone), and the exception is
        raised here; one that raises before it changed anything leaves the batch as it was. There are no
        savepoints to take a part back alone: each would cost more than most parts (a round trip each on
        PostgreSQL), and a part fails seldom. On SQLite, "changed" is what SQLite counts; on PostgreSQL,
        any write tried, or a statement that failed. Outside a batch, nothing more than the block."""
        batch = self._current()
        if batch is None:
            yield
            return
        before, marks = batch.changes(), len(batch.marks)
        try:
            yield
        except BaseException as exc:
            if batch.changes() != before or batch.failed():
                batch.spoiled = exc
            batch.learnt.clear()  # what the block read may have been its own writes
            del batch.marks[marks:]
            raise

    def memory(self, name: str) -> MutableMapping[str, Any]:
        """A cache of what was read from this ledger (states at a seq, an alert group's latest
        episode: facts that stay true once stored). In a :meth:`batch`, what is learnt there is kept
        apart until the batch commits, and forgotten if a part of it fails."""
        shared = self._memory.setdefault(name, {})
        batch = self._current()
        return shared if batch is None else ChainMap(batch.learnt.setdefault(name, {}), shared)

    # -- work -----------------------------------------------------------------------------------

    def add_work(self, items: Sequence[Work]) -> int:
        """Store work that no fact calls for (a resumed form's timer, say); a key already stored is
        left as it is. Returns how many rows were added."""
        added = 0
        with self._write("storing work") as conn:
            now = _utc(self._clock(), "the clock's time")
            for item in items:
                if _WORK_BY_KEY.scalar(conn, {"key": item.key}) is None:
                    _INSERT_WORK.run(conn, _work_values(item, now))
                    added += 1
        return added

    def claim_work(self, now: datetime, lease: timedelta, limit: int = 1, incident_ids: Sequence[str] | None = None,
                   kinds: Sequence[str] | None = None, even_if_not_due: bool = False) -> list[WorkRow]:
        """Claim up to ``limit`` pending rows that are due (or all of the incidents' pending rows with
        ``incident_ids`` and ``even_if_not_due``) and not leased by another dispatcher: each is leased until
        ``now + lease``, and nobody else claims it before then. On PostgreSQL, rows another dispatcher is
        claiming are skipped (``FOR UPDATE SKIP LOCKED``); SQLite has one writer at a time. In a
        :meth:`batch`, the claim is part of the batch's transaction."""
        now = _utc(now, "now")
        query = select(work.c.id).where(
            work.c.status == "pending",
            (work.c.lease_until.is_(None)) | (work.c.lease_until <= now),
        )
        if incident_ids is not None:
            query = query.where(work.c.incident_id.in_(list(incident_ids)))
        if kinds is not None:
            query = query.where(work.c.kind.in_(list(kinds)))
        if not even_if_not_due:
            query = query.where(work.c.due_at <= now)
        query = query.order_by(work.c.due_at, work.c.id).limit(limit)
        if incident_ids is None:  # a dispatcher's round: most find nothing due, so look before taking the write lock
            with self._read("looking for due work") as conn:
                if conn.execute(query).first() is None:
                    return []
        with self._write("claiming work") as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claim = work.update().where(work.c.id.in_(query.scalar_subquery())).values(lease_until=now + lease)
            rows = conn.execute(claim.returning(*work.c)).all()  # chosen, leased and read in one statement
        return sorted((WorkRow(**row._asdict()) for row in rows), key=lambda w: (w.due_at, w.id))

    def finish_work(self, work_id: int, outcome: str, now: datetime) -> None:
        """Mark claimed work done, with what came of it."""
        with self._write(f"finishing work {work_id}") as conn:
            conn.execute(work.update().where(work.c.id == work_id).values(
                status="done", outcome=outcome, done_at=_utc(now, "now"), lease_until=None,
                attempts=work.c.attempts + 1))

    def retry_work(self, work_id: int, error: str, due_at: datetime) -> int:
        """Record a failed try of claimed work and when to try again; returns the tries so far."""
        with self._write(f"deferring work {work_id}") as conn:
            conn.execute(work.update().where(work.c.id == work_id).values(
                last_error=error, due_at=_utc(due_at, "due_at"), lease_until=None,
                attempts=work.c.attempts + 1))
            return int(conn.execute(select(work.c.attempts).where(work.c.id == work_id)).scalar_one())

    def work_by_key(self, key: str) -> WorkRow | None:
        with self._read("looking up work") as conn:
            row = conn.execute(select(work).where(work.c.key == bounded_key(key))).one_or_none()
        return None if row is None else WorkRow(**row._asdict())

    def work_rows(self, incident_id: str | None = None, status: str | None = None, kind: str | None = None,
                  limit: int = 1000) -> list[WorkRow]:
        """Work in the order it was stored, optionally of one incident, with one status, of one kind."""
        with self._read("reading the work") as conn:
            return _work_rows(conn, incident_id, status, limit, kind)

    def list_incidents(
        self,
        status: str | None = None,
        service: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_drills: bool = True,
        limit: int = 100,
    ) -> list[IncidentRow]:
        """Incidents opened in ``[since, until)``, newest first."""
        if status is not None and status not in INCIDENT_STATUSES:
            raise LedgerError(
                f"unknown incident status {status!r}: use one of {', '.join(INCIDENT_STATUSES)}"
            )
        if limit < 1:
            raise LedgerError(f"limit must be 1 or more, not {limit}")
        query = select(incidents)
        if status is not None:
            query = query.where(incidents.c.status == status)
        if service is not None:
            query = query.where(incidents.c.service == service)
        if since is not None:
            query = query.where(incidents.c.opened_at >= _utc(since, "since"))
        if until is not None:
            query = query.where(incidents.c.opened_at < _utc(until, "until"))
        if not include_drills:
            query = query.where(incidents.c.drill.is_(False))
        query = query.order_by(incidents.c.opened_at.desc(), incidents.c.incident_id.desc()).limit(limit)
        with self._read("listing incidents") as conn:
            return [IncidentRow(**row._asdict()) for row in conn.execute(query)]

    def report_rows(self, since: datetime, until: datetime, service: str | None = None,
                    batch: int = 5000) -> Iterator[tuple[str, datetime, list[RawEvent]]]:
        """Each incident opened in ``[since, until)`` (of ``service``, if given) with its events in
        order, as the report reads them: raw rows, not rebuilt as models. One read transaction; rows
        are fetched ``batch`` at a time, so memory holds one incident's events, not all of them."""
        chosen = [incidents.c.opened_at >= _utc(since, "since"), incidents.c.opened_at < _utc(until, "until")]
        yield from self._incident_rows(chosen, service, None, batch, "reading the incidents of the report")

    def open_item_rows(self, before: datetime, kinds: Sequence[str], service: str | None = None,
                       batch: int = 5000) -> Iterator[tuple[str, datetime, list[RawEvent]]]:
        """Each production incident (declared, not a drill) opened before ``before`` (of ``service``, if
        given) with only its events of ``kinds``, in order: what the report needs of earlier incidents to
        list the divergences and follow-ups they left open. Only the rows of those kinds are read (by the
        events' kind index), so a long history costs the report little."""
        chosen = [incidents.c.opened_at < _utc(before, "before"), incidents.c.declared_at.is_not(None),
                  incidents.c.drill.is_(False)]
        yield from self._incident_rows(chosen, service, tuple(kinds), batch,
                                       "reading the open items of earlier incidents")

    def _incident_rows(self, chosen: Sequence[ColumnElement[bool]], service: str | None,
                       kinds: tuple[str, ...] | None, batch: int,
                       doing: str) -> Iterator[tuple[str, datetime, list[RawEvent]]]:
        where = [*chosen, *([incidents.c.service == service] if service is not None else [])]
        opened = select(incidents.c.incident_id, incidents.c.opened_at).where(*where)
        # the payload as the driver gives it (SQLite: the JSON text, which the report decodes only for the kinds
        # it reads; psycopg decodes json itself): SQLAlchemy's JSON processing costs more than the report
        query = (
            select(events.c.incident_id, events.c.kind, type_coerce(events.c.payload, Text).label("payload"),
                   events.c.actor, events.c.occurred_at)
            .join(incidents, incidents.c.incident_id == events.c.incident_id)
            .where(*where)
            .order_by(events.c.incident_id, events.c.seq)
        )
        if kinds is not None:
            query = query.where(events.c.kind.in_(kinds))
        with self._read(doing, transaction=True) as conn:
            opened_at = {row.incident_id: row.opened_at for row in conn.execute(opened)}
            current: str | None = None
            rows: list[RawEvent] = []
            for incident_id, kind, payload, actor, occurred_at in conn.execution_options(
                    yield_per=batch).execute(query):
                if incident_id != current:
                    if current is not None:
                        yield current, opened_at[current], rows
                    current, rows = incident_id, []
                rows.append(RawEvent(kind, payload, actor, occurred_at))
            if current is not None:
                yield current, opened_at[current], rows

    # -- inbox ----------------------------------------------------------------------------------

    def store_inbox(
        self, source: str, headers: dict[str, str], body: bytes, received_at: datetime | None = None
    ) -> int:
        """Keep a raw alert body before anything else is done with it; returns its inbox id.

        The body is stored as UTF-8 text: invalid bytes (and NUL, which PostgreSQL refuses) become
        U+FFFD, so no alert is lost for its encoding.
        """
        return self.store_inbox_rows([(source, headers, body)], received_at)[0]

    def store_inbox_rows(self, bodies: Sequence[tuple[str, dict[str, str], bytes]],
                         received_at: datetime | None = None) -> list[int]:
        """:meth:`store_inbox` of several bodies (source, headers, body), in one statement in a
        :meth:`batch`; their inbox ids, in order."""
        at = _utc(received_at if received_at is not None else self._clock(), "received_at")
        ops = [_StoreInbox({"received_at": at, "source": source, "headers": dict(headers),
                            "body": body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
                            "status": "received"}) for source, headers, body in bodies]
        sources = ", ".join(sorted({source for source, _, _ in bodies}))
        try:
            if (batch := self._current()) is not None:
                with batch.write() as conn:
                    return [int(i) for i in _StoreInbox.together(conn, ops)] if ops else []
            return [int(self._writer.submit(op)) for op in ops]
        except SQLAlchemyError as exc:
            raise LedgerError(self._describe(f"storing alerts from {sources} in the inbox", exc)) from exc

    def mark_inbox(
        self,
        inbox_id: int,
        status: str,
        reason: str | None = None,
        incident_id: str | None = None,
        fingerprint: str | None = None,
        wait: bool = True,
    ) -> None:
        """Record what became of an inbox row. Fields left as None keep their stored value.

        ``wait=False``: queued and not waited for (the intake's last word on a body it has processed:
        what processing wrote is committed already). Reads of the inbox in this process see it; a
        process that stops first leaves the row "received", and the next intake processes it again,
        which changes nothing. A failure is logged."""
        if status not in INBOX_STATUSES:
            raise LedgerError(f"unknown inbox status {status!r}: use one of {', '.join(INBOX_STATUSES)}")
        mark = _MarkInbox({"b_id": inbox_id, "b_status": status, "b_reason": reason, "b_incident_id": incident_id,
                           "b_fingerprint": fingerprint})
        if (batch := self._current()) is not None:  # written in one statement at the batch's end
            batch.marks.append(mark)
            return

        if not wait:
            def failed(exc: BaseException) -> None:
                what = self._describe(f"marking inbox row {inbox_id}", exc) if isinstance(exc, SQLAlchemyError) \
                    else str(exc)
                log.error("%s: it stays received, and is processed again when an intake next starts", what)

            self._writer.submit_nowait(mark, failed)
            return
        try:
            self._writer.submit(mark)
        except SQLAlchemyError as exc:
            raise LedgerError(self._describe(f"marking inbox row {inbox_id}", exc)) from exc

    def inbox_rows(self, status: str | None = None, limit: int = 1000) -> list[InboxRow]:
        """Inbox rows in the order they arrived, optionally only those with ``status``."""
        self._settle()
        query = select(inbox).order_by(inbox.c.id).limit(limit)
        if status is not None:
            query = query.where(inbox.c.status == status)
        with self._read("reading the inbox") as conn:
            return [InboxRow(**row._asdict()) for row in conn.execute(query)]

    def inbox_row(self, inbox_id: int) -> InboxRow:
        self._settle()
        with self._read(f"reading inbox row {inbox_id}") as conn:
            row = conn.execute(select(inbox).where(inbox.c.id == inbox_id)).one_or_none()
        if row is None:
            raise LedgerError(f"inbox row {inbox_id} does not exist")
        return InboxRow(**row._asdict())

    def count_inbox(self, status: str | None = None) -> int:
        self._settle()
        query = select(func.count()).select_from(inbox)
        if status is not None:
            query = query.where(inbox.c.status == status)
        with self._read("counting the inbox") as conn:
            return int(conn.execute(query).scalar_one())

    # -- plumbing -------------------------------------------------------------------------------

    def _settle(self) -> None:
        """Write the inbox marks queued (without waiting, or in this thread's batch), so this process
        reads what it wrote."""
        if (batch := self._current()) is not None:
            batch.write_marks()
        elif self._writer.unsettled:
            self._writer.submit(lambda _conn: None)

    def _upgrade(self) -> None:
        with self._write("migrating the schema to the latest revision") as conn:
            if conn.dialect.name == "postgresql":  # two processes opening a fresh database at once
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(conn), "head")
            except CommandError as exc:
                raise LedgerError(
                    f"cannot migrate the ledger at {self._url}: {exc} "
                    "(is the database newer than this warroom? upgrade warroom)"
                ) from exc

    def _transact(self, transaction: Callable[[Connection], _T]) -> _T:
        """``transaction(conn)`` in a write transaction of its own (a part of a group commit on SQLite),
        committed when this returns; what it raises is raised here, and nothing of it is stored. In a
        :meth:`batch`, a part of the batch's transaction."""
        if (batch := self._current()) is not None:
            with batch.write() as conn:
                return transaction(conn)
        if self._group_facts:
            return cast(_T, self._writer.submit(transaction))
        with self._engine.begin() as conn:
            return transaction(conn)

    def _commit_ops(self, ops: Sequence[_Op]) -> list[Any]:
        """The group commit: the callers' transactions in one database transaction; one that raises
        takes back only its own writes, and a failed commit fails them all."""
        with self._one_writer, self._engine.begin() as conn:
            if len(ops) == 1:  # alone: what it raises rolls the transaction back
                return [ops[0](conn)]
            outcomes: dict[int, Any] = {}
            for kind in (_StoreInbox, _MarkInbox):  # the inbox's rows and marks, each kind in one statement
                alike = [i for i, op in enumerate(ops) if type(op) is kind]
                if len(alike) > 1 and (done := _together(conn, kind, [ops[i] for i in alike])) is not None:
                    outcomes.update(zip(alike, done, strict=True))
            rest = [i for i in range(len(ops)) if i not in outcomes]
            alone = _without_savepoints if conn.dialect.name == "sqlite" else _with_savepoints
            outcomes.update(zip(rest, alone(conn, [ops[i] for i in rest]), strict=True))
            return [outcomes[i] for i in range(len(ops))]

    def _current(self) -> _Batch | None:
        return getattr(self._batch, "now", None)

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        try:
            if (batch := self._current()) is not None:
                with batch.write() as conn:
                    yield conn
                return
            with self._one_writer, self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise LedgerError(self._describe(what, exc)) from exc

    @contextmanager
    def _read(self, what: str, transaction: bool = False) -> Iterator[Connection]:
        """A connection to read with (this thread's batch's, if it is in one); ``transaction``: in a read
        transaction on every backend (a server-side cursor needs one on PostgreSQL)."""
        if (batch := self._current()) is not None:  # a batch reads what it has written
            try:
                yield batch.conn
            except SQLAlchemyError as exc:
                raise LedgerError(self._describe(what, exc)) from exc
            return
        try:
            with (self._read_transactions if transaction else self._readers).connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise LedgerError(self._describe(what, exc)) from exc

    def _describe(self, what: str, exc: SQLAlchemyError) -> str:
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        detail = lines[0] if lines else type(cause).__name__
        if self._password:
            detail = detail.replace(self._password, "***")
        return f"ledger at {self._url}: {what} failed: {detail}"


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise LedgerError(
            "the ledger's database URL does not parse: use sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return _ping_when_idle(create_engine(parsed, connect_args={"connect_timeout": _PG_CONNECT_TIMEOUT_S}))
    raise LedgerError(
        f"the ledger runs on sqlite or postgresql, not {backend!r} "
        f"({parsed.render_as_string(hide_password=True)})"
    )


def _ping_when_idle(engine: Engine) -> Engine:
    """A connection that sat in the pool for ``_PING_IDLE_S`` is pinged when taken out, and replaced if
    the server is gone (a restart, an idle timeout). One in steady use is not: a ping is a round trip per
    transaction (SQLAlchemy's ``pool_pre_ping``); one lost meanwhile fails its statement, which invalidates
    the pool's connections, and the caller tries again (the intake body by body, the dispatcher later)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", time.monotonic()) < _PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"the connection was lost while idle: {exc}") from exc

    return engine


def _sqlite_engine(url: URL) -> Engine:
    """SQLite in WAL mode; every write transaction takes the write lock at BEGIN (IMMEDIATE).

    Taking it up front means concurrent writers queue on ``busy_timeout`` instead of failing with
    "database is locked" when a read lock cannot be upgraded. Readers use a plain BEGIN.
    An in-memory database lives on one shared connection: single-threaded use only (tests).
    """
    in_memory = url.database in (None, "", ":memory:")
    # a connection per thread that reads at once (the intake's request threads, the committer, the
    # dispatcher), kept: one opened and closed per read costs more than the read
    engine = create_engine(url, poolclass=StaticPool) if in_memory else create_engine(url, pool_size=20,
                                                                                       max_overflow=20)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class _Batch:
    """The write transaction of a :meth:`Ledger.batch`, and what its reads learnt (not yet committed)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.learnt: dict[str, dict[str, Any]] = {}
        self.spoiled: BaseException | None = None  # a part failed after it wrote: none of the batch may commit
        self.marks: list[_MarkInbox] = []  # the inbox marks, written together at its end
        self._writes = 0
        self._dbapi: Any = conn.connection.dbapi_connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        self._writes += 1
        yield self.conn

    def write_marks(self) -> None:
        if self.marks:
            with self.write() as conn:
                _MarkInbox.together(conn, self.marks)
            self.marks.clear()

    def changes(self) -> int:
        """Rows changed so far (SQLite), or writes tried (PostgreSQL, which does not count them)."""
        return int(self._dbapi.total_changes) if self.conn.dialect.name == "sqlite" else self._writes

    def failed(self) -> bool:
        """Whether a statement failed, which on PostgreSQL fails the whole transaction."""
        return self.conn.dialect.name == "postgresql" and \
            self._dbapi.info.transaction_status == psycopg.pq.TransactionStatus.INERROR


class _StoreInbox:
    """An op storing one inbox row (its id): the group commit stores a batch's rows in one statement."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __call__(self, conn: Connection) -> int:
        return int(conn.execute(_INSERT_INBOX, self.values).scalar_one())

    @staticmethod
    def together(conn: Connection, ops: Sequence[_StoreInbox]) -> list[Any]:
        return list(conn.execute(_INSERT_INBOX_ROWS, [op.values for op in ops]).scalars())


class _MarkInbox:
    """An op recording what became of an inbox row: a batch's marks go in one statement."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def __call__(self, conn: Connection) -> None:
        if not _MARK_INBOX.run(conn, self.params):
            raise LedgerError(f"inbox row {self.params['b_id']} does not exist")

    @staticmethod
    def together(conn: Connection, ops: Sequence[_MarkInbox]) -> list[Any]:
        if _MARK_INBOX.run(conn, [op.params for op in ops]) != len(ops):
            raise LedgerError("an inbox row to mark does not exist")  # each alone says which
        return [None] * len(ops)


def _together(conn: Connection, kind: type[_StoreInbox | _MarkInbox], ops: Sequence[Any]) -> list[Any] | None:
    """A batch's inbox ops of one kind in one statement; None when that statement fails: it is taken
    back to a savepoint, and each is tried alone (the one at fault fails alone)."""
    conn.exec_driver_sql("SAVEPOINT together")
    try:
        found = kind.together(conn, ops)
    except (SQLAlchemyError, LedgerError):
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT together")
        conn.exec_driver_sql("RELEASE SAVEPOINT together")
        return None
    conn.exec_driver_sql("RELEASE SAVEPOINT together")
    return found


def _with_savepoints(conn: Connection, ops: Sequence[_Op]) -> list[Any]:
    """PostgreSQL: each op in a savepoint of its own; one that raises takes back only its own writes."""
    outcomes: list[Any] = []
    for op in ops:  # plain SAVEPOINT statements: a third of the cost of SQLAlchemy's nested transactions
        conn.exec_driver_sql("SAVEPOINT op")
        try:
            outcome = op(conn)
        except Exception as exc:  # handed to its caller, in its thread
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT op")
            conn.exec_driver_sql("RELEASE SAVEPOINT op")
            outcomes.append(exc)
        else:
            conn.exec_driver_sql("RELEASE SAVEPOINT op")
            outcomes.append(outcome)
    return outcomes


def _without_savepoints(conn: Connection, ops: Sequence[_Op]) -> list[Any]:
    """SQLite: the ops one after the other with no savepoint each (a savepoint costs more than most ops).
    An op that raises before it changed a row (a conflict found by its reads, an inbox row that does
    not exist, one statement refused: SQLite takes a failed statement back) fails alone; one that
    raises after a change it cannot take back fails the whole batch, as a failed commit does."""
    dbapi = conn.connection.dbapi_connection
    outcomes: list[Any] = []
    for op in ops:
        changes = dbapi.total_changes  # type: ignore[union-attr]
        try:
            outcomes.append(op(conn))
        except Exception as exc:
            if dbapi.total_changes != changes or not dbapi.in_transaction:  # type: ignore[union-attr]
                raise  # half an op would be committed (or SQLite rolled back all): every caller hears why
            outcomes.append(exc)
    return outcomes


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise LedgerError(f"{what} {value.isoformat()} has no timezone: give the ledger UTC times")
    return value.astimezone(UTC)


def _conflict(incident_id: str, expected_seq: int, current: int) -> str:
    if current > expected_seq:
        return (
            f"incident {incident_id} moved on to seq {current} while you expected {expected_seq}: "
            "re-read and decide again"
        )
    return (
        f"incident {incident_id} is at seq {current}, not {expected_seq} as you expected "
        "(sequences have no gaps): re-read and decide again"
    )


def _rebuild(event: Event) -> tuple[AnyEvent, dict[str, Any]]:
    """The event as ``stream`` will read it back (times in UTC), and its payload as stored; refused if
    it would not read back."""
    payload = event.payload()
    try:
        return event_from_parts(
            event.kind,
            payload,
            incident_id=event.incident_id,
            actor=event.actor,
            occurred_at=_utc(event.occurred_at, "occurred_at"),
            idempotency_key=event.idempotency_key,
        ), payload
    except ValidationError as exc:
        raise LedgerError(f"cannot record a {event.kind!r} event: it does not read back: {exc}") from exc


# The append path's statements, built once: building them per call cost more than SQLite's commit.
_LAST_SEQ = Hot(select(func.max(events.c.seq)).where(events.c.incident_id == bindparam("incident_id")))
_BY_KEY = select(events).where(events.c.idempotency_key == bindparam("key"))
_BY_KEYS = select(events).where(events.c.idempotency_key.in_(bindparam("keys", expanding=True)))
_INCIDENT_BY_KEY = Hot(select(events.c.incident_id).where(events.c.idempotency_key == bindparam("key")))
_STREAM = (select(events).where(events.c.incident_id == bindparam("incident_id"), events.c.seq > bindparam("after_seq"))
           .order_by(events.c.seq))
_KEYS_PER_QUERY = 500  # idempotency keys looked up per IN (...): well under every backend's bound-parameter limit
_INSERT_EVENT = Hot(events.insert())
_INSERT_WORK = Hot(work.insert())
_WORK_BY_KEY = Hot(select(work.c.id).where(work.c.key == bindparam("key")))
_INSERT_INCIDENT = Hot(incidents.insert())
_INSERT_INBOX = inbox.insert().returning(inbox.c.id)
_INSERT_INBOX_ROWS = inbox.insert().returning(inbox.c.id, sort_by_parameter_order=True)  # ids in the rows' order
# the status always; the other fields only when given (None keeps what is stored)
_MARK_INBOX = Hot(inbox.update().where(inbox.c.id == bindparam("b_id")).values(
    status=bindparam("b_status"),
    reason=func.coalesce(bindparam("b_reason", type_=inbox.c.reason.type), inbox.c.reason),
    incident_id=func.coalesce(bindparam("b_incident_id", type_=inbox.c.incident_id.type), inbox.c.incident_id),
    fingerprint=func.coalesce(bindparam("b_fingerprint", type_=inbox.c.fingerprint.type), inbox.c.fingerprint),
))
_UPDATE_INCIDENT = Hot(incidents.update().where(incidents.c.incident_id == bindparam("b_incident_id")))
# a pending incident's service and title come from its alerts until a declaration names them: only fill gaps
_FILL_INCIDENT = Hot(incidents.update().where(incidents.c.incident_id == bindparam("b_incident_id")).values(
    service=func.coalesce(incidents.c.service, bindparam("b_service")),
    title=func.coalesce(incidents.c.title, bindparam("b_title")),
))


def _work_rows(conn: Connection, incident_id: str | None, status: str | None, limit: int = 1000,
               kind: str | None = None) -> list[WorkRow]:
    query = _WORK_ROWS[incident_id is not None, status is not None, kind is not None]
    found = conn.execute(query, {"incident_id": incident_id, "status": status, "kind": kind, "limit": limit})
    return [WorkRow(**row._asdict()) for row in found]


def _work_rows_query(of_incident: bool, with_status: bool, of_kind: bool) -> Select[Any]:
    query = select(work).order_by(work.c.id).limit(bindparam("limit"))
    if of_incident:
        query = query.where(work.c.incident_id == bindparam("incident_id"))
    if with_status:
        query = query.where(work.c.status == bindparam("status"))
    if of_kind:
        query = query.where(work.c.kind == bindparam("kind"))
    return query


# the work rows of an incident, of a status, of a kind, or any of these together (a join reads its incident's
# pending work), built once
_WORK_ROWS = {(i, s, k): _work_rows_query(i, s, k) for i in (False, True) for s in (False, True)
              for k in (False, True)}


def _last_seq(conn: Connection, incident_id: str) -> int:
    return int(_LAST_SEQ.scalar(conn, {"incident_id": incident_id}) or 0)


def _find(conn: Connection, idempotency_key: str) -> Recorded | None:
    row = conn.execute(_BY_KEY, {"key": idempotency_key}).one_or_none()
    return None if row is None else _recorded(row)


def _incident_of(conn: Connection, idempotency_key: str) -> str | None:
    found = _INCIDENT_BY_KEY.scalar(conn, {"key": idempotency_key})
    return None if found is None else str(found)


def _stream(conn: Connection, incident_id: str, after_seq: int) -> list[Recorded]:
    rows = conn.execute(_STREAM, {"incident_id": incident_id, "after_seq": after_seq}).all()
    return [_recorded(row) for row in rows]


def _same_intent(stored: Recorded, event: Event) -> Recorded:
    """A replay of the same key returns what was stored, if it is the same kind of fact."""
    if (stored.event.incident_id, stored.event.kind) != (event.incident_id, event.kind):
        raise LedgerError(
            f"idempotency key {event.idempotency_key!r} already records a {stored.event.kind} event "
            f"of {stored.event.incident_id} (seq {stored.seq}), not a {event.kind} event of "
            f"{event.incident_id}: a key must name one intent"
        )
    return stored


def _recorded(row: Row[Any]) -> Recorded:
    try:
        rebuilt = event_from_parts(
            row.kind,
            row.payload,
            incident_id=row.incident_id,
            actor=row.actor,
            occurred_at=row.occurred_at,
            idempotency_key=row.idempotency_key,
        )
        return Recorded(event_id=row.event_id, seq=row.seq, recorded_at=row.recorded_at, event=rebuilt)
    except ValidationError as exc:
        raise LedgerError(
            f"event {row.event_id} (seq {row.seq} of {row.incident_id}) does not read as a "
            f"{row.kind!r} event: {exc}"
        ) from exc


def _event_values(recorded: Recorded, payload: dict[str, Any]) -> dict[str, Any]:
    ev = recorded.event
    return {
        "event_id": recorded.event_id,
        "incident_id": ev.incident_id,
        "seq": recorded.seq,
        "kind": ev.kind,
        "payload": payload,
        "actor": ev.actor,
        "occurred_at": ev.occurred_at,
        "recorded_at": recorded.recorded_at,
        "idempotency_key": ev.idempotency_key,
    }


def _work_values(item: Work, now: datetime) -> dict[str, Any]:
    return {
        "key": item.key, "incident_id": item.incident_id, "kind": item.kind, "params": item.params,
        "status": "pending", "due_at": _utc(item.due_at, "due_at"), "lease_until": None, "attempts": 0,
        "created_at": now,
    }


def _project(conn: Connection, added: Sequence[Recorded]) -> None:
    """Keep the ``incidents`` row in step with the events just appended (of one incident, in seq
    order), in the append's transaction: their changes, later over earlier, in one statement."""
    changes: dict[str, Any] = {}
    first: dict[str, Any] | None = None
    fill: dict[str, str | None] = {}  # from the alerts: the service and title of a pending incident
    for recorded in added:
        ev = recorded.event
        changes.update(last_seq=recorded.seq, updated_at=recorded.recorded_at)
        if isinstance(ev, AlertAttached):
            if ev.alert.service and not fill.get("service"):
                fill["service"] = ev.alert.service
            fill.setdefault("title", ev.alert.summary)
        if isinstance(ev, Declared):
            changes.update(
                status="open",
                phase=Phase.DECLARED.value,
                service=ev.service,
                severity=ev.severity,
                title=ev.title,
                drill=ev.drill,
                declared_at=ev.occurred_at,
            )
        elif isinstance(ev, PhaseChanged):
            changes["phase"] = ev.to.value
        elif isinstance(ev, Closed):
            changes.update(status="closed", phase=Phase.CLOSED.value, closed_at=ev.occurred_at)
        if recorded.seq == 1:
            first = {
                "incident_id": ev.incident_id,
                "status": "pending",
                "phase": Phase.PENDING.value,
                "drill": False,
                "opened_at": ev.occurred_at,
            }
    if not added:
        return
    if first is not None:
        _INSERT_INCIDENT.run(conn, {**first, **{k: v for k, v in fill.items() if v}, **changes})
    else:
        if fill and "declared_at" not in changes:
            _FILL_INCIDENT.run(conn, {"b_incident_id": added[0].event.incident_id,
                                          "b_service": fill.get("service"), "b_title": fill.get("title")})
        _UPDATE_INCIDENT.run(conn, {"b_incident_id": added[0].event.incident_id, **changes})
