"""The intake's OpenAPI document: one route per source with its body, its authentication and its answers.

The intake reads each body itself, raw, and stores it before parsing (``warroom.intake``): FastAPI does
not validate anything here. The schemas below describe what the parsers in
``integrations.alerts.parse`` accept, for client generators and API fuzzers; a body that fits its
source's schema is accepted (202), and ``tests/warroom/test_openapi.py`` posts generated bodies to keep
it so. The parsers accept a little more than the schemas say (label values of any scalar type are
written as strings, status in any case, Unix seconds as times); the schemas say what to send.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from warroom.integrations.alerts.auth import PAGERDUTY_SIGNATURE_HEADER
from warroom.settings import Settings


def package_version() -> str:
    try:
        return version("warroom")
    except PackageNotFoundError:  # run from a checkout that was not installed
        return "0+unknown"


# --- the answers ----------------------------------------------------------------------------------


class AlertOutcome(BaseModel):
    """What became of one alert of the body."""

    fingerprint: str = Field(description="The alert's fingerprint (the sender's, else one made from its labels).")
    incident: str | None = Field(description="The incident the alert is on, if any.")
    action: str = Field(description="declared, watching, joined, opened, reopened, resolved, ignored, "
                                    "not_incident or unroutable.")
    reason: str = Field(description="Why, in words.")


class Accepted(BaseModel):
    """The body is stored and was read; one outcome per alert, in the body's order."""

    inbox: int = Field(description="The body's row in the ledger's inbox.")
    truncated: int = Field(description="Alerts the sender said it left out (Alertmanager's truncatedAlerts).")
    note: str | None = Field(description="What was read leniently or left out, if anything.")
    alerts: list[AlertOutcome]


class PagerDutyAccepted(BaseModel):
    """The PagerDuty event is stored and recorded on the incident warroom paged (never a new incident)."""

    inbox: int = Field(description="The body's row in the ledger's inbox.")
    event: str | None = Field(description="PagerDuty's event id (the same on a redelivery).")
    event_type: str = Field(description="For example incident.acknowledged.")
    incident: str | None = Field(description="The warroom incident the event is about, if any.")
    action: str = Field(description="recorded, duplicate (this event id is in the ledger already) or ignored.")
    reason: str = Field(description="Why, in words.")


class Problem(BaseModel):
    """The request was refused; nothing was stored."""

    error: str = Field(description="What was wrong and what to do. Never holds a secret.")


class Rejected(BaseModel):
    """The body is stored in the inbox, marked rejected with this reason, and not read further."""

    error: str = Field(description="What was wrong with the body.")
    field: str | None = Field(description="The dotted path of the first problem (alerts[2].labels), if any.")
    inbox: int = Field(description="The body's row in the ledger's inbox.")


class Unprocessed(BaseModel):
    """The body is stored but could not be processed yet: send it again (warroom also retries it)."""

    error: str
    inbox: int = Field(description="The body's row in the ledger's inbox.")


def _answer(description: str, *models: type[BaseModel]) -> dict[str, Any]:
    if len(models) == 1:
        return {"description": description, "model": models[0]}
    refs = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in models]
    return {"description": description, "content": {"application/json": {"schema": {"anyOf": refs}}}}


def answers(source: str) -> dict[int | str, dict[str, Any]]:
    """Every answer a source's route gives, with its body."""
    accepted = PagerDutyAccepted if source == "pagerduty" else Accepted
    return {
        202: _answer("Stored and read: what became of it.", accepted),
        400: _answer("Stored and rejected: not UTF-8 or not JSON (the error names the line and column); or "
                     "the sender disconnected before the body was complete (nothing stored).", Rejected, Problem),
        401: _answer("Authentication failed: counted, logged, not stored.", Problem),
        408: _answer("The body did not arrive whole within the intake's body timeout (10 s): nothing stored; "
                     "send it again.", Problem),
        413: _answer("The body is over 32 MB: nothing stored.", Problem),
        415: _answer("Stored and rejected: the Content-Type is not application/json (UTF-8).", Rejected),
        422: _answer("Stored and rejected: the JSON does not have the source's shape; `field` names where.",
                     Rejected),
        503: _answer("Stored, but processing failed (the ledger or Prefect is down): the reason is kept with "
                     "the body, warroom tries it again, and the sender should send it again.", Unprocessed),
    }


