"""The retrospective report: statistics over the ledger's events, pure (no clock reads, no I/O).

Every duration is shown as a distribution (n, median, p90, min, max) with a bootstrap interval for
the median, never as a bare mean: at the incident counts a team really has, a mean such as MTTR moves
more with one odd incident than with any change in how the team works (Davidovič, "Incident Metrics
in SRE", Google 2021). A change from one period to the next is called a change only when both periods
have enough samples and the median's intervals do not overlap; else the report says the samples are
too small for the change to mean anything.

The input is the ledger's raw rows (:class:`RawEvent`: kind, payload, actor, time), read in one pass:
the report never rebuilds every event as a model, so a year of incidents reads in seconds.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from warroom.incident.errors import WarroomError
from warroom.incident.models import Role
from warroom.incident.policy import parse_duration

__all__ = [
    "DONE_STATUSES",
    "DURATIONS",
    "OPEN_ITEM_KINDS",
    "PHASE_ORDER",
    "Comparison",
    "DebtLine",
    "Distribution",
    "DrillSection",
    "FollowUpLine",
    "Group",
    "IncidentFacts",
    "RawEvent",
    "Report",
    "ReportInputError",
    "ReportInputs",
    "RoleSpell",
    "bootstrap_median_interval",
    "build_report",
    "compare",
    "distribution",
    "facts_of",
    "median",
    "quantile",
    "report_period",
]

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_LEVEL = 0.95
DEFAULT_SEED = 11
#: Jira statuses (case-insensitive) that mean a follow-up is done
DONE_STATUSES = frozenset({"done", "closed", "resolved", "won't do", "wont do", "cancelled"})
#: the durations, each from one fact to another, in the order the chapter's priorities go
DURATIONS: tuple[tuple[str, str], ...] = (
    ("alert_to_page", "alert to page"),
    ("page_to_ack", "page to acknowledge"),
    ("declared_to_stopped", "declaration to bleeding stopped"),
    ("declared_to_restored", "declaration to service restored"),
    ("declared_to_closed", "declaration to closed"),
)
PHASE_ORDER = ("declared", "stabilising", "restoring", "preserving_evidence", "reverting", "closed")
#: the kinds of event the report reads of incidents opened before its reach (``earlier`` in
#: :func:`build_report`): enough for their divergences, their follow-ups, and whether they are closed
OPEN_ITEM_KINDS = ("declared", "mitigation_applied", "divergence_reported", "divergence_reverted",
                   "divergence_accepted", "followup_filed", "closed", "reopened")


class ReportInputError(WarroomError):
    """The report was asked for a period or a format that makes no sense (the message says why)."""


class RawEvent(NamedTuple):
    """One ledger row as the report reads it: the fact's kind, its payload (JSON data, or its JSON text:
    decoded only for the kinds the report reads), who, when."""

    kind: str
    payload: Mapping[str, Any] | str
    actor: str
    occurred_at: datetime


# ------------------------------------------------------------------------------------- statistics


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values, by linear interpolation between the closest ranks (the
    usual definition: numpy's default, R's type 7). ``ordered`` must be sorted and not empty."""
    if not ordered:
        raise ValueError("no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], not {q}")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Iterable[float]) -> float:
    return quantile(sorted(values), 0.5)


