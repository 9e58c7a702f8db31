"""Read ``configs/`` into a :class:`~incident.policy.WarroomConfig`, or say everything that is wrong.

The directory holds ``policy.yaml``, ``roster.yaml``, ``services.yaml`` and ``runbooks/<service>.yaml``.
:func:`load_config` reads them all, validates each with its pydantic model, runs the cross-file checks
and, if anything is wrong, raises one :class:`~incident.errors.ConfigError` listing every problem as

    policy.yaml: severities.SEV1.update_every (line 12): must be a positive duration ..., got '0m'

so the whole configuration can be fixed in one pass. Lines are 1-based; a missing field points at the
line of the nearest enclosing value that does exist.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from prefect.client.schemas.schedules import CronSchedule
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from warroom.incident.errors import ConfigError
from warroom.incident.policy import (
    DRILLS_DIR,
    POLICY_FILE,
    ROSTER_FILE,
    SERVICES_FILE,
    ConfigParts,
    DeclarationPolicy,
    EscalationPolicy,
    Policy,
    Problem,
    Roster,
    RosterPerson,
    Runbook,
    Scenario,
    Service,
    Services,
    WarroomConfig,
    check_drills,
    check_references,
    cross_check,
)

__all__ = ["load_config"]

RUNBOOKS_DIR = "runbooks"
_SCENARIO_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class _Document:
    """One parsed YAML file: its data and its node tree (which knows the lines)."""

    file: str
    root: yaml.Node
    data: Any


def load_config(config_dir: Path) -> WarroomConfig:
    """Read and check every file under ``config_dir``.

    Raises :class:`ConfigError` whose ``problems`` hold one line per problem, sorted by file and line:
    YAML syntax errors, missing files, invalid values and broken references between files. A file
    with problems does not hide the others': the cross-file checks run on every part that is sound.
    """
    if not config_dir.is_dir():
        raise ConfigError(
            [
                f"{config_dir}: no such directory; pass the directory that holds policy.yaml, "
                "roster.yaml, services.yaml and runbooks/"
            ]
        )

    problems: list[Problem] = []
    documents: dict[str, _Document] = {}

    def read(file: str) -> _Document | None:
        document = _read(config_dir, file, problems)
        if document is not None:
            documents[file] = document
        return document

    policy_doc, roster_doc, services_doc = read(POLICY_FILE), read(ROSTER_FILE), read(SERVICES_FILE)
    policy = _validate(policy_doc, Policy, problems)
    roster = _validate(roster_doc, Roster, problems)
    services = _validate(services_doc, Services, problems)

    loaded: list[tuple[Path, str, Runbook]] = []
    runbooks_dir = config_dir / RUNBOOKS_DIR
    for path in sorted(runbooks_dir.glob("*.yaml")) if runbooks_dir.is_dir() else []:
        file = f"{RUNBOOKS_DIR}/{path.name}"
        runbook = _validate(read(file), Runbook, problems)
        if runbook is not None:
            loaded.append((path, file, runbook))

    runbooks: dict[str, Runbook] = {}
    runbook_files: dict[str, str] = {}
    # runbooks/<service>.yaml is the runbook of <service>; a second one for the same service is the odd one.
    for path, file, runbook in sorted(loaded, key=lambda item: (item[2].service != item[0].stem, item[1])):
        if runbook.service in runbooks:
            problems.append(
                Problem(
                    file,
                    ("service",),
                    f"service {runbook.service!r} already has a runbook: {runbook_files[runbook.service]}",
                )
            )
            # Still check what this file holds on its own (its mitigation ids).
            problems += check_references(
                ConfigParts(runbooks={runbook.service: runbook}, runbook_files={runbook.service: file})
            )
            continue
        if runbook.service != path.stem:
            problems.append(
                Problem(
                    file,
                    ("service",),
                    f"this runbook is for service {runbook.service!r} but the file is named {path.name!r}; "
                    f"name it {RUNBOOKS_DIR}/{runbook.service}.yaml",
                )
            )
        runbooks[runbook.service] = runbook
        runbook_files[runbook.service] = file

    drills: dict[str, Scenario] = {}
    drills_dir = config_dir / DRILLS_DIR
    for path in sorted(drills_dir.glob("*.yaml")) if drills_dir.is_dir() else []:
        file = f"{DRILLS_DIR}/{path.name}"
        if not _SCENARIO_NAME.fullmatch(path.stem):
            problems.append(Problem(file, (), f"name the file with lowercase letters, digits, '-' or '_' "
                                    f"(it is the scenario's name in `warroom drill NAME`), not {path.name!r}"))
            continue
        scenario = _validate(read(file), Scenario, problems)
        if scenario is not None:
            drills[path.stem] = scenario

    if policy is not None:
        problems += _check_schedule(policy)

    config: WarroomConfig | None = None
    if policy is not None and roster is not None and services is not None:
        config = WarroomConfig(policy=policy, roster=roster, services=services, runbooks=runbooks, drills=drills)
        problems += cross_check(config, runbook_files)
    else:
        parts = _salvage(policy_doc, roster_doc, services_doc, runbooks, runbook_files)
        problems += check_references(parts)
        problems += check_drills(policy.drills if policy is not None else None, drills, parts.service_names)

    if problems or config is None:
        located = [_with_line(p, documents.get(p.file)) for p in problems]
        raise ConfigError([str(p) for p in _sorted(located)])
    return config


def _check_schedule(policy: Policy) -> list[Problem]:
    """The drill schedule as Prefect will take it (a cron it can run, an IANA time zone)."""
    try:
        CronSchedule(cron=policy.drills.schedule, timezone=policy.drills.timezone)
    except ValidationError as exc:
        named = {"cron": "schedule", "timezone": "timezone"}  # Prefect's names -> policy.yaml's
        return [Problem(POLICY_FILE, ("drills", named.get(str(e["loc"][0]) if e["loc"] else "", "schedule")),
                        str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors(include_url=False)]
    return []


def _salvage(
    policy_doc: _Document | None,
    roster_doc: _Document | None,
    services_doc: _Document | None,
    runbooks: dict[str, Runbook],
    runbook_files: dict[str, str],
) -> ConfigParts:
    """The sound parts of files that failed validation as a whole, for the cross-file checks.

    Names are the keys a file defines (they exist even if an entry under them is invalid); entries
    are those valid on their own. A part that cannot be read leaves its checks out.
    """
    policy = _mapping(policy_doc)
    roster = _mapping(roster_doc)
    services = _mapping(services_doc)
    people_raw = _mapping_at(roster, "people")
    people = _entries(people_raw, RosterPerson)
    services_raw = _mapping_at(services, "services")
    return ConfigParts(
        severity_names=_keys(_mapping_at(policy, "severities")),
        declaration=_valid(DeclarationPolicy, policy.get("declaration")) if policy is not None else None,
        escalation=_valid(EscalationPolicy, policy.get("escalation")) if policy is not None else None,
        team_names=_keys(_mapping_at(roster, "teams")),
        handles=_keys(people_raw),
        people=people,
        people_complete=people_raw is not None and len(people) == len(people_raw),
        service_names=_keys(services_raw),
        services=_entries(services_raw, Service),
        runbooks=runbooks,
        runbook_files=runbook_files,
    )


def _mapping(document: _Document | None) -> dict[Any, Any] | None:
    return document.data if document is not None and isinstance(document.data, dict) else None


def _mapping_at(data: dict[Any, Any] | None, key: str) -> dict[Any, Any] | None:
    value = data.get(key) if data is not None else None
    return value if isinstance(value, dict) else None


def _keys(data: dict[Any, Any] | None) -> tuple[str, ...] | None:
    return tuple(str(key) for key in data) if data is not None else None


def _valid(model: type[M], data: Any) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _entries(data: dict[Any, Any] | None, model: type[M]) -> dict[str, M]:
    valid = {str(key): _valid(model, value) for key, value in (data or {}).items()}
    return {key: entry for key, entry in valid.items() if entry is not None}


# --------------------------------------------------------------------------------------------------
# Reading YAML


def _read(config_dir: Path, file: str, problems: list[Problem]) -> _Document | None:
    path = config_dir / file
    if not path.is_file():
        problems.append(Problem(file, (), f"file not found in {config_dir}"))
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(file, (), f"cannot read the file: {exc}"))
        return None

    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        problems.append(_syntax_problem(file, exc))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(file, (), f"YAML syntax error: {exc}"))
        return None
    finally:
        loader.dispose()

    if root is None:
        problems.append(Problem(file, (), "the file is empty"))
        return None
    problems += _duplicate_keys(file, root, ())
    return _Document(file, root, data)


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"YAML syntax error: {exc.problem or exc.context}"
    if exc.problem and exc.context:
        context = exc.context
        if exc.context_mark is not None and exc.context_mark is not mark:
            context += f" that starts on line {exc.context_mark.line + 1}"
        message += f" ({context})"
    return Problem(file, (), message, line=mark.line + 1 if mark is not None else None)


def _duplicate_keys(file: str, node: yaml.Node, path: tuple[str | int, ...]) -> list[Problem]:
    """PyYAML keeps the last of two equal keys silently; in a config that is always a mistake."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                problems.append(
                    Problem(
                        file,
                        (*path, name),
                        f"duplicate key (first on line {seen[name]}); only the last one would count",
                        line=key.start_mark.line + 1,
                    )
                )
            else:
                seen[name] = key.start_mark.line + 1
            problems += _duplicate_keys(file, value, (*path, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(file, item, (*path, index))
    return problems


# --------------------------------------------------------------------------------------------------
# Validation errors -> problems


def _validate(document: _Document | None, model: type[M], problems: list[Problem]) -> M | None:
    if document is None:
        return None
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path = tuple(part for part in error["loc"] if part != "[key]")
            problems.append(Problem(document.file, path, _message(error, model)))
        return None


_SCALARS = (str, int, float, bool, type(None))


def _message(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind, message, value = error["type"], error["msg"], error.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_fields(model, error["loc"][:-1])
        return "unknown field" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    if kind in ("model_type", "dict_type"):
        return f"expected a mapping (key: value lines), got {_kind_of(value)}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_kind_of(value)}"
    if kind != "missing" and "got " not in message and isinstance(value, _SCALARS):
        return f"{message}, got {value!r}"
    return message


def _kind_of(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _allowed_fields(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """The field names of the model found at ``loc`` inside ``model``, for 'unknown field' hints."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif origin is dict and len(args) == 2:
            annotation = args[1]
        elif origin is tuple and args:
            annotation = args[0]
        else:
            return None
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return None


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> X and ``X | None`` -> X."""
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        else:
            return annotation


# --------------------------------------------------------------------------------------------------
# YAML paths -> lines


def _with_line(problem: Problem, document: _Document | None) -> Problem:
    if problem.line is not None or document is None:
        return problem
    return replace(problem, line=_line_of(document.root, problem.path))


def _line_of(root: yaml.Node, path: tuple[str | int, ...]) -> int:
    """The line of the value at ``path``: its key's line in a mapping, its own in a list.

    A path that leaves the document (a missing field) stops at the nearest existing parent.
    """
    node, line = root, root.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            matches = [(k, v) for k, v in node.value if str(k.value) == str(part)]
            if not matches:
                break
            key, node = matches[-1]  # PyYAML keeps the last of equal keys
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _sorted(problems: list[Problem]) -> list[Problem]:
    order = {POLICY_FILE: 0, ROSTER_FILE: 1, SERVICES_FILE: 2}

    def key(problem: Problem) -> tuple[int, str, int]:
        return (order.get(problem.file, 3), problem.file, problem.line or 0)

    return sorted(problems, key=key)
