"""The retrospective report's and the postmortem's side effects: read the ledger, ask the tracker for
the follow-ups' status (JQL), write the files under ``$WARROOM_HOME``, post the summary, attach the
draft.

Each is a plain function taking what it needs (the CLI calls them without Prefect), and a task of the
same name for the ``report`` flow.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from warroom.incident.errors import IntegrationError, WarroomError
from warroom.incident.models import FollowUp, Role
from warroom.incident.policy import WarroomConfig
from warroom.incident.ports import Tracker
from warroom.incident.postmortem import (
    attachment_name,
    digest,
    draft_postmortem,
    keep_people_sections,
    postmortem_name,
)
from warroom.incident.report import (
    OPEN_ITEM_KINDS,
    FollowUpLine,
    IncidentFacts,
    Report,
    ReportInputError,
    ReportInputs,
    build_report,
    facts_of,
    still_owes,
)
from warroom.incident.report_text import render_markdown, report_json, summary_lines
from warroom.incident.state import fold
from warroom.integrations.ledger import Ledger
from warroom.integrations.reporting.html import render_html

log = logging.getLogger(__name__)

FORMATS = ("html", "md", "json")
REPORTS_INTENT = "reports"  # the one standing issue in the reports project that the summaries go on
REPORTS_ID = "reports"


def report_inputs(config: WarroomConfig, start: datetime, end: datetime, service: str | None) -> ReportInputs:
    policy = config.policy
    eligible = {role.value: config.roster.eligible(role) for role in Role}
    return ReportInputs(
        start=start, end=end, previous_start=start - (end - start),
        practice_window_start=end - timedelta(days=policy.rotation_window_days), service=service,
        eligible=eligible, followups_due=policy.reports.followups_due, min_samples=policy.reports.min_samples,
    )


def reach(inputs: ReportInputs) -> datetime:
    """Where the report's full read starts: the earlier of the previous period and the practice window."""
    return min(inputs.previous_start, inputs.practice_window_start)


def read_facts(ledger: Ledger, config: WarroomConfig, inputs: ReportInputs) -> list[IncidentFacts]:
    """Every incident opened from the earlier of the previous period and the practice window, to the end."""
    cadence = {name: s.checkpoint_every for name, s in config.policy.severities.items()}
    known = frozenset(config.services.services)
    return [facts_of(incident_id, opened, rows, cadence, known, inputs.end)
            for incident_id, opened, rows in ledger.report_rows(reach(inputs), inputs.end, inputs.service)]


def read_earlier(ledger: Ledger, config: WarroomConfig, inputs: ReportInputs) -> list[IncidentFacts]:
    """The production incidents opened before :func:`reach`, read only for what they may still owe (their
    divergences and follow-ups: :data:`OPEN_ITEM_KINDS`); those owing nothing are dropped here."""
    known = frozenset(config.services.services)
    earlier = (facts_of(incident_id, opened, rows, {}, known, inputs.end)
               for incident_id, opened, rows in ledger.open_item_rows(reach(inputs), OPEN_ITEM_KINDS, inputs.service))
    return [f for f in earlier if still_owes(f)]


def followup_statuses(tracker: Tracker, facts: Sequence[IncidentFacts], inputs: ReportInputs,
                      earlier: Sequence[IncidentFacts] = ()) -> dict[str, list[FollowUpLine]]:
    """Each follow-up's status now, read from the tracker by JQL (the incidents' labels, many incidents a
    search), for the production incidents opened before the period's end that filed any: those of the
    period, and the earlier ones whose follow-ups the report lists while any is open."""
    asked = [f.incident_id for f in (*earlier, *facts)
             if not f.drill and f.followups and f.opened_at < inputs.end]
    found = tracker.find_followups_of(asked) if asked else {}
    return {incident_id: [FollowUpLine(incident_id, x.tracker_key, x.kind, x.summary, x.status) for x in lines]
            for incident_id, lines in found.items()}


def compute_report(ledger: Ledger, tracker: Tracker | None, config: WarroomConfig, start: datetime,
                   end: datetime, service: str | None) -> tuple[Report, list[IncidentFacts]]:
    if service is not None and service not in config.services.services:
        raise ReportInputError(f"unknown service {service!r}; services.yaml has: "
                               f"{', '.join(config.services.services)}")
    inputs = report_inputs(config, start, end, service)
    facts = read_facts(ledger, config, inputs)
    earlier = read_earlier(ledger, config, inputs)
    statuses = followup_statuses(tracker, facts, inputs, earlier) if tracker is not None else None
    return build_report(facts, inputs, statuses, earlier), facts


def rendered(report: Report, fmt: str) -> str:
    if fmt == "html":
        return render_html(report)
    if fmt == "md":
        return render_markdown(report)
    if fmt == "json":
        return report_json(report)
    raise ReportInputError(f"unknown format {fmt!r}: use html, md or json")


def report_path(home: Path, report: Report, fmt: str) -> Path:
    scope = f"-{report.service}" if report.service else ""
    return home / "reports" / f"report{scope}-{report.start:%Y%m%dT%H%M}-{report.end:%Y%m%dT%H%M}.{fmt}"


