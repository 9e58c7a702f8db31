"""Reading and writing the incident's facts. Every write names its intent (the idempotency key)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from prefect import task

from warroom.incident.errors import LedgerConflictError
from warroom.incident.events import Event, Recorded
from warroom.incident.state import IncidentState, check, check_all, fold
from warroom.incident.work import Work
from warroom.integrations.ledger import Reader
from warroom.tasks.runtime import current_runtime

T = TypeVar("T")
CONFLICT_RETRIES = 20


def envelope(incident_id: str, key: str, actor: str = "warroom") -> dict[str, Any]:
    """The fields every fact carries, stamped with the runtime's clock."""
    return {
        "incident_id": incident_id,
        "actor": actor,
        "occurred_at": current_runtime().clock(),
        "idempotency_key": key,
    }


_states_lock = threading.Lock()


def load_state(incident_id: str, reader: Reader | None = None) -> IncidentState:
    """The incident as the ledger knows it now (treat it as read-only); ``reader``: read it within
    that read transaction (:meth:`Ledger.reading`) rather than in one of its own.

    The last state read is kept per incident, so only the events since are read and folded: the
    stream is append-only, so a state at seq N stays true of the first N events.
    """
    ledger = current_runtime().ledger
    cached = ledger.memory("states")
    with _states_lock:
        known: IncidentState | None = cached.get(incident_id)
    newer = (reader or ledger).stream(incident_id, after_seq=known.version if known else 0)
    if known is not None and not newer:
        return known
    state = fold(newer, incident_id, start=known)
    with _states_lock:
        if incident_id not in cached or cached[incident_id].version < state.version:
            cached[incident_id] = state
    return state


def stored_or_state(incident_id: str, key: str) -> tuple[Recorded | None, IncidentState | None]:
    """The fact stored under ``key`` if there is one, else the incident's latest state: one read."""
    with current_runtime().ledger.reading() as reader:
        stored = reader.find(key)
        return (stored, None) if stored is not None else (None, load_state(incident_id, reader))


def done(idempotency_key: str) -> Recorded | None:
    """The stored fact for this intent, if it was already recorded."""
    return current_runtime().ledger.find(idempotency_key)


def record(event: Event) -> Recorded:
    """Append ``event`` once; see :func:`write`."""
    return write(event)[0]


def write(event: Event, calls_for: Sequence[Work] = ()) -> tuple[Recorded, bool]:
    """Append ``event`` once. A fact recorded before (same key) is returned as stored, with False.
    ``calls_for`` is the work the fact calls for, stored with it in one transaction.

    The core checks the event against the latest state before it is written; if another writer (a
    handoff running beside the lifecycle) got in first, the state is re-read and checked again.
    """
    ledger = current_runtime().ledger
    for _ in range(CONFLICT_RETRIES):
        stored, state = stored_or_state(event.incident_id, event.idempotency_key)
        if stored is not None:
            return stored, False
        assert state is not None
        check(state, event)
        try:
            return ledger.write(event, state.version, calls_for)
        except LedgerConflictError:
            continue
    raise LedgerConflictError(
        f"{event.incident_id}: could not record {event.kind} after {CONFLICT_RETRIES} conflicting writes")


def write_many(batch: Sequence[Event], calls_for: Sequence[Work] = ()) -> list[tuple[Recorded, bool]]:
    """:func:`write` of several events of one incident, checked by the core and stored in one go;
    ``calls_for``: the work the last of them calls for, stored with it."""
    if not batch:
        return []
    ledger = current_runtime().ledger

    def attempt(state: IncidentState) -> list[tuple[Recorded, bool]]:
        check_all(state, batch)
        return ledger.write_many(batch, state.version, calls_for)

    return _retrying_conflicts(batch[0].incident_id, f"{len(batch)} events", attempt)


def _retrying_conflicts(incident_id: str, what: str, attempt: Callable[[IncidentState], T]) -> T:
    """``attempt`` on the latest state, again while another writer gets in first."""
    for _ in range(CONFLICT_RETRIES):
        try:
            return attempt(load_state(incident_id))
        except LedgerConflictError:
            continue
    raise LedgerConflictError(f"{incident_id}: could not record {what} after {CONFLICT_RETRIES} conflicting writes")


def once(key: str, effect: Callable[[], T], fact: Callable[[T], Event]) -> Recorded:
    """Run a side effect for an intent at most once: skip it if its fact is in the ledger already.

    The vendors' own deduplication (PagerDuty's dedup key, the Jira intent label) covers a crash
    between the effect and the write of its fact.
    """
    stored = done(key)
    if stored is not None:
        return stored
    return record(fact(effect()))


record_event = task(name="record_event")(record)
