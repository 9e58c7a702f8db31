"""Declare: record the declaration, page, open the ticket, write the document, fill the roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger

from flows.ask import ask_for_event, handles, plain
from flows.forms import NO_ONE, roles_form
from incident import events as ev
from incident.errors import IntegrationError, WarroomError
from incident.models import Phase, Role
from incident.rotation import Holding, suggest_roles
from incident.state import IncidentState, fold
from tasks.document import publish_document
from tasks.ledger import envelope, load_state, record_event
from tasks.paging import page_oncall
from tasks.runtime import current_runtime
from tasks.tracking import open_incident_ticket, transition_ticket

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
    state = load_state(incident_id)
    open_incident_ticket(
        incident_id, service, f"[{severity}] {title}",
        f"Incident {incident_id}, declared by {declared_by}: {'; '.join(reasons)}",
    )
    ticket = load_state(incident_id).ticket
    if ticket:
        transition_ticket(ticket[0], IN_PROGRESS)
    publish_document(incident_id)
    if state.phase is Phase.DECLARED:
        assign_roles(incident_id, oncall)
        record_event(ev.PhaseChanged(**envelope(incident_id, f"{incident_id}:phase:stabilising"),
                                     to=Phase.STABILISING))
        publish_document(incident_id)


def assign_roles(incident_id: str, oncall: str | None) -> None:
    """The role form: pre-filled with the on-call and the rotation's suggestions, with reasons."""
    rt = current_runtime()
    roster = rt.config.roster
    suggestions = suggest_roles(
        roster, role_history(rt.config.policy.rotation_window_days), rt.clock(),
        rt.config.policy.rotation_window_days, oncall=oncall,
    )
    eligible = {role: roster.eligible(role) for role in Role}
    ic_default = oncall if oncall in eligible[Role.INCIDENT_COMMANDER] else suggestions[
        Role.INCIDENT_COMMANDER].person
    question = "\n".join(
        [
            "Take the roles. A role left as '(the incident commander)' stays with the IC.",
            f"On call now (PagerDuty): **{oncall or 'unknown'}**.",
            "Suggestions, to rotate people through the roles:",
            *[f"- {role.label}: {s.reason}" for role, s in suggestions.items()],
        ]
    )
    prefill: dict[str, Any] = {
        role.value: s.person for role, s in suggestions.items()
        if s.person and role is not Role.INCIDENT_COMMANDER
    }
    commander = load_state(incident_id).commander or ""

    def only_the_ic(answer: Any, state: IncidentState) -> str | None:
        if plain(answer.your_handle) != state.commander:
            return f"{plain(answer.your_handle)} is not the incident commander ({state.commander} is)"
        return None

    answer, _ = ask_for_event(
        incident_id, roles_form(handles(), eligible), only_the_ic, question=question,
        key=f"{incident_id}:roles", timeout=rt.config.policy.approvals.roles,
        incident_commander=ic_default, your_handle=commander, **prefill,
    )
    # the leads first, named by the IC in command now; then, if it changes, the IC
    for role in (Role.OPERATIONS_LEAD, Role.COMMUNICATIONS_LEAD, Role.PLANNING_LEAD):
        person = plain(getattr(answer, role.value))
        if person != NO_ONE:
            record_event(ev.RoleAssigned(**envelope(incident_id, f"{incident_id}:role:{role.value}",
                                                    commander), role=role, person=person))
    new_ic = plain(answer.incident_commander)
    if new_ic != commander:
        record_event(ev.RoleAssigned(**envelope(incident_id, f"{incident_id}:role:incident_commander",
                                                commander), role=Role.INCIDENT_COMMANDER, person=new_ic))
