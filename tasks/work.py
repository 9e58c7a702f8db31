"""The dispatcher: carries out the work the ledger holds (pages, run starts, watch timers) until each
is done (DESIGN §4, §5).

A decision and the work it calls for are stored in one transaction; whoever stored them drives the
urgent part at once (:meth:`Dispatcher.drive`), and a dispatcher loop (:meth:`Dispatcher.serve`, in
``warroom intake`` and ``warroom up``) carries out whatever is still pending: after a failure (with
bounded backoff), after a crash (once the dead process's lease has passed), or when a timer is due.
Each row is claimed with a lease, so several dispatchers on one PostgreSQL ledger never carry out one
row at once; the page itself is also deduplicated by PagerDuty (dedup key) and the ledger (its fact).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from warroom.incident.errors import WarroomError
from warroom.incident.work import retry_delay
from warroom.integrations.ledger import WorkRow
from warroom.tasks.paging import page
from warroom.tasks.runtime import Runtime, use_runtime

log = logging.getLogger("warroom.dispatcher")

# A dispatcher that died mid-call gives its work up when the lease passes, so the lease is short: a page
# must not wait long after a crash. A live dispatcher still retrying past it (a vendor's bounded retries
# take up to 30 s) may meet a second try of the same work: PagerDuty's dedup key, Prefect's idempotency
# key and the ledger's unique keys make that second try change nothing.
LEASE = timedelta(seconds=15)
IDLE_WAIT_S = 0.5
BATCH = 20


def describe_failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:500]}" if text else type(exc).__name__


Handler = Callable[[WorkRow], str]


class Dispatcher:
    """Carries out the ledger's pending work. Pages are its own; the other kinds (``start_run``: a
    deployment run on Prefect; ``watch``: a watched alert's hour is up; ``form_timeout``: a form
    nobody answered in time; ``inbox``: a stored body whose processing failed) are ``handlers`` given
    by the entry point, so that this module imports no flows. A handler returns the outcome in words,
    or raises to be retried."""

    def __init__(self, runtime: Runtime, handlers: Mapping[str, Handler], at_once: Runtime | None = None,
                 poll: Callable[[], int] | None = None) -> None:
        """``at_once``: the runtime :meth:`drive` uses while a sender waits (a pager that tries once).
        ``poll``: called each round of the loop (the desks' answers); returns how much work it stored."""
        self.runtime = runtime
        self._poll = poll
        self._at_once = at_once or runtime
        self._handlers = {"page": self._page, **handlers}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, kind: str, handler: Handler) -> None:
        """Carry out work of ``kind`` with ``handler`` from now on."""
        self._handlers[kind] = handler

    # -- carrying out ---------------------------------------------------------------------------

    def _page(self, row: WorkRow) -> str:
        p = row.params
        recorded = page(row.incident_id, str(p["summary"]), str(p["severity"]), str(p["service"]), key=str(p["key"]),
                        drill=bool(p.get("drill", False)))
        return f"paged (dedup key {row.incident_id}, ledger seq {recorded.seq})"

    def carry_out(self, row: WorkRow, runtime: Runtime | None = None) -> str:
        """Do one claimed row's work; returns the outcome in words. Raises on failure."""
        handler = self._handlers.get(row.kind)
        if handler is None:
            raise WarroomError(f"work {row.key!r} is of an unknown kind {row.kind!r}: upgrade warroom")
        with use_runtime(runtime or self.runtime):
            return handler(row)

    def _run(self, rows: list[WorkRow], runtime: Runtime | None = None) -> int:
        done = 0
        for row in rows:
            try:
                outcome = self.carry_out(row, runtime)
            except Exception as exc:  # recorded and retried: never lost, never the end of the loop
                why = describe_failure(exc)
                again = self.runtime.clock() + retry_delay(row.attempts + 1)
                tries = self.runtime.ledger.retry_work(row.id, why, again)
                log.warning("%s for %s failed (try %d), will retry: %s", row.kind, row.incident_id, tries, why)
                continue
            self.runtime.ledger.finish_work(row.id, outcome, self.runtime.clock())
            done += 1
        return done

    def run_due(self, limit: int = BATCH) -> int:
        """Claim and carry out up to ``limit`` due rows; returns how many were done."""
        return self._run(self.runtime.ledger.claim_work(self.runtime.clock(), LEASE, limit=limit))

    def poll(self) -> int:
        """What the entry point asked to look at each round (the desks' answers, stored as work); how
        much work it stored."""
        if self._poll is None:
            return 0
        with use_runtime(self.runtime):
            return self._poll()

    def round(self) -> int:
        """One round of the loop: due work, then answers; how many things were done."""
        return self.run_due() + self.poll()

    def drive(self, incident_id: str, kinds: tuple[str, ...] = ("page",)) -> int:
        """Carry out an incident's pending work of ``kinds`` now, due or not (a fresh decision's page,
        a redelivery re-driving what is unfinished); the rest is left to the loop, woken once this is done.
        Rows another dispatcher holds are left to it."""
        return self.carry(self.claim_now([incident_id], kinds))

    def claim_now(self, incident_ids: Sequence[str], kinds: tuple[str, ...] = ("page",)) -> list[WorkRow]:
        """Claim the incidents' pending work of ``kinds``, due or not, for :meth:`carry`. The intake claims a
        batch's pages in the ledger batch that decided them: committed with the decision, no transaction of
        their own before the page goes out."""
        return self.runtime.ledger.claim_work(self.runtime.clock(), LEASE, limit=BATCH * len(incident_ids),
                                              incident_ids=incident_ids, kinds=kinds, even_if_not_due=True)

    def carry(self, rows: list[WorkRow]) -> int:
        """Carry out claimed rows now, while a sender waits; the loop is woken once this is done."""
        try:
            return self._run(rows, self._at_once)
        finally:  # after the page: the loop's round would take the interpreter from it while it is sent
            self._wake.set()

    # -- the loop -------------------------------------------------------------------------------

    def serve(self) -> None:
        """Carry out due work and answers until :meth:`stop`; sleeps on an event between rounds (woken early by
        :meth:`drive`), so an idle loop costs nothing."""
        polled = float("-inf")
        while not self._stop.is_set():
            try:
                # the answers at most every IDLE_WAIT_S, as when idle: a busy loop (a storm waking it at
                # each page) would otherwise ask Prefect on every round
                done = self.run_due()
                if time.monotonic() - polled >= IDLE_WAIT_S:
                    polled = time.monotonic()
                    done += self.poll()
                busy = done > 0
            except Exception as exc:  # the ledger itself failing: say so, keep going
                log.error("dispatcher: %s", describe_failure(exc))
                busy = False
            if not busy:
                self._wake.wait(IDLE_WAIT_S)
                self._wake.clear()

    def start(self) -> Dispatcher:
        # the loop sees this thread's context (Prefect's settings live in context variables)
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self.serve,), name="warroom-dispatcher",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

