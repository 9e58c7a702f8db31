"""``PagerDutyPager``: the :class:`~incident.ports.Pager` port on PagerDuty.

Pages go out through the Events API v2 with ``dedup_key`` = the incident id, so a page sent twice
(a retry, a rerun, a second intake replica) joins the open PagerDuty incident instead of opening a
second one. Everything else goes through the REST API v2 on the incident whose ``incident_key`` is
that dedup key (the open one, else the latest).

Both vendor clients have their own retries switched off (see
:mod:`integrations.pagerduty.credentials`); calls are retried here, bounded by a
:class:`~integrations.retry.RetryPolicy`, and every REST request passes a
:class:`~integrations.retry.RateLimiter` (PagerDuty allows 960 REST requests a minute). Failures
become :class:`~incident.errors.IntegrationError` naming ``PagerDuty`` and the call; messages are
built here from the status and PagerDuty's error body, never from the client's own messages (its
401 message carries the end of the API token), and known secrets are scrubbed from them.

There is always a page. Before a trigger leaves, every string in it is made valid UTF-8 (a lone
surrogate becomes U+FFFD) and PagerDuty's Events v2 limits are kept: ``payload.summary`` at most
1,024 characters (cut with a trailing "…"), ``dedup_key`` at most 255 (a longer one keeps its start
and a hash of the whole, the same for every call on it), ``source``/``component``/``group``/``class``
at most 255, and the whole event within 512 KB (``custom_details`` is shortened, then reduced to its
short entries, and a ``warroom_note`` detail says so). If PagerDuty still refuses the trigger with 400
(an invalid event), one minimal trigger goes out: the summary cut to 255 characters and
``custom_details`` reduced to the identifying fields. Only if that is refused too does ``page`` fail.
The full text stays in warroom's ledger, kept by the caller.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import httpx2
import pagerduty

from warroom.incident.errors import IntegrationError
from warroom.incident.events import bounded_key
from warroom.incident.ports import LogEntry, OnCall, PageReceipt, PageSeverity
from warroom.integrations.pagerduty.credentials import PagerDutyCredentials
from warroom.integrations.retry import (
    PAGERDUTY_REST_PER_MINUTE,
    RateLimiter,
    Retryable,
    RetryPolicy,
    call_with_retry,
    parse_retry_after,
    scrub,
)

SERVICE = "PagerDuty"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
OPEN_STATUSES = ("triggered", "acknowledged")

T = TypeVar("T")

log = logging.getLogger("warroom.pagerduty")

# PagerDuty Events API v2 limits (the published OpenAPI document gives no maxLength; these are
# PagerDuty's documented limits, and 255 for the short payload fields).
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
FIELD_MAX = 255  # source, component, group, class
EVENT_MAX_BYTES = 512 * 1024
EVENT_BUDGET_BYTES = EVENT_MAX_BYTES - 4 * 1024  # headroom for the envelope the client adds
DETAIL_VALUE_MAX = 1024  # a custom_details string, when the details must shrink
REPAIRED_SUMMARY_MAX = 255
IDENTIFYING_DETAILS = ("incident", "service", "severity")
ELLIPSIS = "…"


class _NotYet(Exception):
    """The incident for a dedup key is not visible yet (events are processed asynchronously)."""


def _only_retryable(exc: BaseException) -> Retryable | None:
    return exc if isinstance(exc, Retryable) else None


def _vendor_message(response: httpx2.Response) -> str:
    """PagerDuty's own words from an error body (REST ``{"error": ...}`` or Events ``{"message"}``)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        parts = [str(error.get("message", "")).strip()]
        parts += [str(e) for e in error.get("errors", []) or [] if e]
    else:
        parts = [str(body.get("message", "")).strip()]
        parts += [str(e) for e in body.get("errors", []) or [] if e]
    return "; ".join(p for p in parts if p)


def _path_of(response: httpx2.Response) -> str:
    try:
        request = response.request
    except RuntimeError:
        return ""
    return f" to {request.method} {request.url.path}"


