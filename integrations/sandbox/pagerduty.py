"""A local stand-in for PagerDuty: the Events API v2 and the REST API v2 calls warroom makes.

It behaves as PagerDuty does where warroom depends on it (shapes checked against PagerDuty's own
OpenAPI documents in the contract tests):

- Events API v2 (``POST /v2/enqueue``): a ``trigger`` whose ``dedup_key`` names an open (triggered or
  acknowledged) incident joins it ("Event processed", same ``dedup_key``, no new incident); one whose
  incident is resolved, or unknown, opens a new incident with ``incident_key = dedup_key``, assigned
  to level 1 of the service's escalation policy. ``acknowledge``/``resolve`` move the status. Events
  need a known 32-character ``routing_key``, a trigger needs ``payload.summary``, ``.source`` and
  ``.severity``; otherwise ``400 {"status": "invalid event", "message": ..., "errors": [...]}``.
  PagerDuty's limits are kept the same way (400): ``payload.summary`` at most 1,024 characters,
  ``dedup_key`` at most 255, the whole event at most 512 KB (the Events API documents no 413).
  ``POST /v2/change/enqueue`` accepts change events.
- REST: ``Authorization: Token token=<api_token>`` or ``401 {"error": {"message", "code": 2006}}``.
  Writes that PagerDuty documents with a ``From`` header (PUT incident, notes, status updates) need a
  ``From`` naming a known user, else 400. Index endpoints page with ``limit``/``offset``/``more``/
  ``total`` (at most ``max_page_size`` a page, 100 as PagerDuty). Every change writes a log entry.
  A responder request targets users (``user_reference``) and whole escalation policies
  (``escalation_policy_reference``, one of the setup's ``escalation_policies``; its level 1 is the
  pending responder); an unknown one is refused with 400, as an unknown user is.
  ``self`` URLs use the sandbox's own base URL as the client reached it.

State lives in memory behind a lock (:class:`PagerDutySandboxState`); the app exposes it as
``app.state.pagerduty`` and its :class:`~integrations.sandbox.recorder.Recorder` as
``app.state.recorder``. :meth:`PagerDutySandboxState.snapshot` and ``restore`` turn the account's data
(services, incidents and all they hold, change events, counters) into JSON values and back, so
:class:`~integrations.sandbox.server.Sandboxes` can keep it across restarts; the setup (token, routing
keys, users, policies) is not part of it.
"""

from __future__ import annotations

import json
import random
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from warroom.integrations.sandbox.recorder import Recorder, add_sandbox_admin
from warroom.integrations.sandbox.snapshot import jsonable, parse_time

OPEN_STATUSES = ("triggered", "acknowledged")
SEVERITIES = ("critical", "error", "warning", "info")
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
DEFAULT_PAGE_SIZE = 25
PAGE_SIZE_LIMIT = 100
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
EVENT_MAX_BYTES = 512 * 1024
HTML_BASE = "https://sandbox.pagerduty.invalid"
# A responder request's targets: PagerDuty documents the references; the bare types are accepted too.
RESPONDER_TARGET_TYPES = ("user_reference", "user", "escalation_policy_reference", "escalation_policy")


# --------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class SandboxUser:
    id: str
    name: str
    email: str


@dataclass(frozen=True)
class PagerDutySetup:
    """Everything a PagerDuty sandbox is configured with, and what warroom needs to reach it.

    ``routing_keys`` maps each Events API routing key to the id of the escalation policy of the
    service it integrates with (one service per routing key). ``escalation_policies`` maps a policy
    id to the e-mails on call, level 1 first.
    """

    api_token: str
    routing_key: str  # the one warroom uses
    from_email: str
    users: list[SandboxUser]
    escalation_policies: dict[str, list[str]]
    routing_keys: dict[str, str]
    drill_routing_key: str | None = None  # the one drills page (one of routing_keys), if any


def default_setup(api_token: str | None = None, routing_key: str | None = None) -> PagerDutySetup:
    """A small team for demos and tests; secrets are fresh random values unless given."""
    token = api_token or "sbx_" + secrets.token_hex(12)
    key = routing_key or secrets.token_hex(16)
    users = [
        SandboxUser("PUSR001", "Ada Lovelace", "ada@example.com"),
        SandboxUser("PUSR002", "Grace Hopper", "grace@example.com"),
        SandboxUser("PUSR003", "Margaret Hamilton", "margaret@example.com"),
        SandboxUser("PUSR004", "Katherine Johnson", "katherine@example.com"),
        SandboxUser("PUSR005", "Radia Perlman", "radia@example.com"),
    ]
    policies = {
        "PESC001": ["ada@example.com", "grace@example.com", "margaret@example.com"],
        "PESC002": ["katherine@example.com", "radia@example.com"],
    }
    return PagerDutySetup(
        api_token=token,
        routing_key=key,
        from_email="ada@example.com",
        users=users,
        escalation_policies=policies,
        routing_keys={key: "PESC001"},
    )


# --------------------------------------------------------------------------------------------------
# state


def policy_name(policy_id: str) -> str:
    """The name the sandbox gives an escalation policy (its summary in references and log entries)."""
    return f"Escalation policy {policy_id}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


STATE_VERSION = 1  # of the snapshot's layout


