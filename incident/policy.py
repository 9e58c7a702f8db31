"""Policies as code: the validated shape of ``configs/`` (policy, roster, services, runbooks).

Pure data and pure checks: no clock reads, no I/O, no YAML. ``warroom.config`` reads the files and
hands the parsed data to these models; everything here also works on plain dicts.

Each model checks what can be checked inside one file (types, durations, e-mail shapes, handles).
:func:`cross_check` checks what spans files (a person's team exists, a runbook's service exists,
every role can be filled, ...) and returns :class:`Problem` values pointing at the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from warroom.incident.errors import ConfigError
from warroom.incident.models import AlertStatus, Role

__all__ = [
    "DRILLS_DIR",
    "POLICY_FILE",
    "ROSTER_FILE",
    "SERVICES_FILE",
    "ApprovalTimeouts",
    "ConfigParts",
    "DeclarationPolicy",
    "Delay",
    "DrillPolicy",
    "Duration",
    "EscalationPolicy",
    "EvidenceSource",
    "LabelMatch",
    "Mitigation",
    "NonEmptyStr",
    "Policy",
    "Problem",
    "ReportPolicy",
    "Roster",
    "RosterPerson",
    "Runbook",
    "Scenario",
    "ScenarioAlert",
    "Service",
    "Services",
    "SeverityPolicy",
    "Slug",
    "Team",
    "WarroomConfig",
    "check_drills",
    "check_references",
    "cross_check",
    "format_duration",
    "format_path",
    "parse_duration",
]


# --------------------------------------------------------------------------------------------------
# Value types

_DURATION_PART = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_HINT = "must be a positive duration such as 15m or 1h, got {got}"


def _bad_duration(value: object) -> PydanticCustomError:
    return PydanticCustomError("duration", _DURATION_HINT, {"got": repr(value)})


def parse_duration(value: object) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``, an int (seconds) or a timedelta -> a positive timedelta.

    Units go from largest to smallest (d, h, m, s), each at most once; whole seconds only.
    Raises ``PydanticCustomError`` (a ``ValueError``) for anything else, including zero.
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        text = "".join(value.split()).lower()
        match = _DURATION_PART.fullmatch(text)
        if not text or match is None:
            raise _bad_duration(value)
        days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        try:
            result = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        except OverflowError:
            raise _bad_duration(value) from None
    else:
        raise _bad_duration(value)
    if result <= timedelta(0) or result.microseconds:
        raise _bad_duration(value)
    return result


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration`: ``timedelta(minutes=90)`` -> ``"1h30m"``."""
    total = int(value.total_seconds())
    if total <= 0:
        return "0s"
    text = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            text += f"{count}{unit}"
    return text


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A positive timedelta written as ``15m``, ``1h30m``, ``2d`` (or an int of seconds) in YAML."""


def _non_empty(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("empty", "must not be empty")
    return stripped


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
"""A string with something in it (surrounding whitespace is removed)."""

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise PydanticCustomError(
            "slug",
            "must be lowercase letters, digits, '-' or '_' (such as 'alice' or 'payments-api'), got {got}",
            {"got": repr(value)},
        )
    return value


Slug = Annotated[str, AfterValidator(_slug)]
"""A handle or key: lowercase letters, digits, ``-`` and ``_`` (``alice``, ``payments-api``)."""

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise PydanticCustomError(
            "email", "must be an e-mail address such as alice@example.com, got {got}", {"got": repr(value)}
        )
    return value


def _not_empty_collection(what: str) -> AfterValidator:
    def check(value: Any) -> Any:
        if len(value) == 0:
            raise PydanticCustomError("empty", "must list at least one {what}", {"what": what})
        return value

    return AfterValidator(check)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------------------------------
# policy.yaml


class SeverityPolicy(_Frozen):
    """One severity level: what it means, whether it is declared and paged, and its cadences."""

    meaning: NonEmptyStr
    declare: Literal["immediately", "criteria", "never"]
    page: bool
    page_severity: Literal["critical", "error", "warning", "info"]
    update_every: Duration
    checkpoint_every: Duration


class LabelMatch(_Frozen):
    """An alert label and the values of it that count (``impact`` in ``customer``, ``external``)."""

    label: NonEmptyStr
    values: Annotated[tuple[NonEmptyStr, ...], _not_empty_collection("value")]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return labels.get(self.label) in self.values


class DeclarationPolicy(_Frozen):
    """The chapter's clear conditions to declare, and how alert labels map to severities."""

    unsolved_after: Duration
    severity_label: NonEmptyStr = "severity"
    severity_map: dict[str, NonEmptyStr]
    default_severity: NonEmptyStr
    customer_visible: LabelMatch
    second_team: LabelMatch
    reopen_window: Duration
    after_close: Literal["reopen", "new"]