def bootstrap_median_interval(
    values: Sequence[float], seed: str, resamples: int = BOOTSTRAP_RESAMPLES, level: float = BOOTSTRAP_LEVEL
) -> tuple[float, float] | None:
    """A percentile-bootstrap interval for the median: resample with replacement ``resamples`` times,
    take the medians' ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles. Seeded by ``seed`` (a
    string: the same figures give the same interval on every run). None below two values."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    ordered = sorted(values)
    medians = sorted(_resampled_median(ordered, rng) for _ in range(resamples))
    tail = (1.0 - level) / 2.0
    return quantile(medians, tail), quantile(medians, 1.0 - tail)


def _resampled_median(ordered: Sequence[float], rng: random.Random) -> float:
    """The median of one bootstrap resample (n draws with replacement from ``ordered``), drawn in O(1):
    a draw is ``ordered[ceil(n U) - 1]`` for a uniform U, so the resample's k-th smallest value is
    ``ordered[ceil(n U_(k)) - 1]``, where U_(k), the k-th smallest of n uniforms, is Beta(k, n - k + 1);
    the next one up is U_(k) + (1 - U_(k)) Beta(1, n - k). The same law as resampling and sorting, at a
    cost that does not grow with n (10,000 incidents report in well under a second)."""
    n = len(ordered)
    k = (n + 1) // 2

    def at(u: float) -> float:
        return ordered[min(max(math.ceil(n * u), 1), n) - 1]

    u = rng.betavariate(k, n - k + 1)
    if n % 2:
        return at(u)
    nxt = u + (1.0 - u) * rng.betavariate(1, n - k)
    return (at(u) + at(nxt)) / 2.0


@dataclass(frozen=True)
class Distribution:
    """A sample's shape: how many, the median with its bootstrap interval, p90, min and max (seconds
    for durations). Every figure but ``n`` is None on an empty sample."""

    n: int
    median: float | None = None
    p90: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    values: tuple[float, ...] = ()  # the sample itself, sorted: what the charts draw


def distribution(values: Iterable[float], seed: str = str(DEFAULT_SEED)) -> Distribution:
    ordered = tuple(sorted(values))
    if not ordered:
        return Distribution(0)
    interval = bootstrap_median_interval(ordered, seed)
    return Distribution(
        n=len(ordered), median=quantile(ordered, 0.5), p90=quantile(ordered, 0.9), minimum=ordered[0],
        maximum=ordered[-1], ci_low=interval[0] if interval else None, ci_high=interval[1] if interval else None,
        values=ordered,
    )


@dataclass(frozen=True)
class Comparison:
    """This period's median against the previous period's, and whether the change means anything."""

    what: str
    now: Distribution
    before: Distribution
    meaningful: bool
    verdict: str


def compare(what: str, now: Distribution, before: Distribution, min_samples: int) -> Comparison:
    """A change is called one only when both periods have ``min_samples`` values or more and the
    medians' bootstrap intervals do not overlap; otherwise the verdict says why not."""
    if now.n < min_samples or before.n < min_samples:
        return Comparison(what, now, before, False,
                          f"too few samples to compare (n={now.n} now, n={before.n} before; at least "
                          f"{min_samples} each are needed): any change here is noise")
    assert now.ci_low is not None and now.ci_high is not None
    assert before.ci_low is not None and before.ci_high is not None
    if now.ci_low > before.ci_high:
        return Comparison(what, now, before, True, "longer than before (the medians' intervals do not overlap)")
    if now.ci_high < before.ci_low:
        return Comparison(what, now, before, True, "shorter than before (the medians' intervals do not overlap)")
    return Comparison(what, now, before, False, "no clear change (the medians' intervals overlap)")


# ------------------------------------------------------------------------------- one incident's facts


@dataclass(frozen=True)
class RoleSpell:
    """Someone held a role from ``start`` to ``end`` (the close, a handover, or the report's end)."""

    person: str
    role: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


@dataclass(frozen=True)
class DivergenceLine:
    incident_id: str
    divergence_id: str
    what: str
    status: str  # open, reverted, accepted
    applied_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class FollowUpLine:
    """A follow-up as filed (ledger) with its status as the tracker says now."""

    incident_id: str
    key: str
    kind: str
    summary: str
    status: str


