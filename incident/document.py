"""The living incident document, after the chapter's template (SRE book ch. 14, "Managing Incidents").

Rendered from the incident's state alone, so it is rewritten identically on every event, wherever it
is shown: the Prefect artifact ``incident-<id>`` and the Jira incident ticket.
"""

from __future__ import annotations

from datetime import datetime

from warroom.incident.models import Role
from warroom.incident.policy import Policy
from warroom.incident.state import IncidentState


def _utc(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at else "-"


def artifact_key(incident_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    safe = "".join(c if c.isalnum() else "-" for c in incident_id.lower())
    return f"incident-{safe}"


def render(state: IncidentState, policy: Policy, due_lines: tuple[str, ...] = ()) -> str:
    """The whole document as Markdown. ``due_lines`` are the cadence's reminders, if any."""
    status = state.phase.value.replace("_", " ")
    lines = [
        f"# Incident {state.incident_id}: {state.title or '(untitled)'}",
        "",
        "## Summary",
        f"{state.title or '-'} on **{state.service or 'unknown service'}**, "
        f"severity **{state.severity or '-'}**{' (drill)' if state.drill else ''}.",
        f"Declared {_utc(state.declared_at)} because: {'; '.join(state.declared_reasons) or '-'}.",
    ]
    if state.close_summary:
        lines.append(f"Closed {_utc(state.closed_at)}: {state.close_summary}")
    lines += ["", "## Status", f"**{status}**"]
    lines += [f"- {line}" for line in due_lines]
    if state.ticket:
        lines.append(f"- Ticket: [{state.ticket[0]}]({state.ticket[1]})")
    lines += ["", "## Command post", policy.command_post, "", "## Command hierarchy"]
    lines += [f"- {role.label}: {state.holder(role) or '-'}" for role in Role]
    for area, person in sorted(state.subleads.items()):
        lines.append(f"  - {area}: {person} (under the operations lead)")
    next_ic = (f"{state.handoff.to} (offered, not yet accepted)" if state.handoff
               else state.next_commander or "-")
    lines.append(f"- next incident commander: {next_ic}")
    lines += ["", "## Exit criteria"] + [f"- {c}" for c in policy.exit_criteria]
    lines += ["", "## TODO and bugs filed"]
    todo = [f"- [ ] revert {d.id}: {d.what} (revert: {d.revert})" for d in state.open_divergences]
    todo += [f"- [ ] {b}" for b in state.close_blockers() if not b.startswith("divergence ")]
    done = [
        f"- [x] {d.id} {d.status}: {d.what}" + (f" ({d.reason})" if d.reason else "")
        for d in state.divergences.values()
        if d.status != "open"
    ]
    bugs = [f"- {f.tracker_key} ({f.kind}, {f.status}): {f.summary}" for f in state.followups.values()]
    evidence = [f"- evidence {e.kind}: `{e.location}` sha256 `{e.sha256[:16]}…`" for e in state.evidence]
    if state.evidence_waived:
        evidence.append(f"- evidence waived: {state.evidence_waived}")
    lines += todo + done + bugs + evidence or ["- nothing yet"]
    lines += ["", "## Timeline (newest first, UTC)"]
    lines += [f"- {_utc(t.at)} · {t.actor} · {t.text}" for t in reversed(state.timeline)]
    return "\n".join(lines) + "\n"
