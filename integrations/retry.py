"""Bounded retries and a rate limiter for the vendor adapters (PagerDuty, Jira).

The vendor clients' own retry rules are unbounded or blind (``pagerduty`` retries 429 forever and
ignores ``Retry-After``), so adapters switch those off and retry here instead:

    result = call_with_retry("PagerDuty", "add_note", lambda: client.rpost(...), policy, classify)

``classify`` says which errors are worth another try (a :class:`Retryable`, with the status and the
server's ``Retry-After`` when known) and which are not (``None``). Time is injected through
:class:`RetryPolicy` (``sleep``/``monotonic``), so tests run on a fake clock and never sleep.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from warroom.incident.errors import IntegrationError

T = TypeVar("T")

log = logging.getLogger("warroom.retry")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most ``max_attempts`` calls, all started within ``deadline_s``.

    Waits between attempts follow the server's ``Retry-After`` when it gives one, else exponential
    backoff from ``base_delay_s`` up to ``max_delay_s`` with deterministic jitter.
    """

    max_attempts: int = 5
    deadline_s: float = 30.0
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based): full delay halved by jitter."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.random() * ceiling / 2


class Retryable(Exception):
    """The verdict of a ``classify`` function: this failure is worth another attempt."""

    def __init__(
        self, status: int | None = None, retry_after_s: float | None = None, detail: str = ""
    ) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        self.detail = detail
        super().__init__(detail or f"status {status}")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an exception carries, when it carries one (vendor clients differ in where)."""
    for candidate in (getattr(exc, "status_code", None), getattr(exc, "status", None)):
        if isinstance(candidate, int):
            return candidate
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def call_with_retry(
    service: str,
    call: str,
    fn: Callable[[], T],
    policy: RetryPolicy,
    classify: Callable[[BaseException], Retryable | None],
    *,
    secrets: Iterable[str] = (),
) -> T:
    """Run ``fn``, retrying what ``classify`` calls retryable, within ``policy``'s bounds.

    A failure that is not retryable becomes :class:`IntegrationError` at once; a retryable one that
    outlives ``max_attempts``, or whose next wait would pass the deadline (including a ``Retry-After``
    longer than the time left), becomes one too. Either way the last error is the ``__cause__``.
    ``secrets`` are scrubbed from every message.
    """
    hidden = tuple(s for s in secrets if s)
    rng = random.Random(f"{service}:{call}")  # deterministic jitter
    start = policy.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except IntegrationError:
            raise
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None:
                raise IntegrationError(service, call, scrub(describe(exc), hidden), status_of(exc)) from exc
            detail = scrub(verdict.detail or describe(exc), hidden)
            elapsed = policy.monotonic() - start
            remaining = policy.deadline_s - elapsed
            give_up = None
            if attempt >= policy.max_attempts:
                give_up = f"gave up after {attempt} attempts in {elapsed:.1f} s"
            elif verdict.retry_after_s is not None and verdict.retry_after_s > remaining:
                give_up = (
                    f"gave up after {attempt} attempts: the server asked to wait "
                    f"{verdict.retry_after_s:g} s, past the {policy.deadline_s:g} s deadline"
                )
            elif remaining <= 0:
                give_up = f"gave up after {attempt} attempts: the {policy.deadline_s:g} s deadline passed"
            if give_up is not None:
                raise IntegrationError(
                    service, call, f"{give_up}; last error: {detail}", verdict.status
                ) from exc
            if verdict.retry_after_s is not None:
                delay = max(0.0, verdict.retry_after_s)
            else:
                delay = min(policy.backoff(attempt, rng), remaining)
            log.warning(
                "%s %s: attempt %d failed (%s); retrying in %.2f s", service, call, attempt, detail, delay
            )
            policy.sleep(delay)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; None for absent or HTTP-date forms."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class RateLimiter:
    """A thread-safe token bucket: at most ``capacity`` calls at once, refilled at ``rate_per_s``.

    :meth:`acquire` reserves a token and sleeps (through the injected ``sleep``) until it is due, so
    callers in many threads are served in order without exceeding the rate.
    """

    def __init__(
        self,
        rate_per_s: float,
        capacity: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_s)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._updated = monotonic()

    @classmethod
    def per_minute(
        cls,
        requests: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RateLimiter:
        """A limiter for ``requests`` a minute, bursting up to one second's worth."""
        rate = requests / 60.0
        return cls(rate, max(1.0, rate), monotonic=monotonic, sleep=sleep)

    def acquire(self) -> float:
        """Take one token, waiting until it is available; returns the seconds waited."""
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s
        if wait > 0:
            self._sleep(wait)
        return wait


PAGERDUTY_REST_PER_MINUTE = 960