@dataclass(frozen=True)
class IncidentFacts:
    """What the report needs of one incident, read from its events in one pass."""

    incident_id: str
    title: str
    service: str | None
    severity: str | None
    drill: bool
    opened_at: datetime
    declared_at: datetime | None
    closed_at: datetime | None
    watched: bool  # the criteria said watch at some point
    unroutable: bool  # its alerts name no service warroom knows
    reopened: int
    alerts: int  # distinct alerts attached
    first_alert_at: datetime | None
    first_page_at: datetime | None
    acknowledged_at: datetime | None
    stopped_at: datetime | None  # the IC said the bleeding has stopped
    restored_at: datetime | None
    phase_at: dict[str, datetime]  # each phase, when first reached
    updates_posted: int
    overdue_by: tuple[float, ...]  # each overdue update: seconds from due to posted (or to the end)
    checkpoints: int
    checkpoints_on_cadence: int
    timed_out: int  # questions nobody answered in time: extra responders paged
    help_asked: int  # escalations a person asked for (more responders, another team)
    handoffs_offered: int
    handoffs_accepted: int
    handoffs_lapsed: int
    spells: tuple[RoleSpell, ...]
    responders: tuple[str, ...]
    divergences: tuple[DivergenceLine, ...]
    followups: tuple[FollowUpLine, ...]

    @property
    def declared(self) -> bool:
        return self.declared_at is not None

    def duration(self, name: str) -> float | None:
        pairs = {
            "alert_to_page": (self.first_alert_at, self.first_page_at),
            "page_to_ack": (self.first_page_at, self.acknowledged_at),
            "declared_to_stopped": (self.declared_at, self.stopped_at),
            "declared_to_restored": (self.declared_at, self.restored_at),
            "declared_to_closed": (self.declared_at, self.closed_at),
        }
        start, end = pairs[name]
        if start is None or end is None:
            return None
        return max((end - start).total_seconds(), 0.0)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def facts_of(
    incident_id: str,
    opened_at: datetime,
    events: Iterable[RawEvent],
    checkpoint_every: Mapping[str, timedelta],
    known_services: frozenset[str],
    end: datetime,
) -> IncidentFacts:
    """The incident's facts from its events (in seq order). ``checkpoint_every``: each severity's
    cadence; ``end``: the report's end, where a role still held or an update still overdue stops."""
    title, service, severity, drill = "", None, None, False
    declared_at = closed_at = first_alert = first_page = acked = stopped = restored = None
    watched, unroutable_decided = False, False
    reopened = updates = checkpoints = on_cadence = timed_out = help_asked = 0
    offered = accepted = lapsed = 0
    fingerprints: set[str] = set()
    phase_at: dict[str, datetime] = {}
    overdue_since: list[datetime] = []
    overdue_by: list[float] = []
    holders: dict[str, tuple[str, datetime]] = {}
    spells: list[RoleSpell] = []
    responders: dict[str, None] = {}
    divergences: dict[str, DivergenceLine] = {}
    followups: dict[str, FollowUpLine] = {}
    last_checkpoint: datetime | None = None
    at_close: dict[str, str] = {}

    def hold(role: str, person: str, at: datetime) -> None:
        held = holders.get(role)
        if held is not None:
            if held[0] == person:
                return
            spells.append(RoleSpell(held[0], role, held[1], at))
        holders[role] = (person, at)
        responders.setdefault(person)

    def release_all(at: datetime) -> None:
        for role, (person, since) in holders.items():
            spells.append(RoleSpell(person, role, since, at))
        holders.clear()

    for e in events:
        kind, at = e.kind, e.occurred_at
        p: Mapping[str, Any] = _EMPTY
        if kind in _READ:
            p = json.loads(e.payload) if isinstance(e.payload, str) else e.payload
        if kind == "alert_attached":
            alert = p.get("alert") or {}
            fingerprints.add(str(alert.get("fingerprint")))
            seen = _when(alert.get("starts_at")) or at
            first_alert = seen if first_alert is None or seen < first_alert else first_alert
            if service is None and alert.get("service"):
                service = str(alert["service"])
            title = title or str(alert.get("summary") or "")
        elif kind == "declaration_decided":
            watched = watched or p.get("action") == "watch"
            unroutable_decided = unroutable_decided or p.get("action") == "not_incident"
        elif kind == "declared":
            declared_at = declared_at or at
            title, service, severity = str(p.get("title") or title), str(p.get("service")), str(p.get("severity"))
            drill = bool(p.get("drill"))
            phase_at.setdefault("declared", at)
            last_checkpoint = at
            hold(Role.INCIDENT_COMMANDER.value, str(p.get("commander")), at)
        elif kind == "severity_changed":
            severity = str(p.get("to"))
        elif kind == "role_assigned":
            hold(str(p.get("role")), str(p.get("person")), at)
        elif kind == "handoff_offered":
            offered += 1
        elif kind == "handoff_accepted":
            accepted += 1
            hold(Role.INCIDENT_COMMANDER.value, e.actor, at)
        elif kind == "handoff_lapsed":
            lapsed += 1
        elif kind == "paged":
            first_page = first_page or at
        elif kind == "pager_event_received" and p.get("acknowledged"):
            ack_at = _when(p.get("at")) or at
            acked = ack_at if acked is None or ack_at < acked else acked
        elif kind == "status_update_overdue":
            due = _when(p.get("due_at")) or at
            overdue_since.append(due)
        elif kind == "status_update_posted":
            updates += 1
            for due in overdue_since:
                overdue_by.append(max((at - due).total_seconds(), 0.0))
            overdue_since = []
        elif kind == "checkpoint_answered":
            checkpoints += 1
            cadence = checkpoint_every.get(severity or "")
            if last_checkpoint is not None and cadence is not None and at - last_checkpoint <= cadence:
                on_cadence += 1
            last_checkpoint = at
            if p.get("bleeding_stopped") and stopped is None:
                stopped = at
        elif kind == "escalated":
            if p.get("waited_for") is not None:
                timed_out += 1
            else:
                help_asked += 1
        elif kind == "phase_changed":
            to = str(p.get("to"))
            phase_at.setdefault(to, at)
            if to == "restoring" and stopped is None:
                stopped = at
            if to == "preserving_evidence" and restored is None:
                restored = at
        elif kind in ("mitigation_applied", "divergence_reported"):
            did = str(p.get("divergence_id"))
            divergences[did] = DivergenceLine(incident_id, did, str(p.get("what")), "open", at)
        elif kind in ("divergence_reverted", "divergence_accepted"):
            did = str(p.get("divergence_id"))
            if did in divergences:
                old = divergences[did]
                status = "reverted" if kind == "divergence_reverted" else "accepted"
                divergences[did] = DivergenceLine(incident_id, did, old.what, status, old.applied_at,
                                                  p.get("reason"))
        elif kind == "followup_filed":
            f = p.get("followup") or {}
            followups[str(f.get("intent"))] = FollowUpLine(incident_id, str(f.get("tracker_key")), str(f.get("kind")),
                                                           str(f.get("summary")), str(f.get("status") or "open"))
        elif kind == "closed":
            closed_at = at
            phase_at.setdefault("closed", at)
            at_close = {role: person for role, (person, _) in holders.items()}
            release_all(at)
        elif kind == "reopened":
            reopened += 1
            closed_at = None
            for role, person in at_close.items():  # open again: the same people hold the roles again
                hold(role, person, at)
        if e.actor != "warroom" and kind not in _NOT_PEOPLE:
            responders.setdefault(e.actor)
    # an update still overdue at the report's end counts as late until then
    overdue_by += [max((end - due).total_seconds(), 0.0) for due in overdue_since]
    release_all(closed_at or end)
    return IncidentFacts(
        incident_id=incident_id, title=title, service=service, severity=severity, drill=drill, opened_at=opened_at,
        declared_at=declared_at, closed_at=closed_at, watched=watched,
        unroutable=declared_at is None and unroutable_decided and (service is None or service not in known_services),
        reopened=reopened, alerts=len(fingerprints), first_alert_at=first_alert, first_page_at=first_page,
        acknowledged_at=acked, stopped_at=stopped, restored_at=restored, phase_at=phase_at, updates_posted=updates,
        overdue_by=tuple(overdue_by), checkpoints=checkpoints, checkpoints_on_cadence=on_cadence, timed_out=timed_out,
        help_asked=help_asked, handoffs_offered=offered, handoffs_accepted=accepted, handoffs_lapsed=lapsed,
        spells=tuple(spells), responders=tuple(responders), divergences=tuple(divergences.values()),
        followups=tuple(followups.values()),
    )


