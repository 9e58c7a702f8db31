"""integrations.alerts.auth: bearer tokens, Grafana's HMAC (with and without its timestamp), PagerDuty
V3 signatures (the real vector from the shared payloads, rotated secrets) and header redaction.

Every refusal is also checked for leaks: the message must hold neither a configured secret nor what
was received.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial

import pytest

from tests.helpers import shared_payload
from warroom.incident.errors import WarroomError
from warroom.integrations.alerts.auth import (
    AuthError,
    check_bearer,
    check_grafana_hmac,
    check_pagerduty_signature,
    redact_headers,
)


def refused(call: Callable[[], None], *secrets_and_received: str) -> AuthError:
    """Run ``call``; it must raise AuthError whose message shows none of ``secrets_and_received``."""
    with pytest.raises(AuthError) as caught:
        call()
    message = str(caught.value)
    for value in secrets_and_received:
        assert value not in message, f"the AuthError message leaks {value!r}: {message!r}"
    assert isinstance(caught.value, WarroomError)
    return caught.value


# --- bearer ---------------------------------------------------------------------------------------

TOKENS = ["old-token-4f9a", "new-token-b71c"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer new-token-b71c"},
        {"authorization": "bearer old-token-4f9a"},  # any case, name and scheme
        {"AUTHORIZATION": "  BEARER   new-token-b71c  "},
    ],
)
def test_bearer_with_a_configured_token_passes(headers: dict[str, str]) -> None:
    check_bearer(headers, TOKENS)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing Authorization header; send 'Authorization: Bearer <token>'"),
        ({"Authorization": "  "}, "missing Authorization header; send 'Authorization: Bearer <token>'"),
        (
            {"Authorization": "Basic bmV3LXRva2VuLWI3MWM="},
            "the Authorization header is not a Bearer token; send 'Authorization: Bearer <token>'",
        ),
        ({"Authorization": "Bearer  "}, "the Authorization header has an empty Bearer token"),
        ({"Authorization": "Bearer wrong-token-0000"}, "the Bearer token does not match any configured token"),
        ({"Authorization": "Bearer new-token-b71"}, "the Bearer token does not match any configured token"),
        ({"Authorization": "Bearer new-token-b71cX"}, "the Bearer token does not match any configured token"),
        ({"Authorization": "Bearer tökén"}, "the Bearer token does not match any configured token"),
        ({"X-Api-Key": "new-token-b71c"}, "missing Authorization header; send 'Authorization: Bearer <token>'"),
    ],
)
def test_bearer_refusals(headers: dict[str, str], message: str) -> None:
    received = [v.split(maxsplit=1)[1] for v in headers.values() if len(v.split(maxsplit=1)) == 2]
    error = refused(lambda: check_bearer(headers, TOKENS), *TOKENS, *received)
    assert str(error) == message


def test_bearer_with_no_token_configured_refuses_everything() -> None:
    for tokens in ([], [""]):
        error = refused(partial(check_bearer, {"Authorization": "Bearer some-token"}, tokens))
        assert str(error) == "no bearer token is configured for this source: every request is refused"


# --- Grafana --------------------------------------------------------------------------------------

SECRET = "grafana-hmac-secret-7d1e"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
TS = int(NOW.timestamp())  # 1714564800


def grafana_body() -> bytes:
    return shared_payload("grafana_bougou_firing_values.json")


def grafana_sign(body: bytes, timestamp: int | str | None = None, secret: str = SECRET) -> str:
    """Grafana's construction (grafana/alerting http/hmac.go): hex HMAC-SHA256 of [ts ":"] body."""
    message = body if timestamp is None else f"{timestamp}:".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def timestamped(body: bytes, timestamp: int | str) -> dict[str, str]:
    return {
        "X-Grafana-Alerting-Signature": grafana_sign(body, timestamp),
        "X-Grafana-Alerting-Signature-Timestamp": str(timestamp),
    }


def test_grafana_body_only_signature_passes() -> None:
    body = grafana_body()
    check_grafana_hmac({"X-Grafana-Alerting-Signature": grafana_sign(body)}, body, SECRET, now=NOW)
    check_grafana_hmac(
        {"x-grafana-alerting-signature": grafana_sign(body).upper()}, body, SECRET, now=NOW, timestamp_header=None
    )


@pytest.mark.parametrize("offset", [0, -1, 1, -299, 299, -300, 300])
def test_grafana_timestamped_signature_within_max_age_passes(offset: int) -> None:
    body = grafana_body()
    check_grafana_hmac(timestamped(body, TS + offset), body, SECRET, now=NOW)


def test_grafana_custom_header_names_and_max_age() -> None:
    body = grafana_body()
    headers = {"x-sig": grafana_sign(body, TS - 3000), "X-Ts": str(TS - 3000)}
    check_grafana_hmac(
        headers, body, SECRET, header="X-Sig", timestamp_header="x-ts", now=NOW, max_age=timedelta(hours=1)
    )
    stale = refused(lambda: check_grafana_hmac(headers, body, SECRET, header="X-Sig", timestamp_header="x-ts", now=NOW))
    assert str(stale).startswith("stale signature timestamp: signed 3000 s ago, more than the 300 s allowed")


