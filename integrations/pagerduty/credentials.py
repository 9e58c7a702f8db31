"""``PagerDutyCredentials``: where PagerDuty is and how to reach it, as a Prefect block.

Save one in Prefect (``PagerDutyCredentials(api_token=..., routing_key=..., from_email=...).save("pd")``)
or build it from the ``WARROOM_PAGERDUTY_*`` environment variables at the entry point with
:meth:`from_env`. The REST API token and the Events API routing key are
:class:`~pydantic.SecretStr`: they are unwrapped only in :meth:`get_events_client` and
:meth:`get_rest_client`, so they never show in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import pagerduty
from prefect.blocks.core import Block
from pydantic import Field, SecretStr, ValidationError, field_validator

from warroom.incident.errors import ConfigError

ENV_API_TOKEN = "WARROOM_PAGERDUTY_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
ENV_ROUTING_KEY = "WARROOM_PAGERDUTY_ROUTING_KEY"
ENV_DRILL_ROUTING_KEY = "WARROOM_PAGERDUTY_DRILL_ROUTING_KEY"
ENV_FROM_EMAIL = "WARROOM_PAGERDUTY_FROM_EMAIL"
ENV_API_URL = "WARROOM_PAGERDUTY_API_URL"
ENV_EVENTS_URL = "WARROOM_PAGERDUTY_EVENTS_URL"
ENV_CA_BUNDLE = "WARROOM_CA_BUNDLE"

DEFAULT_API_URL = "https://api.pagerduty.com"
DEFAULT_EVENTS_URL = "https://events.pagerduty.com"


class PagerDutyCredentials(Block):
    """A PagerDuty account: a REST API token, an Events API v2 routing key and the acting user."""

    _block_type_name = "warroom PagerDuty Credentials"
    _block_type_slug = "warroom-pagerduty-credentials"
    _description = "The PagerDuty account warroom pages through (Events API v2) and updates (REST API v2)."

    api_token: SecretStr = Field(description="A REST API v2 key (account or user token).")
    routing_key: SecretStr = Field(description="The Events API v2 integration key of the service to page.")
    drill_routing_key: SecretStr | None = Field(
        default=None,
        description="The Events API v2 integration key drills page (a drill never pages routing_key).",
    )
    from_email: str = Field(description="E-mail of the PagerDuty user warroom acts as (the From header).")
    api_url: str = Field(default=DEFAULT_API_URL, description="REST API v2 base URL.")
    events_url: str = Field(default=DEFAULT_EVENTS_URL, description="Events API v2 base URL.")
    ca_bundle: str | None = Field(
        default=None,
        description="A CA bundle (PEM file) to trust instead of the system's, e.g. the sandbox CA.",
    )

    @field_validator("api_url", "events_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError(f"PagerDuty base URLs must be absolute https:// URLs, not {value!r}")
        return value.strip().rstrip("/")

    @field_validator("from_email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("from_email must be an e-mail address")
        return value.strip()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PagerDutyCredentials:
        """Read the ``WARROOM_PAGERDUTY_*`` variables and (optional) ``WARROOM_CA_BUNDLE``.

        ``WARROOM_PAGERDUTY_API_URL`` and ``WARROOM_PAGERDUTY_EVENTS_URL`` default to PagerDuty's US
        service region. Raises :class:`~incident.errors.ConfigError` naming each variable that is
        missing or empty or invalid (never a value).
        """
        problems = [
            f"{name} is not set: export it (or save a PagerDutyCredentials block) to reach PagerDuty"
            for name in (ENV_API_TOKEN, ENV_ROUTING_KEY, ENV_FROM_EMAIL)
            if not environ.get(name, "").strip()
        ]
        if problems:
            raise ConfigError(problems)
        try:
            return cls(
                api_token=SecretStr(environ[ENV_API_TOKEN].strip()),
                routing_key=SecretStr(environ[ENV_ROUTING_KEY].strip()),
                drill_routing_key=SecretStr(environ[ENV_DRILL_ROUTING_KEY].strip())
                if environ.get(ENV_DRILL_ROUTING_KEY, "").strip() else None,
                from_email=environ[ENV_FROM_EMAIL].strip(),
                api_url=environ.get(ENV_API_URL, "").strip() or DEFAULT_API_URL,
                events_url=environ.get(ENV_EVENTS_URL, "").strip() or DEFAULT_EVENTS_URL,
                ca_bundle=environ.get(ENV_CA_BUNDLE, "").strip() or None,
            )
        except ValidationError as exc:  # carries no secret: the secrets are SecretStr
            variables = {"from_email": ENV_FROM_EMAIL, "api_url": ENV_API_URL, "events_url": ENV_EVENTS_URL}
            raise ConfigError(
                [
                    f"{variables.get(str(error['loc'][0]), error['loc'][0]) if error['loc'] else '?'}: "
                    f"{error['msg']}"
                    for error in exc.errors(include_input=False)
                ]
            ) from None

    def for_drills(self) -> PagerDutyCredentials | None:
        """These credentials with the drill routing key in place of the production one (None without
        one): what a drill pages through, so that it can never reach the production service."""
        if self.drill_routing_key is None:
            return None
        return self.model_copy(update={"routing_key": self.drill_routing_key})

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for both APIs: the system's trust store, or only ``ca_bundle``."""
        if self.ca_bundle:
            return ssl.create_default_context(cafile=self.ca_bundle)
        return ssl.create_default_context()

    def get_events_client(self, *, timeout_s: float = 10.0) -> pagerduty.EventsApiV2Client:
        """An Events API v2 client (the routing key is unwrapped here) with its own retries off.

        The client retries 429 without limit and 5xx/network errors on the real clock; warroom
        bounds retries itself (:func:`integrations.retry.call_with_retry`), so every status comes
        straight back and a network error raises at once.
        """
        client = pagerduty.EventsApiV2Client(
            self.routing_key.get_secret_value(), base_url=self.events_url, verify=self.ssl_context()
        )
        _no_client_retries(client, timeout_s)
        return client

    def get_rest_client(self, *, timeout_s: float = 10.0) -> pagerduty.RestApiV2Client:
        """A REST API v2 client (the token is unwrapped here), ``From`` set, own retries off."""
        client = pagerduty.RestApiV2Client(
            self.api_token.get_secret_value(),
            default_from=self.from_email,
            base_url=self.api_url,
            verify=self.ssl_context(),
        )
        _no_client_retries(client, timeout_s)
        return client


def _no_client_retries(client: pagerduty.ApiClient, timeout_s: float) -> None:
    # ApiClient.request: a status with a non-zero ``retry`` entry is returned as soon as the sum of
    # attempts exceeds ``max_http_attempts``, so -1 returns it on the first answer (without this,
    # 429 is retried forever with real sleeps). ``max_network_attempts = 0`` raises on the first
    # transport error instead of sleeping 3 s, 6 s, ...
    client.retry = {status: 1 for status in (429, 500, 502, 503, 504)}
    client.max_http_attempts = -1
    client.max_network_attempts = 0
    client.timeout = timeout_s  # type: ignore[assignment]  # httpx2 takes a float
