"""warroom.config and `warroom config check`: the sample configs load, and a broken copy is reported
problem by problem, each with its file, YAML path and line."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warroom.cli import app
from warroom.config import load_config
from warroom.incident.errors import ConfigError
from warroom.incident.models import Role

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
runner = CliRunner()


# --------------------------------------------------------------------------------------------------
# Helpers: copy the sample, break it on purpose, find where the break is


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(CONFIGS, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old``: fails loudly if the sample changed under the test."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


def line_of(path: Path, needle: str) -> int:
    """The 1-based number of the one line of ``path`` that contains ``needle``."""
    lines = [n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]
    assert len(lines) == 1, f"{needle!r} is on lines {lines} of {path}"
    return lines[0]


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value.problems


# --------------------------------------------------------------------------------------------------
# The sample


def test_the_sample_configuration_loads() -> None:
    config = load_config(CONFIGS)
    assert list(config.policy.severities) == ["SEV1", "SEV2", "SEV3", "SEV4"]
    sev1, sev4 = config.policy.severities["SEV1"], config.policy.severities["SEV4"]
    assert (sev1.declare, sev1.update_every, sev1.checkpoint_every) == (
        "immediately",
        timedelta(minutes=15),
        timedelta(minutes=30),
    )
    assert (sev4.declare, sev4.page, sev4.checkpoint_every) == ("never", False, timedelta(hours=8))
    declaration = config.policy.declaration
    assert declaration.unsolved_after == timedelta(hours=1)
    assert declaration.severity_map["critical"] == "SEV1"
    assert declaration.default_severity == "SEV3"
    assert sorted(config.services.services) == ["checkout", "payments-api", "search"]
    assert sorted(config.roster.teams) == ["discovery", "payments"]
    assert len(config.roster.people) == 8
    assert config.roster.eligible(Role.INCIDENT_COMMANDER) == ["alice", "carol", "erin", "grace"]
    assert sorted(config.runbooks) == ["checkout", "payments-api", "search"]
    assert config.policy.escalation.extra_responders == ("grace", "dan")


def test_every_sample_evidence_location_is_a_file_in_the_config_dir() -> None:
    """The demo copies these; a location that points nowhere would break it."""
    config = load_config(CONFIGS)
    locations = [source.location for runbook in config.runbooks.values() for source in runbook.evidence]
    assert len(locations) >= 6
    missing = [location for location in locations if not (CONFIGS / location).is_file()]
    assert missing == []


def test_config_check_passes_on_the_sample() -> None:
    result = runner.invoke(app, ["config", "check", str(CONFIGS)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: 3 services, 2 teams, 8 people, 3 runbooks, 2 drill scenarios in {CONFIGS}\n"


def test_config_check_defaults_to_warroom_config_dir(monkeypatch: pytest.MonkeyPatch, configs: Path) -> None:
    (configs / "runbooks" / "search.yaml").unlink()  # tell this copy apart from ./configs
    monkeypatch.setenv("WARROOM_CONFIG_DIR", str(configs))
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: 3 services, 2 teams, 8 people, 2 runbooks, 2 drill scenarios in {configs}\n"


def test_config_check_defaults_to_configs_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, configs: Path
) -> None:
    monkeypatch.delenv("WARROOM_CONFIG_DIR", raising=False)
    monkeypatch.chdir(configs.parent)
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 3 services, 2 teams, 8 people, 3 runbooks, 2 drill scenarios in configs\n"


def test_config_check_on_a_missing_directory(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"1 problem in {tmp_path / 'nope'}:",
        f"{tmp_path / 'nope'}: no such directory; pass the directory that holds policy.yaml, "
        "roster.yaml, services.yaml and runbooks/",
    ]


# --------------------------------------------------------------------------------------------------
# A broken copy: every problem, each with file, path and line


def test_a_broken_copy_reports_every_problem_with_file_path_and_line(configs: Path) -> None:
    policy, roster, services = configs / "policy.yaml", configs / "roster.yaml", configs / "services.yaml"
    checkout = configs / "runbooks" / "checkout.yaml"

    # 1. a zero duration
    edit(policy, "    update_every: 15m ", "    update_every: 0m  ")
    # 2. an unknown extra field
    edit(policy, "  close: 30m ", "  close: 30m\n  snooze: 5m ")
    # 3. an unknown team
    edit(
        roster, "email: erin@example.com\n    team: discovery", "email: erin@example.com\n    team: discovry"
    )
    # 4. a YAML syntax error in another file
    edit(services, "    title: Product search", "    title: Product: search")
    # 5. a mitigation without its revert
    edit(checkout, '    revert: "flags set checkout.recommendations=on"\n', "")

    result = runner.invoke(app, ["config", "check", str(configs)])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"5 problems in {configs}:",
        f"policy.yaml: severities.SEV1.update_every (line {line_of(policy, 'update_every: 0m')}): "
        "must be a positive duration such as 15m or 1h, got '0m'",
        f"policy.yaml: approvals.snooze (line {line_of(policy, 'snooze: 5m')}): unknown field; "
        "allowed here: roles, mitigation, checkpoint, restore, evidence, revert, handoff, close",
        f"roster.yaml: people.erin.team (line {line_of(roster, 'team: discovry')}): "
        "unknown team 'discovry' (teams: discovery, payments)",
        f"services.yaml (line {line_of(services, 'Product: search')}): "
        "YAML syntax error: mapping values are not allowed here",
        f"runbooks/checkout.yaml: mitigations[1].revert "
        f"(line {line_of(checkout, '- id: disable-recommendations')}): Field required",
    ]


def test_cross_file_problems_are_found_even_when_a_file_is_invalid(configs: Path) -> None:
    """policy.yaml is invalid as a whole, yet its unknown extra responder is still reported."""
    policy, services = configs / "policy.yaml", configs / "services.yaml"
    edit(policy, "    checkpoint_every: 8h", "    checkpoint_every: soon")
    edit(policy, "extra_responders: [grace, dan]", "extra_responders: [grace, dan, zed]")
    edit(services, "    owner: discovery", "    owner: search-team")
    edit(
        services,
        "    customer_facing: true           # an outage here is visible to customers",
        "    customer_facing: maybe",
    )

    assert problems_of(configs) == [
        f"policy.yaml: severities.SEV4.checkpoint_every (line {line_of(policy, 'checkpoint_every: soon')}): "
        "must be a positive duration such as 15m or 1h, got 'soon'",
        f"policy.yaml: escalation.extra_responders[2] (line {line_of(policy, 'zed]')}): "
        "unknown person 'zed': not a handle in roster.yaml",
        f"services.yaml: services.checkout.customer_facing (line {line_of(services, 'maybe')}): "
        "Input should be a valid boolean, unable to interpret input, got 'maybe'",
        f"services.yaml: services.search.owner (line {line_of(services, 'search-team')}): "
        "unknown team 'search-team' (teams in roster.yaml: discovery, payments)",
    ]


def test_missing_and_empty_files(configs: Path) -> None:
    (configs / "services.yaml").unlink()
    (configs / "roster.yaml").write_text("# nobody yet\n")

    assert problems_of(configs) == [
        "roster.yaml: the file is empty",
        f"services.yaml: file not found in {configs}",
    ]


def test_misnamed_and_duplicate_runbooks(configs: Path) -> None:
    runbooks = configs / "runbooks"
    (runbooks / "checkout.yaml").rename(runbooks / "checkout-v2.yaml")
    shutil.copy(runbooks / "search.yaml", runbooks / "search-old.yaml")
    edit(runbooks / "search-old.yaml", "  - id: rollback-index", "  - id: serve-cached-results")

    assert problems_of(configs) == [
        f"runbooks/checkout-v2.yaml: service (line {line_of(runbooks / 'checkout-v2.yaml', 'service: ')}): "
        "this runbook is for service 'checkout' but the file is named 'checkout-v2.yaml'; "
        "name it runbooks/checkout.yaml",
        f"runbooks/search-old.yaml: service (line {line_of(runbooks / 'search-old.yaml', 'service: ')}): "
        "service 'search' already has a runbook: runbooks/search.yaml",
        f"runbooks/search-old.yaml: mitigations[1].id "
        f"(line {line_of(runbooks / 'search-old.yaml', 'title: Point search at the previous') - 1}): "
        "duplicate mitigation id 'serve-cached-results' (also mitigations[0])",
    ]


def test_duplicate_keys_are_reported_not_silently_overwritten(configs: Path) -> None:
    policy = configs / "policy.yaml"
    edit(policy, "  reopen_window: 30m ", "  reopen_window: 30m\n  reopen_window: 2h ")

    assert problems_of(configs) == [
        f"policy.yaml: declaration.reopen_window (line {line_of(policy, 'reopen_window: 2h')}): "
        f"duplicate key (first on line {line_of(policy, 'reopen_window: 30m')}); "
        "only the last one would count",
    ]


def test_a_missing_field_points_at_its_nearest_parent(configs: Path) -> None:
    policy, roster = configs / "policy.yaml", configs / "roster.yaml"
    edit(policy, "  roles: 5m                     # the IC names", "  # roles: 5m taken out")
    edit(roster, "    name: Heidi Holm\n", "")

    assert problems_of(configs) == [
        f"policy.yaml: approvals.roles (line {line_of(policy, 'approvals:')}): Field required",
        f"roster.yaml: people.heidi.name (line {line_of(roster, 'heidi:')}): Field required",
    ]


def test_syntax_errors_in_several_files_are_all_reported(configs: Path) -> None:
    roster, search = configs / "roster.yaml", configs / "runbooks" / "search.yaml"
    edit(roster, "    roles: [operations_lead]\n", "    roles: [operations_lead   # unclosed\n")
    edit(search, "service: search", "service: search\n\tmitigations: []")

    problems = problems_of(configs)
    assert problems == [
        f"roster.yaml (line {line_of(roster, 'pagerduty_user: PUSR004')}): YAML syntax error: "
        f"expected ',' or ']', but got '<scalar>' (while parsing a flow sequence that starts on line "
        f"{line_of(roster, '# unclosed')})",
        f"runbooks/search.yaml (line {line_of(search, chr(9))}): YAML syntax error: "
        "found character '\\t' that cannot start any token (while scanning for the next token)",
    ]


def test_a_bad_key_points_at_the_key(configs: Path) -> None:
    roster = configs / "roster.yaml"
    edit(roster, "  heidi:\n", "  Heidi:\n")
    edit(roster, "roles: [operations_lead, planning_lead]", "roles: [operations_lead, planner]")

    assert problems_of(configs) == [
        f"roster.yaml: people.bob.roles[1] (line {line_of(roster, 'planner]')}): Input should be "
        "'incident_commander', 'operations_lead', 'communications_lead' or 'planning_lead', got 'planner'",
        f"roster.yaml: people.Heidi (line {line_of(roster, 'Heidi:')}): must be lowercase letters, digits, "
        "'-' or '_' (such as 'alice' or 'payments-api'), got 'Heidi'",
    ]


# --------------------------------------------------------------------------------------------------
# The sample's comments say what the code does


DESK_OF = {"roles_offer": "the IC", "commander_desk": "the IC", "operations_desk": "the operations lead",
           "communications_desk": "the communications lead", "planning_desk": "the planning lead",
           "incoming_desk": "the incoming IC"}


def timed_by() -> dict[str, str]:
    """Each approval timeout, by the desk (flows/desks.py) whose question it times."""
    import ast

    source = (CONFIGS.parent / "flows" / "desks.py").read_text()
    found: dict[str, str] = {}
    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, ast.FunctionDef) and fn.name in DESK_OF:
            for node in ast.walk(fn):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                        and node.value.attr == "approvals"):
                    found[node.attr] = DESK_OF[fn.name]
    return found


def test_each_approval_comment_names_the_desk_whose_question_it_times() -> None:
    owners = timed_by()
    assert set(owners) == set(load_config(CONFIGS).policy.approvals.model_fields)  # each is used, by one desk
    lines = (CONFIGS / "policy.yaml").read_text().splitlines()
    start = lines.index("approvals:")
    for line in lines[start + 1:start + 1 + len(owners)]:
        key, _, comment = line.strip().partition(":")
        comment = comment.partition("#")[2]
        owner = owners[key]
        named = {other for other in DESK_OF.values() if f"{other} " in comment or f"{other}'s " in comment}
        assert owner in named, f"policy.yaml approvals.{key}: the comment should name {owner}: {comment}"
        for other in set(DESK_OF.values()) - {owner}:
            if other not in owner:
                assert other not in named, f"approvals.{key}: {other} does not answer it: {comment}"


def test_the_exit_criteria_comment_says_what_close_checks() -> None:
    text = (CONFIGS / "policy.yaml").read_text()
    comment = text.split("exit_criteria:")[0].rsplit("\n\n", 1)[1]
    assert "may close only when all of these hold" not in comment  # close checks divergences and evidence
    assert "divergence" in comment and "evidence" in comment and "TODO or DONE" in comment
