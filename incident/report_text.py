"""The report as Markdown (the flow run's artifact, the Jira comment, ``--format md``) and as JSON data
(``--format json``). Pure: the report in, text out."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from warroom.incident.report import DURATIONS, Distribution, Group, Report

WHY = ("Durations are distributions (n, median with its 95% bootstrap interval, p90, min to max), never "
       "means: at a team's real incident counts a mean such as MTTR moves more with one odd incident "
       "than with any change in how the team works (Davidovič, \"Incident Metrics in SRE\", Google 2021).")


def seconds_text(value: float | None) -> str:
    """``value`` seconds as people say it: 45 s, 12 min, 3.5 h, 2.1 d; '-' for none."""
    if value is None:
        return "-"
    if value < 90:
        return f"{value:.0f} s"
    if value < 90 * 60:
        return f"{value / 60:.0f} min"
    if value < 36 * 3600:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


def distribution_text(d: Distribution, unit: str = "time") -> str:
    """``n=7 · median 12 min (95% CI 8 min to 20 min) · p90 41 min · 3 min to 1.2 h``."""
    if d.n == 0:
        return "n=0 · no samples"
    show = seconds_text if unit == "time" else (lambda v: "-" if v is None else f"{v:g}")
    ci = f" (95% CI {show(d.ci_low)} to {show(d.ci_high)})" if d.ci_low is not None else " (no interval: n<2)"
    return f"n={d.n} · median {show(d.median)}{ci} · p90 {show(d.p90)} · {show(d.minimum)} to {show(d.maximum)}"


def _day(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _group_rows(groups: list[Group]) -> list[str]:
    rows = ["| slice | declared | watched, never declared | reopened | alerts per incident | "
            + " | ".join(label for _, label in DURATIONS) + " |",
            "|---" * (5 + len(DURATIONS)) + "|"]
    for g in groups:
        rows.append(f"| {g.name} | {g.declared} | {g.watched_never_declared} | {g.reopened} | "
                    f"{distribution_text(g.alerts_per_incident, 'count')} | "
                    + " | ".join(distribution_text(g.durations[key]) for key, _ in DURATIONS) + " |")
    return rows


def summary_lines(report: Report) -> list[str]:
    """The few lines that go where the policy says (a Jira comment): counts and the comparisons."""
    o = report.overall
    scope = f" for {report.service}" if report.service else ""
    lines = [f"warroom report{scope}, {_day(report.start)} to {_day(report.end)} (production incidents; "
             f"{report.drills.held} drill(s) apart)",
             f"declared {o.declared} (previous period {report.previous.declared}); watched but never declared "
             f"{o.watched_never_declared}; reopened {o.reopened}; unroutable alerts {report.unroutable_alerts}"]
    for c in report.comparisons:
        lines.append(f"{c.what}: median {seconds_text(c.now.median)} (n={c.now.n}) vs "
                     f"{seconds_text(c.before.median)} (n={c.before.n}): {c.verdict}")
    p = report.practices
    lines.append(f"status updates: {p.updates_on_time} on time, {p.updates_overdue} overdue; timed-out questions "
                 f"escalated: {p.timed_out}; handoffs offered {p.handoffs_offered}, accepted {p.handoffs_accepted}, "
                 f"lapsed {p.handoffs_lapsed}")
    return lines


def render_markdown(report: Report) -> str:
    """The whole report, section by section."""
    p = report.practices
    out = [f"# warroom report: {_day(report.start)} to {_day(report.end)}"
           + (f" · service {report.service}" if report.service else ""), "",
           f"Production incidents only; drills are counted apart (below). Previous period: "
           f"{_day(report.previous_start)} to {_day(report.start)}.", "", WHY, "",
           "## Counts and durations", "", *_group_rows([report.overall, report.previous]), "",
           "### Per severity", "", *_group_rows(list(report.by_severity)), "",
           "### Per service", "", *_group_rows(list(report.by_service)), "",
           f"Unroutable alerts (naming no service in services.yaml): {report.unroutable_alerts}", "",
           "## This period against the previous one", ""]
    out += [f"- **{c.what}**: now {distribution_text(c.now)}; before {distribution_text(c.before)}. "
            f"{c.verdict[0].upper()}{c.verdict[1:]}." for c in report.comparisons]
    out += ["", "## The chapter's practices", "",
            f"- Status updates: {p.updates_posted} posted, {p.updates_on_time} on time, {p.updates_overdue} overdue "
            f"(late by {distribution_text(p.overdue_by)})",
            f"- Checkpoints: {p.checkpoints} held, {p.checkpoints_on_cadence} within the severity's cadence",
            f"- Questions that timed out and escalated (extra responders paged): {p.timed_out}; "
            f"help asked by people: {p.help_asked}",
            f"- Handoffs: {p.handoffs_offered} offered, {p.handoffs_accepted} accepted, {p.handoffs_lapsed} lapsed",
            "", "## Change it around: who held which role", "",
            "| person | role | times | hours |", "|---|---|---|---|"]
    out += [f"| {r.person} | {r.role.replace('_', ' ')} | {r.times} | {r.seconds / 3600:.1f} |" for r in report.roles]
    out += ["", "Never held incident commander in this period: " + (", ".join(report.never_ic) or "nobody"), "",
            "Load (incidents each person took part in): "
            + (", ".join(f"{k} {v}" for k, v in report.load.items()) or "none"), "",
            "## Divergence debt (open or accepted, from every incident until reverted)", ""]
    if report.divergence_debt:
        out += ["| incident | incident opened | divergence | status | what | age |", "|---|---|---|---|---|---|"]
        for x in report.divergence_debt:
            dv = x.divergence
            out.append(f"| {dv.incident_id} | {_opened(x.opened_at, x.earlier)} | {dv.divergence_id} | {dv.status} | "
                       f"{dv.what} | {seconds_text(x.age)} |")
    else:
        out.append("None.")
    out += ["", "## Follow-ups (status from the tracker; an earlier incident's while any is open)", ""]
    if report.followups:
        out += ["| incident | incident opened | filed | open | overdue | issues |", "|---|---|---|---|---|---|"]
        out += [f"| {f.incident_id} | {_opened(f.opened_at, f.earlier)} | {f.filed} | {f.open} | {f.overdue} | "
                + ", ".join(f"{x.key} ({x.kind}, {x.status})" for x in f.lines) + " |" for f in report.followups]
    else:
        out.append("None filed.")
    d = report.drills
    out += ["", "## Drills (kept out of every figure above)", "", f"Drills held: {d.held}"
            + (f" ({', '.join(d.incidents)})" if d.incidents else ""), ""]
    if d.roles:
        out += ["| person | role practised | times | hours |", "|---|---|---|---|"]
        out += [f"| {r.person} | {r.role.replace('_', ' ')} | {r.times} | {r.seconds / 3600:.1f} |" for r in d.roles]
        out.append("")
    out += [f"- {phase}: {distribution_text(dist)}" for phase, dist in d.phase_durations.items() if dist.n]
    out += ["", "Not practised in the policy's window (role: people):", ""]
    out += [f"- {role.replace('_', ' ')}: {', '.join(people) or 'everyone has'}"
            for role, people in d.not_practised.items()]
    return "\n".join(out) + "\n"


def _opened(at: datetime | None, earlier: bool) -> str:
    """When the incident opened, and whether that was before this period (its item is still owed)."""
    if at is None:
        return "-"
    return f"{at:%Y-%m-%d}" + (" (**before this period**)" if earlier else "")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report_data(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (every figure; durations in seconds)."""
    data = _plain(dataclasses.asdict(report))
    assert isinstance(data, dict)
    return data


def report_json(report: Report) -> str:
    return json.dumps(report_data(report), indent=2, ensure_ascii=False) + "\n"
