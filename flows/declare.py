"""Declare: record the declaration, page, open the ticket, write the document. The roles are the
incident commander's first decision, on their desk."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger

from warroom.incident import events as ev
from warroom.incident.errors import IntegrationError, WarroomError
from warroom.incident.models import Phase, Role
from warroom.incident.rotation import Holding, suggest_roles
from warroom.incident.state import fold
from warroom.tasks.document import document, publish_document
from warroom.tasks.ledger import envelope, load_state, record_event
from warroom.tasks.paging import page_oncall
from warroom.tasks.runtime import current_runtime
from warroom.tasks.tracking import open_incident_ticket, transition_ticket

IN_PROGRESS = "In Progress"


def oncall_handle(service: str) -> str | None:
    """The roster handle of who PagerDuty says is on call (level 1) for the service, if known."""
    rt = current_runtime()
    policy_id = rt.config.services.services[service].escalation_policy
    try:
        oncalls = sorted(rt.pager.oncall(policy_id), key=lambda o: o.escalation_level)
    except IntegrationError as exc:
        get_run_logger().warning("could not ask PagerDuty who is on call: %s", exc)
        return None
    by_email = {p.email.lower(): h for h, p in rt.config.roster.people.items()}
    return next((by_email[o.email.lower()] for o in oncalls if o.email.lower() in by_email), None)


def role_history(days: int) -> list[Holding]:
    """Who held which role in the incidents of the last ``days`` days (for rotation)."""
    rt = current_runtime()
    since = rt.clock() - timedelta(days=days)
    history: list[Holding] = []
    for row in rt.ledger.list_incidents(since=since, include_drills=False, limit=500):
        state = fold(rt.ledger.stream(row.incident_id), row.incident_id)
        if state.declared_at is None:
            continue
        history += [
            Holding(role, holder, state.declared_at)
            for role in Role
            if (holder := state.holder(role)) is not None
        ]
    return history


@flow(name="declare")
def declare(
    incident_id: str,
    title: str,
    service: str,
    severity: str,
    reasons: list[str],
    declared_by: str,
    drill: bool = False,
) -> None:
    rt = current_runtime()
    if service not in rt.config.services.services:
        known = ", ".join(rt.config.services.services)
        raise WarroomError(f"unknown service {service!r}: services.yaml has {known}")
    rt.config.policy.severity(severity)  # an unknown severity is refused with the known ones

    oncall = oncall_handle(service)
    if load_state(incident_id).phase is Phase.PENDING:
        # the first IC: the on-call; else whoever declared, if on the roster; else the rotation's pick
        commander = oncall or (declared_by if declared_by in rt.config.roster.people else None)
        if commander is None:
            commander = suggest_roles(rt.config.roster, [], rt.clock(), 1)[Role.INCIDENT_COMMANDER].person
        if commander is None:
            raise WarroomError("nobody on the roster may be incident commander: fix roster.yaml")
        record_event(
            ev.Declared(
                **envelope(incident_id, f"{incident_id}:declared", declared_by),
                title=title, service=service, severity=severity, commander=commander,
                reasons=tuple(reasons), drill=drill,
            )
        )
    if rt.config.policy.severity(severity).page:
        page_oncall(incident_id, title, severity, service)
    open_incident_ticket(incident_id, service, f"[{severity}] {title}", document(load_state(incident_id)))
    ticket = load_state(incident_id).ticket
    if ticket:
        transition_ticket(ticket[0], IN_PROGRESS)
    publish_document(incident_id)
