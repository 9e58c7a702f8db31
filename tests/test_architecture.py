"""The import-linter contracts really break the build when the core imports I/O."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["incident", "integrations", "tasks", "flows", "warroom"]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        # symlinks kept: warroom/incident stays a link to ../incident, as in the checkout
        shutil.copytree(ROOT / package, tmp_path / package, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_on_the_tree_as_it_is(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("library", ["prefect", "sqlalchemy", "httpx", "pagerduty", "jira"])
def test_the_core_importing_io_breaks_the_build(tree: Path, library: str) -> None:
    (tree / "incident" / "leak.py").write_text(f"import {library}\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "The pure core imports no I/O library BROKEN" in result.stdout
    assert f"warroom.incident.leak -> {library}" in result.stdout


def test_an_inner_layer_importing_an_entry_point_breaks_the_build(tree: Path) -> None:
    (tree / "tasks" / "leak.py").write_text("import warroom.cli\n")
    result = lint_imports(tree)
    assert result.returncode != 0 and "Arrows point inward" in result.stdout and "BROKEN" in result.stdout
    assert "warroom.tasks.leak -> warroom.cli" in result.stdout


def test_a_module_of_the_warroom_package_in_no_layer_breaks_the_build(tree: Path) -> None:
    (tree / "warroom" / "stray.py").write_text("")
    result = lint_imports(tree)
    assert result.returncode != 0 and "warroom.stray" in result.stdout + result.stderr