def test_grafana_stale_timestamp_is_refused() -> None:
    body = grafana_body()
    error = refused(lambda: check_grafana_hmac(timestamped(body, TS - 301), body, SECRET, now=NOW), SECRET)
    assert str(error) == (
        "stale signature timestamp: signed 301 s ago, more than the 300 s allowed; "
        "check the clocks of Grafana and warroom"
    )


def test_grafana_timestamp_from_the_future_is_refused() -> None:
    body = grafana_body()
    error = refused(lambda: check_grafana_hmac(timestamped(body, TS + 301), body, SECRET, now=NOW), SECRET)
    assert str(error) == (
        "stale signature timestamp: 301 s in the future, more than the 300 s allowed; "
        "check the clocks of Grafana and warroom"
    )


def test_grafana_now_in_another_zone_is_the_same_instant() -> None:
    body = grafana_body()
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    check_grafana_hmac(timestamped(body, TS - 200), body, SECRET, now=tokyo)


def test_grafana_bad_signatures_are_refused() -> None:
    body = grafana_body()
    good = grafana_sign(body)
    header = "X-Grafana-Alerting-Signature"
    cases = {
        "tampered body": ({header: good}, body.replace(b"CPU Usage High", b"CPU Usage Low!")),
        "other secret": ({header: grafana_sign(body, secret="other")}, body),
        "truncated signature": ({header: good[:-2]}, body),
        "prefixed signature": ({header: "sha256=" + good}, body),
    }
    for name, (headers, sent) in cases.items():
        error = refused(partial(check_grafana_hmac, headers, sent, SECRET, now=NOW), SECRET, good)
        assert str(error) == f"the {header} signature does not match the body", name


def test_grafana_timestamp_is_part_of_the_signature() -> None:
    body = grafana_body()
    headers = timestamped(body, TS)
    # a replay that moves the timestamp forward to look fresh: the signature no longer matches
    moved = {**headers, "X-Grafana-Alerting-Signature-Timestamp": str(TS + 60)}
    refused(lambda: check_grafana_hmac(moved, body, SECRET, now=NOW))
    # dropping the timestamp header: the body-only check fails, the signature covered "<ts>:<body>"
    without = {"X-Grafana-Alerting-Signature": headers["X-Grafana-Alerting-Signature"]}
    refused(lambda: check_grafana_hmac(without, body, SECRET, now=NOW))
    # a body-only signature with a timestamp added: refused too
    added = {"X-Grafana-Alerting-Signature": grafana_sign(body), "X-Grafana-Alerting-Signature-Timestamp": str(TS)}
    refused(lambda: check_grafana_hmac(added, body, SECRET, now=NOW))
    # with the timestamp header switched off, "<ts>:<body>" is never what is checked
    refused(lambda: check_grafana_hmac(headers, body, SECRET, now=NOW, timestamp_header=None))


@pytest.mark.parametrize("timestamp", ["", "soon", "1714564800.5", "-1714564800", "1714564800000000"])
def test_grafana_timestamp_that_is_not_unix_seconds_is_refused(timestamp: str) -> None:
    body = grafana_body()
    headers = {
        "X-Grafana-Alerting-Signature": grafana_sign(body, timestamp),
        "X-Grafana-Alerting-Signature-Timestamp": timestamp,
    }
    error = refused(lambda: check_grafana_hmac(headers, body, SECRET, now=NOW))
    assert str(error) == "the X-Grafana-Alerting-Signature-Timestamp header is not a Unix time in seconds"


def test_grafana_missing_signature_or_secret_is_refused() -> None:
    body = grafana_body()
    error = refused(
        lambda: check_grafana_hmac({"X-Grafana-Alerting-Signature-Timestamp": str(TS)}, body, SECRET, now=NOW)
    )
    assert str(error) == "missing X-Grafana-Alerting-Signature header: the request is not signed"
    error = refused(
        lambda: check_grafana_hmac({"X-Grafana-Alerting-Signature": grafana_sign(body, secret="")}, body, "", now=NOW)
    )
    assert str(error) == "no Grafana HMAC secret is configured: every request is refused"


def test_grafana_needs_an_aware_now() -> None:
    body = grafana_body()
    with pytest.raises(ValueError, match="timezone-aware"):
        check_grafana_hmac(timestamped(body, TS), body, SECRET, now=NOW.replace(tzinfo=None))


# --- PagerDuty V3 ---------------------------------------------------------------------------------


def pagerduty_vector() -> tuple[dict[str, str], bytes]:
    vector = json.loads(shared_payload("pd_v3_signature_vector.json"))
    return vector, shared_payload(vector["body_file"])


