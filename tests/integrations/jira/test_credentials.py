"""JiraCredentials: read from the environment at the entry point; the token stays secret."""

from __future__ import annotations

import pytest

from warroom.incident.errors import ConfigError
from warroom.integrations.jira.credentials import JiraCredentials

TOKEN = "atl-token-0d5e3c"
ENV = {
    "WARROOM_JIRA_URL": "https://example.atlassian.net/",
    "WARROOM_JIRA_EMAIL": "bot@example.com",
    "WARROOM_JIRA_API_TOKEN": TOKEN,
    "WARROOM_CA_BUNDLE": "/etc/warroom/ca.pem",
}


def test_from_env_reads_every_variable() -> None:
    credentials = JiraCredentials.from_env(ENV)
    assert credentials.url == "https://example.atlassian.net"  # trailing slash dropped
    assert credentials.email == "bot@example.com"
    assert credentials.api_token.get_secret_value() == TOKEN
    assert credentials.ca_bundle == "/etc/warroom/ca.pem"


def test_the_ca_bundle_is_optional() -> None:
    env = {k: v for k, v in ENV.items() if k != "WARROOM_CA_BUNDLE"}
    assert JiraCredentials.from_env(env).ca_bundle is None
    assert JiraCredentials.from_env({**env, "WARROOM_CA_BUNDLE": "  "}).ca_bundle is None


def test_the_token_does_not_show() -> None:
    credentials = JiraCredentials.from_env(ENV)
    assert TOKEN not in repr(credentials)
    assert TOKEN not in str(credentials)
    assert TOKEN not in credentials.model_dump_json()


@pytest.mark.parametrize("missing", ["WARROOM_JIRA_URL", "WARROOM_JIRA_EMAIL", "WARROOM_JIRA_API_TOKEN"])
def test_a_missing_variable_is_named_and_no_value_is_shown(missing: str) -> None:
    for env in ({k: v for k, v in ENV.items() if k != missing}, {**ENV, missing: "   "}):
        with pytest.raises(ConfigError) as caught:
            JiraCredentials.from_env(env)
        assert caught.value.problems == [
            f"{missing} is not set: export it (or save a JiraCredentials block) to reach Jira"
        ]
        for value in ENV.values():
            assert value.strip() not in str(caught.value)


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        JiraCredentials.from_env({})
    assert [p.split()[0] for p in caught.value.problems] == [
        "WARROOM_JIRA_URL",
        "WARROOM_JIRA_EMAIL",
        "WARROOM_JIRA_API_TOKEN",
    ]


def test_a_url_that_is_not_one_is_refused_without_the_token() -> None:
    with pytest.raises(ConfigError) as caught:
        JiraCredentials.from_env({**ENV, "WARROOM_JIRA_URL": "example.atlassian.net"})
    assert caught.value.problems[0].startswith("WARROOM_JIRA_URL:")
    assert "https://" in caught.value.problems[0]
    assert TOKEN not in str(caught.value)
