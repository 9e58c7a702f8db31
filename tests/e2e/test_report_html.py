"""The report's HTML page in headless Chromium (Debian's ``chromium``, driven by Playwright): it opens
from a file with every network request refused (self-contained: plotly's bundle is inlined), and each
chart is drawn, with one point per incident. A screenshot is saved in ``tmp_path``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.test_browser import chromium  # noqa: F401  (the fixture: skipped without chromium, unless CI)
from warroom.incident.report import RawEvent, ReportInputs, build_report, facts_of
from warroom.integrations.reporting.html import CHART_CLASS, render_html

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CHARTS = ("durations", "counts", "roles", "drills")


def incident(n: int, drill: bool = False) -> list[RawEvent]:
    """A closed incident whose bleeding stopped after 10 + 5n minutes."""
    at = T0 + timedelta(hours=n)
    sev = "SEV1" if n % 2 else "SEV2"
    return [
        RawEvent("alert_attached", {"alert": {"fingerprint": f"f{n}", "service": "checkout", "summary": "x",
                                              "starts_at": (at - timedelta(minutes=2)).isoformat()}}, "am", at),
        RawEvent("paged", {"dedup_key": f"k{n}"}, "warroom", at),
        RawEvent("declared", {"title": f"incident {n}", "service": "checkout" if n % 3 else "search",
                              "severity": sev, "commander": "alice" if n % 2 else "carol", "drill": drill},
                 "warroom", at),
        RawEvent("role_assigned", {"role": "operations_lead", "person": "dan"}, "alice", at + timedelta(minutes=1)),
        RawEvent("phase_changed", {"to": "stabilising"}, "alice", at + timedelta(minutes=1)),
        RawEvent("checkpoint_answered", {"bleeding_stopped": True}, "alice", at + timedelta(minutes=10 + 5 * n)),
        RawEvent("phase_changed", {"to": "restoring"}, "alice", at + timedelta(minutes=10 + 5 * n)),
        RawEvent("phase_changed", {"to": "preserving_evidence"}, "alice", at + timedelta(minutes=20 + 5 * n)),
        RawEvent("closed", {"summary": "done"}, "alice", at + timedelta(minutes=30 + 5 * n)),
    ]


def test_the_report_page_opens_offline_with_its_charts_drawn(chromium: str, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import Route, sync_playwright

    cadence = {"SEV1": timedelta(minutes=30), "SEV2": timedelta(hours=1)}
    known = frozenset({"checkout", "search"})
    end = T0 + timedelta(days=7)
    facts = [facts_of(f"INC-{n}", T0 + timedelta(hours=n), incident(n, drill=n == 6), cadence, known, end)
             for n in range(7)]
    inputs = ReportInputs(start=T0, end=end, previous_start=T0 - timedelta(days=7),
                          practice_window_start=end - timedelta(days=90), service=None,
                          eligible={"incident_commander": ["alice", "carol", "erin"], "operations_lead": ["dan"]},
                          followups_due=timedelta(days=30), min_samples=5)
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(build_report(facts, inputs)), encoding="utf-8")

    refused: list[str] = []

    def offline(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.route("**/*", offline)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_file.as_uri())
            for name in CHARTS:
                page.wait_for_selector(f".{CHART_CLASS}[data-chart={name}] .main-svg", timeout=30_000)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            # six production incidents: one point each in the 'bleeding stopped, this period' box
            points = page.eval_on_selector_all("#chart-durations .boxlayer .trace", "ts => ts.map("
                                               "t => t.querySelectorAll('.point').length)")
            heat = page.eval_on_selector_all("#chart-roles .hm, #chart-roles image", "xs => xs.length")
        finally:
            browser.close()
    assert errors == [] and refused == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert 6 in points  # the durations of the six production incidents, each drawn
    assert heat >= 1  # the person x role heatmap is drawn