def write_report(report: Report, home: Path, fmt: str = "html", out: Path | None = None) -> Path:
    """Write the report in ``fmt`` to ``out``, or under ``home/reports/``; returns where."""
    path = out or report_path(home, report, fmt)
    text = rendered(report, fmt)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise WarroomError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    return path


def post_summary(tracker: Tracker, config: WarroomConfig, report: Report) -> str | None:
    """The summary as a comment on the reports issue of the policy's project (filed once); once per
    report (a rerun finds its comment). None when the policy names no project."""
    project = config.policy.reports.jira_project
    if project is None:
        return None
    issue = tracker.file_followup(REPORTS_ID, project, REPORTS_INTENT, "action", "warroom retrospective reports",
                                  "Each retrospective report's summary is a comment here (warroom).")
    tracker.comment_once(issue.tracker_key, "\n".join(summary_lines(report)))
    return issue.tracker_key


# ----------------------------------------------------------------------------------------- postmortem


@dataclass(frozen=True)
class Postmortem:
    incident_id: str
    path: Path
    text: str
    sha256: str
    filename: str  # the name this version is attached under: postmortem-<incident>-<sha256[:12]>.md
    attached_to: tuple[str, ...]  # the Jira issues it was attached to now (empty: there already, or no tracker)
    issues: tuple[str, ...]  # the issues it belongs on: the incident's ticket and its postmortem follow-up

    def outcome(self) -> str:
        """Where the draft went in Jira, in a line or two (the CLI's answer, and the deployment run's)."""
        if not self.issues:
            return "the incident has no Jira ticket nor postmortem follow-up: not attached anywhere"
        lines = []
        if self.attached_to:
            lines.append(f"attached to {', '.join(self.attached_to)} as {self.filename}")
        if already := [k for k in self.issues if k not in self.attached_to]:
            lines.append(f"already on {', '.join(already)} as {self.filename}: not attached again")
        return "\n".join(lines)


def postmortem_path(home: Path, incident_id: str) -> Path:
    return home / "postmortems" / postmortem_name(incident_id)


def write_postmortem(ledger: Ledger, tracker: Tracker | None, home: Path, incident_id: str,
                     now: datetime) -> Postmortem:
    """Draft (or redraft) the closed incident's postmortem: the file under ``home/postmortems/`` keeps
    what people wrote in their sections; the draft (UTF-8 Markdown) is attached to the incident's Jira
    ticket and its postmortem follow-up, once per version (its hash is in the attachment's name), each
    with a short comment saying so and where people write their part."""
    records = ledger.stream(incident_id)
    if not records:
        raise WarroomError(f"no incident {incident_id} in the ledger at {ledger.url}: `warroom incidents` lists them")
    state = fold(records, incident_id)
    if state.closed_at is None:
        raise WarroomError(f"{incident_id} is not closed ({state.phase.value}): its postmortem is drafted once it is")
    followups: list[FollowUp] = list(state.followups.values())
    if tracker is not None:
        try:
            followups = tracker.find_followups(incident_id) or followups
        except IntegrationError as exc:
            log.warning("follow-up status from the ledger, not Jira: %s", exc)
    path = postmortem_path(home, incident_id)
    previous = path.read_text(encoding="utf-8") if path.is_file() else None
    text = keep_people_sections(previous, draft_postmortem(state, records, followups, now))
    if previous is not None and _without_stamp(previous) == _without_stamp(text):
        text = previous  # nothing changed but the time it was drafted: keep the file, and the copies, as they are
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    issues = tuple(k for k in ((state.ticket[0] if state.ticket else None),
                               (state.followups["postmortem"].tracker_key if "postmortem" in state.followups
                                else None)) if k)
    filename = attachment_name(incident_id, text)
    attached: list[str] = []
    if tracker is not None:
        note = attached_note(incident_id, filename, digest(text))
        for key in issues:
            if tracker.attach_once(key, filename, text.encode("utf-8")):
                attached.append(key)
            tracker.comment_once(key, note)  # after the attachment, so it never names a missing file
    return Postmortem(incident_id, path, text, digest(text), filename, tuple(attached), issues)


def attached_note(incident_id: str, filename: str, sha256: str) -> str:
    """The short comment that goes with each version attached (once per version and issue)."""
    return (f"warroom attached the postmortem draft of {incident_id}: {filename} (sha256 {sha256[:12]}…).\n"
            "Sections marked \"to be written by the people who were there\" are yours: write them in "
            f"$WARROOM_HOME/postmortems/{postmortem_name(incident_id)} on the warroom host, then run "
            f"`warroom postmortem {incident_id}`. A redraft keeps what you wrote there and attaches the new "
            "version beside this one.")


def _without_stamp(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("Drafted by warroom"))


# ---------------------------------------------------------------------------------------------- tasks

read_facts_task = task(name="read_ledger_for_report", cache_policy=NONE)(read_facts)
read_earlier_task = task(name="read_ledger_for_open_items", cache_policy=NONE)(read_earlier)
followup_statuses_task = task(name="read_followup_status", cache_policy=NONE)(followup_statuses)
write_report_task = task(name="write_report", cache_policy=NONE)(write_report)
post_summary_task = task(name="post_report_summary", cache_policy=NONE)(post_summary)
write_postmortem_task = task(name="draft_postmortem", cache_policy=NONE)(write_postmortem)
