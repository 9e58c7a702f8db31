"""The living incident document: a Prefect Markdown artifact, rewritten from the ledger."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from warroom.incident.cadence import due
from warroom.incident.document import artifact_key, render
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


@task(name="publish_document")
def publish_document(incident_id: str) -> str:
    """Rewrite the artifact ``incident-<id>`` from the ledger, with links to the desks; returns the Markdown."""
    markdown = document(load_state(incident_id)) + desk_links(incident_id)
    create_markdown_artifact(
        markdown=markdown, key=artifact_key(incident_id), description=f"Incident document for {incident_id}"
    )
    return markdown
