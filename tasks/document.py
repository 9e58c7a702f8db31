"""The living incident document: a Prefect Markdown artifact and the Jira ticket's description, both
rewritten from the ledger."""

from __future__ import annotations

import logging

from prefect import task
from prefect.artifacts import create_markdown_artifact

from warroom.incident import work
from warroom.incident.cadence import due
from warroom.incident.document import artifact_key, render
from warroom.incident.drills import REPLAY_LABEL, alert_labels, compare
from warroom.incident.errors import IntegrationError
from warroom.incident.models import Phase
from warroom.incident.state import IncidentState
from warroom.tasks.desks import desks
from warroom.tasks.ledger import load_state
from warroom.tasks.runtime import current_runtime


def reminders(state: IncidentState) -> tuple[str, ...]:
    """The cadence's reminders: what is overdue, else when the next update and checkpoint are due."""
    if state.declared_at is None or state.phase is Phase.CLOSED:
        return ()
    rt = current_runtime()
    d = due(state, rt.config.policy)
    return tuple(d.overdue(rt.clock())) or (
        f"next status update due {d.status_update:%H:%M} UTC",
        f"next checkpoint due {d.checkpoint:%H:%M} UTC",
    )


def document(state: IncidentState) -> str:
    return render(state, current_runtime().config.policy, reminders(state))


def desk_links(incident_id: str) -> str:
    """Where each role holder answers: their desk in the Prefect UI (links relative to the UI)."""
    waiting = desks(incident_id)
    if not waiting:
        return ""
    lines = ["", "## Desks (answer here)"]
    lines += [f"- [{d.name}](/runs/flow-run/{d.run_id})" + (f" · {d.message}" if d.message else "") for d in waiting]
    return "\n".join(lines) + "\n"


log = logging.getLogger("warroom.document")


@task(name="publish_document")
def publish_document(incident_id: str) -> str:
    """Rewrite the artifact ``incident-<id>`` from the ledger: the document, then links to the desks
    (the Prefect UI's own); the ticket's description becomes the same document. Returns the Markdown."""
    state = load_state(incident_id)
    text = document(state)
    markdown = text + desk_links(incident_id)
    create_markdown_artifact(
        markdown=markdown, key=artifact_key(incident_id), description=f"Incident document for {incident_id}"
    )
    mirror(incident_id, text)
    return markdown


def mirror(incident_id: str, text: str | None = None) -> bool:
    """The ticket's description becomes the document (``text``, else the document now); written only
    if it changed. If the tracker fails, the dispatcher tries again (work in the ledger), so a Jira
    outage never holds the incident back and the ticket catches up. Returns whether it was written."""
    rt = current_runtime()
    state = load_state(incident_id)
    if state.ticket is None:
        return False
    try:
        return rt.tracker.set_document(state.ticket[0], text if text is not None else document(state))
    except IntegrationError as failed:
        log.warning("%s: the document is not in %s yet (tried again shortly): %s", incident_id, state.ticket[0],
                    failed)
        again = work.mirror_document(incident_id, state.version, rt.clock())
        if rt.ledger.work_by_key(again.key) is None:
            rt.ledger.add_work([again])
        return False


def write_document(incident_id: str) -> str:
    """The dispatcher's retry of :func:`mirror`: the document as it is now into the ticket (raises
    while the tracker fails, so the dispatcher tries again)."""
    state = load_state(incident_id)
    if state.ticket is None:
        return "no ticket"
    written = current_runtime().tracker.set_document(state.ticket[0], document(state))
    return f"document {'written into' if written else 'already in'} {state.ticket[0]}"


def comparison_key(incident_id: str) -> str:
    return f"drill-comparison-{incident_id.lower()}"


def publish_comparison(incident_id: str) -> str | None:
    """A replay's timeline beside the original's (the time of each phase in both, what was done), as the
    artifact ``drill-comparison-<id>``: published when the drill closes. None if it replays nothing."""
    rt = current_runtime()
    records = rt.ledger.stream(incident_id)
    original = alert_labels(records).get(REPLAY_LABEL)
    if not original:
        return None
    lines = compare(str(original), rt.ledger.stream(str(original)), incident_id, records).lines()
    markdown = (f"# Drill {incident_id} beside {original}\n\n"
                "Also: `warroom drill --compare " + incident_id + "`.\n\n```\n" + "\n".join(lines) + "\n```\n")
    create_markdown_artifact(markdown=markdown, key=comparison_key(incident_id),
                             description=f"The drill {incident_id} beside the incident it replays, {original}")
    return markdown