_EMPTY: Mapping[str, Any] = {}
#: the kinds whose payload the report reads (the others are counted, or their time taken, only)
_READ = frozenset({"alert_attached", "declaration_decided", "declared", "severity_changed", "role_assigned",
                   "pager_event_received", "status_update_overdue", "checkpoint_answered", "escalated",
                   "phase_changed", "mitigation_applied", "divergence_reported", "divergence_reverted",
                   "divergence_accepted", "followup_filed"})
_NOT_PEOPLE = frozenset({"alert_attached", "alert_resolved", "declaration_decided", "declared", "paged",
                         "pager_event_received", "ticket_opened", "status_update_overdue", "reopened"})


# --------------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Group:
    """The figures of one slice (all production incidents, one severity, one service) in one period."""

    name: str
    declared: int
    watched_never_declared: int
    reopened: int
    alerts_per_incident: Distribution
    durations: dict[str, Distribution]


@dataclass(frozen=True)
class Practices:
    updates_posted: int
    updates_on_time: int
    updates_overdue: int
    overdue_by: Distribution
    checkpoints: int
    checkpoints_on_cadence: int
    timed_out: int
    help_asked: int
    handoffs_offered: int
    handoffs_accepted: int
    handoffs_lapsed: int


@dataclass(frozen=True)
class RoleLoad:
    person: str
    role: str
    times: int
    seconds: float


