"""The retrospective report flow (DESIGN §1: "scheduled retrospective report runs"): the report over a
period from the ledger, its HTML page under ``$WARROOM_HOME/reports/``, Markdown and table artifacts
on the run, the summary on the policy's Jira reports issue, and a postmortem draft for each incident
closed in the period."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from warroom.incident.report import DURATIONS, Report, build_report
from warroom.incident.report_text import render_markdown, seconds_text
from warroom.tasks.report import (
    Postmortem,
    followup_statuses_task,
    post_summary_task,
    read_earlier_task,
    read_facts_task,
    report_inputs,
    write_postmortem_task,
    write_report_task,
)
from warroom.tasks.runtime import current_runtime

ARTIFACT_KEY = "warroom-report"
TABLE_KEY = "warroom-report-durations"


@dataclass
class ReportRun:
    report: Report
    html: str
    posted_on: str | None
    postmortems: list[str] = field(default_factory=list)


def duration_rows(report: Report) -> list[dict[str, object]]:
    """One row per slice and duration: the table artifact."""
    rows: list[dict[str, object]] = []
    for group in (report.overall, *report.by_severity, *report.by_service):
        for key, label in DURATIONS:
            d = group.durations[key]
            rows.append({"slice": group.name, "duration": label, "n": d.n, "median": seconds_text(d.median),
                         "ci_95": f"{seconds_text(d.ci_low)} to {seconds_text(d.ci_high)}",
                         "p90": seconds_text(d.p90), "min": seconds_text(d.minimum), "max": seconds_text(d.maximum)})
    return rows


@flow(name="report")
def retrospective_report(start: datetime, end: datetime, service: str | None = None, post: bool = True,
                         postmortems: bool = True) -> ReportRun:
    rt = current_runtime()
    inputs = report_inputs(rt.config, start, end, service)
    facts = read_facts_task(rt.ledger, rt.config, inputs)
    earlier = read_earlier_task(rt.ledger, rt.config, inputs)
    statuses = followup_statuses_task(rt.tracker, facts, inputs, earlier)
    report = build_report(facts, inputs, statuses, earlier)
    html = write_report_task(report, rt.home, "html")
    markdown = render_markdown(report)
    create_markdown_artifact(markdown, key=ARTIFACT_KEY,
                             description=f"warroom report {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    create_table_artifact(duration_rows(report), key=TABLE_KEY, description="durations per slice (this period)")
    posted = post_summary_task(rt.tracker, rt.config, report) if post else None
    drafted = []
    if postmortems:
        for f in facts:
            if f.closed_at is not None and not f.drill and start <= f.opened_at < end:
                drafted.append(str(postmortem(f.incident_id).path))
    return ReportRun(report, str(html), posted, drafted)


def postmortem_key(incident_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return "postmortem-" + "".join(c if c.isalnum() else "-" for c in incident_id.lower())


def postmortem(incident_id: str) -> Postmortem:
    """The incident's postmortem draft: the file, the Jira copies (once), and the artifact."""
    rt = current_runtime()
    drafted = write_postmortem_task(rt.ledger, rt.tracker, rt.home, incident_id, rt.clock())
    create_markdown_artifact(drafted.text, key=postmortem_key(incident_id),
                             description=f"postmortem draft of {incident_id} (sha256 {drafted.sha256})")
    return drafted


@flow(name="postmortem")
def postmortem_draft(incident_id: str) -> Postmortem:
    return postmortem(incident_id)
