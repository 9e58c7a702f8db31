"""Settings, read once at an entry point (the CLI, the intake, a deployment's flow) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """``WARROOM_*`` environment variables. Credentials are read by their blocks, not here."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".warroom")
    database_url: str | None = None
    config_dir: Path = Path("configs")
    #: how often a paused flow checks whether its form was answered (Prefect's default is 10 s)
    form_poll_seconds: int = Field(default=1, ge=1)
    #: Prefect block names to load credentials from; when unset, WARROOM_PAGERDUTY_* / WARROOM_JIRA_*
    pagerduty_block: str | None = None
    jira_block: str | None = None

    def ledger_url(self) -> str:
        from integrations.ledger import default_url

        return self.database_url or default_url(self.home)
