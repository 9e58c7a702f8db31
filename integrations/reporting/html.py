"""The report as one self-contained HTML page: the Markdown report's text and tables, and charts drawn
by plotly, whose JavaScript bundle is inlined once in the page (it opens offline, from a file)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import plotly.graph_objects as go

from warroom.incident.report import DURATIONS, Distribution, Report
from warroom.incident.report_text import render_markdown

__all__ = ["CHART_CLASS", "render_html"]

CHART_CLASS = "warroom-chart"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #1d2330; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #c8ccd4; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #eef0f4; }
.warroom-chart { margin: 1rem 0; }
"""


def _inline(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)


def markdown_to_html(markdown: str) -> str:
    """The subset of Markdown the report writes: headings, paragraphs, bullet lists and tables."""
    out: list[str] = []
    table: list[list[str]] = []
    bullets: list[str] = []

    def flush() -> None:
        nonlocal table, bullets
        if table:
            head, *body = [row for row in table if not all(set(c) <= {"-"} for c in row)]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
                       + "</tbody></table>")
            table = []
        if bullets:
            out.append("<ul>" + "".join(f"<li>{_inline(b)}</li>" for b in bullets) + "</ul>")
            bullets = []

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if line.startswith("- "):
            bullets.append(line[2:])
            continue
        flush()
        if match := re.match(r"(#{1,4}) (.*)", line):
            level = len(match.group(1))
            out.append(f"<h{level}>{_inline(match.group(2))}</h{level}>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def _minutes(values: Sequence[float]) -> list[float]:
    return [round(v / 60.0, 2) for v in values]


def _box(name: str, d: Distribution) -> go.Box:
    return go.Box(y=_minutes(d.values), name=f"{name} (n={d.n})", boxpoints="all", jitter=0.3, pointpos=0)


def _figures(report: Report) -> list[tuple[str, go.Figure]]:
    figures: list[tuple[str, go.Figure]] = []
    durations = go.Figure()
    for key, label in DURATIONS:
        durations.add_trace(_box(f"{label}, this period", report.overall.durations[key]))
        durations.add_trace(_box(f"{label}, previous", report.previous.durations[key]))
    durations.update_layout(title="Durations, each incident a point (minutes): this period and the previous one",
                            yaxis_title="minutes", showlegend=False, height=520)
    figures.append(("durations", durations))

    counts = go.Figure()
    counts.add_trace(go.Bar(name="per severity", x=[g.name for g in report.by_severity],
                            y=[g.declared for g in report.by_severity]))
    counts.add_trace(go.Bar(name="per service", x=[g.name for g in report.by_service],
                            y=[g.declared for g in report.by_service]))
    counts.update_layout(title="Incidents declared (production)", yaxis_title="incidents", height=380)
    figures.append(("counts", counts))

    people = sorted({r.person for r in report.roles} | set(report.never_ic))
    roles = sorted({r.role for r in report.roles}) or ["incident_commander"]
    times = {(r.person, r.role): r.times for r in report.roles}
    heat = go.Figure(go.Heatmap(z=[[times.get((p, r), 0) for r in roles] for p in people],
                                x=[r.replace("_", " ") for r in roles], y=people, colorscale="Blues",
                                colorbar={"title": "times held"}))
    heat.update_layout(title="Change it around: who held which role (times)", height=max(300, 40 * len(people)))
    figures.append(("roles", heat))

    drills = go.Figure()
    for phase, d in report.drills.phase_durations.items():
        drills.add_trace(_box(phase, d))
    drills.update_layout(title=f"Drills ({report.drills.held}): time per phase (minutes)", showlegend=False,
                         height=420)
    figures.append(("drills", drills))
    return figures


def render_html(report: Report) -> str:
    """The page: the report's text and tables, then its charts (plotly's bundle inlined once)."""
    charts = []
    for index, (name, figure) in enumerate(_figures(report)):
        div = figure.to_html(full_html=False, include_plotlyjs=index == 0, div_id=f"chart-{name}",
                             config={"displaylogo": False, "responsive": True})
        charts.append(f'<div class="{CHART_CLASS}" data-chart="{name}">{div}</div>')
    head, _, rest = render_markdown(report).partition("\n")
    title = html.escape(head.lstrip("# "))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{title}</h1>\n" + "\n".join(charts) + "\n"
            + markdown_to_html(rest) + "\n</body></html>\n")
