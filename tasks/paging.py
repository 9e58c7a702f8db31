"""Side effects on the pager (PagerDuty): each a small task keyed by the incident and its intent."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from prefect import task

from warroom.incident import events as ev
from warroom.incident.drills import DRILL_TAG
from warroom.incident.errors import IntegrationError
from warroom.incident.events import Recorded
from warroom.tasks.ledger import envelope, load_state, once
from warroom.tasks.runtime import current_runtime

ACTOR = "warroom"
log = logging.getLogger("warroom.paging")


def page(incident_id: str, summary: str, severity: str, service: str, key: str | None = None,
         drill: bool = False) -> Recorded:
    """Page the service's on-call. The dedup key is the incident id, so PagerDuty pages once. A drill
    pages the drill routing key only, its summary marked ``[DRILL]``.

    A plain function, so that the intake and the dispatcher page without Prefect (its API may be
    slow or down); flows call it as the ``page_oncall`` task."""
    rt = current_runtime()
    page_severity = rt.config.policy.severity(severity).page_severity
    target = rt.config.services.services[service].escalation_policy
    key = key or f"{incident_id}:paged"

    def trigger() -> str:
        receipt = rt.pager_for(drill).page(
            dedup_key=incident_id,
            summary=f"{DRILL_TAG + ' ' if drill else ''}[{severity}] {summary}",
            severity=page_severity,
            source=f"warroom/{service}",
            details={"incident": incident_id, "service": service, "severity": severity,
                     **({"drill": "yes: practice, not a real incident"} if drill else {})},
        )
        log.debug("paged %s for %s (dedup key %s)", target, incident_id, receipt.dedup_key)
        return receipt.dedup_key

    return once(key, trigger, lambda dedup: ev.Paged(**envelope(incident_id, key), dedup_key=dedup,
                                                     target=target))


page_oncall = task(name="page_oncall")(page)


@task(name="request_responders")
def request_responders(incident_id: str, key: str, handles: Sequence[str], reason: str,
                       waited_for: str | None = None, waited: timedelta | None = None,
                       actor: str = ACTOR) -> Recorded:
    """Page more people onto the incident (a responder request), recorded as an escalation: ``actor``'s
    when someone asked for them; a question nobody answered says whom it waited for and how long."""
    rt = current_runtime()
    emails = [rt.config.person(h).email for h in handles]
    message = f"{rt.config.policy.escalation.message} ({reason})"
    return once(
        key,
        lambda: rt.pager.add_responders(incident_id, emails, message),
        lambda _: ev.Escalated(**envelope(incident_id, key, actor), reason=reason, responders=tuple(handles),
                               waited_for=waited_for, waited=waited),
    )


@task(name="engage_team")
def engage_team(incident_id: str, key: str, escalation_policy: str, reason: str, actor: str = ACTOR) -> Recorded:
    """Page another team's escalation policy onto the incident (a responder request), ``actor``'s decision."""
    rt = current_runtime()
    message = f"{rt.config.policy.escalation.message} ({reason})"
    return once(
        key,
        lambda: rt.pager.add_responders(incident_id, [], message, escalation_policies=[escalation_policy]),
        lambda _: ev.Escalated(**envelope(incident_id, key, actor), reason=reason, responders=(escalation_policy,)),
    )


@task(name="post_status_update")
def post_status_update(incident_id: str, key: str, message: str, author: str | None = None) -> Recorded:
    """A status update: PagerDuty status update and a comment on the Jira ticket, attributed to whoever
    wrote it; ``author`` None: warroom's own (the restore and close notices), warroom's in the timeline too."""
    rt = current_runtime()
    state = load_state(incident_id)
    actor = author or ACTOR

    person = rt.config.roster.people.get(author) if author else None

    def post() -> None:
        if person is None:  # warroom's own update, or a writer the roster does not know
            rt.pager.post_status_update(incident_id, f"{message} ({actor})" if author else message)
        else:
            try:  # in PagerDuty, the update is the writer's
                rt.pager.post_status_update(incident_id, message, author_email=person.email)
            except IntegrationError as refused:
                if refused.status != 400:
                    raise
                # their e-mail is no PagerDuty user (a 400 for the From header): posted as warroom, signed
                rt.pager.post_status_update(incident_id, f"{message} ({actor})")
        if state.ticket:
            rt.tracker.comment(state.ticket[0], f"Status update from {actor}: {message}")

    return once(
        key, post,
        lambda _: ev.StatusUpdatePosted(**envelope(incident_id, key, actor), message=message),
    )


@task(name="resolve_page")
def resolve_page(incident_id: str) -> None:
    """Resolve the PagerDuty incident (resolving twice is harmless at PagerDuty)."""
    current_runtime().pager_for(load_state(incident_id).drill).resolve(incident_id)
