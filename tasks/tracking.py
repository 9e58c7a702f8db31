"""Side effects on the tracker (Jira): the incident ticket, follow-ups, comments and transitions."""

from __future__ import annotations

from prefect import task

from warroom.incident import events as ev
from warroom.incident.drills import DRILL_TAG
from warroom.incident.events import Recorded
from warroom.incident.models import FollowUpKind
from warroom.tasks.ledger import envelope, load_state, once
from warroom.tasks.runtime import current_runtime


def where_to_file(incident_id: str, service: str, summary: str) -> tuple[str, str, tuple[str, ...]]:
    """The Jira project, summary and extra labels of an incident's issue: a drill's go to the policy's
    drill project (else the service's), marked ``[DRILL]`` and labelled with the policy's drill label."""
    rt = current_runtime()
    project = rt.config.services.services[service].jira_project
    if not load_state(incident_id).drill:
        return project, summary, ()
    drills = rt.config.policy.drills
    return drills.jira_project or project, f"{DRILL_TAG} {summary}", (drills.jira_label,)


@task(name="open_incident_ticket")
def open_incident_ticket(incident_id: str, service: str, summary: str, description: str) -> Recorded:
    rt = current_runtime()
    project, summary, labels = where_to_file(incident_id, service, summary)
    key = f"{incident_id}:ticket"
    return once(
        key,
        lambda: rt.tracker.open_ticket(incident_id, project, summary, description, labels),
        lambda t: ev.TicketOpened(**envelope(incident_id, key), key=t.key, url=t.url),
    )


@task(name="file_followup")
def file_followup(
    incident_id: str, service: str, intent: str, kind: FollowUpKind, summary: str, description: str
) -> Recorded:
    """File a follow-up once per intent: Jira is searched for the intent's label before creating."""
    rt = current_runtime()
    project, summary, labels = where_to_file(incident_id, service, summary)
    key = f"{incident_id}:followup:{intent}"
    return once(
        key,
        lambda: rt.tracker.file_followup(incident_id, project, intent, kind, summary, description, labels),
        lambda f: ev.FollowUpFiled(**envelope(incident_id, key), followup=f),
    )


@task(name="transition_ticket")
def transition_ticket(ticket: str, name: str) -> None:
    current_runtime().tracker.transition(ticket, name)


@task(name="link_ticket")
def link_ticket(ticket: str, url: str, title: str) -> None:
    current_runtime().tracker.link(ticket, url, title)