# --- the bodies -------------------------------------------------------------------------------------

_TIME = {"type": ["string", "null"], "format": "date-time",
         "description": "RFC 3339 with an offset, e.g. 2024-05-01T12:00:00Z. Go's zero time "
                        "0001-01-01T00:00:00Z means 'not ended'."}
_TEXT = {"type": ["string", "null"]}
_STRING_MAP = {"type": ["object", "null"], "additionalProperties": {"type": "string"},
               "description": "Names to string values (numbers and booleans are accepted and written as JSON "
                              "writes them)."}
_STATUS = {"type": "string", "enum": ["firing", "resolved"]}

_AM_ALERT_PROPERTIES: dict[str, Any] = {
    "status": {"anyOf": [_STATUS, {"type": "null"}], "description": "Default: the group's status."},
    "labels": _STRING_MAP,
    "annotations": _STRING_MAP,
    "startsAt": _TIME,
    "endsAt": _TIME,
    "generatorURL": _TEXT,
    "fingerprint": {"type": ["string", "null"], "description": "Default: a hash of the labels."},
}
_AM_GROUP_PROPERTIES: dict[str, Any] = {
    "version": {"type": ["string", "number", "null"], "description": "4 for Alertmanager, 1 for Grafana."},
    "groupKey": {"type": ["string", "number", "null"],
                 "description": "Alerts of one group and service join one incident."},
    "truncatedAlerts": {"type": ["integer", "null"], "minimum": 0},
    "status": {**_STATUS, "description": "The group's status: the default of each alert's."},
    "receiver": _TEXT,
    "groupLabels": _STRING_MAP,
    "commonLabels": _STRING_MAP,
    "commonAnnotations": _STRING_MAP,
    "externalURL": _TEXT,
}
_GRAFANA_VALUES = {"type": ["object", "null"], "additionalProperties": {"type": ["number", "null"]},
                   "description": 'The query values, e.g. {"B": 22.1}: kept as the annotation values (any JSON '
                                  "is accepted)."}
_PD_REFERENCE = {"type": ["object", "null"], "additionalProperties": True, "properties": {
    "id": _TEXT, "summary": _TEXT, "html_url": _TEXT}}

BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "AlertmanagerAlert": {
        "type": "object", "additionalProperties": True, "required": ["labels"],
        "properties": _AM_ALERT_PROPERTIES,
        "description": "One alert. Service: label service, else job; summary: annotation summary, else "
                       "description, else label alertname. An alert without a status needs the group's.",
    },
    "AlertmanagerWebhook": {
        "type": "object", "additionalProperties": True, "required": ["alerts", "status"],
        "properties": {**_AM_GROUP_PROPERTIES,
                       "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/AlertmanagerAlert"}}},
        "description": "Alertmanager's webhook, version 4 (webhook_config; max_alerts: 0 is safe).",
    },
    "GrafanaAlert": {
        "type": "object", "additionalProperties": True, "required": ["labels"],
        "properties": {**_AM_ALERT_PROPERTIES, "values": _GRAFANA_VALUES, "valueString": _TEXT,
                       "dashboardURL": _TEXT, "panelURL": _TEXT, "silenceURL": _TEXT, "imageURL": _TEXT},
        "description": "One Grafana alert: Alertmanager's alert plus Grafana's values and links.",
    },
    "GrafanaWebhook": {
        "type": "object", "additionalProperties": True, "required": ["alerts", "status"],
        "properties": {**_AM_GROUP_PROPERTIES,
                       "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/GrafanaAlert"}}},
        "description": "Grafana unified alerting's webhook (contact point of type Webhook), version 1.",
    },
    "PagerDutyIncident": {
        "type": "object", "additionalProperties": True, "required": ["id"],
        "properties": {"id": {"type": "string", "minLength": 1}, "type": {"const": "incident"},
                       "title": _TEXT, "status": _TEXT, "html_url": _TEXT, "number": {"type": ["integer", "null"]},
                       "incident_key": _TEXT, "urgency": _TEXT, "created_at": _TIME,
                       "service": _PD_REFERENCE, "priority": _PD_REFERENCE},
        "description": "The incident an incident.* event is about; its incident_key is warroom's incident id "
                       "when warroom paged it.",
    },
    "PagerDutyWebhook": {
        "type": "object", "additionalProperties": True, "required": ["event"],
        "properties": {"event": {
            "type": "object", "additionalProperties": True, "required": ["event_type", "data"],
            "properties": {
                "id": _TEXT,
                "event_type": {"type": "string", "minLength": 1, "examples": ["incident.acknowledged"]},
                "resource_type": _TEXT, "occurred_at": _TIME, "agent": _PD_REFERENCE,
                "client": {"type": ["object", "null"]},
                "data": {"$ref": "#/components/schemas/PagerDutyIncident"},
            },
        }},
        "description": "A PagerDuty V3 webhook. Events of other resources (service.updated, pagey.ping) and "
                       "incident events whose data is not the incident are stored and ignored with the reason.",
    },
    "GenericAlert": {
        "type": "object", "additionalProperties": True, "required": ["summary"],
        "not": {"required": ["alerts"]},
        "properties": {
            "summary": {"type": "string", "pattern": r"\S"},
            "status": {**_STATUS, "default": "firing"},
            "fingerprint": {"type": ["string", "null"],
                            "description": "Default: a hash of the labels, the service and the summary."},
            "service": {"type": ["string", "null"], "description": "Default: label service."},
            "labels": _STRING_MAP,
            "annotations": _STRING_MAP,
            "starts_at": _TIME,
            "ends_at": _TIME,
            "links": {"type": "array", "items": {"type": "string"}},
        },
        "description": "warroom's own shape, for scripts and tools without a webhook of their own.",
    },
    "GenericWebhook": {
        "anyOf": [
            {"$ref": "#/components/schemas/GenericAlert"},
            {"type": "object", "additionalProperties": True, "required": ["alerts"],
             "properties": {"alerts": {"type": "array", "items": {"$ref": "#/components/schemas/GenericAlert"}}}},
        ],
        "description": "One alert, or several as {\"alerts\": [...]}.",
    },
}

