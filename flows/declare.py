"""Declare: record the declaration, page, open the ticket, write the document. The roles are the
incident commander's first decision, on their desk."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger

from warroom.incident import events as ev
from warroom.incident.drills import ROLES_LABEL, alert_labels, drill_rotation
from warroom.incident.errors import IntegrationError, WarroomError
from warroom.incident.models import Phase, Role
from warroom.incident.rotation import Holding, Suggestion, suggest_roles
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


def role_history(days: int, include_drills: bool = False, excluding: str | None = None) -> list[Holding]:
    """Who held which role in the incidents of the last ``days`` days (for rotation); with
    ``include_drills``, in the drills too (who has practised what)."""
    rt = current_runtime()
    since = rt.clock() - timedelta(days=days)
    history: list[Holding] = []
    for row in rt.ledger.list_incidents(since=since, include_drills=include_drills, limit=500):
        if row.incident_id == excluding:
            continue
        state = fold(rt.ledger.stream(row.incident_id), row.incident_id)
        if state.declared_at is None:
            continue
        history += [
            Holding(role, holder, state.declared_at)
            for role in Role
            if (holder := state.holder(role)) is not None
        ]
    return history


def drill_picks(incident_id: str, oncall: str | None) -> dict[Role, Suggestion]:
    """Who practises which role in this drill: the rotation over real incidents and drills alike,
    leaving out whoever is on call now (and this drill itself)."""
    rt = current_runtime()
    window = rt.config.policy.rotation_window_days
    history = role_history(window, include_drills=True, excluding=incident_id)
    return drill_rotation(rt.config.roster, history, rt.clock(), window, [oncall] if oncall else [])


def drill_roles_mode(incident_id: str) -> str:
    """``auto`` or ``ask``, as the drill's alerts say (a drill declared by hand: ``ask``)."""
    return str(alert_labels(current_runtime().ledger.stream(incident_id)).get(ROLES_LABEL, "ask"))


def assign_by_rotation(incident_id: str, picks: dict[Role, Suggestion]) -> None:
    """``--roles auto``: the drill's leads by rotation, recorded as the IC's roles decision with each
    pick's reason, and the drill moves on to stabilising (no roles form)."""
    state = load_state(incident_id)
    if state.phase is not Phase.DECLARED:
        return
    ic = state.holder(Role.INCIDENT_COMMANDER)
    assert ic is not None
    for role in (Role.OPERATIONS_LEAD, Role.COMMUNICATIONS_LEAD, Role.PLANNING_LEAD):
        pick = picks[role]
        if pick.person is not None and pick.person != ic:
            record_event(ev.RoleAssigned(**envelope(incident_id, f"{incident_id}:role:{role.value}", ic), role=role,
                                         person=pick.person, reason=f"drill rotation: {pick.reason}"))
    record_event(ev.PhaseChanged(**envelope(incident_id, f"{incident_id}:phase:stabilising", "warroom"),
                                 to=Phase.STABILISING))


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
    picks = drill_picks(incident_id, oncall) if drill and load_state(incident_id).phase in (
        Phase.PENDING, Phase.DECLARED) else None
    if load_state(incident_id).phase is Phase.PENDING:
        # the first IC: the on-call; else whoever declared, if on the roster; else the rotation's pick;
        # a drill's: the drill rotation's (who has commanded least, and is not on call now)
        commander = oncall or (declared_by if declared_by in rt.config.roster.people else None)
        if picks is not None and picks[Role.INCIDENT_COMMANDER].person is not None:
            commander = picks[Role.INCIDENT_COMMANDER].person
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
    if picks is not None and drill_roles_mode(incident_id) == "auto":
        assign_by_rotation(incident_id, picks)
    if rt.config.policy.severity(severity).page:
        page_oncall(incident_id, title, severity, service, drill=load_state(incident_id).drill)
    open_incident_ticket(incident_id, service, f"[{severity}] {title}", document(load_state(incident_id)))
    ticket = load_state(incident_id).ticket
    if ticket:
        transition_ticket(ticket[0], IN_PROGRESS)
    publish_document(incident_id)