class ApprovalTimeouts(_Frozen):
    """How long each approval form waits before warroom escalates and asks again."""

    roles: Duration
    mitigation: Duration
    checkpoint: Duration
    restore: Duration
    evidence: Duration
    revert: Duration
    handoff: Duration
    close: Duration


class EscalationPolicy(_Frozen):
    """Who is paged when a form times out or the IC asks for more support."""

    extra_responders: tuple[NonEmptyStr, ...]
    max_rounds: int = Field(ge=1)
    message: NonEmptyStr


_CRON_FIELD = re.compile(r"[0-9*,/\-]+|[A-Za-z]{3}(?:-[A-Za-z]{3})?")


def _cron(value: str) -> str:
    parts = value.split()
    if len(parts) != 5 or not all(_CRON_FIELD.fullmatch(p) for p in parts):
        raise PydanticCustomError(
            "cron", "must be a cron line of 5 fields (minute hour day month weekday) such as '0 9 * * 1' "
            "(Monday 09:00), got {got}",
            {"got": repr(value)})
    return " ".join(parts)


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "must be an IANA time zone such as 'UTC' or 'Europe/Paris', got {got}",
            {"got": repr(value)}) from None
    return value


class ReportPolicy(_Frozen):
    """The retrospective report: when it runs, over how long, and where its summary goes."""

    schedule: Annotated[str, AfterValidator(_cron)] = "0 9 * * 1"  # cron: Monday 09:00
    time_zone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    period: Duration = timedelta(days=7)  # a scheduled report covers this long, up to its start
    jira_project: NonEmptyStr | None = None  # post the summary on a report issue in this project; None: don't
    followups_due: Duration = timedelta(days=30)  # a follow-up still open this long after the close is overdue
    min_samples: int = Field(default=5, ge=2)  # fewer per period: a change is called noise, not a change


# --------------------------------------------------------------------------------------------------
# drills: policy.yaml's `drills` and configs/drills/<name>.yaml (the practice, incident.drills)


def _delay(value: object) -> timedelta:
    """Like :func:`~incident.policy.parse_duration`, but zero (``0s``, ``0``) is allowed: at once."""
    if value in (0, "0", "0s", "0m") or value == timedelta(0):
        return timedelta(0)
    try:
        return parse_duration(value)
    except ValueError:
        raise PydanticCustomError(
            "delay", "must be a wait such as 0s, 30s or 2m (whole seconds), got {got}", {"got": repr(value)}
        ) from None


