"""``JiraCredentials``: where Jira is and how to sign in, as a Prefect block.

Save one in Prefect (``JiraCredentials(url=..., email=..., api_token=...).save("jira")``) or build
it from the ``WARROOM_JIRA_*`` environment variables at the entry point with :meth:`from_env`. The API
token is a :class:`~pydantic.SecretStr`: it is unwrapped only in :meth:`get_client`, so it never
shows in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jira import JIRA
from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator

from warroom.incident.errors import ConfigError

ENV_URL = "WARROOM_JIRA_URL"
ENV_EMAIL = "WARROOM_JIRA_EMAIL"
ENV_API_TOKEN = "WARROOM_JIRA_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
ENV_CA_BUNDLE = "WARROOM_CA_BUNDLE"


class JiraCredentials(Block):
    """A Jira Cloud site and the account warroom acts as (e-mail + API token, HTTP Basic)."""

    _block_type_name = "warroom Jira Credentials"
    _block_type_slug = "warroom-jira-credentials"
    _description = "The Jira Cloud site warroom files incident tickets and follow-ups in."

    url: str = Field(description="The site's base URL, e.g. https://your-domain.atlassian.net")
    email: str = Field(description="The e-mail address of the account warroom acts as.")
    api_token: SecretStr = Field(description="An Atlassian API token of that account.")
    ca_bundle: str | None = Field(
        default=None,
        description="A CA bundle (PEM file) to trust instead of the system's, e.g. the sandbox CA.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError(f"the Jira URL must be an absolute https:// URL, not {value!r}")
        return value.strip().rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> JiraCredentials:
        """Read ``WARROOM_JIRA_URL``, ``WARROOM_JIRA_EMAIL``, ``WARROOM_JIRA_API_TOKEN`` and
        (optional) ``WARROOM_CA_BUNDLE`` from ``environ``.

        Raises :class:`~incident.errors.ConfigError` naming each variable that is missing or empty
        (never a value).
        """
        problems = [
            f"{name} is not set: export it (or save a JiraCredentials block) to reach Jira"
            for name in (ENV_URL, ENV_EMAIL, ENV_API_TOKEN)
            if not environ.get(name, "").strip()
        ]
        if problems:
            raise ConfigError(problems)
        try:
            return cls(
                url=environ[ENV_URL],
                email=environ[ENV_EMAIL].strip(),
                api_token=SecretStr(environ[ENV_API_TOKEN].strip()),
                ca_bundle=environ.get(ENV_CA_BUNDLE, "").strip() or None,
            )
        except ValueError as exc:  # pydantic's ValidationError; it carries no token (SecretStr)
            raise ConfigError([f"{ENV_URL}: {_first_message(exc)}"]) from None

    def get_client(self, *, timeout_s: float = 10.0, max_retries: int = 0) -> JIRA:
        """A ``jira.JIRA`` client for Jira Cloud (this is where the token is unwrapped).

        Construction calls ``GET /rest/api/2/serverInfo``. ``max_retries`` is the client's own retry
        count; the adapter keeps it at 0 and retries through :func:`integrations.retry.call_with_retry`
        (the client's retries sleep on the real clock and ignore the deadline).
        """
        options: dict[str, Any] = {
            "verify": self.ca_bundle if self.ca_bundle else True,
            "check_update": False,
            "headers": {"User-Agent": "warroom (jira-python)"},
        }
        return JIRA(
            server=self.url,
            options=options,
            basic_auth=(self.email, self.api_token.get_secret_value()),
            get_server_info=True,
            max_retries=max_retries,
            timeout=timeout_s,
        )


def _first_message(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            return str(found[0].get("msg", exc))
    return str(exc)
