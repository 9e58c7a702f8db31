"""Parse incoming alert webhooks into :class:`incident.models.Alert`: pure, no I/O, no clock.

``parse(source, body, content_type)`` takes the raw body exactly as received and returns a
:class:`Parsed`, or raises an :class:`~incident.errors.AlertRejectedError` subclass that names what
was wrong and where:

- :class:`UnsupportedMediaType` (HTTP 415): the content type is not ``application/json``, or its
  charset is not UTF-8;
- :class:`MalformedBody` (HTTP 400): the body is not UTF-8 or not JSON; the reason names the line and
  column;
- :class:`SchemaMismatch` (HTTP 422): the JSON does not have the source's shape; ``field`` is the
  dotted path of the first problem (``alerts[2].labels``, ``status``, ``event.data.id``; a key that
  is not an identifier is quoted: ``alerts[0].labels["grafana folder"]``), ``None`` for the body as a
  whole, and the reason says what was expected and what came (and lists further problems' paths).

Each class has ``http_status``.

Every shape is validated with pydantic models that allow extra fields (vendors add fields). Label and
annotation values become strings (numbers and booleans are accepted and written as JSON writes them;
``null`` becomes ``""``). Times become timezone-aware UTC datetimes; Go's zero time
``0001-01-01T00:00:00Z`` (Alertmanager's "no end yet") becomes ``None``; a time without an offset is
refused.

Sources
-------

``alertmanager``: the Alertmanager webhook, version 4
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). One Alert per entry of
``alerts``. Another or a missing ``version`` is accepted when the shape fits, and said in the note.
An alert without its own ``status`` takes the group's.

- fingerprint: the alert's ``fingerprint``, else ``fingerprint_of_labels(labels)``
- service: label ``service``, else label ``job``, else ``None``
- summary: annotation ``summary``, else ``description``, else label ``alertname``, else
  ``"alert from alertmanager"``
- links: ``generatorURL``, then the group's ``externalURL`` (empty ones and repeats left out)
- ``Parsed.group_key``: ``groupKey`` (a number is written as a string); ``Parsed.truncated``:
  ``truncatedAlerts``

``grafana``: Grafana's unified alerting webhook (version "1"): Alertmanager's shape plus, per alert,
``values`` (put into the annotations as ``values``, a JSON string, unless an annotation of that name
exists), ``valueString`` (into annotation ``valueString``, likewise), and the links ``dashboardURL``,
``panelURL``, ``silenceURL`` and ``imageURL`` (after ``generatorURL``, before ``externalURL``).
The summary's last resort is ``"alert from grafana"``.

``pagerduty``: PagerDuty V3 webhooks (https://developer.pagerduty.com/docs/webhooks/v3-overview/),
``{"event": {"id", "event_type", "resource_type", "occurred_at", "agent", "client", "data"}}``.
An ``incident.*`` event whose ``data`` is the incident gives one Alert:

- status: ``resolved`` for ``incident.resolved`` or when ``data.status`` is ``resolved``; else
  ``firing`` (triggered, acknowledged, reopened, escalated, priority_updated, ...)
- fingerprint: the incident id ``data.id``; service: ``data.service.summary``; summary:
  ``data.title``; links: ``data.html_url``
- labels: ``event_type``, and ``incident_number``, ``urgency``, ``priority`` (its summary),
  ``incident_key`` where given; annotations: ``event_id``, ``occurred_at``, ``agent`` where given
- starts_at: ``data.created_at``; ends_at: ``occurred_at`` of an ``incident.resolved`` event

Any other event (``service.updated``, ``pagey.ping``, and ``incident.*`` events whose ``data`` is not
the incident, such as ``incident.annotated`` with a note) gives ``Parsed(alerts=[])`` with a note
saying what was ignored: such an event must not look like a firing alert.

The intake does not open incidents from PagerDuty: PagerDuty's incidents are the pages warroom sent.
``parse_pagerduty_event(body, content_type)`` reads a webhook as a :class:`PagerDutyEvent` (its id,
type, time, agent, PagerDuty's incident id and the incident's ``incident_key``, which is the dedup key
warroom paged with), so the event can be recorded on the warroom incident it is about.

``generic``: warroom's own shape, for scripts and tools without a webhook of their own. One alert::

    {
      "summary": "checkout error rate above 5%",   # required, not blank
      "status": "firing",                            # or "resolved"; default "firing"
      "fingerprint": "checkout-5xx",                 # optional, see below
      "service": "checkout",                         # optional; default: label "service"
      "labels": {"severity": "critical"},            # optional, string values
      "annotations": {"runbook": "..."},             # optional, string values
      "starts_at": "2024-05-01T12:00:00Z",           # optional, with an offset (or Unix seconds)
      "ends_at": "2024-05-01T12:30:00Z",             # optional
      "links": ["https://grafana.example/d/abc"]     # optional
    }

or several: ``{"alerts": [<alert>, ...]}``. Without ``fingerprint``, the fingerprint is
``fingerprint_of_labels`` of the labels plus ``__service__`` (the service, or ``""``) and
``__summary__`` (the summary): so a sender whose summary changes between sends (a value in it) must
send a fingerprint of its own, or each send is a new problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from warroom.incident.errors import AlertRejectedError
from warroom.incident.models import Alert, AlertStatus, fingerprint_of_labels

SOURCES = ("alertmanager", "grafana", "pagerduty", "generic")

__all__ = [
    "PAGERDUTY_INCIDENT_EVENTS",
    "SOURCES",
    "MalformedBody",
    "PagerDutyEvent",
    "Parsed",
    "SchemaMismatch",
    "UnsupportedMediaType",
    "parse",
    "parse_pagerduty_event",
]


class UnsupportedMediaType(AlertRejectedError):
    """The body is not sent as ``application/json`` (HTTP 415)."""

    http_status: ClassVar[int] = 415


class MalformedBody(AlertRejectedError):
    """The body is not UTF-8 JSON (HTTP 400). The reason names the line and column."""

    http_status: ClassVar[int] = 400


class SchemaMismatch(AlertRejectedError):
    """The JSON does not have the source's shape (HTTP 422). ``field`` is the dotted path."""

    http_status: ClassVar[int] = 422


