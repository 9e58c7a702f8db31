"""The living incident document, after the chapter's template (SRE book ch. 14, "Managing Incidents"):
title with its date; where incident management is explained; summary; status; command post(s); the
command hierarchy with the next incident commander and all responders; the detailed status with when
and by whom it was last updated; each exit criterion TODO or DONE; the TODO list and bugs filed; the
timeline, newest first, in UTC.

Rendered from the incident's state alone, so it is rewritten identically on every event, wherever it
is shown: the Prefect artifact ``incident-<id>`` and the Jira incident ticket's description.
"""

from __future__ import annotations

from datetime import datetime

from warroom.incident.models import Role
from warroom.incident.policy import Policy
from warroom.incident.state import IncidentState, Note

TITLE = "# "
SECTIONS = (
    "## Summary",
    "## Status",
    "## Command post(s)",
    "## Command hierarchy (all responders)",
    "## Detailed status",
    "## Exit criteria",
    "## TODO list and bugs filed",
    "## Timeline (newest first, UTC)",
)
#: the roles in the template's order
HIERARCHY = (Role.INCIDENT_COMMANDER, Role.OPERATIONS_LEAD, Role.PLANNING_LEAD, Role.COMMUNICATIONS_LEAD)
NO_INFO = "(not set: put a link in policy.yaml, `incident_management_info`)"


def _utc(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at else "-"


def _by(note: Note) -> str:
    return f"last updated at {_utc(note.at)} by {note.by}"


def artifact_key(incident_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    safe = "".join(c if c.isalnum() else "-" for c in incident_id.lower())
    return f"incident-{safe}"


DRILL_NOTE = ("> **This is a drill**: practice on the real flows. It pages only the drill routing key, files only "
              "drill-labelled Jira issues, and stays out of the production figures.")


def title(state: IncidentState) -> str:
    """The template's title: what it is, and the date it began (UTC)."""
    began = state.declared_at or min(state.first_seen.values(), default=None)
    date = f"{began:%Y-%m-%d}" if began else "not declared"
    drill = "[DRILL] " if state.drill else ""
    return f"{TITLE}{drill}Incident {state.incident_id} · {state.title or '(untitled)'}: {date}"


def responders(state: IncidentState) -> dict[str, str]:
    """Everyone in the incident, each with what they do or did: the roles first, then the rest."""
    found: dict[str, list[str]] = {}
    for role in HIERARCHY:
        holder = state.holder(role)
        if holder:
            found.setdefault(holder, []).append(role.label)
    for area, person in sorted(state.subleads.items()):
        found.setdefault(person, []).append(f"{area} sub-lead")
    for former in state.commanders:
        if former != state.commander:
            found.setdefault(former, []).append("former incident commander")
    if state.handoff:
        found.setdefault(state.handoff.to, []).append("offered command")
    if state.next_commander:
        found.setdefault(state.next_commander, []).append("next incident commander")
    for person, how in state.responders.items():
        if person not in found:
            found[person] = [how]
    return {person: ", ".join(what) for person, what in found.items()}


def render(state: IncidentState, policy: Policy, due_lines: tuple[str, ...] = ()) -> str:
    """The whole document as Markdown. ``due_lines`` are the cadence's reminders, if any."""
    lines = [
        title(state),
        "",
        f"Incident management info: {policy.incident_management_info or NO_INFO}",
        "",
        *([DRILL_NOTE, ""] if state.drill else []),
        "## Summary",
        "(The communications lead keeps the summary up to date.)",
        "",
    ]
    if state.summary:
        lines += [state.summary.text, "", f"_({_by(state.summary)})_", ""]
    else:
        lines.append(f"{state.title or '-'} on **{state.service or 'unknown service'}**, "
                     f"severity **{state.severity or '-'}**{' (drill)' if state.drill else ''}.")
    if state.declared_at:
        lines.append(f"Declared {_utc(state.declared_at)} by {state.declared_by or '-'} because: "
                     f"{'; '.join(state.declared_reasons) or '-'}.")
    if state.close_summary:
        lines.append(f"Closed {_utc(state.closed_at)}: {state.close_summary}")

    activity = "active" if state.phase.is_open else state.phase.value.replace("_", " ")
    status = f"**{activity}**"
    if state.phase.is_open:
        status += f", phase: {state.phase.value.replace('_', ' ')}"
    status += f", severity {state.severity or '-'}{' (drill)' if state.drill else ''}"
    if state.ticket:
        status += f", ticket [{state.ticket[0]}]({state.ticket[1]})"
    lines += ["", "## Status", status, *[f"- {line}" for line in due_lines]]

    lines += ["", "## Command post(s)", policy.command_post]

    lines += ["", "## Command hierarchy (all responders)",
              f"- current incident commander: {state.commander or '-'}"]
    for role in HIERARCHY[1:]:
        lines.append(f"- {role.label}: {state.holder(role) or '-'}")
        if role is Role.OPERATIONS_LEAD:
            lines += [f"  - {area}: {person} (sub-lead)" for area, person in sorted(state.subleads.items())]
    next_ic = (f"{state.handoff.to} (offered by {state.handoff.by}, not yet accepted)" if state.handoff
               else state.next_commander or "to be determined")
    lines.append(f"- next incident commander: {next_ic}")
    everyone = responders(state)
    lines.append("- all responders: " + (", ".join(f"{p} ({what})" for p, what in everyone.items()) or "-"))

    detailed = state.detailed_status or state.last_status_update
    if detailed is None:
        lines += ["", "## Detailed status", "(not written yet: the communications lead writes it on their desk)"]
    else:
        source = "" if state.detailed_status else "the latest status update: "
        lines += ["", f"## Detailed status ({_by(detailed)})", f"{source}{detailed.text}"]

    lines += ["", "## Exit criteria"]
    for criterion in policy.exit_criteria:
        met = state.criteria_met.get(criterion)
        lines.append(f"- DONE {criterion} (by {met.by}, {_utc(met.at)})" if met else f"- TODO {criterion}")

    lines += ["", "## TODO list and bugs filed"]
    todo = [f"- TODO revert {d.id}: {d.what} (revert: {d.revert})" for d in state.open_divergences]
    todo += [f"- TODO {b}" for b in state.close_blockers() if not b.startswith("divergence ")]
    done = [
        f"- DONE {d.id} {d.status} by {d.closed_by or '-'}: {d.what}" + (f" ({d.reason})" if d.reason else "")
        for d in state.divergences.values()
        if d.status != "open"
    ]
    done += [f"- DONE evidence {e.kind}: `{e.location}` sha256 `{e.sha256[:16]}…` ({_utc(e.captured_at)})"
             for e in state.evidence]
    if state.evidence_waived:
        done.append(f"- DONE evidence waived: {state.evidence_waived}")
    bugs = [f"- bug filed: {f.tracker_key} ({f.kind}, {f.status}): {f.summary}" for f in state.followups.values()]
    lines += todo + done + bugs or ["- nothing yet"]

    lines += ["", "## Timeline (newest first, UTC)"]
    lines += [f"- {_utc(t.at)} · {t.actor} · {t.text}" for t in reversed(state.timeline)]
    return "\n".join(lines) + "\n"
