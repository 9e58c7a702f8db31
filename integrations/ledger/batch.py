"""Group commit: concurrent callers' small writes share one transaction (and one flush to disk).

Each caller still waits until its own write is committed, so nothing is acknowledged before it is
durable; under load, one commit serves every write that queued while the previous one ran.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from warroom.incident.errors import LedgerError

T = TypeVar("T")
R = TypeVar("R")
Q = TypeVar("Q")


@dataclass
class _Pending(Generic[T, R]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    result: R | None = None
    error: BaseException | None = None
    failed: Callable[[BaseException], None] | None = None  # not waited for: who hears if it fails


def take_queued(waiting: queue.SimpleQueue[Q | None], first: Q, most: int) -> list[Q]:
    """``first`` and whatever else is queued now, ``most`` in all at the most. A None met on the way (the
    sign to stop) is put back, so the taker stops after this batch."""
    batch = [first]
    while len(batch) < most:
        try:
            following = waiting.get_nowait()
        except queue.Empty:
            break
        if following is None:
            waiting.put(None)
            break
        batch.append(following)
    return batch


class GroupCommit(Generic[T, R]):
    """``commit(items)`` writes a batch in one transaction and returns, per item, its result or the
    exception for that item alone; an exception it raises fails the whole batch."""

    def __init__(self, commit: Callable[[Sequence[T]], Sequence[R | BaseException]], max_batch: int = 256):
        self._commit = commit
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Pending[T, R] | None] = queue.SimpleQueue()
        self._unsettled = 0  # items queued with submit_nowait, not written yet
        self._thread = threading.Thread(target=self._run, name="ledger-group-commit", daemon=True)
        self._thread.start()

    def submit(self, item: T) -> R:
        pending: _Pending[T, R] = _Pending(item)
        self._queue.put(pending)
        while not pending.done.wait(1.0):  # a committer that has stopped answers nobody: don't wait on it
            if not self._thread.is_alive() and not pending.done.is_set():
                raise LedgerError("the ledger is closed: nothing more can be written")
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]

    def submit_nowait(self, item: T, failed: Callable[[BaseException], None]) -> None:
        """Queue ``item`` and return at once; ``failed`` hears (in the committing thread) if it fails."""
        with self._lock:
            self._unsettled += 1
        self._queue.put(_Pending(item, failed=failed))

    @property
    def unsettled(self) -> bool:
        """Whether something queued without waiting is not written yet."""
        return self._unsettled > 0

    def close(self) -> None:
        """Stop the committing thread once what is queued is written."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = take_queued(self._queue, first, self._max_batch)
            try:
                outcomes = self._commit([p.item for p in batch])
            except BaseException as exc:  # the whole batch failed: every caller hears why
                outcomes = [exc] * len(batch)
            for pending, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    pending.error = outcome
                else:
                    pending.result = outcome
                if pending.failed is not None:
                    with self._lock:
                        self._unsettled -= 1
                    if pending.error is not None:
                        pending.failed(pending.error)
                pending.done.set()
