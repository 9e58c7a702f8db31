"""The living incident document: a Prefect Markdown artifact, rewritten from the ledger."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from incident.cadence import due
from incident.document import artifact_key, render
from incident.models import Phase
from incident.state import IncidentState
from tasks.ledger import load_state
from tasks.runtime import current_runtime


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


@task(name="publish_document")
def publish_document(incident_id: str) -> str:
    """Rewrite the artifact ``incident-<id>`` from the ledger; returns the Markdown."""
    markdown = document(load_state(incident_id))
    create_markdown_artifact(
        markdown=markdown, key=artifact_key(incident_id), description=f"Incident document for {incident_id}"
    )
    return markdown