Delay = Annotated[
    timedelta,
    BeforeValidator(_delay),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A wait written as ``0s``, ``30s``, ``2m`` (zero allowed)."""

class DrillPolicy(_Frozen):
    """``policy.yaml``'s ``drills``: when the scheduled drill runs and how drills are kept apart."""

    schedule: Annotated[str, AfterValidator(_cron)] = "0 10 1 * *"  # cron, in ``timezone``: monthly
    timezone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    scenario: Slug | None = None  # the scheduled drill's scenario (configs/drills/<name>.yaml); None: the first
    roles: Literal["auto", "ask"] = "auto"  # the scheduled drill's roles: by rotation, or suggested in the roles form
    jira_project: NonEmptyStr | None = None  # file drill tickets here; None: the service's own project
    jira_label: Slug = "drill"  # every Jira issue of a drill carries this label


class ScenarioAlert(_Frozen):
    """One alert of a scenario: sent ``after`` the previous one (the first: after the drill starts)."""

    after: Delay = timedelta(0)
    summary: NonEmptyStr
    status: AlertStatus = "firing"
    fingerprint: NonEmptyStr | None = None  # alerts with the same fingerprint are one alert (fire, resolve)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Scenario(_Frozen):
    """``configs/drills/<name>.yaml``: a synthetic incident to practise on."""

    title: NonEmptyStr
    service: NonEmptyStr
    description: NonEmptyStr | None = None
    alerts: Annotated[tuple[ScenarioAlert, ...], _not_empty_collection("alert")]


DRILLS_DIR = "drills"


class Policy(_Frozen):
    """``policy.yaml``. ``severities`` is ordered most severe first."""

    severities: Annotated[dict[NonEmptyStr, SeverityPolicy], _not_empty_collection("severity")]
    declaration: DeclarationPolicy
    approvals: ApprovalTimeouts
    escalation: EscalationPolicy
    exit_criteria: tuple[NonEmptyStr, ...]
    rotation_window_days: int = Field(default=90, gt=0)
    drills: DrillPolicy = Field(default_factory=lambda: DrillPolicy())
    command_post: NonEmptyStr
    incident_management_info: NonEmptyStr | None = None  # where responders read how incidents are run
    reports: ReportPolicy = ReportPolicy()

    def severity(self, name: str) -> SeverityPolicy:
        """The named severity; :class:`ConfigError` if policy.yaml does not define it."""
        try:
            return self.severities[name]
        except KeyError:
            known = ", ".join(self.severities)
            raise ConfigError([f"policy.yaml: severities: no severity {name!r} (known: {known})"]) from None

    def rank(self, name: str) -> int:
        """0 for the most severe level, 1 for the next, ...; :class:`ConfigError` if unknown."""
        self.severity(name)
        return list(self.severities).index(name)


# --------------------------------------------------------------------------------------------------
# roster.yaml


class Team(_Frozen):
    name: NonEmptyStr
    escalation_policy: NonEmptyStr  # PagerDuty escalation policy id, e.g. PESC001
    jira_project: NonEmptyStr


class RosterPerson(_Frozen):
    name: NonEmptyStr
    email: Annotated[str, AfterValidator(_email)]
    team: NonEmptyStr
    roles: tuple[Role, ...]
    pagerduty_user: NonEmptyStr | None = None


class Roster(_Frozen):
    """``roster.yaml``: teams by key, people by handle."""

    teams: dict[Slug, Team]
    people: dict[Slug, RosterPerson]

    def eligible(self, role: Role) -> list[str]:
        """The handles of everyone who may hold ``role``, sorted."""
        return sorted(handle for handle, person in self.people.items() if role in person.roles)


# --------------------------------------------------------------------------------------------------
# services.yaml


class Service(_Frozen):
    title: NonEmptyStr
    owner: NonEmptyStr  # a team key in roster.yaml
    pagerduty_service: NonEmptyStr
    escalation_policy: NonEmptyStr
    jira_project: NonEmptyStr
    customer_facing: bool


class Services(_Frozen):
    services: dict[Slug, Service]


# --------------------------------------------------------------------------------------------------
# runbooks/<service>.yaml


class Mitigation(_Frozen):
    """A change the operations lead may approve. Every mitigation has a revert."""

    id: Slug
    title: NonEmptyStr
    how: NonEmptyStr
    revert: NonEmptyStr
    risk: Literal["low", "medium", "high"] = "low"


class EvidenceSource(_Frozen):
    kind: Literal["log_query", "metric_snapshot", "config_dump", "file"]
    title: NonEmptyStr
    location: NonEmptyStr


class Runbook(_Frozen):
    service: NonEmptyStr
    mitigations: tuple[Mitigation, ...]
    evidence: tuple[EvidenceSource, ...] = ()

    def mitigation(self, mitigation_id: str) -> Mitigation | None:
        return next((m for m in self.mitigations if m.id == mitigation_id), None)


# --------------------------------------------------------------------------------------------------
# All of it


class WarroomConfig(_Frozen):
    """Everything in ``configs/``, read once at the entry point and passed down."""

    policy: Policy
    roster: Roster
    services: Services
    runbooks: dict[str, Runbook] = Field(default_factory=dict)  # key: the service
    drills: dict[str, Scenario] = Field(default_factory=dict)  # key: the scenario's name (its file's stem)

    @model_validator(mode="after")
    def _runbooks_keyed_by_service(self) -> WarroomConfig:
        for key, runbook in self.runbooks.items():
            if key != runbook.service:
                raise ValueError(f"runbooks[{key!r}] is the runbook of service {runbook.service!r}")
        return self

    def runbook_for(self, service: str) -> Runbook | None:
        return self.runbooks.get(service)

    def person(self, handle: str) -> RosterPerson:
        """The roster entry for ``handle``; :class:`ConfigError` if there is none."""
        try:
            return self.roster.people[handle]
        except KeyError:
            known = ", ".join(sorted(self.roster.people))
            raise ConfigError(
                [f"roster.yaml: people: no person with handle {handle!r} (known: {known})"]
            ) from None

    def service(self, name: str) -> Service:
        """The service called ``name``; :class:`ConfigError` if services.yaml does not list it."""
        try:
            return self.services.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services.services))
            raise ConfigError([f"services.yaml: services: no service {name!r} (known: {known})"]) from None


