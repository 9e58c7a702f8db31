"""Settings, read once at an entry point (the CLI, the intake, a deployment's flow) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """``WARROOM_*`` environment variables. Credentials are read by their blocks, not here."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".warroom")
    database_url: str | None = None
    config_dir: Path = Path("configs")
    #: Prefect block names to load credentials from; when unset, WARROOM_PAGERDUTY_* / WARROOM_JIRA_*
    pagerduty_block: str | None = None
    jira_block: str | None = None

    # the intake service (`warroom intake`)
    intake_host: str = "127.0.0.1"
    intake_port: int = 8440
    #: bearer tokens accepted from Alertmanager and generic senders (comma-separated; rotate by listing two)
    intake_tokens: SecretStr = SecretStr("")
    #: Grafana's webhook HMAC secret, and the headers it signs with
    grafana_secret: SecretStr = SecretStr("")
    grafana_signature_header: str = "X-Grafana-Alerting-Signature"
    grafana_timestamp_header: str = "X-Grafana-Alerting-Signature-Timestamp"
    #: PagerDuty V3 webhook subscription secrets (comma-separated: both during a rotation)
    pagerduty_webhook_secrets: SecretStr = SecretStr("")
    #: serve the intake's API document and its pages (/openapi.json, /docs, /redoc); off by default
    intake_docs: bool = False

    @staticmethod
    def listed(value: SecretStr) -> list[str]:
        return [part.strip() for part in value.get_secret_value().split(",") if part.strip()]

    def ledger_url(self) -> str:
        from warroom.integrations.ledger import default_url

        return self.database_url or default_url(self.home)
