"""Sandboxes set up from warroom's own configuration: the roster's people are the PagerDuty users,
each team's people (in roster order) its escalation policy, and the Jira projects of services.yaml,
roster.yaml, the policy's reports and drills exist.
warroom acts in both as a bot user of its own (as a team sets it up for real: a PagerDuty user for the
REST API's From header, a Jira account for the API token), so what warroom does is never a person's."""

from __future__ import annotations

import secrets
from typing import Any

from warroom.incident.policy import WarroomConfig
from warroom.integrations.sandbox.pagerduty import PagerDutySetup, SandboxUser

BOT_EMAIL = "warroom-bot@example.com"


def pagerduty_setup(config: WarroomConfig) -> PagerDutySetup:
    people = config.roster.people
    users = [
        SandboxUser(p.pagerduty_user or f"PUSR{n:03d}", p.name, p.email)
        for n, p in enumerate(people.values(), start=1)
    ] + [SandboxUser("PWARROOM", "warroom", BOT_EMAIL)]
    policies = {
        team.escalation_policy: [p.email for p in people.values() if p.team == key]
        for key, team in config.roster.teams.items()
    }
    for service in config.services.services.values():
        policies.setdefault(service.escalation_policy, policies.get(config.roster.teams[service.owner]
                                                                   .escalation_policy, []))
    routing_key, drill_key = secrets.token_hex(16), secrets.token_hex(16)
    first = next(iter(config.services.services.values()))
    return PagerDutySetup(
        api_token="sbx_" + secrets.token_hex(12),
        routing_key=routing_key,
        from_email=BOT_EMAIL,
        users=users,
        escalation_policies=policies,
        # drills page a service of their own (the drill routing key), never the production one
        routing_keys={routing_key: first.escalation_policy, drill_key: first.escalation_policy},
        drill_routing_key=drill_key,
    )


def jira_options(config: WarroomConfig) -> dict[str, Any]:
    drills = config.policy.drills.jira_project  # where drill tickets go, if policy names a project of their own
    projects = sorted({s.jira_project for s in config.services.services.values()}
                      | {t.jira_project for t in config.roster.teams.values()} | ({drills} if drills else set())
                      | ({config.policy.reports.jira_project} if config.policy.reports.jira_project else set()))
    users = [
        {"accountId": f"acct-{handle}", "displayName": p.name, "emailAddress": p.email}
        for handle, p in config.roster.people.items()
    ]
    return {"email": BOT_EMAIL, "api_token": "sbx_" + secrets.token_hex(12), "users": users,
            "projects": projects}
