"""incident.policy: the config models and the cross-file checks. Pure: no files, no YAML."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from warroom.incident.errors import ConfigError
from warroom.incident.models import Role
from warroom.incident.policy import (
    ApprovalTimeouts,
    ConfigParts,
    DeclarationPolicy,
    EscalationPolicy,
    EvidenceSource,
    LabelMatch,
    Mitigation,
    Policy,
    Problem,
    Roster,
    RosterPerson,
    Runbook,
    Service,
    Services,
    SeverityPolicy,
    Team,
    WarroomConfig,
    check_references,
    cross_check,
    format_duration,
    format_path,
    parse_duration,
)

# --------------------------------------------------------------------------------------------------
# A small valid configuration, as plain data (what the YAML loader would hand over)


def severity(update: str = "15m", checkpoint: str = "30m", declare: str = "immediately") -> dict[str, Any]:
    return {
        "meaning": "customers cannot pay",
        "declare": declare,
        "page": True,
        "page_severity": "critical",
        "update_every": update,
        "checkpoint_every": checkpoint,
    }


def policy_data() -> dict[str, Any]:
    return {
        "severities": {
            "SEV1": severity(),
            "SEV2": severity("30m", "1h"),
            "SEV3": severity("1h", "2h", "criteria"),
        },
        "declaration": {
            "unsolved_after": "1h",
            "severity_map": {"critical": "SEV1", "error": "SEV2"},
            "default_severity": "SEV3",
            "customer_visible": {"label": "impact", "values": ["customer"]},
            "second_team": {"label": "teams", "values": ["multiple"]},
            "reopen_window": "30m",
            "after_close": "reopen",
        },
        "approvals": {name: "10m" for name in ApprovalTimeouts.model_fields},
        "escalation": {"extra_responders": ["bob"], "max_rounds": 2, "message": "join the bridge"},
        "exit_criteria": ["error rate under SLO for 30 minutes"],
        "command_post": "#incident-bridge",
    }


def person(team: str, *roles: str) -> dict[str, Any]:
    return {"name": "Some One", "email": "someone@example.com", "team": team, "roles": list(roles)}


def roster_data() -> dict[str, Any]:
    return {
        "teams": {
            "payments": {"name": "Payments", "escalation_policy": "PESC001", "jira_project": "PAY"},
            "discovery": {"name": "Discovery", "escalation_policy": "PESC002", "jira_project": "DISC"},
        },
        "people": {
            "alice": person("payments", "incident_commander", "operations_lead"),
            "bob": person("payments", "communications_lead"),
            "carol": person("discovery", "planning_lead", "incident_commander"),
        },
    }


def service(owner: str) -> dict[str, Any]:
    return {
        "title": "A service",
        "owner": owner,
        "pagerduty_service": "PSVC001",
        "escalation_policy": "PESC001",
        "jira_project": "PAY",
        "customer_facing": True,
    }


def services_data() -> dict[str, Any]:
    return {"services": {"checkout": service("payments"), "search": service("discovery")}}


def mitigation(id_: str) -> dict[str, Any]:
    return {"id": id_, "title": "Roll back", "how": "deploy rollback", "revert": "deploy roll forward"}


def runbooks_data() -> dict[str, Any]:
    return {
        "checkout": {
            "service": "checkout",
            "mitigations": [mitigation("rollback"), mitigation("flag-off")],
            "evidence": [{"kind": "file", "title": "app log", "location": "logs/checkout.log"}],
        }
    }


def config_data() -> dict[str, Any]:
    return {
        "policy": policy_data(),
        "roster": roster_data(),
        "services": services_data(),
        "runbooks": runbooks_data(),
    }


RUNBOOK_FILES = {"checkout": "runbooks/checkout.yaml"}


def test_the_base_configuration_is_valid_and_has_no_cross_file_problems() -> None:
    config = WarroomConfig.model_validate(config_data())
    assert cross_check(config, RUNBOOK_FILES) == []


# --------------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("1H", timedelta(hours=1)),
        (45, timedelta(seconds=45)),
        (timedelta(minutes=5), timedelta(minutes=5)),
    ],
)
def test_durations_parse(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert SeverityPolicy.model_validate(severity(update=text)).update_every == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0m", "'0m'"),
        ("0s", "'0s'"),
        ("", "''"),
        ("15", "'15'"),
        ("m", "'m'"),
        ("1x", "'1x'"),
        ("30m1h", "'30m1h'"),
        ("1.5h", "'1.5h'"),
        ("-5m", "'-5m'"),
        ("99999999999999d", "'99999999999999d'"),
        (0, "0"),
        (-5, "-5"),
        (True, "True"),
        (1.5, "1.5"),
        (None, "None"),
        (timedelta(0), "datetime.timedelta(0)"),
        (timedelta(milliseconds=500), "datetime.timedelta(microseconds=500000)"),
    ],
)
def test_durations_refused_with_a_clear_message(value: object, shown: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SeverityPolicy.model_validate(severity(update=value))  # type: ignore[arg-type]
    [error] = caught.value.errors()
    assert error["loc"] == ("update_every",)
    assert error["msg"] == f"must be a positive duration such as 15m or 1h, got {shown}"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=2), "2d"),
        (timedelta(days=1, seconds=1), "1d1s"),
    ],
)
def test_durations_format_back_to_the_short_form(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=1, max_value=10**9))
def test_format_and_parse_round_trip(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


def test_a_policy_dumped_as_json_validates_back_to_the_same_policy() -> None:
    policy = Policy.model_validate(policy_data())
    dumped = policy.model_dump(mode="json")
    assert dumped["severities"]["SEV2"]["checkpoint_every"] == "1h"
    assert Policy.model_validate(dumped) == policy


# --------------------------------------------------------------------------------------------------
# Each model refuses unknown fields and is frozen


MODELS: list[tuple[type[BaseModel], Callable[[], dict[str, Any]]]] = [
    (SeverityPolicy, severity),
    (LabelMatch, lambda: {"label": "impact", "values": ["customer"]}),
    (DeclarationPolicy, lambda: policy_data()["declaration"]),
    (ApprovalTimeouts, lambda: policy_data()["approvals"]),
    (EscalationPolicy, lambda: policy_data()["escalation"]),
    (Policy, policy_data),
    (Team, lambda: roster_data()["teams"]["payments"]),
    (RosterPerson, lambda: person("payments", "planning_lead")),
    (Roster, roster_data),
    (Service, lambda: service("payments")),
    (Services, services_data),
    (Mitigation, lambda: mitigation("rollback")),
    (EvidenceSource, lambda: {"kind": "file", "title": "log", "location": "logs/x.log"}),
    (Runbook, lambda: runbooks_data()["checkout"]),
    (WarroomConfig, config_data),
]


@pytest.mark.parametrize(("model", "data"), MODELS, ids=[m.__name__ for m, _ in MODELS])
def test_unknown_fields_are_refused(model: type[BaseModel], data: Callable[[], dict[str, Any]]) -> None:
    model.model_validate(data())  # the base data is valid
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**data(), "colour": "red"})
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [("extra_forbidden", ("colour",))]


@pytest.mark.parametrize(("model", "data"), MODELS, ids=[m.__name__ for m, _ in MODELS])
def test_models_are_frozen(model: type[BaseModel], data: Callable[[], dict[str, Any]]) -> None:
    instance = model.model_validate(data())
    name = next(iter(type(instance).model_fields))
    with pytest.raises(ValidationError):
        setattr(instance, name, getattr(instance, name))


# --------------------------------------------------------------------------------------------------
# Values checked inside one file


def _with(data: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()


@pytest.mark.parametrize(
    ("model", "data", "path", "value", "loc", "message"),
    [
        (
            RosterPerson,
            person("payments"),
            ("email",),
            "alice.example.com",
            ("email",),
            "must be an e-mail address such as alice@example.com, got 'alice.example.com'",
        ),
        (
            Roster,
            roster_data(),
            ("people", "Alice"),
            person("payments", "planning_lead"),
            ("people", "Alice", "[key]"),
            "must be lowercase letters, digits, '-' or '_' (such as 'alice' or 'payments-api'), got 'Alice'",
        ),
        (
            RosterPerson,
            person("payments"),
            ("roles",),
            ["commander"],
            ("roles", 0),
            "Input should be 'incident_commander', 'operations_lead', 'communications_lead' "
            "or 'planning_lead'",
        ),
        (Mitigation, mitigation("x"), ("revert",), DELETE, ("revert",), "Field required"),
        (Mitigation, mitigation("x"), ("revert",), "  ", ("revert",), "must not be empty"),
        (
            Mitigation,
            mitigation("x"),
            ("risk",),
            "extreme",
            ("risk",),
            "Input should be 'low', 'medium' or 'high'",
        ),
        (
            EscalationPolicy,
            policy_data()["escalation"],
            ("max_rounds",),
            0,
            ("max_rounds",),
            "Input should be greater than or equal to 1",
        ),
        (
            Policy,
            policy_data(),
            ("rotation_window_days",),
            0,
            ("rotation_window_days",),
            "Input should be greater than 0",
        ),
        (Policy, policy_data(), ("severities",), {}, ("severities",), "must list at least one severity"),
        (
            LabelMatch,
            {"label": "impact", "values": []},
            ("values",),
            [],
            ("values",),
            "must list at least one value",
        ),
        (
            SeverityPolicy,
            severity(),
            ("declare",),
            "sometimes",
            ("declare",),
            "Input should be 'immediately', 'criteria' or 'never'",
        ),
    ],
)
def test_values_refused_inside_one_file(
    model: type[BaseModel],
    data: dict[str, Any],
    path: tuple[str | int, ...],
    value: object,
    loc: tuple[str | int, ...],
    message: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(_with(data, path, value))
    assert [(e["loc"], e["msg"]) for e in caught.value.errors()] == [(loc, message)]


def test_strings_are_stripped_and_defaults_apply() -> None:
    m = Mitigation.model_validate({**mitigation("x"), "revert": "  roll forward\n"})
    assert m.revert == "roll forward"
    assert m.risk == "low"
    policy = Policy.model_validate(policy_data())
    assert policy.rotation_window_days == 90
    assert policy.declaration.severity_label == "severity"


# --------------------------------------------------------------------------------------------------
# Helpers


def test_eligible_lists_the_handles_that_hold_a_role_sorted() -> None:
    roster = Roster.model_validate(roster_data())
    assert roster.eligible(Role.INCIDENT_COMMANDER) == ["alice", "carol"]
    assert roster.eligible(Role.COMMUNICATIONS_LEAD) == ["bob"]


def test_person_and_runbook_lookups() -> None:
    config = WarroomConfig.model_validate(config_data())
    assert config.person("bob").roles == (Role.COMMUNICATIONS_LEAD,)
    with pytest.raises(ConfigError) as caught:
        config.person("zed")
    assert caught.value.problems == [
        "roster.yaml: people: no person with handle 'zed' (known: alice, bob, carol)"
    ]
    runbook = config.runbook_for("checkout")
    assert runbook is not None and runbook.mitigations[0].id == "rollback"
    assert config.runbook_for("search") is None
    assert config.service("search").owner == "discovery"
    with pytest.raises(ConfigError):
        config.service("nope")


def test_severity_lookup_and_rank_follow_the_file_order() -> None:
    policy = Policy.model_validate(policy_data())
    assert [policy.rank(name) for name in ("SEV1", "SEV2", "SEV3")] == [0, 1, 2]
    assert policy.severity("SEV2").update_every == timedelta(minutes=30)
    with pytest.raises(ConfigError) as caught:
        policy.severity("SEV9")
    assert caught.value.problems == ["policy.yaml: severities: no severity 'SEV9' (known: SEV1, SEV2, SEV3)"]


def test_runbooks_must_be_keyed_by_their_service() -> None:
    data = config_data()
    data["runbooks"] = {"search": data["runbooks"]["checkout"]}
    with pytest.raises(ValidationError, match="runbook of service 'checkout'"):
        WarroomConfig.model_validate(data)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("severities", "SEV1", "update_every"), "severities.SEV1.update_every"),
        (("mitigations", 1, "revert"), "mitigations[1].revert"),
        (("escalation", "extra_responders", 0), "escalation.extra_responders[0]"),
        (("declaration", "severity_map", "a.b"), "declaration.severity_map['a.b']"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


def test_a_problem_reads_as_one_line() -> None:
    assert str(Problem("runbooks/checkout.yaml", ("mitigations", 1, "revert"), "Field required", 20)) == (
        "runbooks/checkout.yaml: mitigations[1].revert (line 20): Field required"
    )
    assert (
        str(Problem("policy.yaml", (), "file not found in configs"))
        == "policy.yaml: file not found in configs"
    )


# --------------------------------------------------------------------------------------------------
# Cross-file checks: each kind of problem, at its exact path


def _break(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda data: _with(data, path, value)


CROSS_FILE = [
    (
        "person's team does not exist",
        _break(("roster", "people", "bob", "team"), "paymnets"),
        [
            Problem(
                "roster.yaml",
                ("people", "bob", "team"),
                "unknown team 'paymnets' (teams: discovery, payments)",
            )
        ],
    ),
    (
        "service owner team does not exist",
        _break(("services", "services", "search", "owner"), "search-team"),
        [
            Problem(
                "services.yaml",
                ("services", "search", "owner"),
                "unknown team 'search-team' (teams in roster.yaml: discovery, payments)",
            )
        ],
    ),
    (
        "extra responder is not in the roster",
        _break(("policy", "escalation", "extra_responders"), ["bob", "zed"]),
        [
            Problem(
                "policy.yaml",
                ("escalation", "extra_responders", 1),
                "unknown person 'zed': not a handle in roster.yaml",
            )
        ],
    ),
    (
        "severity_map names an undefined severity",
        _break(("policy", "declaration", "severity_map", "error"), "SEV5"),
        [
            Problem(
                "policy.yaml",
                ("declaration", "severity_map", "error"),
                "unknown severity 'SEV5' (defined: SEV1, SEV2, SEV3)",
            )
        ],
    ),
    (
        "default severity is undefined",
        _break(("policy", "declaration", "default_severity"), "sev3"),
        [
            Problem(
                "policy.yaml",
                ("declaration", "default_severity"),
                "unknown severity 'sev3' (defined: SEV1, SEV2, SEV3)",
            )
        ],
    ),
    (
        "runbook's service is not in services.yaml",
        _break(("services", "services"), {"search": service("discovery")}),
        [
            Problem(
                "runbooks/checkout.yaml",
                ("service",),
                "unknown service 'checkout' (services in services.yaml: search)",
            )
        ],
    ),
    (
        "mitigation ids repeat within a runbook",
        _break(
            ("runbooks", "checkout", "mitigations"),
            [mitigation("rollback"), mitigation("flag-off"), mitigation("rollback")],
        ),
        [
            Problem(
                "runbooks/checkout.yaml",
                ("mitigations", 2, "id"),
                "duplicate mitigation id 'rollback' (also mitigations[0])",
            )
        ],
    ),
    (
        "a role nobody can hold",
        _break(("roster", "people", "bob", "roles"), ["operations_lead"]),
        [
            Problem(
                "roster.yaml",
                ("people",),
                "nobody can be communications_lead: give at least one person this role",
            )
        ],
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), CROSS_FILE, ids=[c[0] for c in CROSS_FILE])
def test_cross_check_finds_each_kind_of_problem_at_its_path(
    name: str, mutate: Callable[[dict[str, Any]], dict[str, Any]], expected: list[Problem]
) -> None:
    config = WarroomConfig.model_validate(mutate(config_data()))
    assert cross_check(config, RUNBOOK_FILES) == expected


def test_cross_check_reports_every_problem_at_once() -> None:
    data = config_data()
    for _, mutate, _ in CROSS_FILE[:5]:
        data = mutate(data)
    problems = cross_check(WarroomConfig.model_validate(data), RUNBOOK_FILES)
    assert sorted(str(p) for p in problems) == sorted(str(e) for _, _, [e] in CROSS_FILE[:5])


def test_checks_whose_inputs_are_missing_are_skipped() -> None:
    people = Roster.model_validate(roster_data()).people
    escalation = EscalationPolicy.model_validate({**policy_data()["escalation"], "extra_responders": ["zed"]})
    # Nobody is a planning lead among the people that loaded, but one person's entry was invalid:
    # that may be the planning lead, so no "nobody can be planning_lead" problem.
    partial = ConfigParts(
        escalation=escalation,
        handles=None,
        team_names=("payments",),
        people={"alice": people["alice"]},
        people_complete=False,
    )
    assert check_references(partial) == []
    complete = ConfigParts(
        escalation=escalation,
        handles=("alice",),
        team_names=("payments",),
        people={"alice": people["alice"]},
        people_complete=True,
    )
    assert [str(p) for p in check_references(complete)] == [
        "policy.yaml: escalation.extra_responders[0]: unknown person 'zed': not a handle in roster.yaml",
        "roster.yaml: people: nobody can be communications_lead: give at least one person this role",
        "roster.yaml: people: nobody can be planning_lead: give at least one person this role",
    ]
