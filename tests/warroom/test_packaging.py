"""warroom as a user installs it: build the wheel, install it into a fresh venv outside the repository
(its dependencies from requirements.lock, so no resolution and only the package index), and use it
from an empty folder: `warroom --help`, the starter configs, `warroom config check`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from warroom.config import load_config
from warroom.incident.errors import WarroomError
from warroom.init import StarterExistsError, init_configs, next_steps

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")  # a dev tool from requirements-dev.lock


@dataclass
class Installed:
    venv: Path
    wheel: Path
    folder: Path  # an empty folder outside the repository to run in

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("WARROOM_", "PYTHON", "VIRTUAL_ENV"))}
        environ["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{environ.get('PATH', '')}"
        done = subprocess.run(args, cwd=self.folder, env=environ, capture_output=True, text=True, timeout=120)
        if check:
            assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done

    def python(self, code: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "python"), "-c", code, check=check)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    if not UV.exists():
        pytest.fail(f"{UV} is missing: run `make install` (uv comes from requirements-dev.lock)")
    root = tmp_path_factory.mktemp("packaging")
    assert not root.resolve().is_relative_to(REPO)
    started = time.monotonic()
    # sdist, then the wheel from the sdist (a clean tree: nothing of the checkout's build/ gets in), with the
    # setuptools of this venv: no download
    subprocess.run([str(UV), "build", "--no-build-isolation", "--python", sys.executable, "--quiet",
                    "--out-dir", str(root / "dist"), str(REPO)], check=True, timeout=120)
    wheel = next((root / "dist").glob("warroom-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=60)
    python = str(root / "venv" / "bin" / "python")
    subprocess.run([str(UV), "pip", "install", "--quiet", "--python", python, "-r", str(REPO / "requirements.lock")],
                   check=True, timeout=150)
    subprocess.run([str(UV), "pip", "install", "--quiet", "--python", python, "--no-deps", str(wheel)],
                   check=True, timeout=60)
    folder = root / "team"
    folder.mkdir()
    print(f"built and installed warroom in {time.monotonic() - started:.1f} s")
    yield Installed(root / "venv", wheel, folder)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(180)
def test_the_installed_warroom_comes_from_the_venv_not_the_checkout(installed: Installed) -> None:
    where = installed.python("import warroom.init, warroom.cli; print(warroom.init.__file__)").stdout.strip()
    assert Path(where).is_relative_to(installed.venv), where


@pytest.mark.timeout(180)
def test_everything_installed_lives_under_the_one_namespace(installed: Installed) -> None:
    found = installed.python(
        "import json, sysconfig, pathlib; site = pathlib.Path(sysconfig.get_paths()['purelib']); "
        "print(json.dumps(sorted(p.name for p in site.iterdir())))").stdout
    top_level = set(json.loads(found))
    assert not top_level & {"incident", "integrations", "tasks", "flows"}, sorted(top_level)
    assert "warroom" in top_level
    layout = installed.python(
        "import warroom, pathlib; root = pathlib.Path(warroom.__file__).parent; "
        "print(sorted(str(p.relative_to(root)) for p in root.rglob('*.py') if 'starter' not in p.parts))").stdout
    for module in ("incident/state.py", "integrations/ledger/ledger.py", "integrations/ledger/migrations/env.py",
                   "integrations/ledger/migrations/versions/0001_initial.py", "tasks/desks.py", "flows/desks.py",
                   "cli.py"):
        assert f"'{module}'" in layout, module
    # not links into the checkout: real files, and the wheel's own
    where = installed.python("import warroom.incident.state as s; print(s.__file__)").stdout.strip()
    assert Path(where).is_relative_to(installed.venv) and not Path(where).is_symlink(), where
    wheel_names = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(installed.wheel)],
                                 capture_output=True, text=True, check=True).stdout
    assert "warroom/incident/state.py" in wheel_names and "\nincident/" not in wheel_names


@pytest.mark.timeout(180)
def test_warroom_help_works(installed: Installed) -> None:
    shown = installed.run("warroom", "--help").stdout
    for command in ("demo", "up", "intake", "config"):
        assert command in shown


@pytest.mark.timeout(180)
def test_init_writes_a_starter_that_config_check_passes_and_refuses_to_overwrite(installed: Installed) -> None:
    wired = " init " in installed.run("warroom", "--help").stdout
    if wired:
        first = installed.run("warroom", "init", ".")
        again = installed.run("warroom", "init", ".", check=False)
    else:  # until `warroom init` is a command: the function it calls
        code = ("from pathlib import Path; from warroom.init import init_configs, next_steps; "
                "written = init_configs(Path('.')); print(len(written)); print(next_steps(Path('.')))")
        first = installed.python(code)
        again = installed.python(code, check=False)
    configs = installed.folder / "configs"
    for name in ("policy.yaml", "roster.yaml", "services.yaml", "samples/alert.yaml", "runbooks/checkout.yaml"):
        assert (configs / name).is_file(), name
    assert "roster.yaml" in first.stdout and "warroom config check" in first.stdout

    shipped = {p.relative_to(configs): p.read_bytes() for p in configs.rglob("*") if p.is_file()}
    source = {p.relative_to(REPO / "configs"): p.read_bytes() for p in (REPO / "configs").rglob("*") if p.is_file()}
    assert shipped == source  # the wheel ships the repository's configs/, as they are

    checked = installed.run("warroom", "config", "check", "configs")
    assert checked.stdout.startswith("ok:"), checked.stdout

    assert again.returncode != 0
    assert "exists" in (again.stderr + again.stdout) and "overwrites nothing" in (again.stderr + again.stdout)


def test_the_starter_is_the_repositorys_configs() -> None:
    assert (REPO / "warroom" / "starter").resolve() == (REPO / "configs").resolve()


def test_init_configs_writes_a_config_that_loads(tmp_path: Path) -> None:
    written = init_configs(tmp_path)
    assert set(written) == {p for p in (tmp_path / "configs").rglob("*") if p.is_file()}
    config = load_config(tmp_path / "configs")
    assert "checkout" in config.services.services
    assert str(tmp_path / "configs") in next_steps(tmp_path)


def test_init_configs_refuses_before_writing_anything(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "roster.yaml").write_text("teams: {}\n")
    (tmp_path / "configs" / "notes.txt").write_text("mine\n")
    with pytest.raises(StarterExistsError, match=r"roster.yaml exists: warroom init overwrites nothing") as refused:
        init_configs(tmp_path)
    assert isinstance(refused.value, WarroomError) and "\n" not in str(refused.value)
    assert sorted(p.name for p in (tmp_path / "configs").iterdir()) == ["notes.txt", "roster.yaml"]
    assert (tmp_path / "configs" / "roster.yaml").read_text() == "teams: {}\n"
