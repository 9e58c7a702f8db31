"""PagerDutyCredentials: read from the environment, secrets kept wrapped, clients configured."""

from __future__ import annotations

import pytest

from warroom.incident.errors import ConfigError
from warroom.integrations.pagerduty.credentials import PagerDutyCredentials

ENV = {
    "WARROOM_PAGERDUTY_API_TOKEN": "tok-SECRET-1234",
    "WARROOM_PAGERDUTY_ROUTING_KEY": "rk-SECRET-" + "0" * 22,
    "WARROOM_PAGERDUTY_FROM_EMAIL": "ada@example.com",
}


def test_from_env_reads_the_variables_with_pagerduty_defaults() -> None:
    creds = PagerDutyCredentials.from_env(ENV)
    assert creds.api_token.get_secret_value() == "tok-SECRET-1234"
    assert creds.routing_key.get_secret_value() == ENV["WARROOM_PAGERDUTY_ROUTING_KEY"]
    assert creds.from_email == "ada@example.com"
    assert (creds.api_url, creds.events_url) == ("https://api.pagerduty.com", "https://events.pagerduty.com")
    assert creds.ca_bundle is None
    other = PagerDutyCredentials.from_env(
        {
            **ENV,
            "WARROOM_PAGERDUTY_API_URL": "https://127.0.0.1:8443/",
            "WARROOM_PAGERDUTY_EVENTS_URL": "https://127.0.0.1:8444",
            "WARROOM_CA_BUNDLE": "/tmp/ca.pem",
        }
    )
    assert (other.api_url, other.events_url, other.ca_bundle) == (
        "https://127.0.0.1:8443",
        "https://127.0.0.1:8444",
        "/tmp/ca.pem",
    )


def test_missing_variables_are_named_and_no_value_is_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        PagerDutyCredentials.from_env({"WARROOM_PAGERDUTY_API_TOKEN": "tok-SECRET-1234"})
    message = str(caught.value)
    assert "WARROOM_PAGERDUTY_ROUTING_KEY" in message
    assert "WARROOM_PAGERDUTY_FROM_EMAIL" in message
    assert "WARROOM_PAGERDUTY_API_TOKEN" not in message
    assert "SECRET" not in message
    assert len(caught.value.problems) == 2


def test_invalid_values_are_named_by_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        PagerDutyCredentials.from_env(
            {
                **ENV,
                "WARROOM_PAGERDUTY_API_URL": "http://insecure.example",
                "WARROOM_PAGERDUTY_FROM_EMAIL": "ada",
            }
        )
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "WARROOM_PAGERDUTY_FROM_EMAIL",
        "WARROOM_PAGERDUTY_API_URL",
    ]
    assert "SECRET" not in str(caught.value)


def test_secrets_stay_wrapped_in_repr_and_dumps() -> None:
    creds = PagerDutyCredentials.from_env(ENV)
    for text in (repr(creds), str(creds), creds.model_dump_json()):
        assert "SECRET" not in text


def test_clients_have_their_own_retries_off_and_the_timeout_set() -> None:
    creds = PagerDutyCredentials.from_env(ENV)
    events = creds.get_events_client(timeout_s=2.5)
    rest = creds.get_rest_client(timeout_s=3.5)
    try:
        for client, timeout in ((events, 2.5), (rest, 3.5)):
            assert client.max_http_attempts == -1
            assert client.max_network_attempts == 0
            assert client.retry[429] == 1 and client.retry[503] == 1
            assert client.timeout == timeout
        assert events.url == "https://events.pagerduty.com"
        assert rest.url == "https://api.pagerduty.com"
        assert rest.headers["From"] == "ada@example.com"
    finally:
        events.close()
        rest.close()