@dataclass
class _LogEntry:
    id: str
    type: str
    summary: str
    created_at: datetime
    agent: tuple[str, str]  # (type, id): ("user_reference", uid) or ("service_reference", sid)
    channel: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Incident:
    id: str
    number: int
    title: str
    incident_key: str
    service_id: str
    policy_id: str
    status: str
    urgency: str
    created_at: datetime
    updated_at: datetime
    last_status_change_at: datetime
    resolved_at: datetime | None = None
    assignments: list[tuple[str, datetime]] = field(default_factory=list)  # (user id, at)
    acknowledgements: list[tuple[str, datetime]] = field(default_factory=list)
    alerts: int = 1
    severity: str = "critical"
    source: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    log: list[_LogEntry] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    status_updates: list[dict[str, Any]] = field(default_factory=list)
    responder_requests: list[dict[str, Any]] = field(default_factory=list)
    last_status_change_by: tuple[str, str] | None = None
    assigned_via: str = "escalation_policy"


@dataclass
class _Service:
    id: str
    name: str
    policy_id: str


class ApiError(Exception):
    """A refusal to send as PagerDuty's REST error body."""

    def __init__(self, status: int, message: str, code: int, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            error["errors"] = self.errors
        return {"error": error}


class EventError(Exception):
    """A refusal to send as the Events API's error body."""

    def __init__(
        self, errors: list[str], status: int = 400, message: str = "Event object is invalid"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return {"status": "invalid event", "message": self.message, "errors": self.errors}


def _not_found() -> ApiError:
    return ApiError(404, "Not Found", 2100)


def _invalid(*errors: str) -> ApiError:
    return ApiError(400, "Invalid Input Provided", 2001, list(errors))


class PagerDutySandboxState:
    """The sandbox's account: users, policies, services, incidents. Thread-safe."""

    def __init__(
        self,
        *,
        api_token: str,
        routing_keys: dict[str, str],
        users: list[SandboxUser],
        escalation_policies: dict[str, list[str]],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        seed: int = 0,
        max_page_size: int = PAGE_SIZE_LIMIT,
    ) -> None:
        self.lock = threading.RLock()
        self.api_token = api_token
        self.now = now
        self.max_page_size = max_page_size
        self._random = random.Random(seed)
        self._issued: set[str] = set()
        self.users: dict[str, SandboxUser] = {u.id: u for u in users}
        self.users_by_email: dict[str, SandboxUser] = {u.email.lower(): u for u in users}
        for policy, emails in escalation_policies.items():
            for email in emails:
                if email.lower() not in self.users_by_email:
                    raise ValueError(f"escalation policy {policy} names unknown user {email}")
        self.escalation_policies = {p: list(e) for p, e in escalation_policies.items()}
        self.services: dict[str, _Service] = {}
        self.routing_keys: dict[str, str] = {}  # routing key -> service id
        for n, (key, policy) in enumerate(routing_keys.items(), start=1):
            if policy not in self.escalation_policies:
                raise ValueError(f"routing key #{n} names unknown escalation policy {policy}")
            service = _Service(self._new_id(), f"Service {n} ({policy})", policy)
            self.services[service.id] = service
            self.routing_keys[key] = service.id
        self.incidents: dict[str, _Incident] = {}
        self._by_key: dict[str, list[_Incident]] = {}
        self.change_events: list[dict[str, Any]] = []
        self._number = 0

    # helpers ------------------------------------------------------------------------------------
    def _new_id(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            candidate = "P" + "".join(self._random.choice(alphabet) for _ in range(6))
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate

    def _log(
        self,
        incident: _Incident,
        type_: str,
        summary: str,
        agent: tuple[str, str],
        channel: dict[str, Any],
        **extra: Any,
    ) -> _LogEntry:
        entry = _LogEntry(self._new_id(), type_, summary, self.now(), agent, channel, extra)
        incident.log.append(entry)
        return entry

    def user_by_email(self, email: str) -> SandboxUser | None:
        return self.users_by_email.get(email.strip().lower())

    def open_incident(self, incident_key: str, service_id: str | None = None) -> _Incident | None:
        for incident in self._by_key.get(incident_key, []):
            if incident.status in OPEN_STATUSES and (service_id is None or incident.service_id == service_id):
                return incident
        return None

    def incidents_for_key(self, incident_key: str) -> list[_Incident]:
        with self.lock:
            return list(self._by_key.get(incident_key, []))

    def get_incident(self, incident_id: str) -> _Incident:
        incident = self.incidents.get(incident_id)
        if incident is None:
            raise _not_found()
        return incident

    def level_one(self, policy_id: str) -> SandboxUser:
        return self.users_by_email[self.escalation_policies[policy_id][0].lower()]

    # events -------------------------------------------------------------------------------------
    def enqueue(self, event: Any) -> tuple[str, str]:
        """Apply an Events API v2 event; returns (dedup_key, message). Raises EventError."""
        if not isinstance(event, dict):
            raise EventError(
                ["Event object must be a JSON object"], message="Event object format is unrecognized"
            )
        service_id = self._service_for(event.get("routing_key"))
        action = event.get("event_action")
        if action not in EVENT_ACTIONS:
            raise EventError(["'event_action' is missing or invalid (trigger, acknowledge or resolve)"])
        dedup_key = event.get("dedup_key")
        if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key.strip()):
            raise EventError(["'dedup_key' must be a non-blank string"])
        if dedup_key is not None and len(dedup_key) > DEDUP_KEY_MAX:
            raise EventError([f"'dedup_key' must be at most {DEDUP_KEY_MAX} characters"])
        if action != "trigger" and dedup_key is None:
            raise EventError([f"'dedup_key' is required for {action} events"])
        with self.lock:
            if action == "trigger":
                payload = _trigger_payload(event.get("payload"))
                key = dedup_key or secrets.token_hex(16)
                incident = self.open_incident(key, service_id)
                if incident is not None:
                    incident.alerts += 1
                    incident.updated_at = self.now()
                else:
                    self._create_incident(key, service_id, payload)
                return key, "Event processed"
            assert dedup_key is not None
            incident = self.open_incident(dedup_key, service_id)
            if incident is not None:
                agent = ("service_reference", service_id)
                if action == "acknowledge" and incident.status == "triggered":
                    self._acknowledge(incident, agent, {"type": "api"})
                elif action == "resolve":
                    self._resolve(incident, agent, {"type": "api"})
            return dedup_key, "Event processed"

    def change_event(self, event: Any) -> None:
        if not isinstance(event, dict):
            raise EventError(
                ["Event object must be a JSON object"], message="Event object format is unrecognized"
            )
        self._service_for(event.get("routing_key"))
        payload = event.get("payload")
        if not isinstance(payload, dict) or not _nonblank(payload.get("summary")):
            raise EventError(["'payload.summary' is missing or blank"])
        with self.lock:
            self.change_events.append({**payload, "received_at": _iso(self.now())})

    def _service_for(self, routing_key: Any) -> str:
        if not isinstance(routing_key, str) or not routing_key:
            raise EventError(["'routing_key' is missing or blank"])
        if len(routing_key) != 32:
            raise EventError(["'routing_key' must be 32 characters long"])
        service_id = self.routing_keys.get(routing_key)
        if service_id is None:
            raise EventError(["Invalid routing key"])
        return service_id

    def _create_incident(self, key: str, service_id: str, payload: dict[str, Any]) -> _Incident:
        now = self.now()
        service = self.services[service_id]
        self._number += 1
        incident = _Incident(
            id=self._new_id(),
            number=self._number,
            title=payload["summary"],
            incident_key=key,
            service_id=service_id,
            policy_id=service.policy_id,
            status="triggered",
            urgency="high" if payload["severity"] in ("critical", "error") else "low",
            created_at=now,
            updated_at=now,
            last_status_change_at=now,
            severity=payload["severity"],
            source=payload["source"],
            details=dict(payload.get("custom_details") or {}),
        )
        self.incidents[incident.id] = incident
        self._by_key.setdefault(key, []).append(incident)
        agent = ("service_reference", service_id)
        self._log(
            incident,
            "trigger_log_entry",
            "Triggered through the API.",
            agent,
            {"type": "api", "summary": payload["summary"], "details": incident.details},
            event_details={"description": payload["summary"]},
        )
        assignee = self.level_one(service.policy_id)
        incident.assignments = [(assignee.id, now)]
        self._log(
            incident,
            "assign_log_entry",
            f"Assigned to {assignee.name}.",
            agent,
            {"type": "auto"},
            assignees=[assignee.id],
        )
        return incident

    def _acknowledge(self, incident: _Incident, agent: tuple[str, str], channel: dict[str, Any]) -> None:
        now = self.now()
        incident.status = "acknowledged"
        incident.updated_at = incident.last_status_change_at = now
        incident.last_status_change_by = agent
        incident.acknowledgements.append((agent[1], now))
        self._log(
            incident, "acknowledge_log_entry", f"Acknowledged by {self._agent_name(agent)}.", agent, channel
        )

    def _resolve(
        self, incident: _Incident, agent: tuple[str, str], channel: dict[str, Any], note: str | None = None
    ) -> None:
        now = self.now()
        incident.status = "resolved"
        incident.updated_at = incident.last_status_change_at = now
        incident.resolved_at = now
        incident.last_status_change_by = agent
        incident.assignments = []
        incident.acknowledgements = []
        extra = {"note": note} if note else {}
        self._log(
            incident, "resolve_log_entry", f"Resolved by {self._agent_name(agent)}.", agent, channel, **extra
        )

    def _agent_name(self, agent: tuple[str, str]) -> str:
        kind, ident = agent
        if kind == "user_reference" and ident in self.users:
            return self.users[ident].name
        if kind == "service_reference" and ident in self.services:
            return self.services[ident].name
        return ident

    # REST writes --------------------------------------------------------------------------------
    def update_incident(self, incident_id: str, actor: SandboxUser, body: Any) -> _Incident:
        if not isinstance(body, dict) or not isinstance(body.get("incident"), dict):
            raise _invalid("incident is required")
        change = body["incident"]
        if change.get("type") not in ("incident", "incident_reference"):
            raise _invalid("incident.type must be incident or incident_reference")
        with self.lock:
            incident = self.get_incident(incident_id)
            agent = ("user_reference", actor.id)
            channel = {"type": "website"}
            if "assignments" in change:
                self._reassign(incident, agent, change["assignments"])
            if "title" in change:
                if not _nonblank(change["title"]):
                    raise _invalid("incident.title must not be blank")
                incident.title = change["title"]
                incident.updated_at = self.now()
            if "urgency" in change:
                if change["urgency"] not in ("high", "low"):
                    raise _invalid("incident.urgency must be high or low")
                incident.urgency = change["urgency"]
                incident.updated_at = self.now()
            status = change.get("status")
            if status is not None:
                if status not in ("triggered", "acknowledged", "resolved"):
                    raise _invalid("incident.status must be triggered, acknowledged or resolved")
                if status == "acknowledged" and incident.status != "acknowledged":
                    if incident.status == "resolved":
                        raise _invalid("Incident Already Resolved")
                    self._acknowledge(incident, agent, channel)
                elif status == "resolved" and incident.status != "resolved":
                    self._resolve(incident, agent, channel, note=change.get("resolution"))
                elif status == "triggered" and incident.status == "acknowledged":
                    incident.status = "triggered"
                    incident.acknowledgements = []
                    incident.updated_at = incident.last_status_change_at = self.now()
                    incident.last_status_change_by = agent
                    self._log(incident, "unacknowledge_log_entry", "Unacknowledged.", agent, channel)
                elif status == "triggered" and incident.status == "resolved":
                    raise _invalid("Incident Already Resolved")
            return incident

    def _reassign(self, incident: _Incident, agent: tuple[str, str], assignments: Any) -> None:
        if incident.status == "resolved":
            raise _invalid("Incident Already Resolved")
        if not isinstance(assignments, list) or not assignments:
            raise _invalid("incident.assignments must be a non-empty array")
        users: list[SandboxUser] = []
        for item in assignments:
            assignee = item.get("assignee") if isinstance(item, dict) else None
            if not isinstance(assignee, dict) or assignee.get("type") not in ("user_reference", "user"):
                raise _invalid("each assignment needs an assignee user reference")
            user = self.users.get(str(assignee.get("id")))
            if user is None:
                raise _invalid(f"Assignee {assignee.get('id')} not found")
            users.append(user)
        now = self.now()
        incident.assignments = [(u.id, now) for u in users]
        incident.assigned_via = "direct_assignment"
        incident.updated_at = now
        names = ", ".join(u.name for u in users)
        self._log(
            incident,
            "assign_log_entry",
            f"Reassigned to {names} by {self._agent_name(agent)}.",
            agent,
            {"type": "website"},
            assignees=[u.id for u in users],
        )

    def add_note(self, incident_id: str, actor: SandboxUser, body: Any) -> dict[str, Any]:
        note = body.get("note") if isinstance(body, dict) else None
        if not isinstance(note, dict) or not _nonblank(note.get("content")):
            raise _invalid("note.content is required")
        if len(note["content"]) > 25000:
            raise _invalid("note.content must be at most 25000 characters")
        with self.lock:
            incident = self.get_incident(incident_id)
            now = self.now()
            record = {"id": self._new_id(), "user_id": actor.id, "content": note["content"], "at": now}
            incident.notes.append(record)
            incident.updated_at = now
            self._log(
                incident,
                "annotate_log_entry",
                f"Note added by {actor.name}.",
                ("user_reference", actor.id),
                {"type": "note", "summary": note["content"]},
            )
            return record

    def add_status_update(self, incident_id: str, actor: SandboxUser, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not _nonblank(body.get("message")):
            raise _invalid("message is required")
        with self.lock:
            incident = self.get_incident(incident_id)
            now = self.now()
            record = {"id": self._new_id(), "user_id": actor.id, "message": body["message"], "at": now}
            for optional in ("subject", "html_message"):
                if isinstance(body.get(optional), str):
                    record[optional] = body[optional]
            incident.status_updates.append(record)
            incident.updated_at = now
            self._log(
                incident,
                "status_update_log_entry",
                f"Status update posted by {actor.name}.",
                ("user_reference", actor.id),
                {"type": "status_update", "summary": body["message"]},
                message=body["message"],
            )
            return record

    def add_responder_request(self, incident_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid("a JSON object is required")
        requester = self.users.get(str(body.get("requester_id")))
        if requester is None:
            raise _invalid("requester_id must be a valid user id")
        if not _nonblank(body.get("message")):
            raise _invalid("message is required")
        raw_targets = body.get("responder_request_targets")
        if not isinstance(raw_targets, list) or not raw_targets:
            raise _invalid("responder_request_targets must be a non-empty array")
        targets: list[SandboxUser] = []
        policies: list[str] = []
        for item in raw_targets:
            target = item.get("responder_request_target", item) if isinstance(item, dict) else None
            kind = target.get("type") if isinstance(target, dict) else None
            if not isinstance(target, dict) or kind not in RESPONDER_TARGET_TYPES:
                raise _invalid(
                    "each responder_request_target must be a user or escalation policy reference"
                )
            ident = str(target.get("id"))
            if kind in ("escalation_policy_reference", "escalation_policy"):
                if ident not in self.escalation_policies:
                    raise _invalid(f"Escalation policy {target.get('id')} not found")
                if ident not in policies:
                    policies.append(ident)
                continue
            user = self.users.get(ident)
            if user is None:
                raise _invalid(f"Responder {target.get('id')} not found")
            targets.append(user)
        with self.lock:
            incident = self.get_incident(incident_id)
            if incident.status == "resolved":
                raise _invalid("Incident Already Resolved")
            now = self.now()
            record = {
                "requester_id": requester.id,
                "message": body["message"],
                "target_ids": [u.id for u in targets],
                "policy_ids": policies,
                "at": now,
            }
            incident.responder_requests.append(record)
            incident.updated_at = now
            asked = [u.name for u in targets] + [policy_name(p) for p in policies]
            self._log(
                incident,
                "responder_request_log_entry",
                f"{requester.name} requested responders: {', '.join(asked)}.",
                ("user_reference", requester.id),
                {"type": "website"},
                message=body["message"],
            )
            return record

    # keeping it across restarts -----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The account's data as JSON values (no secrets: the setup is not part of it)."""
        with self.lock:
            return {
                "version": STATE_VERSION,
                "number": self._number,
                "issued": sorted(self._issued),
                "services": [jsonable(s) for s in self.services.values()],
                "incidents": [
                    jsonable(i) for i in sorted(self.incidents.values(), key=lambda i: i.number)
                ],
                "change_events": list(self.change_events),
            }

    def restore(self, data: Any) -> None:
        """Take over the data of a :meth:`snapshot`, on a state with no incidents yet.

        This setup's services keep the ids they had (matched by name and escalation policy), so the
        open incidents still join on their dedup keys; services no longer set up stay for the
        incidents that name them. Raises ValueError, KeyError or TypeError, changing nothing, when
        ``data`` is not a snapshot.
        """
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"not a PagerDuty sandbox snapshot of version {STATE_VERSION}")
        services = {s["id"]: _Service(**s) for s in data["services"]}
        incidents = [_incident_from(i) for i in data["incidents"]]
        issued = {str(i) for i in data["issued"]}
        number = int(data["number"])
        change_events = [dict(e) for e in data["change_events"]]
        for incident in incidents:
            if incident.service_id not in services:
                raise ValueError(f"incident {incident.id} names an unknown service {incident.service_id}")
        with self.lock:
            if self.incidents:
                raise RuntimeError("restore() needs a state with no incidents yet")
            self._issued |= issued
            saved_ids = {(s.name, s.policy_id): s.id for s in services.values()}
            routing_keys = {}
            for key, service_id in self.routing_keys.items():
                current = self.services[service_id]
                kept = saved_ids.get((current.name, current.policy_id))
                if kept is None:
                    kept = self._new_id() if service_id in issued or service_id in services else service_id
                    services[kept] = _Service(kept, current.name, current.policy_id)
                routing_keys[key] = kept
            self.services, self.routing_keys = services, routing_keys
            self.incidents = {i.id: i for i in incidents}
            self._by_key = {}
            for incident in sorted(incidents, key=lambda i: i.number):
                self._by_key.setdefault(incident.incident_key, []).append(incident)
            self._number = max([number, *(i.number for i in incidents)])
            self.change_events = change_events

    # views --------------------------------------------------------------------------------------
    def oncalls(self, policy_ids: list[str] | None) -> list[tuple[str, int, SandboxUser]]:
        out = []
        for policy, emails in self.escalation_policies.items():
            if policy_ids and policy not in policy_ids:
                continue
            for level, email in enumerate(emails, start=1):
                out.append((policy, level, self.users_by_email[email.lower()]))
        return out


def _incident_from(data: dict[str, Any]) -> _Incident:
    def pairs(items: Any) -> list[tuple[str, datetime]]:
        return [(str(who), parse_time(at)) for who, at in items]

    def records(items: Any) -> list[dict[str, Any]]:
        return [{**record, "at": parse_time(record["at"])} for record in items]

    changed_by = data["last_status_change_by"]
    resolved_at = data["resolved_at"]
    return _Incident(
        **{
            **data,
            "created_at": parse_time(data["created_at"]),
            "updated_at": parse_time(data["updated_at"]),
            "last_status_change_at": parse_time(data["last_status_change_at"]),
            "resolved_at": parse_time(resolved_at) if resolved_at is not None else None,
            "assignments": pairs(data["assignments"]),
            "acknowledgements": pairs(data["acknowledgements"]),
            "log": [
                _LogEntry(
                    **{**entry, "created_at": parse_time(entry["created_at"]), "agent": tuple(entry["agent"])}
                )
                for entry in data["log"]
            ],
            "notes": records(data["notes"]),
            "status_updates": records(data["status_updates"]),
            "responder_requests": records(data["responder_requests"]),
            "last_status_change_by": tuple(changed_by) if changed_by is not None else None,
        }
    )


def _nonblank(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _trigger_payload(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise EventError(["'payload' is missing or not an object"])
    errors = [
        f"'payload.{name}' is missing or blank"
        for name in ("summary", "source")
        if not _nonblank(payload.get(name))
    ]
    severity = payload.get("severity")
    if not _nonblank(severity):
        errors.append("'payload.severity' is missing or blank")
    elif severity not in SEVERITIES:
        errors.append("'payload.severity' must be one of critical, error, warning, info")
    if isinstance(payload.get("summary"), str) and len(payload["summary"]) > SUMMARY_MAX:
        errors.append(f"'payload.summary' is too long (at most {SUMMARY_MAX} characters)")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict | str | type(None)):
        errors.append("'payload.custom_details' must be an object")
    if errors:
        raise EventError(errors)
    return payload


# --------------------------------------------------------------------------------------------------
# rendering (as the REST API shows things)


class _Render:
    def __init__(self, state: PagerDutySandboxState, base_url: str) -> None:
        self.state = state
        self.base = base_url.rstrip("/")

    def ref(self, kind: str, ident: str, summary: str, collection: str) -> dict[str, Any]:
        return {
            "id": ident,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{self.base}/{collection}/{ident}",
            "html_url": f"{HTML_BASE}/{collection}/{ident}",
        }

    def user_ref(self, user_id: str) -> dict[str, Any]:
        user = self.state.users.get(user_id)
        return self.ref("user", user_id, user.name if user else user_id, "users")

    def service_ref(self, service_id: str) -> dict[str, Any]:
        service = self.state.services.get(service_id)
        return self.ref("service", service_id, service.name if service else service_id, "services")

    def policy_ref(self, policy_id: str) -> dict[str, Any]:
        return self.ref("escalation_policy", policy_id, policy_name(policy_id), "escalation_policies")

    def incident_ref(self, incident: _Incident) -> dict[str, Any]:
        return self.ref("incident", incident.id, f"[#{incident.number}] {incident.title}", "incidents")

    def agent_ref(self, agent: tuple[str, str]) -> dict[str, Any]:
        kind, ident = agent
        if kind == "user_reference":
            return self.user_ref(ident)
        return self.service_ref(ident)

    def user(self, user: SandboxUser) -> dict[str, Any]:
        return {
            "id": user.id,
            "type": "user",
            "summary": user.name,
            "self": f"{self.base}/users/{user.id}",
            "html_url": f"{HTML_BASE}/users/{user.id}",
            "name": user.name,
            "email": user.email,
            "time_zone": "Etc/UTC",
            "color": "green",
            "role": "user",
            "avatar_url": f"{HTML_BASE}/avatars/{user.id}.png",
            "invitation_sent": False,
            "job_title": "Engineer",
            "teams": [],
            "contact_methods": [],
            "notification_rules": [],
        }

    def incident(self, incident: _Incident) -> dict[str, Any]:
        first = incident.log[0]
        out: dict[str, Any] = {
            "id": incident.id,
            "type": "incident",
            "summary": f"[#{incident.number}] {incident.title}",
            "self": f"{self.base}/incidents/{incident.id}",
            "html_url": f"{HTML_BASE}/incidents/{incident.id}",
            "incident_number": incident.number,
            "title": incident.title,
            "created_at": _iso(incident.created_at),
            "updated_at": _iso(incident.updated_at),
            "status": incident.status,
            "incident_key": incident.incident_key,
            "service": self.service_ref(incident.service_id),
            "assignments": [
                {"at": _iso(at), "assignee": self.user_ref(uid)} for uid, at in incident.assignments
            ],
            "assigned_via": incident.assigned_via,
            "last_status_change_at": _iso(incident.last_status_change_at),
            "first_trigger_log_entry": {
                "id": first.id,
                "type": "trigger_log_entry_reference",
                "summary": first.summary,
                "self": f"{self.base}/log_entries/{first.id}?incident_id={incident.id}",
                "html_url": f"{HTML_BASE}/incidents/{incident.id}/log_entries/{first.id}",
            },
            "alert_counts": {
                "all": incident.alerts,
                "triggered": incident.alerts if incident.status != "resolved" else 0,
                "resolved": incident.alerts if incident.status == "resolved" else 0,
            },
            "is_mergeable": True,
            "incident_type": {"name": "incident_default"},
            "escalation_policy": self.policy_ref(incident.policy_id),
            "teams": [],
            "pending_actions": [],
            "acknowledgements": [
                {"at": _iso(at), "acknowledger": self.agent_ref(("user_reference", who))}
                if who in self.state.users
                else {"at": _iso(at), "acknowledger": self.service_ref(who)}
                for who, at in incident.acknowledgements
            ],
            "urgency": incident.urgency,
        }
        if incident.resolved_at is not None:
            out["resolved_at"] = _iso(incident.resolved_at)
        if incident.last_status_change_by is not None:
            out["last_status_change_by"] = self.agent_ref(incident.last_status_change_by)
        return out

    def log_entry(self, incident: _Incident, entry: _LogEntry) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": entry.id,
            "type": entry.type,
            "summary": entry.summary,
            "self": f"{self.base}/log_entries/{entry.id}",
            "html_url": f"{HTML_BASE}/incidents/{incident.id}/log_entries/{entry.id}",
            "created_at": _iso(entry.created_at),
            "agent": self.agent_ref(entry.agent),
            "channel": entry.channel,
            "service": self.service_ref(incident.service_id),
            "incident": self.incident_ref(incident),
            "teams": [],
            "contexts": [],
        }
        extra = dict(entry.extra)
        if "assignees" in extra:
            out["assignees"] = [self.user_ref(uid) for uid in extra.pop("assignees")]
        out.update(extra)
        return out

    def note(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": record["id"],
            "user": self.user_ref(record["user_id"]),
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": record["content"],
            "created_at": _iso(record["at"]),
            "updated_at": _iso(record["at"]),
        }

    def status_update(self, record: dict[str, Any]) -> dict[str, Any]:
        out = {
            "id": record["id"],
            "message": record["message"],
            "created_at": _iso(record["at"]),
            "sender": self.user_ref(record["user_id"]),
        }
        for optional in ("subject", "html_message"):
            if optional in record:
                out[optional] = record[optional]
        return out

    def responder_request(self, incident: _Incident, record: dict[str, Any]) -> dict[str, Any]:
        requester = self.user_ref(record["requester_id"])
        at = _iso(record["at"])

        def responder(uid: str, via: list[str]) -> dict[str, Any]:
            out: dict[str, Any] = {
                "state": "pending",
                "user": self.user_ref(uid),
                "incident": self.incident_ref(incident),
                "updated_at": at,
                "message": record["message"],
                "requester": requester,
                "requested_at": at,
            }
            if via:
                out["escalation_policy_requests"] = via
            return out

        users = [
            {
                "responder_request_target": {
                    "type": "user",
                    "id": uid,
                    "summary": self.state.users[uid].name,
                    "incidents_responders": [responder(uid, [])],
                }
            }
            for uid in record["target_ids"]
        ]
        # A policy is asked through its level 1, who is the pending responder (snapshots from before
        # escalation-policy targets have no "policy_ids").
        policies = [
            {
                "responder_request_target": {
                    "type": "escalation_policy",
                    "id": policy,
                    "summary": policy_name(policy),
                    "incidents_responders": (
                        [responder(self.state.level_one(policy).id, [policy_name(policy)])]
                        if self.state.escalation_policies.get(policy)
                        else []
                    ),
                }
            }
            for policy in record.get("policy_ids", [])
        ]
        return {
            "incident": self.incident_ref(incident),
            "requester": requester,
            "requested_at": at,
            "message": record["message"],
            "responder_request_targets": users + policies,
        }


# --------------------------------------------------------------------------------------------------
# the app


def _page(
    request: Request, state: PagerDutySandboxState, items: list[Any]
) -> tuple[list[Any], dict[str, Any]]:
    params = request.query_params
    try:
        limit = int(params.get("limit", DEFAULT_PAGE_SIZE))
        offset = int(params.get("offset", 0))
    except ValueError as exc:
        raise _invalid("limit and offset must be integers") from exc
    if limit < 1 or offset < 0:
        raise _invalid("limit must be positive and offset not negative")
    limit = min(limit, state.max_page_size)
    page = items[offset : offset + limit]
    want_total = params.get("total", "false").lower() == "true"
    meta = {
        "limit": limit,
        "offset": offset,
        "more": offset + len(page) < len(items),
        "total": len(items) if want_total else None,
    }
    return page, meta


def _list_param(request: Request, name: str) -> list[str]:
    return request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)


def create_pagerduty_app(
    state: PagerDutySandboxState | None = None,
    *,
    api_token: str | None = None,
    routing_keys: dict[str, str] | None = None,
    users: list[SandboxUser] | None = None,
    escalation_policies: dict[str, list[str]] | None = None,
    recorder: Recorder | None = None,
) -> FastAPI:
    """The PagerDuty sandbox app, on ``state`` or on a new state built from the keyword arguments.

    With neither, :func:`default_setup` supplies the account (read its secrets from
    ``app.state.pagerduty``).
    """
    if state is None:
        if api_token is None or routing_keys is None or users is None or escalation_policies is None:
            setup = default_setup(api_token)
            api_token = setup.api_token
            routing_keys = routing_keys if routing_keys is not None else setup.routing_keys
            users = users if users is not None else setup.users
            escalation_policies = (
                escalation_policies if escalation_policies is not None else setup.escalation_policies
            )
        state = PagerDutySandboxState(
            api_token=api_token,
            routing_keys=routing_keys,
            users=users,
            escalation_policies=escalation_policies,
        )
    recorder = recorder or Recorder(error_body=_fault_body)
    app = FastAPI(title="warroom PagerDuty sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.pagerduty = state
    app.state.recorder = recorder
    add_sandbox_admin(app, recorder)

    def render(request: Request) -> _Render:
        return _Render(state, str(request.base_url))

    async def body_of(request: Request) -> Any:
        raw = await request.body()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _invalid("the request body is not valid JSON") from exc

    def authorise(request: Request) -> None:
        header = request.headers.get("authorization", "")
        expected = f"Token token={state.api_token}"
        if not secrets.compare_digest(header.encode(), expected.encode()):
            raise ApiError(401, "Authentication failed", 2006)

    def from_user(request: Request) -> SandboxUser:
        email = request.headers.get("from")
        if not email:
            raise _invalid(
                'You must specify a user\'s email address in the "From" header to perform this action'
            )
        user = state.user_by_email(email)
        if user is None:
            raise _invalid('The "From" header must be the email address of a user on the account')
        return user

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(EventError)
    async def event_error(request: Request, exc: EventError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    # Events API v2 ------------------------------------------------------------------------------
    async def event_body(request: Request) -> Any:
        raw = await request.body()
        if len(raw) > EVENT_MAX_BYTES:
            raise EventError([f"Event object is too large ({len(raw)} bytes; at most 512 KB)"])
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise EventError(["JSON parse error"], message="Event object format is unrecognized") from exc

    @app.post("/v2/enqueue")
    async def enqueue(request: Request) -> JSONResponse:
        event = await event_body(request)
        dedup_key, message = state.enqueue(event)
        return JSONResponse(
            {"status": "success", "message": message, "dedup_key": dedup_key}, status_code=202
        )

    @app.post("/v2/change/enqueue")
    async def change_enqueue(request: Request) -> JSONResponse:
        state.change_event(await event_body(request))
        return JSONResponse({"status": "success", "message": "Change event processed"}, status_code=202)

    # REST: incidents ----------------------------------------------------------------------------
    @app.get("/incidents")
    def list_incidents(request: Request) -> dict[str, Any]:
        authorise(request)
        key = request.query_params.get("incident_key")
        statuses = _list_param(request, "statuses")
        services = _list_param(request, "service_ids")
        if any(s not in ("triggered", "acknowledged", "resolved") for s in statuses):
            raise _invalid("statuses[] must be triggered, acknowledged or resolved")
        with state.lock:
            found = [
                i
                for i in sorted(state.incidents.values(), key=lambda i: i.number)
                if (key is None or i.incident_key == key)
                and (not statuses or i.status in statuses)
                and (not services or i.service_id in services)
            ]
            page, meta = _page(request, state, found)
            r = render(request)
            return {"incidents": [r.incident(i) for i in page], **meta}

    @app.get("/incidents/{incident_id}")
    def get_incident(incident_id: str, request: Request) -> dict[str, Any]:
        authorise(request)
        with state.lock:
            return {"incident": render(request).incident(state.get_incident(incident_id))}

    @app.put("/incidents/{incident_id}")
    async def put_incident(incident_id: str, request: Request) -> dict[str, Any]:
        authorise(request)
        actor = from_user(request)
        body = await body_of(request)
        with state.lock:
            incident = state.update_incident(incident_id, actor, body)
            return {"incident": render(request).incident(incident)}

    @app.get("/incidents/{incident_id}/notes")
    def list_notes(incident_id: str, request: Request) -> dict[str, Any]:
        authorise(request)
        with state.lock:
            incident = state.get_incident(incident_id)
            r = render(request)
            return {"notes": [r.note(n) for n in incident.notes]}

    @app.post("/incidents/{incident_id}/notes")
    async def post_note(incident_id: str, request: Request) -> dict[str, Any]:
        authorise(request)
        actor = from_user(request)
        record = state.add_note(incident_id, actor, await body_of(request))
        return {"note": render(request).note(record)}

    @app.post("/incidents/{incident_id}/status_updates")
    async def post_status_update(incident_id: str, request: Request) -> dict[str, Any]:
        authorise(request)
        actor = from_user(request)
        record = state.add_status_update(incident_id, actor, await body_of(request))
        return {"status_update": render(request).status_update(record)}

    @app.post("/incidents/{incident_id}/responder_requests")
    async def post_responder_request(incident_id: str, request: Request) -> dict[str, Any]:
        authorise(request)
        record = state.add_responder_request(incident_id, await body_of(request))
        with state.lock:
            incident = state.get_incident(incident_id)
            return {"responder_request": render(request).responder_request(incident, record)}

    @app.get("/incidents/{incident_id}/log_entries")
    def list_log_entries(incident_id: str, request: Request) -> dict[str, Any]:
        authorise(request)
        with state.lock:
            incident = state.get_incident(incident_id)
            newest_first = list(reversed(incident.log))
            page, meta = _page(request, state, newest_first)
            r = render(request)
            return {"log_entries": [r.log_entry(incident, e) for e in page], **meta}

    # REST: on-calls and users -------------------------------------------------------------------
    @app.get("/oncalls")
    def list_oncalls(request: Request) -> dict[str, Any]:
        authorise(request)
        policies = _list_param(request, "escalation_policy_ids")
        user_ids = _list_param(request, "user_ids")
        now = state.now()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        with state.lock:
            rows = [row for row in state.oncalls(policies or None) if not user_ids or row[2].id in user_ids]
            page, meta = _page(request, state, rows)
            r = render(request)
            return {
                "oncalls": [
                    {
                        "escalation_policy": r.policy_ref(policy),
                        "escalation_level": level,
                        "user": r.user_ref(user.id),
                        "start": _iso(start),
                        "end": _iso(start + timedelta(days=1)),
                    }
                    for policy, level, user in page
                ],
                **meta,
            }

    @app.get("/users")
    def list_users(request: Request) -> dict[str, Any]:
        authorise(request)
        query = (request.query_params.get("query") or "").strip().lower()
        with state.lock:
            found = [
                u
                for u in state.users.values()
                if not query or query in u.email.lower() or query in u.name.lower()
            ]
            page, meta = _page(request, state, found)
            r = render(request)
            return {"users": [r.user(u) for u in page], **meta}

    @app.get("/users/{user_id}")
    def get_user(user_id: str, request: Request) -> dict[str, Any]:
        authorise(request)
        user = state.users.get(user_id)
        if user is None:
            raise _not_found()
        return {"user": render(request).user(user)}

    return app


def _fault_body(path: str, status: int) -> Any:
    """Injected faults answer in the shape of the API the path belongs to."""
    if path.startswith("/v2/"):
        return {
            "status": "throttle event" if status == 429 else "error",
            "message": f"Sandbox fault {status}",
        }
    message = "Rate Limit Exceeded" if status == 429 else f"Sandbox fault {status}"
    return {"error": {"message": message, "code": 2020 if status == 429 else 2000 + status % 1000}}