@dataclass(frozen=True)
class Parsed:
    """What one webhook body says."""

    alerts: list[Alert]  # normalised, may be empty (e.g. a PagerDuty event type we ignore)
    group_key: str | None  # Alertmanager groupKey / Grafana groupKey, when given
    truncated: int = 0  # Alertmanager truncatedAlerts
    note: str | None = None  # e.g. "ignored PagerDuty event type service.updated"


def parse(source: str, body: bytes, content_type: str | None) -> Parsed:
    """Check the content type, decode the JSON and normalise it for ``source`` (one of SOURCES).

    Raises UnsupportedMediaType, MalformedBody or SchemaMismatch (all AlertRejectedError), and
    ValueError for a source that is not one of SOURCES (a programming error, not a bad alert).
    """
    parser = _PARSERS.get(source)
    if parser is None:
        raise ValueError(f"unknown alert source {source!r}; expected one of {', '.join(SOURCES)}")
    _check_content_type(content_type)
    document = _decode(body)
    return parser(document)


# --- content type and JSON ----------------------------------------------------------------------


def _check_content_type(content_type: str | None) -> None:
    if content_type is None or not content_type.strip():
        raise UnsupportedMediaType("no Content-Type given; send the body as application/json")
    media_type, *params = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != "application/json":
        raise UnsupportedMediaType(f"Content-Type is {media_type!r}; send the body as application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ("utf-8", "utf8", "us-ascii"):
                raise UnsupportedMediaType(f"charset is {charset!r}; send the JSON body as UTF-8")


def _decode(body: bytes) -> Any:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not UTF-8 (byte {exc.start} is invalid); send UTF-8 JSON") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise MalformedBody("malformed JSON: nested too deeply") from exc


# --- field types --------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _scalar_text(value: Any) -> str:
    """A label or annotation value as a string: strings as they are, numbers as JSON writes them."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise ValueError(f"expected a string, got {_json_type(value)}")


def _string_map(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of strings, got {_json_type(value)}")
    return value


def _text_or_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a string, got a boolean")
    if isinstance(value, int | float):
        return json.dumps(value)
    return value


def _zero_time_is_none(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0001-01-01T00:00:00"):
        return None  # Go's zero time: Alertmanager's "not ended (yet)"
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("expected a time with a timezone offset, e.g. 2024-05-01T12:00:00Z, got one without")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T05:00+10:00 is year 0 in UTC: the sender's error, not a retry
        raise ValueError(f"{value.isoformat()} is outside the years 1 to 9999 once in UTC") from None


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


LabelValue = Annotated[str, BeforeValidator(_scalar_text)]
StringMap = Annotated[dict[str, LabelValue], BeforeValidator(_string_map)]
Time = Annotated[datetime | None, BeforeValidator(_zero_time_is_none), AfterValidator(_utc)]
TextOrNumber = Annotated[str, BeforeValidator(_text_or_number)]
Status = Annotated[AlertStatus, BeforeValidator(_lower)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- Alertmanager and Grafana -------------------------------------------------------------------


class _AMAlert(_Lenient):
    status: Status | None = None
    labels: StringMap
    annotations: StringMap = Field(default_factory=dict)
    startsAt: Time = None
    endsAt: Time = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class _AMGroup(_Lenient):
    version: TextOrNumber | None = None
    groupKey: TextOrNumber | None = None
    truncatedAlerts: int | None = Field(default=None, ge=0)
    status: Status | None = None
    receiver: str | None = None
    groupLabels: StringMap = Field(default_factory=dict)
    commonLabels: StringMap = Field(default_factory=dict)
    commonAnnotations: StringMap = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[_AMAlert]


class _GrafanaAlert(_AMAlert):
    values: Any = None
    valueString: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    silenceURL: str | None = None
    imageURL: str | None = None


class _GrafanaGroup(_AMGroup):
    alerts: list[_GrafanaAlert]  # type: ignore[assignment]


def _first(*candidates: str | None) -> str | None:
    for candidate in candidates:
        if candidate is not None and candidate.strip():
            return candidate
    return None


def _links(*urls: str | None) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for url in urls:
        if url is not None and url.strip():
            seen.setdefault(url.strip(), None)
    return tuple(seen)


def _group_notes(group: _AMGroup, source: str, expected_version: str) -> list[str]:
    notes: list[str] = []
    if group.version is None:
        notes.append(f"no {source} webhook version given; read as version {expected_version}")
    elif group.version != expected_version:
        notes.append(
            f"{source} webhook version {group.version!r} (expected {expected_version!r}); "
            "read as version " + expected_version
        )
    if group.truncatedAlerts:
        notes.append(f"{source} left out {group.truncatedAlerts} alert(s) of this group (truncatedAlerts)")
    if not group.alerts:
        notes.append("the group holds no alerts")
    return notes


def _group_alert(source: str, group: _AMGroup, index: int, alert: _AMAlert) -> Alert:
    status = alert.status or group.status
    if status is None:
        raise SchemaMismatch("required when the group has no status, but missing", field=f"alerts[{index}].status")
    labels = dict(alert.labels)
    annotations = dict(alert.annotations)
    if isinstance(alert, _GrafanaAlert):
        if alert.values is not None:
            annotations.setdefault(
                "values", json.dumps(alert.values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            )
        if alert.valueString:
            annotations.setdefault("valueString", alert.valueString)
        links = _links(
            alert.generatorURL,
            alert.dashboardURL,
            alert.panelURL,
            alert.silenceURL,
            alert.imageURL,
            group.externalURL,
        )
    else:
        links = _links(alert.generatorURL, group.externalURL)
    summary = _first(annotations.get("summary"), annotations.get("description"), labels.get("alertname"))
    return Alert(
        source=source,
        fingerprint=_first(alert.fingerprint) or fingerprint_of_labels(labels),
        status=status,
        service=_first(labels.get("service"), labels.get("job")),
        summary=summary or f"alert from {source}",
        labels=labels,
        annotations=annotations,
        starts_at=alert.startsAt,
        ends_at=alert.endsAt,
        links=links,
    )


def _parse_group(source: str, model: type[_AMGroup], expected_version: str, document: Any) -> Parsed:
    group = _validate(model, document)
    alerts = [_group_alert(source, group, i, alert) for i, alert in enumerate(group.alerts)]
    notes = _group_notes(group, source, expected_version)
    return Parsed(
        alerts=alerts,
        group_key=group.groupKey,
        truncated=group.truncatedAlerts or 0,
        note="; ".join(notes) or None,
    )


def _parse_alertmanager(document: Any) -> Parsed:
    return _parse_group("alertmanager", _AMGroup, "4", document)


def _parse_grafana(document: Any) -> Parsed:
    return _parse_group("grafana", _GrafanaGroup, "1", document)


# --- PagerDuty V3 -------------------------------------------------------------------------------


class _PDReference(_Lenient):
    id: str | None = None
    summary: str | None = None
    html_url: str | None = None


class _PDIncident(_Lenient):
    id: str = Field(min_length=1)
    type: str | None = None
    title: str | None = None
    status: str | None = None
    html_url: str | None = None
    number: int | None = None
    incident_key: str | None = None
    urgency: str | None = None
    created_at: Time = None
    service: _PDReference | None = None
    priority: _PDReference | None = None


class _PDEvent(_Lenient):
    id: str | None = None
    event_type: str = Field(min_length=1)
    resource_type: str | None = None
    occurred_at: Time = None
    agent: _PDReference | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any]


class _PDBody(_Lenient):
    event: _PDEvent


def _parse_pagerduty(document: Any) -> Parsed:
    event = _validate(_PDBody, document).event
    resource_type = event.resource_type or event.event_type.partition(".")[0]
    if resource_type != "incident":
        return Parsed(alerts=[], group_key=None, note=f"ignored PagerDuty event type {event.event_type}")
    data_type = event.data.get("type", "incident")
    if data_type != "incident":
        return Parsed(
            alerts=[],
            group_key=None,
            note=f"ignored PagerDuty event type {event.event_type}: its data is of type {data_type}, not the incident",
        )
    incident = _validate(_PDIncident, event.data, prefix="event.data")
    resolved = event.event_type == "incident.resolved" or incident.status == "resolved"
    labels = {"event_type": event.event_type}
    if incident.number is not None:
        labels["incident_number"] = str(incident.number)
    for name, value in (
        ("urgency", incident.urgency),
        ("priority", incident.priority.summary if incident.priority else None),
        ("incident_key", incident.incident_key),
    ):
        if value:
            labels[name] = value
    annotations = {}
    for name, value in (
        ("event_id", event.id),
        ("occurred_at", event.occurred_at.isoformat() if event.occurred_at else None),
        ("agent", event.agent.summary if event.agent else None),
    ):
        if value:
            annotations[name] = value
    alert = Alert(
        source="pagerduty",
        fingerprint=incident.id,
        status="resolved" if resolved else "firing",
        service=_first(incident.service.summary if incident.service else None),
        summary=_first(incident.title) or f"PagerDuty incident {incident.id}",
        labels=labels,
        annotations=annotations,
        starts_at=incident.created_at,
        ends_at=event.occurred_at if event.event_type == "incident.resolved" else None,
        links=_links(incident.html_url),
    )
    return Parsed(alerts=[alert], group_key=None)


#: PagerDuty V3's incident event types (https://developer.pagerduty.com/docs/webhooks/v3-overview/).
PAGERDUTY_INCIDENT_EVENTS = frozenset({
    "incident.acknowledged",
    "incident.annotated",
    "incident.conference_bridge.updated",
    "incident.custom_field_values.updated",
    "incident.delegated",
    "incident.escalated",
    "incident.incident_type.changed",
    "incident.priority_updated",
    "incident.reassigned",
    "incident.reopened",
    "incident.resolved",
    "incident.responder.added",
    "incident.responder.replied",
    "incident.service_updated",
    "incident.status_update_published",
    "incident.triggered",
    "incident.unacknowledged",
    "incident.workflow.completed",
    "incident.workflow.started",
})


@dataclass(frozen=True)
class PagerDutyEvent:
    """One PagerDuty V3 webhook event, for recording on the incident warroom paged."""

    event_id: str | None  # PagerDuty's event id: the same on a redelivery
    event_type: str  # e.g. incident.acknowledged
    occurred_at: datetime | None  # when it happened at PagerDuty
    agent: str | None  # who did it (the agent's summary), when given
    incident: str | None  # PagerDuty's incident id: data.id, or data.incident.id (a note, a responder)
    incident_key: str | None  # the incident's dedup key: warroom's incident id when warroom paged it

    @property
    def known(self) -> bool:
        """An incident event type PagerDuty documents (``pagey.ping``, ``service.*`` are not)."""
        return self.event_type in PAGERDUTY_INCIDENT_EVENTS


def parse_pagerduty_event(body: bytes, content_type: str | None) -> PagerDutyEvent:
    """Read a PagerDuty V3 webhook body; raises what :func:`parse` raises for the same body, and
    nothing for a body that :func:`parse` accepts."""
    _check_content_type(content_type)
    event = _validate(_PDBody, _decode(body)).event
    incident_id: str | None = None
    incident_key: str | None = None
    if event.data.get("type", "incident") == "incident":
        if (event.resource_type or event.event_type.partition(".")[0]) == "incident":
            incident = _validate(_PDIncident, event.data, prefix="event.data")
            incident_id, incident_key = incident.id, _first(incident.incident_key)
    elif isinstance(reference := event.data.get("incident"), dict) and isinstance(reference.get("id"), str):
        incident_id = _first(reference["id"])  # a note, a responder, ...: leniently, as parse() skips it
    return PagerDutyEvent(
        event_id=_first(event.id),
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        agent=_first(event.agent.summary) if event.agent else None,
        incident=incident_id,
        incident_key=incident_key,
    )


# --- generic ------------------------------------------------------------------------------------


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a summary, got a blank string")
    return value


class _GenericAlert(_Lenient):
    summary: Annotated[str, AfterValidator(_not_blank)]
    status: Status = "firing"
    fingerprint: str | None = None
    service: str | None = None
    labels: StringMap = Field(default_factory=dict)
    annotations: StringMap = Field(default_factory=dict)
    starts_at: Time = None
    ends_at: Time = None
    links: list[str] = Field(default_factory=list)


class _GenericBatch(_Lenient):
    alerts: list[_GenericAlert]


def _generic_alert(alert: _GenericAlert) -> Alert:
    service = _first(alert.service, alert.labels.get("service"))
    fingerprint = _first(alert.fingerprint) or fingerprint_of_labels(
        {**alert.labels, "__service__": service or "", "__summary__": alert.summary}
    )
    return Alert(
        source="generic",
        fingerprint=fingerprint,
        status=alert.status,
        service=service,
        summary=alert.summary,
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        links=_links(*alert.links),
    )


def _parse_generic(document: Any) -> Parsed:
    if isinstance(document, dict) and "alerts" in document:
        batch = _validate(_GenericBatch, document)
        alerts = [_generic_alert(a) for a in batch.alerts]
        return Parsed(alerts=alerts, group_key=None, note=None if alerts else "the body holds no alerts")
    return Parsed(alerts=[_generic_alert(_validate(_GenericAlert, document))], group_key=None)


# --- validation errors as dotted paths ----------------------------------------------------------


_M = TypeVar("_M", bound=BaseModel)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _path(loc: Iterable[int | str], prefix: str | None = None) -> str | None:
    text = prefix or ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text or None


def _shown(value: Any) -> str:
    """A received value for an error message: JSON, cut at 80 characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    value = error.get("input")
    if value is None or isinstance(value, dict | list):
        got = _json_type(value)
    else:
        got = f"{_json_type(value)} {_shown(value)}"
    if kind == "missing":
        return "required, but missing"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "literal_error":
        expected = error["ctx"]["expected"]
        return f"expected {expected}, got {_shown(value)}"
    if kind == "model_type" or kind == "dict_type":
        return f"expected an object, got {got}"
    if kind == "list_type":
        return f"expected an array, got {got}"
    if kind in ("string_type", "string_too_short"):
        return f"expected a string, got {got}" if kind == "string_type" else "expected a non-empty string"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer, got {got}"
    if kind in ("greater_than_equal",):
        return f"expected a number >= {error['ctx']['ge']}, got {_shown(value)}"
    if kind.startswith("datetime"):
        return f"expected an RFC 3339 time, e.g. 2024-05-01T12:00:00Z, got {got}"
    return f"{error['msg']}, got {got}"


def _validate(model: type[_M], document: Any, prefix: str | None = None) -> _M:
    if not isinstance(document, dict):
        raise SchemaMismatch(f"expected a JSON object, got {_json_type(document)}", field=prefix)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        field = _path(first["loc"], prefix)
        reason = _describe(first)
        if len(errors) > 1:
            others = [_path(e["loc"], prefix) or "(body)" for e in errors[1:4]]
            more = f", and {len(errors) - 4} more" if len(errors) > 4 else ""
            reason += f" (also: {', '.join(others)}{more})"
        raise SchemaMismatch(reason, field=field) from exc


_PARSERS = {
    "alertmanager": _parse_alertmanager,
    "grafana": _parse_grafana,
    "pagerduty": _parse_pagerduty,
    "generic": _parse_generic,
}
