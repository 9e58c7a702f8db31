"""Incoming alert webhooks: authentication (:mod:`.auth`) and parsing (:mod:`.parse`).

Both are pure: they take headers and the raw body, and return a verdict or normalised
:class:`incident.models.Alert` values. The intake service (``warroom intake``) does the I/O.
"""

from warroom.integrations.alerts.auth import (
    AuthError,
    check_bearer,
    check_grafana_hmac,
    check_pagerduty_signature,
    redact_headers,
)
from warroom.integrations.alerts.parse import (
    SOURCES,
    MalformedBody,
    Parsed,
    SchemaMismatch,
    UnsupportedMediaType,
    parse,
)

__all__ = [
    "SOURCES",
    "AuthError",
    "MalformedBody",
    "Parsed",
    "SchemaMismatch",
    "UnsupportedMediaType",
    "check_bearer",
    "check_grafana_hmac",
    "check_pagerduty_signature",
    "parse",
    "redact_headers",
]
