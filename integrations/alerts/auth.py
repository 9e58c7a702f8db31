"""Authenticate incoming alert webhooks: pure checks on headers and the raw body, no I/O, no clock.

Each check returns ``None`` when the request is authentic and raises :class:`AuthError` when it is
not. An AuthError's message is safe to show to the caller and to log: it never holds a configured
secret or token, nor the signature or token that was received. Every comparison of a secret value is
constant-time (:func:`hmac.compare_digest`), and is made against every configured value, so the time
taken does not say which one came close. Header names are looked up case-insensitively.

A check with nothing configured (no token, no secret) refuses everything: it fails closed.

- :func:`check_bearer`: ``Authorization: Bearer <token>`` (Alertmanager's ``http_config``
  ``authorization``, the generic source), against one or more configured tokens (several during a
  rotation).
- :func:`check_grafana_hmac`: Grafana's HMAC signature (contact point, webhook integration, "HMAC
  Signature"). Grafana sends the lowercase hex HMAC-SHA256 of the raw body, keyed with the secret's
  UTF-8 bytes, in the signature header (``X-Grafana-Alerting-Signature`` by default, configurable).
  When a timestamp header is configured in Grafana, Grafana puts the Unix time in seconds in it and
  signs ``<timestamp>:<body>`` instead. Confirmed against Grafana's documentation ("HMAC(timestamp +
  ":" + body)") and its signer, grafana/alerting ``http/hmac.go`` (``hash.Write(timestamp);
  hash.Write(":"); hash.Write(body)``). Grafana has no default timestamp header name: warroom's
  default ``X-Grafana-Alerting-Signature-Timestamp`` must be entered in the contact point for replay
  protection. See :func:`check_grafana_hmac` for what happens when the timestamp is absent.
- :func:`check_pagerduty_signature`: PagerDuty V3's ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``,
  the hex HMAC-SHA256 of the raw body keyed with the subscription's secret; PagerDuty sends one
  signature per active secret while a secret is rotated, and any one matching any configured secret
  passes.
- :func:`redact_headers`: the headers with every secret-looking value replaced, for storing the
  request in the inbox.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from warroom.incident.errors import WarroomError

__all__ = [
    "REDACTED",
    "AuthError",
    "check_bearer",
    "check_grafana_hmac",
    "check_pagerduty_signature",
    "redact_headers",
]

REDACTED = "[redacted]"


class AuthError(WarroomError):
    """The request is not authentic (HTTP 401). The message is safe to show: it holds no secret."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, whatever the case of its name; None when absent."""
    value = headers.get(name)  # fast path, and case-insensitive mappings (Starlette's Headers)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def _matches_any(received: bytes, expected: Sequence[bytes]) -> bool:
    """Constant-time: compares against every expected value, without stopping at a match."""
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(received, candidate)
    return matched