@dataclass(frozen=True)
class FollowUpCounts:
    """One incident's follow-ups: those of an incident of the period, all; of an earlier incident, only
    while any is still open (``earlier``: the incident opened before the period)."""

    incident_id: str
    filed: int
    open: int
    overdue: int
    lines: tuple[FollowUpLine, ...]
    opened_at: datetime | None = None  # the incident's
    earlier: bool = False


@dataclass(frozen=True)
class DebtLine:
    """A divergence still open (or accepted) at the report's end, from whatever incident: its age runs
    from when it was applied; ``earlier``: its incident opened before the period."""

    divergence: DivergenceLine
    age: float  # seconds, applied to the report's end
    opened_at: datetime  # the incident's
    earlier: bool


@dataclass(frozen=True)
class DrillSection:
    held: int
    incidents: tuple[str, ...]
    roles: tuple[RoleLoad, ...]
    phase_durations: dict[str, Distribution]  # "declared → stabilising": seconds
    not_practised: dict[str, tuple[str, ...]]  # role -> eligible people with no drill in it in the window


@dataclass(frozen=True)
class ReportInputs:
    """What the report is computed from, besides the facts: the period and the policy's knobs."""

    start: datetime
    end: datetime
    previous_start: datetime
    practice_window_start: datetime
    service: str | None
    eligible: Mapping[str, Sequence[str]]  # role -> roster handles who may hold it
    followups_due: timedelta
    min_samples: int
    seed: str = str(DEFAULT_SEED)


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    previous_start: datetime
    service: str | None
    overall: Group
    previous: Group
    by_severity: tuple[Group, ...]
    by_service: tuple[Group, ...]
    comparisons: tuple[Comparison, ...]
    unroutable_alerts: int
    practices: Practices
    roles: tuple[RoleLoad, ...]
    never_ic: tuple[str, ...]
    load: dict[str, int]  # person -> incidents they took part in
    divergence_debt: tuple[DebtLine, ...]  # open or accepted, from every production incident, oldest first
    followups: tuple[FollowUpCounts, ...]  # the period's incidents', then earlier incidents' still open
    drills: DrillSection
    incidents: tuple[str, ...]  # the production incidents counted (declared or watched) in the period
    min_samples: int = 5
    notes: tuple[str, ...] = field(default=())


def _group(name: str, facts: Sequence[IncidentFacts], seed: str) -> Group:
    declared = [f for f in facts if f.declared]
    return Group(
        name=name,
        declared=len(declared),
        watched_never_declared=sum(1 for f in facts if f.watched and not f.declared),
        reopened=sum(1 for f in declared if f.reopened),
        alerts_per_incident=distribution([float(f.alerts) for f in declared if f.alerts], f"{seed}:{name}:alerts"),
        durations={
            key: distribution([d for f in declared if (d := f.duration(key)) is not None], f"{seed}:{name}:{key}")
            for key, _ in DURATIONS
        },
    )


def _practices(facts: Sequence[IncidentFacts], seed: str) -> Practices:
    overdue = [s for f in facts for s in f.overdue_by]
    posted = sum(f.updates_posted for f in facts)
    answered_late = sum(1 for f in facts for _ in f.overdue_by)
    return Practices(
        updates_posted=posted, updates_on_time=max(posted - answered_late, 0), updates_overdue=len(overdue),
        overdue_by=distribution(overdue, f"{seed}:overdue"),
        checkpoints=sum(f.checkpoints for f in facts),
        checkpoints_on_cadence=sum(f.checkpoints_on_cadence for f in facts),
        timed_out=sum(f.timed_out for f in facts), help_asked=sum(f.help_asked for f in facts),
        handoffs_offered=sum(f.handoffs_offered for f in facts),
        handoffs_accepted=sum(f.handoffs_accepted for f in facts),
        handoffs_lapsed=sum(f.handoffs_lapsed for f in facts),
    )


