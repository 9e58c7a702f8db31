"""The drill routing key: read from the environment, kept wrapped, and what drills page through."""

from __future__ import annotations

from warroom.integrations.pagerduty.credentials import PagerDutyCredentials

ENV = {
    "WARROOM_PAGERDUTY_API_TOKEN": "tok-SECRET-1234",
    "WARROOM_PAGERDUTY_ROUTING_KEY": "rk-SECRET-" + "0" * 22,
    "WARROOM_PAGERDUTY_FROM_EMAIL": "ada@example.com",
}
DRILL_KEY = "drill-SECRET-" + "1" * 19


def test_drills_page_through_the_drill_routing_key_and_it_never_shows() -> None:
    creds = PagerDutyCredentials.from_env({**ENV, "WARROOM_PAGERDUTY_DRILL_ROUTING_KEY": f" {DRILL_KEY} "})
    drills = creds.for_drills()
    assert drills is not None
    assert drills.routing_key.get_secret_value() == DRILL_KEY
    assert creds.routing_key.get_secret_value() == ENV["WARROOM_PAGERDUTY_ROUTING_KEY"]  # the original is untouched
    assert drills.api_token.get_secret_value() == creds.api_token.get_secret_value()
    for shown in (repr(creds), str(creds), repr(drills), creds.model_dump_json()):
        assert "SECRET" not in shown


def test_without_a_drill_routing_key_there_is_nothing_for_drills_to_page() -> None:
    assert PagerDutyCredentials.from_env(ENV).for_drills() is None
    assert PagerDutyCredentials.from_env({**ENV, "WARROOM_PAGERDUTY_DRILL_ROUTING_KEY": "  "}).for_drills() is None