# --------------------------------------------------------------------------------------------------
# Problems and cross-file checks


def format_path(path: tuple[str | int, ...]) -> str:
    """``("mitigations", 1, "revert")`` -> ``"mitigations[1].revert"``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the configuration: which file, where in it, and what.

    ``path`` is the YAML path of the offending value (mapping keys and list indexes); ``line`` is
    filled in by the loader, which knows where that value sits in the file.
    """

    file: str
    path: tuple[str | int, ...]
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.path:
            where += f": {format_path(self.path)}"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


POLICY_FILE = "policy.yaml"
ROSTER_FILE = "roster.yaml"
SERVICES_FILE = "services.yaml"


def _known(names: Collection[str]) -> str:
    return ", ".join(sorted(names)) or "none"


@dataclass(frozen=True)
class ConfigParts:
    """What could be read of each file, so cross-file checks still run when some file is broken.

    A name collection (``severity_names``, ``team_names``, ``handles``, ``service_names``) is the set
    of keys a file defines, known even when some entries under them are invalid; ``None`` when the
    file could not be read at all. The mappings hold only the entries that are valid on their own.
    ``people_complete`` says every person entry is valid (else "nobody can be X" is not checked,
    as the missing eligible person may be the invalid entry). A check whose inputs are missing is
    skipped: that file's own problems are reported instead.
    """

    severity_names: Collection[str] | None = None
    declaration: DeclarationPolicy | None = None
    escalation: EscalationPolicy | None = None
    team_names: Collection[str] | None = None
    handles: Collection[str] | None = None
    people: Mapping[str, RosterPerson] = field(default_factory=dict)
    people_complete: bool = False
    service_names: Collection[str] | None = None
    services: Mapping[str, Service] = field(default_factory=dict)
    runbooks: Mapping[str, Runbook] = field(default_factory=dict)  # key: service
    runbook_files: Mapping[str, str] = field(default_factory=dict)  # service -> runbooks/<file>.yaml

    @classmethod
    def of(cls, config: WarroomConfig, runbook_files: Mapping[str, str]) -> ConfigParts:
        return cls(
            severity_names=tuple(config.policy.severities),
            declaration=config.policy.declaration,
            escalation=config.policy.escalation,
            team_names=tuple(config.roster.teams),
            handles=tuple(config.roster.people),
            people=config.roster.people,
            people_complete=True,
            service_names=tuple(config.services.services),
            services=config.services.services,
            runbooks=config.runbooks,
            runbook_files=runbook_files,
        )


