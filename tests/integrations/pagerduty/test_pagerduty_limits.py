"""There is always a page: PagerDuty's Events v2 limits are kept before sending, and a trigger the
vendor refuses as invalid is repaired and sent once more.

The real ``pagerduty`` client talks to the TLS sandbox, which refuses what PagerDuty refuses (a
summary over 1,024 characters, an event over 512 KB): the last test proves it, so the others can fail.
"""

from __future__ import annotations

import pagerduty
import pytest

from tests.integrations.conftest import PagerDutySandbox
from warroom.incident.errors import IntegrationError
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.integrations.sandbox.recorder import Fault

KEY = "inc-limits"
DETAILS = {"incident": KEY, "service": "checkout", "severity": "SEV1"}


def enqueue_statuses(sandbox: PagerDutySandbox) -> list[int | None]:
    sandbox.recorder.wait_idle()
    return [r.response_status for r in sandbox.requests("POST", "/v2/enqueue")]


def test_a_1500_character_summary_pages_once_cut_to_1024(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    summary = "checkout: " + "".join(f"{i % 10}" for i in range(1490))
    assert len(summary) == 1500
    receipt = pager.page(KEY, summary, "critical", "warroom/checkout", DETAILS)
    assert receipt.dedup_key == KEY
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    assert len(incident.title) <= 1024
    assert incident.title.endswith("…")
    assert summary.startswith(incident.title[:-1])
    assert len(incident.title) > 1000  # cut at the limit, not to the repaired minimum
    assert enqueue_statuses(pagerduty_sandbox) == [202]  # kept within the limit before sending


def test_a_lone_surrogate_pages_with_a_replacement_character(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    details = {**DETAILS, "description": "bad \udc80 byte", "\ud800key": "v"}
    pager.page(KEY, "disk full \ud800 on db-1 😀", "critical", "db-\udfff", details)
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    assert incident.title == "disk full \ufffd on db-1 😀"
    assert incident.source == "db-\ufffd"
    assert incident.details["description"] == "bad \ufffd byte"
    assert incident.details["\ufffdkey"] == "v"


def test_a_surrogate_pair_stays_one_character(pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox) -> None:
    # "\ud83d\ude00" is 😀 written as UTF-16 halves: it must survive as the emoji, not as two U+FFFD.
    pager.page(KEY, "smile \ud83d\ude00", "info", "src", {})
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    assert incident.title == "smile 😀"


def test_600_kb_of_custom_details_pages_once_and_says_they_were_shortened(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    details = {**DETAILS, "description": "x" * (600 * 1024)}
    pager.page(KEY, "huge description", "critical", "warroom/checkout", details)
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    assert incident.title == "huge description"
    assert incident.details["incident"] == KEY
    assert incident.details["service"] == "checkout"
    assert len(incident.details["description"]) < 600 * 1024
    assert "512 KB" in incident.details["warroom_note"]
    assert enqueue_statuses(pagerduty_sandbox) == [202]


def test_many_custom_details_over_512_kb_page_once(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    # Each entry short, but 2,000 of them of 1 KB: shortening each text is not enough, so only
    # the entries that fit are kept.
    details = {**DETAILS, **{f"label-{i}": "y" * 1000 for i in range(2000)}}
    pager.page(KEY, "many labels", "critical", "warroom/checkout", details)
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    assert incident.details["incident"] == KEY
    assert "dropped" in incident.details["warroom_note"]
    assert enqueue_statuses(pagerduty_sandbox) == [202]


def test_a_trigger_refused_with_400_is_repaired_and_sent_again(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    pagerduty_sandbox.set_faults(Fault(status=400, count=1, path_prefix="/v2/enqueue"))
    summary = "payment errors " + "z" * 600
    details = {**DETAILS, "description": "long " * 100}
    receipt = pager.page(KEY, summary, "critical", "warroom/checkout", details)
    assert receipt.dedup_key == KEY
    assert enqueue_statuses(pagerduty_sandbox) == [400, 202]
    [incident] = pagerduty_sandbox.state.incidents_for_key(KEY)
    assert len(incident.title) <= 255
    assert summary.startswith(incident.title[:-1])
    # Only the identifying fields and a note saying what happened.
    assert {k: incident.details[k] for k in DETAILS} == DETAILS
    assert "description" not in incident.details
    assert "repaired" in incident.details["warroom_note"]


def test_a_trigger_refused_twice_fails_as_an_integration_error(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    pagerduty_sandbox.set_faults(Fault(status=400, count=2, path_prefix="/v2/enqueue"))
    with pytest.raises(IntegrationError) as caught:
        pager.page(KEY, "s", "critical", "src", DETAILS)
    assert (caught.value.service, caught.value.call, caught.value.status) == ("PagerDuty", "page", 400)
    assert enqueue_statuses(pagerduty_sandbox) == [400, 400]  # once repaired, not more
    assert pagerduty_sandbox.incident_count(KEY) == 0


def test_a_dedup_key_over_255_characters_is_bounded_the_same_way_each_time(
    pager: PagerDutyPager, pagerduty_sandbox: PagerDutySandbox
) -> None:
    long_key = "group/" + "k" * 400
    first = pager.page(long_key, "s", "critical", "src", {})
    second = pager.page(long_key, "s", "critical", "src", {})
    assert first.dedup_key == second.dedup_key
    assert len(first.dedup_key) <= 255
    assert pagerduty_sandbox.incident_count(first.dedup_key) == 1
    assert enqueue_statuses(pagerduty_sandbox) == [202, 202]
    pager.resolve(long_key)
    [incident] = pagerduty_sandbox.state.incidents_for_key(first.dedup_key)
    assert incident.status == "resolved"


def test_the_sandbox_refuses_what_pagerduty_refuses(pagerduty_sandbox: PagerDutySandbox) -> None:
    """Sent raw with the real client: a 1,025-character summary and a 600 KB event get 400."""
    client = pagerduty_sandbox.credentials().get_events_client(timeout_s=5.0)
    try:
        with pytest.raises(pagerduty.Error) as too_long:
            client.trigger("s" * 1025, "src", dedup_key=KEY, severity="critical")
        assert too_long.value.response is not None
        assert too_long.value.response.status_code == 400
        body = too_long.value.response.json()
        assert body["status"] == "invalid event"
        assert any("'payload.summary' is too long" in e for e in body["errors"])

        with pytest.raises(pagerduty.Error) as too_big:
            client.trigger("s", "src", dedup_key=KEY, custom_details={"d": "x" * (600 * 1024)})
        assert too_big.value.response is not None
        assert too_big.value.response.status_code == 400
        assert any("too large" in e for e in too_big.value.response.json()["errors"])

        # 1,024 characters exactly is accepted.
        assert client.trigger("s" * 1024, "src", dedup_key=KEY, severity="critical") == KEY
    finally:
        client.close()
    assert pagerduty_sandbox.incident_count(KEY) == 1