def _roles(facts: Iterable[IncidentFacts]) -> tuple[RoleLoad, ...]:
    times: dict[tuple[str, str], int] = defaultdict(int)
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for f in facts:
        for s in f.spells:
            times[(s.person, s.role)] += 1
            seconds[(s.person, s.role)] += s.seconds
    return tuple(RoleLoad(p, r, times[(p, r)], seconds[(p, r)]) for p, r in sorted(times))


def _followups(facts: Iterable[IncidentFacts], tracker: Mapping[str, Sequence[FollowUpLine]], inputs: ReportInputs,
               ) -> tuple[FollowUpCounts, ...]:
    """Each incident's follow-ups: every one of the period's incidents that filed any; an earlier
    incident only while one of its follow-ups is open."""
    out = []
    for f in facts:
        lines = tuple(tracker.get(f.incident_id, f.followups))
        if not lines:
            continue
        earlier = f.opened_at < inputs.start
        open_ = [x for x in lines if x.status.casefold() not in DONE_STATUSES]
        if earlier and not open_:
            continue
        late = f.closed_at is not None and inputs.end - f.closed_at > inputs.followups_due
        out.append(FollowUpCounts(f.incident_id, len(lines), len(open_), len(open_) if late else 0, lines,
                                  f.opened_at, earlier))
    return tuple(out)


def still_owes(f: IncidentFacts) -> bool:
    """A production incident that filed follow-ups (whose status only the tracker knows) or left a
    divergence open or accepted: what an earlier incident must have to be in the report."""
    return not f.drill and (bool(f.followups) or any(d.status in ("open", "accepted") for d in f.divergences))


def _debt(facts: Iterable[IncidentFacts], inputs: ReportInputs) -> tuple[DebtLine, ...]:
    lines = [DebtLine(d, max((inputs.end - d.applied_at).total_seconds(), 0.0), f.opened_at, f.opened_at < inputs.start)
             for f in facts for d in f.divergences if d.status in ("open", "accepted")]
    return tuple(sorted(lines, key=lambda x: (x.divergence.applied_at, x.divergence.incident_id,
                                              x.divergence.divergence_id)))


def _phase_durations(facts: Iterable[IncidentFacts], seed: str) -> dict[str, Distribution]:
    samples: dict[str, list[float]] = {f"{a} → {b}": [] for a, b in itertools.pairwise(PHASE_ORDER)}
    for f in facts:
        for a, b in itertools.pairwise(PHASE_ORDER):
            if a in f.phase_at and b in f.phase_at:
                samples[f"{a} → {b}"].append(max((f.phase_at[b] - f.phase_at[a]).total_seconds(), 0.0))
    return {k: distribution(v, f"{seed}:drill:{k}") for k, v in samples.items()}


