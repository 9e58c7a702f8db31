"""`warroom report` and `warroom postmortem` from the ledger alone: bad input is a line or two on stderr,
exit 1, no traceback; a report is written in each format; no secret reaches the output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import CONFIGS
from warroom.cli import main


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture()
def warroom(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``warroom ARGS`` in this process, as its entry point runs it (exit status, stdout, stderr)."""

    def run(home: Path, *args: str, **env: str) -> Done:
        for name in ("WARROOM_DATABASE_URL", "WARROOM_JIRA_URL", "WARROOM_JIRA_EMAIL", "WARROOM_JIRA_API_TOKEN",
                     "WARROOM_JIRA_BLOCK"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {"WARROOM_HOME": str(home), "WARROOM_CONFIG_DIR": str(CONFIGS), **env}.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out = capsys.readouterr()
        return Done(int(exited.value.code or 0), out.out, out.err)

    return run


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "banana"], "--since 'banana' is not a duration: write it like 7d, 36h or 90m"),
    (["--from", "2026-12-01", "--to", "2026-11-01"], "--from 2026-12-01 is not before --to 2026-11-01"),
    (["--from", "soon"], "--from 'soon' is not a date"),
    (["--format", "pdf"], "--format 'pdf': use one of html, md, json"),
    (["--service", "nope"], "unknown service 'nope'"),
])
def test_bad_input_is_one_clear_line_and_no_traceback(warroom, tmp_path: Path, args: list[str],  # type: ignore[no-untyped-def]
                                                      message: str) -> None:
    done = warroom(tmp_path, "report", *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2


def test_a_report_in_each_format_on_an_empty_ledger(warroom, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    html = warroom(tmp_path, "report", "--since", "7d")
    assert html.returncode == 0, html.stderr
    [written] = (tmp_path / "reports").glob("report-*.html")
    assert f"report written to {written}" in html.stdout
    assert "plotly" in written.read_text() and "<script src=" not in written.read_text()  # inlined, not fetched
    md = warroom(tmp_path, "report", "--format", "md", "--from", "2026-11-23", "--to", "2026-11-29")
    assert md.returncode == 0 and md.stdout.startswith("# warroom report: 2026-11-23 00:00 UTC to 2026-11-30 00:00")
    out = tmp_path / "r.json"
    data = warroom(tmp_path, "report", "--format", "json", "--out", str(out))
    assert data.returncode == 0
    assert json.loads(out.read_text())["overall"]["declared"] == 0


def test_the_jira_token_never_appears_and_a_postmortem_needs_a_closed_incident(  # type: ignore[no-untyped-def]
    warroom, tmp_path: Path
) -> None:
    secret = "sbx_do_not_print_me"
    env = {"WARROOM_JIRA_URL": "https://127.0.0.1:9/", "WARROOM_JIRA_EMAIL": "bot@example.com",
           "WARROOM_JIRA_API_TOKEN": secret}
    done = warroom(tmp_path, "postmortem", "INC-NOPE", **env)
    assert done.returncode == 1 and "no incident INC-NOPE" in done.stderr
    assert secret not in done.stdout + done.stderr
    missing = warroom(tmp_path, "report", "--post")
    assert missing.returncode == 1 and "--post needs Jira" in missing.stderr
