"""configs/drills/*.yaml and policy.yaml's drills: checked by `warroom config check`, each problem with its
file, field and line; `warroom init` ships the scenarios."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import CONFIGS
from warroom.cli import app
from warroom.config import load_config
from warroom.incident.errors import ConfigError
from warroom.init import init_configs

runner = CliRunner()


@pytest.fixture()
def configs(tmp_path: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(CONFIGS, target)
    return target


def problems(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value.problems


def test_the_shipped_scenarios_check_clean_and_name_known_services() -> None:
    config = load_config(CONFIGS)
    assert sorted(config.drills) == ["checkout-release-errors", "search-index-timeouts"]
    for scenario in config.drills.values():
        assert scenario.service in config.services.services
        assert len(scenario.alerts) >= 3
    assert config.policy.drills.scenario in config.drills


def test_a_bad_scenario_is_named_by_file_field_and_line(configs: Path) -> None:
    (configs / "drills" / "bad.yaml").write_text(
        "title: A bad drill\n"
        "service: checkout\n"
        "alerts:\n"
        "  - after: soon\n"
        "    summary: errors\n"
        "  - summary: ''\n"
        "    colour: red\n")
    found = problems(configs)
    assert found == [
        "drills/bad.yaml: alerts[0].after (line 4): must be a wait such as 0s, 30s or 2m (whole seconds), got 'soon'",
        "drills/bad.yaml: alerts[1].summary (line 6): must not be empty, got ''",
        "drills/bad.yaml: alerts[1].colour (line 7): unknown field; allowed here: after, summary, status, "
        "fingerprint, labels, annotations",
    ]


def test_a_scenario_for_an_unknown_service_and_a_missing_scheduled_scenario_are_problems(configs: Path) -> None:
    (configs / "drills" / "billing.yaml").write_text(
        "title: Billing is down\nservice: billing\nalerts:\n  - summary: invoices fail\n")
    policy = configs / "policy.yaml"
    policy.write_text(policy.read_text().replace("scenario: checkout-release-errors", "scenario: nope"))
    found = problems(configs)
    assert any(p.startswith("policy.yaml: drills.scenario (line ") and "no scenario 'nope' in drills/" in p
               for p in found), found
    assert any(p.startswith("drills/billing.yaml: service (line 2): unknown service 'billing'") for p in found), found


def test_a_schedule_prefect_cannot_run_and_a_broken_file_are_problems(configs: Path) -> None:
    policy = configs / "policy.yaml"
    policy.write_text(policy.read_text().replace('schedule: "0 10 1 * *"', 'schedule: "61 10 1 * *"'))
    (configs / "drills" / "broken.yaml").write_text("title: x\nservice: checkout\nalerts: [\n")
    found = problems(configs)
    assert any(p.startswith("policy.yaml: drills.schedule (line ") and '"61 10 1 * *"' in p for p in found), found
    assert any(p.startswith("drills/broken.yaml (line 4): YAML syntax error") for p in found), found


def test_config_check_says_it_in_a_line_each_without_a_traceback(configs: Path) -> None:
    (configs / "drills" / "bad.yaml").write_text("title: x\nservice: checkout\nalerts: []\n")
    result = runner.invoke(app, ["config", "check", str(configs)])
    assert result.exit_code == 1
    assert "drills/bad.yaml: alerts (line 3): must list at least one alert" in result.stderr
    assert "Traceback" not in result.output


def test_warroom_init_writes_the_drill_scenarios(tmp_path: Path) -> None:
    written = init_configs(tmp_path)
    drills = sorted(p.name for p in written if p.parent.name == "drills")
    assert drills == ["checkout-release-errors.yaml", "search-index-timeouts.yaml"]
    assert sorted(load_config(tmp_path / "configs").drills) == ["checkout-release-errors", "search-index-timeouts"]