def check_references(parts: ConfigParts) -> list[Problem]:
    """The cross-file checks of :func:`cross_check`, run on whatever :class:`ConfigParts` holds."""
    problems: list[Problem] = []

    declaration, severities = parts.declaration, parts.severity_names
    if declaration is not None and severities is not None:
        defined = ", ".join(severities)
        for label_value, severity in declaration.severity_map.items():
            if severity not in severities:
                problems.append(
                    Problem(
                        POLICY_FILE,
                        ("declaration", "severity_map", label_value),
                        f"unknown severity {severity!r} (defined: {defined})",
                    )
                )
        if declaration.default_severity not in severities:
            problems.append(
                Problem(
                    POLICY_FILE,
                    ("declaration", "default_severity"),
                    f"unknown severity {declaration.default_severity!r} (defined: {defined})",
                )
            )

    if parts.escalation is not None and parts.handles is not None:
        for index, handle in enumerate(parts.escalation.extra_responders):
            if handle not in parts.handles:
                problems.append(
                    Problem(
                        POLICY_FILE,
                        ("escalation", "extra_responders", index),
                        f"unknown person {handle!r}: not a handle in roster.yaml",
                    )
                )

    if parts.team_names is not None:
        for handle, person in parts.people.items():
            if person.team not in parts.team_names:
                problems.append(
                    Problem(
                        ROSTER_FILE,
                        ("people", handle, "team"),
                        f"unknown team {person.team!r} (teams: {_known(parts.team_names)})",
                    )
                )
    if parts.people_complete:
        for role in Role:
            if not any(role in person.roles for person in parts.people.values()):
                problems.append(
                    Problem(
                        ROSTER_FILE,
                        ("people",),
                        f"nobody can be {role.value}: give at least one person this role",
                    )
                )

    if parts.team_names is not None:
        for name, service in parts.services.items():
            if service.owner not in parts.team_names:
                problems.append(
                    Problem(
                        SERVICES_FILE,
                        ("services", name, "owner"),
                        f"unknown team {service.owner!r} (teams in roster.yaml: {_known(parts.team_names)})",
                    )
                )

    for key, runbook in parts.runbooks.items():
        file = parts.runbook_files.get(key, f"runbooks/{key}.yaml")
        if parts.service_names is not None and runbook.service not in parts.service_names:
            problems.append(
                Problem(
                    file,
                    ("service",),
                    f"unknown service {runbook.service!r} "
                    f"(services in services.yaml: {_known(parts.service_names)})",
                )
            )
        first_at: dict[str, int] = {}
        for index, mitigation in enumerate(runbook.mitigations):
            if mitigation.id in first_at:
                problems.append(
                    Problem(
                        file,
                        ("mitigations", index, "id"),
                        f"duplicate mitigation id {mitigation.id!r} "
                        f"(also mitigations[{first_at[mitigation.id]}])",
                    )
                )
            else:
                first_at[mitigation.id] = index

    return problems


def cross_check(config: WarroomConfig, runbook_files: dict[str, str]) -> list[Problem]:
    """What no single file can check: references between policy, roster, services and runbooks.

    ``runbook_files`` maps a service to its runbook's file name (``runbooks/checkout.yaml``).
    Returns one :class:`Problem` per offending value; empty when all is well.
    """
    return check_references(ConfigParts.of(config, runbook_files)) + check_drills(
        config.policy.drills, config.drills, tuple(config.services.services))


def check_drills(policy: DrillPolicy | None, scenarios: Mapping[str, Scenario],
                 service_names: Collection[str] | None) -> list[Problem]:
    """A scenario's service exists; the scheduled drill's scenario exists (``drills/<name>.yaml``)."""
    problems: list[Problem] = []
    if service_names is not None:
        for name, scenario in scenarios.items():
            if scenario.service not in service_names:
                problems.append(Problem(f"{DRILLS_DIR}/{name}.yaml", ("service",),
                                        f"unknown service {scenario.service!r} "
                                        f"(services in services.yaml: {_known(service_names)})"))
    if policy is not None and policy.scenario is not None and policy.scenario not in scenarios:
        problems.append(Problem(POLICY_FILE, ("drills", "scenario"),
                                f"no scenario {policy.scenario!r} in {DRILLS_DIR}/ (scenarios: {_known(scenarios)})"))
    return problems
