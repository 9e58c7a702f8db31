"""Faults between warroom and PagerDuty: the adapter retries within bounds and pages exactly once.

Retry waits run on the fake clock. The only real waiting is the sandbox's own injected latency
(the server being slow), and a test that needs the server to finish waits for that event
(``Recorder.wait_idle``), not for time.
"""

from __future__ import annotations

import pytest

from tests.integrations.conftest import FakeClock, PagerDutySandbox, fake_clock_policy
from warroom.incident.errors import IntegrationError
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.integrations.retry import RetryPolicy
from warroom.integrations.sandbox.recorder import Fault

KEY = "inc-faults"


def page(pager: PagerDutyPager) -> None:
    assert pager.page(KEY, "db latency", "critical", "db-1", {}).dedup_key == KEY


def enqueue_statuses(sandbox: PagerDutySandbox) -> list[int | None]:
    return [r.response_status for r in sandbox.requests("POST", "/v2/enqueue")]


def test_429_with_retry_after_then_success_waits_as_told(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    pagerduty_sandbox.set_faults(Fault(status=429, retry_after="3", count=2, path_prefix="/v2/enqueue"))
    page(pager)
    assert enqueue_statuses(pagerduty_sandbox) == [429, 429, 202]
    assert fake_clock.sleeps == [3.0, 3.0]
    assert pagerduty_sandbox.incident_count(KEY) == 1


def test_429_forever_gives_up_within_the_deadline(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    policy = fake_clock_policy(fake_clock, max_attempts=50, deadline_s=10.0)
    pager = PagerDutyPager(pagerduty_sandbox.credentials(), retry=policy)
    pagerduty_sandbox.set_faults(Fault(status=429, retry_after="2", path_prefix="/v2/enqueue"))
    with pytest.raises(IntegrationError) as caught:
        pager.page(KEY, "db latency", "critical", "db-1", {})
    error = caught.value
    assert (error.service, error.call, error.status) == ("PagerDuty", "page", 429)
    assert fake_clock.elapsed <= 10.0
    assert len(enqueue_statuses(pagerduty_sandbox)) == 6  # at 0, 2, 4, 6, 8, 10 s
    assert "deadline" in str(error)
    assert pagerduty_sandbox.incident_count(KEY) == 0


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    pager = PagerDutyPager(
        pagerduty_sandbox.credentials(), retry=fake_clock_policy(fake_clock, deadline_s=5.0)
    )
    pagerduty_sandbox.set_faults(Fault(status=429, retry_after="60", path_prefix="/v2/enqueue"))
    with pytest.raises(IntegrationError) as caught:
        pager.page(KEY, "s", "critical", "src", {})
    assert "60" in str(caught.value)
    assert fake_clock.sleeps == []


def test_429_forever_with_backoff_stops_at_max_attempts(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    pager = PagerDutyPager(
        pagerduty_sandbox.credentials(), retry=fake_clock_policy(fake_clock, max_attempts=4)
    )
    pagerduty_sandbox.set_faults(Fault(status=429, path_prefix="/v2/enqueue"))
    with pytest.raises(IntegrationError, match="gave up after 4 attempts"):
        pager.page(KEY, "s", "critical", "src", {})
    assert len(enqueue_statuses(pagerduty_sandbox)) == 4
    assert fake_clock.elapsed <= RetryPolicy().deadline_s


def test_503_then_success(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    pagerduty_sandbox.set_faults(Fault(status=503, count=1))
    page(pager)
    assert enqueue_statuses(pagerduty_sandbox) == [503, 202]
    assert len(fake_clock.sleeps) == 1
    assert pagerduty_sandbox.incident_count(KEY) == 1


def test_rest_503_then_success_posts_the_note_once(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    page(pager)
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    pagerduty_sandbox.set_faults(Fault(status=503, count=1, path_prefix=f"/incidents/{incident.id}/notes"))
    pager.add_note(KEY, "n")
    assert [n["content"] for n in incident.notes] == ["n"]


def test_a_reset_connection_is_retried(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    pagerduty_sandbox.set_faults(Fault(drop_connection=True, count=1))
    page(pager)
    assert enqueue_statuses(pagerduty_sandbox) == [None, 202]  # the first got no answer at all
    assert pagerduty_sandbox.requests()[0].fault == "drop"
    assert len(fake_clock.sleeps) == 1
    assert pagerduty_sandbox.incident_count(KEY) == 1


def test_connection_resets_forever_end_in_an_integration_error(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    pager = PagerDutyPager(
        pagerduty_sandbox.credentials(), retry=fake_clock_policy(fake_clock, max_attempts=3)
    )
    pagerduty_sandbox.set_faults(Fault(drop_connection=True))
    with pytest.raises(IntegrationError) as caught:
        pager.page(KEY, "s", "critical", "src", {})
    assert caught.value.status is None
    assert "network error" in str(caught.value)
    assert len(pagerduty_sandbox.requests()) == 3


def test_a_response_slower_than_the_timeout_is_retried_and_pages_once(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    pager = PagerDutyPager(
        pagerduty_sandbox.credentials(), retry=fake_clock_policy(fake_clock), timeout_s=0.2
    )
    pagerduty_sandbox.set_faults(Fault(latency_ms=800, count=1, path_prefix="/v2/enqueue"))
    page(pager)
    assert pagerduty_sandbox.recorder.wait_idle(timeout=10.0)  # the slow first trigger lands too
    statuses = enqueue_statuses(pagerduty_sandbox)
    assert len(statuses) == 2
    assert sorted(s for s in statuses if s is not None) == [202, 202]
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    assert incident.alerts == 2  # the late one joined the incident the retry opened


def test_a_note_whose_post_timed_out_but_landed_is_not_posted_twice(
    pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock
) -> None:
    def sleep_until_server_idle(seconds: float) -> None:
        # The retry waits on the fake clock; by the time it goes, the slow POST has landed.
        assert pagerduty_sandbox.recorder.wait_idle(timeout=10.0)
        fake_clock.sleep(seconds)

    policy = RetryPolicy(sleep=sleep_until_server_idle, monotonic=fake_clock.monotonic)
    pager = PagerDutyPager(pagerduty_sandbox.credentials(), retry=policy, timeout_s=0.2)
    page(pager)
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    pagerduty_sandbox.set_faults(
        Fault(latency_ms=600, count=1, path_prefix=f"/incidents/{incident.id}/notes")
    )
    pager.add_note(KEY, "exactly once")
    assert [n["content"] for n in incident.notes] == ["exactly once"]
    notes_calls = [
        (r.method, r.response_status) for r in pagerduty_sandbox.requests(path_prefix="/incidents/")
    ]
    assert ("GET", 200) in notes_calls  # it looked before posting again


def test_a_fraction_of_faults_is_survived(pagerduty_sandbox: PagerDutySandbox, fake_clock: FakeClock) -> None:
    pager = PagerDutyPager(
        pagerduty_sandbox.credentials(), retry=fake_clock_policy(fake_clock, max_attempts=10)
    )
    pagerduty_sandbox.set_faults(Fault(status=502, fraction=0.3))
    for n in range(10):
        pager.page(f"{KEY}-{n}", "s", "critical", "src", {})
        pager.add_note(f"{KEY}-{n}", "note")
    assert all(pagerduty_sandbox.incident_count(f"{KEY}-{n}") == 1 for n in range(10))
    faulted = [r for r in pagerduty_sandbox.requests() if r.fault]
    assert faulted, "the seeded fraction should have faulted some requests"
    assert all(len(i.notes) == 1 for i in pagerduty_sandbox.state.incidents.values())
