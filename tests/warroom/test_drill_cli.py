"""`warroom drill`: what cannot be drilled is said in a line, naming what and where, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CONFIGS
from warroom.cli import main


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARROOM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WARROOM_CONFIG_DIR", str(CONFIGS))
    monkeypatch.delenv("WARROOM_DATABASE_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(["drill", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return int(exited.value.code or 0), err


@pytest.mark.parametrize(("args", "said"), [
    (["nope"], "no drill scenario 'nope'; configs/drills/ has: checkout-release-errors, search-index-timeouts\n"),
    (["--replay", "INC-NONE"], "no incident INC-NONE in the ledger: `warroom incidents` lists them\n"),
    (["checkout-release-errors", "--replay", "INC-NONE"], "give a scenario or --replay INC, not both\n"),
    (["--speed", "0"], "--speed must be more than 0, got 0\n"),
    (["--roles", "sometimes"], "--roles must be auto or ask, not 'sometimes'\n"),
    (["--compare", "INC-NONE"], "no incident INC-NONE in the ledger: `warroom incidents` lists them\n"),
])
def test_what_cannot_be_drilled_is_one_line(capsys: pytest.CaptureFixture[str], args: list[str], said: str) -> None:
    assert run(capsys, *args) == (1, said)


def test_a_drill_needs_a_running_stack_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "checkout-release-errors")
    assert code == 1 and err.startswith("no warroom stack is running")
