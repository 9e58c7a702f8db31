"""Wiring: settings and configuration in, a :class:`Runtime` with its adapters out (read once)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import cast

from warroom.config import load_config
from warroom.incident.policy import WarroomConfig
from warroom.integrations.jira.credentials import JiraCredentials
from warroom.integrations.jira.tracker import JiraTracker
from warroom.integrations.ledger import Ledger
from warroom.integrations.pagerduty.credentials import PagerDutyCredentials
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.settings import Settings
from warroom.tasks.runtime import Runtime


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_runtime(
    settings: Settings,
    environ: Mapping[str, str],
    config: WarroomConfig | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Runtime:
    """Credentials come from the named Prefect blocks when set, else from ``WARROOM_*`` variables."""
    config = config or load_config(settings.config_dir)
    pagerduty = (
        cast(PagerDutyCredentials, PagerDutyCredentials.load(settings.pagerduty_block))
        if settings.pagerduty_block
        else PagerDutyCredentials.from_env(environ)
    )
    jira = (
        cast(JiraCredentials, JiraCredentials.load(settings.jira_block))
        if settings.jira_block
        else JiraCredentials.from_env(environ)
    )
    drills = pagerduty.for_drills()
    return Runtime(
        config=config,
        ledger=Ledger.open(settings.ledger_url(), clock),
        pager=PagerDutyPager(pagerduty),
        drill_pager=PagerDutyPager(drills) if drills is not None else None,
        tracker=JiraTracker(jira),
        clock=clock,
        home=settings.home,
        config_dir=settings.config_dir,
    )