class PagerDutyPager:
    """Pages through PagerDuty's Events API v2 and keeps the incident in step through the REST API."""

    def __init__(
        self,
        credentials: PagerDutyCredentials,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._retry = retry or RetryPolicy()
        self._limiter = limiter or RateLimiter.per_minute(PAGERDUTY_REST_PER_MINUTE)
        self._events = credentials.get_events_client(timeout_s=timeout_s)
        self._rest = credentials.get_rest_client(timeout_s=timeout_s)
        self._rest.event_hooks["request"].append(self._before_rest_request)
        self._user_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._events.close()
        self._rest.close()

    def trying_once(self) -> PagerDutyPager:
        """This pager with one try per call (and the same rate limit): for a page sent while a
        sender waits for its answer, where the ledger's dispatcher does the retrying."""
        return PagerDutyPager(self._credentials, RetryPolicy(max_attempts=1), self._limiter, self._timeout_s)

    # the Pager port -----------------------------------------------------------------------------
    def page(
        self, dedup_key: str, summary: str, severity: PageSeverity, source: str, details: dict[str, str]
    ) -> PageReceipt:
        event = trigger_event(dedup_key, summary, severity, source, details)
        try:
            returned = self._trigger("page", event)
        except IntegrationError as refused:
            if refused.status != 400:
                raise
            # PagerDuty found the event invalid: send the smallest trigger that still pages.
            repaired = minimal_trigger(event, refused.detail)
            log.warning(
                "PagerDuty refused the trigger for %s (%s); sending a repaired trigger",
                repaired["dedup_key"],
                refused.detail,
            )
            returned = self._trigger("page", repaired)
        # trigger() returns the dedup key only after a 2xx answer whose status is "success".
        return PageReceipt(dedup_key=str(returned), status="success")

    def _trigger(self, call: str, event: dict[str, Any]) -> str:
        extra = dict(event["payload"])
        summary, source, severity = extra.pop("summary"), extra.pop("source"), extra.pop("severity")
        details = extra.pop("custom_details", {})
        return self._call(
            call,
            lambda: self._events.trigger(
                summary,
                source,
                dedup_key=event["dedup_key"],
                severity=severity,
                payload=dict(extra) or None,
                custom_details=dict(details),
            ),
        )

    def acknowledge(self, dedup_key: str) -> None:
        key = vendor_dedup_key(dedup_key)
        self._call("acknowledge", lambda: self._events.acknowledge(key))

    def resolve(self, dedup_key: str) -> None:
        key = vendor_dedup_key(dedup_key)
        self._call("resolve", lambda: self._events.resolve(key))

    def add_responders(
        self,
        dedup_key: str,
        responder_emails: Sequence[str],
        message: str,
        escalation_policies: Sequence[str] = (),
    ) -> None:
        """One responder request for the users (found by e-mail) and the escalation policies (by id,
        e.g. another team's ``escalation_policy`` in services.yaml); nothing is sent when both are empty."""
        call = "add_responders"
        policies = list(dict.fromkeys(p.strip() for p in escalation_policies))
        if not responder_emails and not policies:
            return
        if any(not p for p in policies):
            raise IntegrationError(SERVICE, call, "an escalation policy id is blank (check services.yaml)")
        incident = self._incident(call, dedup_key)
        requester = self._user_id(call, self._credentials.from_email)
        targets = [
            {"responder_request_target": {"id": self._user_id(call, email), "type": "user_reference"}}
            for email in dict.fromkeys(responder_emails)
        ]
        targets += [
            {"responder_request_target": {"id": policy, "type": "escalation_policy_reference"}}
            for policy in policies
        ]
        body = {"requester_id": requester, "message": message, "responder_request_targets": targets}
        try:
            self._call(
                call, lambda: self._rest.jpost(f"/incidents/{incident['id']}/responder_requests", json=body)
            )
        except IntegrationError as refused:
            if not policies or refused.status not in (400, 404):
                raise
            # The users were found before the request, so a refusal may well be about a policy: name
            # the ones PagerDuty named, else every one asked for (PagerDuty's words may name none).
            named = [p for p in policies if re.search(rf"\b{re.escape(p)}\b", refused.detail)]
            if named:
                what = "escalation polic" + ("y " if len(named) == 1 else "ies ") + ", ".join(map(repr, named))
                detail = (
                    f"PagerDuty refused {what} in the responder request: {refused.detail} "
                    "(check the escalation_policy ids in configs/services.yaml against PagerDuty)"
                )
            else:
                detail = (
                    "PagerDuty refused the responder request for escalation "
                    + ("policy " if len(policies) == 1 else "policies ")
                    + ", ".join(map(repr, policies))
                    + f": {refused.detail} (if a policy is unknown, check the escalation_policy ids in "
                    "configs/services.yaml against PagerDuty)"
                )
            raise IntegrationError(SERVICE, call, detail, refused.status) from refused

    def post_status_update(
        self, dedup_key: str, message: str, author_email: str | None = None
    ) -> None:
        call = "post_status_update"
        incident = self._incident(call, dedup_key)
        # PagerDuty attributes a status update to the user its From header names
        headers = {"From": author_email} if author_email else None
        self._call(
            call,
            lambda: self._rest.jpost(
                f"/incidents/{incident['id']}/status_updates",
                json={"message": message},
                headers=headers,
            ),
        )

    def add_note(self, dedup_key: str, content: str) -> None:
        call = "add_note"
        incident = self._incident(call, dedup_key)
        path = f"/incidents/{incident['id']}/notes"
        attempts = 0

        def post_once() -> None:
            # A retry after a timeout may follow a POST that did land: look before posting again.
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                notes = self._rest.jget(path)
                existing = notes.get("notes", []) if isinstance(notes, dict) else []
                if any(n.get("content") == content for n in existing):
                    return
            self._rest.jpost(path, json={"note": {"content": content}})

        self._call(call, post_once)

    def reassign(self, dedup_key: str, assignee_email: str) -> None:
        call = "reassign"
        incident = self._incident(call, dedup_key)
        user_id = self._user_id(call, assignee_email)
        change = {
            "type": "incident_reference",
            "assignments": [{"assignee": {"id": user_id, "type": "user_reference"}}],
        }
        # rput follows the incident's ``self`` URL.
        self._call(call, lambda: self._rest.rput(incident, json=change))

    def oncall(self, escalation_policy: str) -> list[OnCall]:
        call = "oncall"
        rows = self._call(
            call,
            lambda: list(
                self._rest.iter_all("/oncalls", params={"escalation_policy_ids[]": [escalation_policy]})
            ),
        )
        seen: dict[tuple[str, int], OnCall] = {}
        for row in rows:
            user = row.get("user") or {}
            level = int(row.get("escalation_level") or 0)
            user_id = str(user.get("id", ""))
            if not user_id or (user_id, level) in seen:
                continue
            full = self._call(call, functools.partial(self._rest.rget, f"/users/{user_id}"))
            if not isinstance(full, dict) or not full.get("email"):
                raise IntegrationError(SERVICE, call, f"user {user_id} has no e-mail in PagerDuty's answer")
            seen[(user_id, level)] = OnCall(
                email=str(full["email"]),
                name=str(full.get("name") or user.get("summary") or ""),
                escalation_level=level,
            )
        return sorted(seen.values(), key=lambda o: (o.escalation_level, o.name, o.email))

    def log_entries(self, dedup_key: str) -> list[LogEntry]:
        call = "log_entries"
        incident = self._incident(call, dedup_key)
        rows = self._call(call, lambda: list(self._rest.iter_all(f"/incidents/{incident['id']}/log_entries")))
        # PagerDuty lists newest first with times to the second: reverse, then a stable sort by
        # time keeps same-second entries in the order they happened.
        entries = [
            LogEntry(
                at=_parse_time(str(row["created_at"])),
                type=str(row["type"]),
                summary=str(row.get("summary") or ""),
            )
            for row in reversed(rows)
        ]
        return sorted(entries, key=lambda e: e.at)

    # lookups ------------------------------------------------------------------------------------
    def _incident(self, call: str, dedup_key: str) -> dict[str, Any]:
        """The incident for ``dedup_key``: the open one, else the latest; retried while not visible."""
        dedup_key = vendor_dedup_key(dedup_key)

        def find() -> dict[str, Any]:
            found = list(
                self._rest.iter_all("/incidents", params={"incident_key": dedup_key, "date_range": "all"})
            )
            matching = [i for i in found if i.get("incident_key") == dedup_key]
            if not matching:
                raise _NotYet(f"no PagerDuty incident has dedup key {dedup_key!r} (yet)")
            open_ones = [i for i in matching if i.get("status") in OPEN_STATUSES]
            pool = open_ones or matching
            return max(pool, key=lambda i: (str(i.get("created_at", "")), int(i.get("incident_number") or 0)))

        return self._call(call, find)

    def _user_id(self, call: str, email: str) -> str:
        key = email.strip().lower()
        with self._lock:
            cached = self._user_ids.get(key)
        if cached is not None:
            return cached
        users = self._call(call, lambda: list(self._rest.iter_all("/users", params={"query": email.strip()})))
        for user in users:
            if str(user.get("email", "")).lower() == key:
                with self._lock:
                    self._user_ids[key] = str(user["id"])
                return str(user["id"])
        raise IntegrationError(SERVICE, call, f"no PagerDuty user has the e-mail address {email!r}")

    # plumbing -----------------------------------------------------------------------------------
    def _before_rest_request(self, request: httpx2.Request) -> None:
        self._limiter.acquire()

    def _secrets(self) -> tuple[str, ...]:
        creds = self._credentials
        drill = creds.drill_routing_key.get_secret_value() if creds.drill_routing_key else None
        return (creds.api_token.get_secret_value(), creds.routing_key.get_secret_value(), *([drill] if drill else []))

    def _call(self, call: str, fn: Callable[[], T]) -> T:
        hidden = self._secrets()

        def attempt() -> T:
            try:
                return fn()
            except _NotYet as exc:
                raise Retryable(None, None, str(exc)) from exc
            except pagerduty.Error as exc:
                self._translate(call, exc, hidden)
            except httpx2.TransportError as exc:
                raise Retryable(
                    None, None, scrub(f"network error: {_describe_transport(exc)}", hidden)
                ) from exc

        return call_with_retry(SERVICE, call, attempt, self._retry, _only_retryable, secrets=hidden)

    @staticmethod
    def _translate(call: str, exc: pagerduty.Error, hidden: tuple[str, ...]) -> NoReturn:
        response = exc.response
        if response is None:
            cause = exc.__cause__
            if isinstance(cause, httpx2.TransportError):
                raise Retryable(
                    None, None, scrub(f"network error: {_describe_transport(cause)}", hidden)
                ) from exc
            raise IntegrationError(
                SERVICE, call, "the PagerDuty client failed without an HTTP answer"
            ) from exc
        status = response.status_code
        said = _vendor_message(response)
        detail = scrub(f"HTTP {status}{_path_of(response)}" + (f": {said}" if said else ""), hidden)
        if status == 401:
            detail += " (check the API token: WARROOM_PAGERDUTY_API_TOKEN or the PagerDutyCredentials block)"
        if status in RETRYABLE_STATUSES:
            raise Retryable(status, parse_retry_after(response.headers.get("retry-after")), detail) from exc
        raise IntegrationError(SERVICE, call, detail, status) from exc


def _describe_transport(exc: httpx2.TransportError) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# the trigger, within PagerDuty's limits ---------------------------------------------------------


def valid_text(value: str) -> str:
    """``value`` as valid Unicode: a lone surrogate becomes U+FFFD (a surrogate pair, one character)."""
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clean(value: Any) -> Any:
    """``value`` with every string (keys too, at any depth) valid UTF-8 and no NaN/Infinity (not JSON)."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_text(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return valid_text(str(value))


def cut(value: str, limit: int) -> str:
    """``value`` in at most ``limit`` characters, ending in "…" when it was cut."""
    return value if len(value) <= limit else value[: limit - len(ELLIPSIS)] + ELLIPSIS


def vendor_dedup_key(dedup_key: str) -> str:
    """The dedup key PagerDuty is sent: ``dedup_key`` if it fits, else its start and a hash."""
    return bounded_key(valid_text(dedup_key), DEDUP_KEY_MAX)


def event_size(event: dict[str, Any]) -> int:
    """Bytes of ``event`` as the client sends it (compact JSON in UTF-8)."""
    return len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        return cut(value, DETAIL_VALUE_MAX)
    if isinstance(value, dict):
        return {cut(k, DETAIL_VALUE_MAX): _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


def trigger_event(
    dedup_key: str, summary: str, severity: str, source: str, details: dict[str, Any]
) -> dict[str, Any]:
    """The trigger event (without routing key) for a page, valid UTF-8 and within PagerDuty's limits."""
    payload: dict[str, Any] = {
        "summary": cut(valid_text(summary), SUMMARY_MAX),
        "source": cut(valid_text(source), FIELD_MAX),
        "severity": severity,
    }
    event: dict[str, Any] = {"dedup_key": vendor_dedup_key(dedup_key), "payload": payload}
    fit_details(event, clean(dict(details)))
    return event


def fit_details(event: dict[str, Any], details: dict[str, Any]) -> None:
    """Put ``details`` in ``event["payload"]["custom_details"]``, shortened so the event fits 512 KB."""
    payload = event["payload"]
    for name in ("component", "group", "class"):
        if isinstance(payload.get(name), str):
            payload[name] = cut(valid_text(payload[name]), FIELD_MAX)
    payload["custom_details"] = details
    # routing_key and event_action are added by the client: a margin covers them.
    if event_size(event) <= EVENT_BUDGET_BYTES:
        return
    full = event_size({"custom_details": details})
    payload["custom_details"] = {
        **_shorten(details),
        "warroom_note": (
            f"custom_details ({full} bytes) shortened to fit PagerDuty's 512 KB event limit "
            f"(each text cut to {DETAIL_VALUE_MAX} characters); the full text is in warroom's ledger"
        ),
    }
    if event_size(event) <= EVENT_BUDGET_BYTES:
        return
    note = (
        f"custom_details ({full} bytes) dropped to fit PagerDuty's 512 KB event limit; "
        "only short entries are kept; the full text is in warroom's ledger"
    )
    kept: dict[str, Any] = {"warroom_note": note}
    payload["custom_details"] = kept
    used = event_size(event)
    for key, value in details.items():
        if not isinstance(value, str | int | float | bool) or len(str(key)) > FIELD_MAX:
            continue
        if isinstance(value, str) and len(value) > FIELD_MAX:
            continue
        extra = event_size({key: value})
        if used + extra > EVENT_BUDGET_BYTES:
            break
        kept[key] = value
        used += extra


def minimal_trigger(event: dict[str, Any], refusal: str) -> dict[str, Any]:
    """The smallest trigger that still pages for ``event``: summary cut hard, identifying details only."""
    payload = event["payload"]
    details = payload.get("custom_details") or {}
    identifying = {
        k: cut(str(details[k]), FIELD_MAX) for k in IDENTIFYING_DETAILS if k in details and details[k] is not None
    }
    identifying["warroom_note"] = cut(
        f"PagerDuty refused the full trigger ({refusal}); this is a repaired page, "
        "the full text is in warroom's ledger",
        DETAIL_VALUE_MAX,
    )
    return {
        "dedup_key": event["dedup_key"],
        "payload": {
            "summary": cut(payload["summary"], REPAIRED_SUMMARY_MAX),
            "source": cut(payload["source"], FIELD_MAX),
            "severity": payload["severity"],
            "custom_details": identifying,
        },
    }
