"""integrations.retry: bounded retries and the token bucket, on a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.integrations.conftest import FakeClock
from warroom.incident.errors import IntegrationError
from warroom.integrations.retry import RateLimiter, Retryable, RetryPolicy, call_with_retry, parse_retry_after


class VendorError(Exception):
    def __init__(self, status: int, text: str = "") -> None:
        super().__init__(text or f"vendor said {status}")
        self.status_code = status


def classify(exc: BaseException) -> Retryable | None:
    if isinstance(exc, VendorError) and exc.status_code in (429, 503):
        return Retryable(exc.status_code, 2.0 if exc.status_code == 429 else None, f"HTTP {exc.status_code}")
    return None


def failing(statuses: list[int], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(len(calls))
        if len(calls) <= len(statuses):
            raise VendorError(statuses[len(calls) - 1])
        return result

    return fn, calls


def policy(clock: FakeClock, **kw: float) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, monotonic=clock.monotonic, **kw)  # type: ignore[arg-type]


def test_success_needs_no_wait(fake_clock: FakeClock) -> None:
    fn, calls = failing([])
    assert call_with_retry("Svc", "op", fn, policy(fake_clock), classify) == "ok"
    assert (len(calls), fake_clock.sleeps) == (1, [])


def test_retry_after_is_honoured(fake_clock: FakeClock) -> None:
    fn, _ = failing([429, 429])
    assert call_with_retry("Svc", "op", fn, policy(fake_clock), classify) == "ok"
    assert fake_clock.sleeps == [2.0, 2.0]


def test_backoff_grows_with_jitter_and_is_capped(fake_clock: FakeClock) -> None:
    fn, _ = failing([503] * 6)
    call_with_retry("Svc", "op", fn, policy(fake_clock, max_attempts=10, deadline_s=1000), classify)
    for n, slept in enumerate(fake_clock.sleeps, start=1):
        ceiling = min(8.0, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= slept <= ceiling
    again = FakeClock()
    fn2, _ = failing([503] * 6)
    call_with_retry("Svc", "op", fn2, policy(again, max_attempts=10, deadline_s=1000), classify)
    assert again.sleeps == fake_clock.sleeps  # deterministic jitter


def test_max_attempts_ends_in_an_integration_error_from_the_last_error(fake_clock: FakeClock) -> None:
    fn, calls = failing([503] * 10)
    with pytest.raises(IntegrationError) as caught:
        call_with_retry("Svc", "op", fn, policy(fake_clock, max_attempts=3), classify)
    assert len(calls) == 3
    error = caught.value
    assert (error.service, error.call, error.status) == ("Svc", "op", 503)
    assert "gave up after 3 attempts" in str(error)
    assert isinstance(error.__cause__, VendorError)


def test_the_deadline_bounds_the_total_wait(fake_clock: FakeClock) -> None:
    fn, calls = failing([503] * 100)
    with pytest.raises(IntegrationError, match="deadline"):
        call_with_retry("Svc", "op", fn, policy(fake_clock, max_attempts=100, deadline_s=20), classify)
    assert fake_clock.elapsed <= 20.0
    assert 3 < len(calls) < 100


def test_a_non_retryable_error_fails_at_once_keeping_the_cause(fake_clock: FakeClock) -> None:
    fn, calls = failing([404])
    with pytest.raises(IntegrationError) as caught:
        call_with_retry("Svc", "get_thing", fn, policy(fake_clock), classify)
    assert len(calls) == 1 and fake_clock.sleeps == []
    assert caught.value.status == 404
    assert isinstance(caught.value.__cause__, VendorError)


def test_an_integration_error_from_inside_passes_through(fake_clock: FakeClock) -> None:
    inner = IntegrationError("Svc", "inner", "already translated", 400)

    def fn() -> str:
        raise inner

    with pytest.raises(IntegrationError) as caught:
        call_with_retry("Svc", "op", fn, policy(fake_clock), classify)
    assert caught.value is inner


def test_secrets_are_scrubbed_from_messages(fake_clock: FakeClock) -> None:
    def fn() -> str:
        raise VendorError(400, "bad token tok-123 for key rk-456")

    with pytest.raises(IntegrationError) as caught:
        call_with_retry("Svc", "op", fn, policy(fake_clock), classify, secrets=("tok-123", "rk-456", ""))
    assert "tok-123" not in str(caught.value) and "rk-456" not in str(caught.value)
    assert "[redacted]" in str(caught.value)


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-1") is None


def test_rate_limiter_bursts_then_paces(fake_clock: FakeClock) -> None:
    limiter = RateLimiter(2.0, 3.0, monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    waits = [limiter.acquire() for _ in range(7)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.5] * 4)
    assert fake_clock.elapsed == pytest.approx(2.0)


def test_rate_limiter_per_minute_matches_pagerdutys_limit(fake_clock: FakeClock) -> None:
    limiter = RateLimiter.per_minute(960, monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    for _ in range(960):
        limiter.acquire()
    assert 59.0 <= fake_clock.elapsed + 1.0 <= 61.0  # 960 requests take a minute, less the burst


def test_rate_limiter_is_thread_safe() -> None:
    frozen = 0.0
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    limiter = RateLimiter(10.0, 5.0, monotonic=lambda: frozen, sleep=record)
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(25)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 tokens, 5 in the bucket: every other one reserved a distinct slot 0.1 s apart.
    assert sorted(waits) == pytest.approx([k / 10 for k in range(1, 196)])