def _hmac_sha256_hex(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest().encode("ascii")


# --- bearer token -------------------------------------------------------------------------------


def check_bearer(headers: Mapping[str, str], tokens: Sequence[str]) -> None:
    """Pass when ``Authorization: Bearer <t>`` carries one of ``tokens``; raise AuthError otherwise.

    The scheme is matched case-insensitively (RFC 9110). Empty configured tokens are ignored; with
    none left, every request is refused.
    """
    configured = [t.encode("utf-8") for t in tokens if t]
    if not configured:
        raise AuthError("no bearer token is configured for this source: every request is refused")
    value = _header(headers, "Authorization")
    if value is None or not value.strip():
        raise AuthError("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("the Authorization header is not a Bearer token; send 'Authorization: Bearer <token>'")
    received = token.strip().encode("utf-8")
    if not received:
        raise AuthError("the Authorization header has an empty Bearer token")
    if not _matches_any(received, configured):
        raise AuthError("the Bearer token does not match any configured token")


# --- Grafana ------------------------------------------------------------------------------------

_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")


def check_grafana_hmac(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    header: str = "X-Grafana-Alerting-Signature",
    timestamp_header: str | None = "X-Grafana-Alerting-Signature-Timestamp",
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
) -> None:
    """Pass when ``header`` holds Grafana's HMAC-SHA256 of the body; raise AuthError otherwise.

    With ``timestamp_header`` set and present in the request, the signature must be over
    ``<timestamp>:<body>`` (the header's value exactly as received, Unix seconds) and the timestamp
    must be within ``max_age`` of ``now``, in either direction. With it absent from the request (or
    ``timestamp_header=None``) the signature must be over the body alone. Leaving the timestamp out
    does not let a captured request be replayed: a request Grafana signed with a timestamp has a
    signature over ``<timestamp>:<body>``, which verifies as body-only only for the body
    ``<timestamp>:<body>``, and that is not JSON (the parser refuses it).

    ``now`` must be timezone-aware (ValueError otherwise): time is passed in, never read here.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if not secret:
        raise AuthError("no Grafana HMAC secret is configured: every request is refused")
    signature = _header(headers, header)
    if signature is None or not signature.strip():
        raise AuthError(f"missing {header} header: the request is not signed")
    timestamp = _header(headers, timestamp_header) if timestamp_header else None
    if timestamp is not None:
        if not _UNIX_SECONDS.match(timestamp):
            raise AuthError(f"the {timestamp_header} header is not a Unix time in seconds")
        message = timestamp.encode("ascii") + b":" + body
    else:
        message = body
    expected = _hmac_sha256_hex(secret, message)
    if not _matches_any(signature.strip().lower().encode("utf-8"), [expected]):
        raise AuthError(f"the {header} signature does not match the body")
    if timestamp is not None:
        age = now.timestamp() - int(timestamp)
        limit = max_age.total_seconds()
        if age > limit:
            raise AuthError(
                f"stale signature timestamp: signed {age:.0f} s ago, more than the {limit:.0f} s allowed; "
                "check the clocks of Grafana and warroom"
            )
        if -age > limit:
            raise AuthError(
                f"stale signature timestamp: {-age:.0f} s in the future, more than the {limit:.0f} s "
                "allowed; check the clocks of Grafana and warroom"
            )


# --- PagerDuty ----------------------------------------------------------------------------------

PAGERDUTY_SIGNATURE_HEADER = "X-PagerDuty-Signature"


def check_pagerduty_signature(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> None:
    """Pass when any ``v1=`` signature in X-PagerDuty-Signature is the body's HMAC with any secret.

    Entries of another version than ``v1`` are ignored (PagerDuty may add schemes); a header with no
    ``v1`` entry is refused. Empty configured secrets are ignored; with none left, every request is
    refused.
    """
    configured = [s for s in secrets if s]
    if not configured:
        raise AuthError("no PagerDuty webhook secret is configured: every request is refused")
    value = _header(headers, PAGERDUTY_SIGNATURE_HEADER)
    if value is None or not value.strip():
        raise AuthError(f"missing {PAGERDUTY_SIGNATURE_HEADER} header: the request is not signed")
    received = [
        entry.strip()[3:].strip().lower().encode("utf-8")
        for entry in value.split(",")
        if entry.strip().lower().startswith("v1=")
    ]
    if not received:
        raise AuthError(f"the {PAGERDUTY_SIGNATURE_HEADER} header has no v1= signature")
    expected = [_hmac_sha256_hex(secret, body) for secret in configured]
    matched = False
    for signature in received:
        matched |= _matches_any(signature, expected)
    if not matched:
        raise AuthError(f"no {PAGERDUTY_SIGNATURE_HEADER} signature matches the body with a configured secret")


# --- redaction ----------------------------------------------------------------------------------

_SENSITIVE_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
_SENSITIVE_PARTS = (
    "auth",
    "cookie",
    "token",
    "secret",
    "signature",
    "key",
    "password",
    "credential",
    "session",
)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers as a plain dict, with the value of every sensitive header replaced by "[redacted]".

    Sensitive: Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key, and any header
    whose name contains auth, cookie, token, secret, signature, key, password, credential or session
    (case-insensitive). Names are kept as received.
    """
    redacted: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        sensitive = lowered in _SENSITIVE_NAMES or any(part in lowered for part in _SENSITIVE_PARTS)
        redacted[name] = REDACTED if sensitive else value
    return redacted
