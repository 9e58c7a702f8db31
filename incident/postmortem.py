"""The postmortem draft of a closed incident, from its ledger, in the shape of the SRE book's example
postmortem (appendix D): title and date, status, summary, impact, root causes and trigger, detection,
response, resolution, action items, lessons learned, timeline, supporting evidence.

warroom writes what the ledger knows; what only people know (root causes and trigger, lessons
learned, the impact as users felt it) sits between marker lines that people own: a rewrite keeps
whatever people wrote there (:func:`keep_people_sections`). Pure: the state and events in, text out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from warroom.incident import events as ev
from warroom.incident.models import FollowUp, Role
from warroom.incident.state import IncidentState

SECTIONS = (
    "## Status",
    "## Summary",
    "## Impact",
    "## Root causes and trigger",
    "## Detection",
    "## Response",
    "## Resolution",
    "## Action items",
    "## Lessons learned",
    "## Timeline (UTC)",
    "## Supporting evidence",
)
PEOPLE_SECTIONS = ("impact", "root-causes", "trigger", "went-well", "went-wrong", "lucky")
_BEGIN = "<!-- people: {name} (warroom keeps what is written between this line and the next marker) -->"
_END = "<!-- end people: {name} -->"
_BLOCK = re.compile(r"<!-- people: (?P<name>[a-z-]+) \(.*?\) -->\n(?P<body>.*?)\n?<!-- end people: (?P=name) -->",
                    re.DOTALL)
TO_WRITE = "_(to be written by the people who were there)_"


def _utc(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at else "-"


def _people(name: str, prompt: str) -> list[str]:
    return [_BEGIN.format(name=name), f"{TO_WRITE} {prompt}".rstrip(), _END.format(name=name)]


def postmortem_name(incident_id: str) -> str:
    return f"postmortem-{incident_id}.md"


def attachment_name(incident_id: str, text: str) -> str:
    """The name a version of the draft is attached under in the tracker: its hash in the name, so each
    new version is attached once and an unchanged redraft finds its copy there."""
    return f"postmortem-{incident_id}-{digest(text)[:12]}.md"


def draft_postmortem(
    state: IncidentState,
    records: Sequence[ev.Recorded],
    followups: Iterable[FollowUp],
    written_at: datetime,
) -> str:
    """The draft: every template section, warroom's facts filled in, people's parts marked."""
    began = state.declared_at or min(state.first_seen.values(), default=None)
    events = [r.event for r in records]
    alerts = [e for e in events if isinstance(e, ev.AlertAttached)]
    pages = [e for e in events if isinstance(e, ev.Paged)]
    restored = next((e.occurred_at for e in events if isinstance(e, ev.PhaseChanged)
                     and e.to.value == "preserving_evidence"), None)
    closed = next((e.occurred_at for e in reversed(events) if isinstance(e, ev.Closed)), None)
    out = [f"# Postmortem: {state.incident_id} · {state.title or '(untitled)'} ({began:%Y-%m-%d})" if began
           else f"# Postmortem: {state.incident_id} · {state.title or '(untitled)'}",
           "", f"Drafted by warroom from the ledger at {_utc(written_at)}; rewritten on request, keeping what "
           "people wrote between the `people` markers.", "",
           "## Status", "", "Draft" + (" (a drill)" if state.drill else ""), "",
           "## Summary", "", state.close_summary or (state.summary.text if state.summary else state.title), "",
           "## Impact", "",
           f"- Service: {state.service or '-'}; severity: {state.severity or '-'}",
           f"- Declared {_utc(state.declared_at)}; service restored {_utc(restored)}; closed {_utc(closed)}"]
    if state.declared_at and restored:
        out.append(f"- Declaration to restored: {ev.duration(restored - state.declared_at)}")
    out += ["- As users felt it:", *_people("impact", "who was affected, how, for how long; revenue or SLO spent."), "",
            "## Root causes and trigger", "", "Root causes:", *_people("root-causes", "why it happened."), "",
            "Trigger:", *_people("trigger", "what set it off."), "",
            "## Detection", ""]
    if alerts:
        out += [f"- {_utc(a.alert.starts_at or a.occurred_at)}: alert from {a.alert.source} ({a.alert.status}): "
                f"{a.alert.summary} [{a.alert.fingerprint}]" for a in alerts]
    else:
        out.append("- No alert: declared by hand" + (f" by {state.declared_by}" if state.declared_by else "") + ".")
    out += [f"- {_utc(p.occurred_at)}: paged {p.target}" for p in pages]
    if state.acknowledged_at:
        out.append(f"- {_utc(state.acknowledged_at)}: the page was acknowledged")
    out += ["", "## Response", "", "Roles:"]
    for role in (Role.INCIDENT_COMMANDER, Role.OPERATIONS_LEAD, Role.COMMUNICATIONS_LEAD, Role.PLANNING_LEAD):
        holder = state.holder(role)
        out.append(f"- {role.label}: {holder or '-'}")
    if len(state.commanders) > 1:
        out.append(f"- incident commanders in turn: {', '.join(state.commanders)}")
    handoffs = [e for e in events if isinstance(e, ev.HandoffOffered | ev.HandoffAccepted | ev.HandoffLapsed)]
    escalations = [e for e in events if isinstance(e, ev.Escalated)]
    out += ["", "Handoffs:"] + ([f"- {_utc(e.occurred_at)}: {e.describe()}" for e in handoffs] or ["- none"])
    out += ["", "Escalations:"] + ([f"- {_utc(e.occurred_at)}: {e.describe()}" for e in escalations] or ["- none"])
    out += ["", "## Resolution", "", "Mitigations (divergences from the normal state) and their fate:"]
    out += [f"- {d.id}: {d.what} (approved by {d.approved_by}; revert: {d.revert}): {d.status}"
            + (f" by {d.closed_by}" if d.closed_by else "") + (f": {d.reason}" if d.reason else "")
            for d in state.divergences.values()] or ["- none"]
    out += ["", "## Action items", "", "| item | kind | status |", "|---|---|---|"]
    out += [f"| {f.tracker_key}: {f.summary} | {f.kind} | {f.status} |" for f in followups] or ["| none | | |"]
    out += ["", "## Lessons learned", "", "What went well:", *_people("went-well", ""), "",
            "What went wrong:", *_people("went-wrong", ""), "", "Where we got lucky:", *_people("lucky", ""), "",
            "## Timeline (UTC)", ""]
    out += [f"- {_utc(t.at)} · {t.actor}: {t.text}" for t in state.timeline]
    out += ["", "## Supporting evidence", ""]
    out += [f"- {e.kind}: {e.location} (sha256 {e.sha256}, captured {_utc(e.captured_at)})" for e in state.evidence]
    if state.evidence_waived:
        out.append(f"- evidence waived: {state.evidence_waived}")
    if not state.evidence and not state.evidence_waived:
        out.append("- none")
    return "\n".join(out) + "\n"


def people_sections(text: str) -> dict[str, str]:
    """What people wrote in each of their marked sections of ``text``."""
    return {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}


def keep_people_sections(previous: str | None, fresh: str) -> str:
    """``fresh`` with each people's section as ``previous`` had it: a rewrite never loses their words."""
    if not previous:
        return fresh
    kept = people_sections(previous)

    def keep(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in kept:
            return match.group(0)
        return f"{_BEGIN.format(name=name)}\n{kept[name]}\n{_END.format(name=name)}"

    return _BLOCK.sub(keep, fresh)


def digest(text: str) -> str:
    """The draft's sha256 (hex): what says whether a copy in the tracker is this very text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