def build_report(
    facts: Sequence[IncidentFacts],
    inputs: ReportInputs,
    tracker_followups: Mapping[str, Sequence[FollowUpLine]] | None = None,
    earlier: Sequence[IncidentFacts] = (),
) -> Report:
    """The report over ``facts`` (incidents opened from ``inputs.previous_start``, or from the practice
    window's start if earlier, to ``inputs.end``): production incidents of ``[start, end)`` against
    those of ``[previous_start, start)``; drills apart. ``tracker_followups``: each incident's follow-ups
    with their status as the tracker says now (else the status recorded when filed). ``earlier``: the
    production incidents opened before ``facts`` reach, read only for their divergences and follow-ups
    (:data:`OPEN_ITEM_KINDS`): the divergence debt and the open follow-ups cover every incident, not only
    the period's, and stay listed until resolved."""
    seed = inputs.seed
    scoped = [f for f in facts if inputs.service is None or f.service == inputs.service]
    in_period = [f for f in scoped if inputs.start <= f.opened_at < inputs.end]
    before = [f for f in scoped if inputs.previous_start <= f.opened_at < inputs.start]
    production = [f for f in in_period if not f.drill and not f.unroutable]
    previous_production = [f for f in before if not f.drill and not f.unroutable]
    overall = _group("all", production, seed)
    previous = _group("all (previous period)", previous_production, seed + ":previous")
    severities = sorted({f.severity for f in production if f.severity})
    services = sorted({f.service for f in production if f.service})
    comparisons = tuple(
        compare(label, overall.durations[key], previous.durations[key], inputs.min_samples) for key, label in DURATIONS
    )
    declared = [f for f in production if f.declared]
    roles = _roles(declared)
    ic_holders = {r.person for r in roles if r.role == Role.INCIDENT_COMMANDER.value}
    never_ic = tuple(p for p in inputs.eligible.get(Role.INCIDENT_COMMANDER.value, ()) if p not in ic_holders)
    load: dict[str, int] = defaultdict(int)
    for f in declared:
        for person in f.responders:
            load[person] += 1
    # every production incident opened before the end, earliest first: what is still owed, wherever from
    owing = sorted((f for f in (*earlier, *scoped) if f.opened_at < inputs.end and f.declared and not f.drill
                    and not f.unroutable and (inputs.service is None or f.service == inputs.service)),
                   key=lambda f: (f.opened_at, f.incident_id))
    before_period = [f for f in owing if f.opened_at < inputs.start]
    drills = [f for f in scoped if f.drill and f.declared and inputs.practice_window_start <= f.opened_at < inputs.end]
    drills_in_period = [f for f in drills if inputs.start <= f.opened_at]
    practised = {(s.person, s.role) for f in drills for s in f.spells}
    not_practised = {
        role: tuple(p for p in people if (p, role) not in practised) for role, people in inputs.eligible.items()
    }
    return Report(
        start=inputs.start, end=inputs.end, previous_start=inputs.previous_start, service=inputs.service,
        overall=overall, previous=previous,
        by_severity=tuple(_group(s, [f for f in production if f.severity == s], seed) for s in severities),
        by_service=tuple(_group(s, [f for f in production if f.service == s], seed) for s in services),
        comparisons=comparisons,
        unroutable_alerts=sum(f.alerts for f in in_period if f.unroutable),
        practices=_practices(declared, seed), roles=roles, never_ic=never_ic, load=dict(sorted(load.items())),
        divergence_debt=_debt(owing, inputs),
        followups=_followups([*declared, *before_period], tracker_followups or {}, inputs),
        drills=DrillSection(
            held=len(drills_in_period), incidents=tuple(f.incident_id for f in drills_in_period),
            roles=_roles(drills_in_period), phase_durations=_phase_durations(drills_in_period, seed),
            not_practised=not_practised,
        ),
        incidents=tuple(f.incident_id for f in production if f.declared or f.watched),
        min_samples=inputs.min_samples,
    )


# ------------------------------------------------------------------------------------------ period


def _day_or_time(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ReportInputError(
            f"{option} {text!r} is not a date: write it as 2026-11-30 or 2026-11-30T09:00 (UTC unless an offset "
            "is given)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def report_period(
    now: datetime, default: timedelta, since: str | None = None, from_: str | None = None, to: str | None = None
) -> tuple[datetime, datetime]:
    """The report's ``[start, end)``: ``--since 7d`` (up to now), or ``--from DATE [--to DATE]`` (to now
    when no ``--to``), or ``default`` up to now. Bad input raises :class:`ReportInputError`, whose message
    says what was wrong and what to write instead."""
    if since is not None and (from_ is not None or to is not None):
        raise ReportInputError("give either --since or --from/--to, not both")
    if since is not None:
        try:
            span = parse_duration(since)
        except ValueError:
            raise ReportInputError(
                f"--since {since!r} is not a duration: write it like 7d, 36h or 90m") from None
        return now - span, now
    if from_ is None and to is not None:
        raise ReportInputError("--to needs --from (the period's first day)")
    if from_ is not None:
        start = _day_or_time(from_, "--from")
        end = _day_or_time(to, "--to") if to is not None else now
        if to is not None and len(to.strip()) == 10:  # a bare date: the whole day is in
            end += timedelta(days=1)
        if start >= end:
            raise ReportInputError(f"--from {from_} is not before --to {to or 'now'}: the period would be empty")
        return start, end
    return now - default, now