BODY_OF = {"alertmanager": "AlertmanagerWebhook", "grafana": "GrafanaWebhook",
           "pagerduty": "PagerDutyWebhook", "generic": "GenericWebhook"}

# --- authentication -----------------------------------------------------------------------------


def security_schemes(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "One of WARROOM_INTAKE_TOKENS (Alertmanager's http_config authorization)."},
        "grafanaSignature": {
            "type": "apiKey", "in": "header", "name": settings.grafana_signature_header,
            "description": "Grafana's HMAC signature: the lowercase hex HMAC-SHA256, keyed with "
                           "WARROOM_GRAFANA_SECRET, of '<timestamp>:<body>' when the timestamp header is sent, "
                           "else of the body.",
        },
        "grafanaTimestamp": {
            "type": "apiKey", "in": "header", "name": settings.grafana_timestamp_header,
            "description": "Unix seconds that Grafana signed with the body; refused when more than 5 minutes off.",
        },
        "pagerdutySignature": {
            "type": "apiKey", "in": "header", "name": PAGERDUTY_SIGNATURE_HEADER,
            "description": "v1=<hex HMAC-SHA256 of the body>[,v1=...], keyed with one of "
                           "WARROOM_PAGERDUTY_WEBHOOK_SECRETS.",
        },
    }


SECURITY_OF: dict[str, list[dict[str, list[str]]]] = {
    "alertmanager": [{"bearer": []}],
    "grafana": [{"grafanaSignature": [], "grafanaTimestamp": []}, {"grafanaSignature": []}],
    "pagerduty": [{"pagerdutySignature": []}],
    "generic": [{"bearer": []}],
}

SUMMARY_OF = {"alertmanager": "An Alertmanager notification", "grafana": "A Grafana alert notification",
              "pagerduty": "A PagerDuty V3 webhook event", "generic": "Alerts from a script or tool"}


def route_doc(source: str) -> dict[str, Any]:
    """The keyword arguments of a source's route for its OpenAPI operation (documentation only)."""
    return {
        "summary": SUMMARY_OF[source],
        "operation_id": f"post_{source}_alerts",
        "status_code": 202,
        "responses": answers(source),
        "openapi_extra": {
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{BODY_OF[source]}"}}}},
            "security": SECURITY_OF[source],
        },
    }


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` add the body schemas and the security schemes to FastAPI's document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(BODY_SCHEMAS)
            components["securitySchemes"] = security_schemes(settings)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
