"""The work a decision calls for (DESIGN §4, §5): pages, run starts and timers, decided here and
stored by the ledger in the same transaction as the fact that calls for them; a dispatcher carries
each out until it is done. Pure: times are passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warroom.incident.events import MAX_KEY, bounded_key

WorkKind = Literal["page", "start_run", "watch", "form_timeout", "inbox", "advance", "answer", "document"]

# bounded backoff: 1 s, 2 s, 4 s ... never more than a minute between tries; work is never dropped
FIRST_RETRY = timedelta(seconds=1)
LONGEST_RETRY = timedelta(seconds=60)

LIFECYCLE = "lifecycle/lifecycle"


class Work(BaseModel):
    """One effect to carry out once: ``key`` names the intent, ``due_at`` when it may start."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str = Field(min_length=1, max_length=MAX_KEY)
    incident_id: str = Field(min_length=1, max_length=64)
    kind: WorkKind
    params: dict[str, Any]
    due_at: datetime

    @field_validator("key", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_key(value) if isinstance(value, str) else value


def retry_delay(attempts: int) -> timedelta:
    """How long to wait before the next try, after ``attempts`` failed tries (1 or more)."""
    exponent = min(max(attempts - 1, 0), 16)
    delay: timedelta = FIRST_RETRY * (2**exponent)
    return min(delay, LONGEST_RETRY)


def page(incident_id: str, key: str, summary: str, severity: str, service: str, now: datetime,
         drill: bool = False) -> Work:
    params: dict[str, Any] = {"summary": summary, "severity": severity, "service": service, "key": key}
    if drill:  # a drill pages the drill routing key only
        params["drill"] = True
    return Work(key=key, incident_id=incident_id, kind="page", due_at=now, params=params)


def start_lifecycle(incident_id: str, key: str, parameters: dict[str, Any], now: datetime) -> Work:
    return Work(key=key, incident_id=incident_id, kind="start_run", due_at=now,
                params={"deployment": LIFECYCLE, "parameters": parameters, "run_key": key})


def declaration(incident_id: str, title: str, service: str, severity: str, reasons: tuple[str, ...],
                declared_by: str, pages: bool, now: datetime, suffix: str = "",
                drill: bool = False) -> tuple[Work, ...]:
    """A decision to declare (or to reopen, with ``suffix``): page the on-call at once when the
    severity pages, and start the lifecycle run, which finds the page done. ``drill``: practice."""
    parameters: dict[str, Any] = {"incident_id": incident_id, "title": title, "service": service,
                                  "severity": severity, "reasons": list(reasons), "declared_by": declared_by}
    if drill:
        parameters["drill"] = True
    lifecycle = start_lifecycle(incident_id, f"{incident_id}:lifecycle{suffix}", parameters, now)
    if not pages:
        return (lifecycle,)
    paged = page(incident_id, f"{incident_id}:paged{suffix}", title, severity, service, now, drill)
    return paged, lifecycle


def watch(incident_id: str, fingerprint: str, until: datetime) -> Work:
    """The end of the policy's hour: check then whether the alert still fires."""
    return Work(key=f"{incident_id}:watch", incident_id=incident_id, kind="watch", due_at=until,
                params={"fingerprint": fingerprint})


def form_timeout(incident_id: str, key: str, round_: int, due_at: datetime, reason: str) -> Work:
    """A form's timeout: if nobody has answered by ``due_at``, escalate (round ``round_``), even if
    the process that asked is gone."""
    return Work(key=f"{key}:timeout:{round_}", incident_id=incident_id, kind="form_timeout", due_at=due_at,
                params={"question": key, "round": round_, "reason": reason})


def advance(incident_id: str, due_at: datetime) -> Work:
    """Look at the incident again at ``due_at`` (the next status update or checkpoint is due then):
    an overdue update is asked for on the communications desk at once."""
    return Work(key=f"{incident_id}:cadence:{due_at:%Y%m%dT%H%M%S}", incident_id=incident_id, kind="advance",
                due_at=due_at, params={})


def answer(incident_id: str, run_id: str, pause_key: str, now: datetime) -> Work:
    """Someone answered a desk: record what it decides and show the desks again, once per answer,
    whichever dispatcher sees it first."""
    return Work(key=f"{incident_id}:answer:{pause_key}", incident_id=incident_id, kind="answer", due_at=now,
                params={"run_id": run_id, "pause_key": pause_key})


def mirror_document(incident_id: str, version: int, now: datetime) -> Work:
    """Write the incident document (as of ``version`` or later) into the ticket: its write failed
    where it was made, so the dispatcher tries again, with backoff, until the tracker takes it."""
    return Work(key=f"{incident_id}:document:{version}", incident_id=incident_id, kind="document",
                due_at=now + FIRST_RETRY, params={"version": version})


def retry_inbox(inbox_id: int, now: datetime, after: timedelta = FIRST_RETRY) -> Work:
    """A stored body whose processing failed, or never finished: try it again ``after`` ``now`` (a
    sender may never send it again)."""
    return Work(key=f"inbox:{inbox_id}", incident_id="inbox", kind="inbox", due_at=now + after,
                params={"inbox_id": inbox_id})