def pd_sign(body: bytes, secret: str) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_pagerduty_real_vector_valid_signature_passes() -> None:
    vector, body = pagerduty_vector()
    assert not body.endswith(b"\n")  # hashed exactly as stored
    check_pagerduty_signature({vector["header"]: vector["signature"]}, body, [vector["secret"]])
    check_pagerduty_signature({"x-pagerduty-signature": vector["signature"]}, body, [vector["secret"]])


def test_pagerduty_real_vector_mismatching_signature_is_refused() -> None:
    vector, body = pagerduty_vector()
    headers = {vector["header"]: vector["non_matching_signature"]}
    error = refused(
        lambda: check_pagerduty_signature(headers, body, [vector["secret"]]),
        vector["secret"],
        vector["non_matching_signature"][3:],
        vector["signature"][3:],
    )
    assert str(error) == "no X-PagerDuty-Signature signature matches the body with a configured secret"


def test_pagerduty_real_vector_with_an_empty_body_or_a_changed_body_is_refused() -> None:
    vector, body = pagerduty_vector()
    headers = {vector["header"]: vector["signature"]}
    refused(lambda: check_pagerduty_signature(headers, b"", [vector["secret"]]), vector["secret"])
    refused(lambda: check_pagerduty_signature(headers, body + b"\n", [vector["secret"]]), vector["secret"])


def test_pagerduty_rotated_secrets_either_signature_passes() -> None:
    _, body = pagerduty_vector()
    old, new = "old-secret-Zm9v", "new-secret-YmFy"
    header = {"X-PagerDuty-Signature": f"{pd_sign(body, old)},{pd_sign(body, new)}"}
    check_pagerduty_signature(header, body, [old])  # warroom not yet rotated
    check_pagerduty_signature(header, body, [new])  # warroom rotated first
    check_pagerduty_signature(header, body, ["unrelated", new])  # any configured secret
    spaced = {"X-PagerDuty-Signature": f" v1={pd_sign(body, old)[3:].upper()} , v1={pd_sign(body, new)[3:]} "}
    check_pagerduty_signature(spaced, body, [new])
    check_pagerduty_signature(spaced, body, [old])
    error = refused(lambda: check_pagerduty_signature(header, body, ["wrong-secret"]), old, new, "wrong-secret")
    assert str(error) == "no X-PagerDuty-Signature signature matches the body with a configured secret"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing X-PagerDuty-Signature header: the request is not signed"),
        ({"X-PagerDuty-Signature": ""}, "missing X-PagerDuty-Signature header: the request is not signed"),
        ({"X-PagerDuty-Signature": "v2=abcdef"}, "the X-PagerDuty-Signature header has no v1= signature"),
        ({"X-PagerDuty-Signature": "0c0b9495b893"}, "the X-PagerDuty-Signature header has no v1= signature"),
    ],
)
def test_pagerduty_missing_or_unknown_signature_is_refused(headers: dict[str, str], message: str) -> None:
    vector, body = pagerduty_vector()
    assert str(refused(lambda: check_pagerduty_signature(headers, body, [vector["secret"]]))) == message


def test_pagerduty_with_no_secret_configured_refuses_everything() -> None:
    vector, body = pagerduty_vector()
    for secrets in ([], [""]):
        headers = {vector["header"]: vector["signature"]}
        error = refused(partial(check_pagerduty_signature, headers, body, secrets))
        assert str(error) == "no PagerDuty webhook secret is configured: every request is refused"


# --- redaction ------------------------------------------------------------------------------------


def test_redact_headers() -> None:
    headers = {
        "Authorization": "Bearer t0k3n",
        "proxy-authorization": "Basic eA==",
        "Cookie": "session=abc",
        "X-Api-Key": "k-123",
        "X-Grafana-Alerting-Signature": "deadbeef",
        "X-Grafana-Alerting-Signature-Timestamp": "1714564800",
        "X-PagerDuty-Signature": "v1=abc",
        "X-Auth-Token": "t",
        "X-Webhook-Secret": "s",
        "X-Custom-KEY-Id": "kid",
        "Content-Type": "application/json",
        "User-Agent": "Alertmanager/0.27.0",
        "X-Forwarded-For": "10.0.0.1",
        "Content-Length": "1234",
    }
    assert redact_headers(headers) == {
        "Authorization": "[redacted]",
        "proxy-authorization": "[redacted]",
        "Cookie": "[redacted]",
        "X-Api-Key": "[redacted]",
        "X-Grafana-Alerting-Signature": "[redacted]",
        "X-Grafana-Alerting-Signature-Timestamp": "[redacted]",
        "X-PagerDuty-Signature": "[redacted]",
        "X-Auth-Token": "[redacted]",
        "X-Webhook-Secret": "[redacted]",
        "X-Custom-KEY-Id": "[redacted]",
        "Content-Type": "application/json",
        "User-Agent": "Alertmanager/0.27.0",
        "X-Forwarded-For": "10.0.0.1",
        "Content-Length": "1234",
    }
    assert headers["Authorization"] == "Bearer t0k3n"  # the input is left alone
    assert redact_headers({}) == {}
