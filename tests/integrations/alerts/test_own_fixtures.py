"""The parsers and signature checks on the project's own webhook bodies (tests/fixtures/payloads, see its
README.md): what test_parse.py and test_auth.py check on the shared real bodies, run on a bare clone,
with nothing read from outside the repository.

Fingerprints of alerts sent without one are checked against ``fingerprint_of_labels`` of labels
written out here, and signatures against HMACs computed here with known secrets (one of them pinned
as a hex vector), so a parser or a check that reads the wrong thing fails.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from warroom.incident.errors import AlertRejectedError
from warroom.incident.models import fingerprint_of_labels
from warroom.integrations.alerts.auth import AuthError, check_grafana_hmac, check_pagerduty_signature
from warroom.integrations.alerts.parse import (
    MalformedBody,
    PagerDutyEvent,
    Parsed,
    SchemaMismatch,
    UnsupportedMediaType,
    parse,
    parse_pagerduty_event,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payloads"
JSON = "application/json"


def fixture(name: str) -> bytes:
    """A body from tests/fixtures/payloads, exactly as stored."""
    return (FIXTURES / name).read_bytes()


def parse_fixture(source: str, name: str) -> Parsed:
    return parse(source, fixture(name), JSON)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def refused(call: Callable[[], None], *secrets_and_received: str) -> AuthError:
    """Run ``call``; it must raise AuthError whose message shows none of ``secrets_and_received``."""
    with pytest.raises(AuthError) as caught:
        call()
    message = str(caught.value)
    for value in secrets_and_received:
        assert value not in message, f"the AuthError message leaks {value!r}: {message!r}"
    return caught.value


# --- the fixtures themselves ----------------------------------------------------------------------


def test_every_fixture_is_in_the_readme_and_every_file_the_readme_names_exists() -> None:
    on_disk = {path.name for path in FIXTURES.glob("*.json")}
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    in_table = set(re.findall(r"^\| ([a-z0-9_]+\.json) \|", readme, flags=re.MULTILINE))
    assert len(on_disk) == 17
    assert in_table == on_disk
    for name in on_disk:
        json.loads(fixture(name))  # every one is JSON (the broken ones are broken in shape only)


# --- Alertmanager ---------------------------------------------------------------------------------

CHECKOUT_GROUP_KEY = '{}/{severity="critical"}:{alertname="CheckoutHighErrorRate"}'
AM_EXTERNAL = "https://alertmanager.warroom.example"
CHECKOUT_GENERATOR = (
    "https://prometheus.warroom.example/graph?g0.expr=sum+by+%28job%29+%28rate%28http_requests_total"
    "%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.05&g0.tab=1"  # \u0026 decoded
)
GATEWAY_GENERATOR = (
    "https://prometheus.warroom.example/graph?g0.expr=rate%28gateway_errors_total%5B5m%5D%29+%3E+0.05&g0.tab=1"
)
CHECKOUT_LABELS = {
    "alertname": "CheckoutHighErrorRate",
    "instance": "checkout-7f9c4:8080",
    "job": "checkout-api",
    "service": "checkout",
    "severity": "critical",
    "team": "payments",
}
GATEWAY_LABELS = {
    "alertname": "CheckoutHighErrorRate",
    "instance": "gw-2.payments:9102",
    "job": "payments-gateway",
    "severity": "critical",
    "team": "payments",
}


def test_alertmanager_firing_group() -> None:
    parsed = parse_fixture("alertmanager", "alertmanager_firing.json")

    assert parsed.group_key == CHECKOUT_GROUP_KEY
    assert (parsed.truncated, parsed.note) == (0, None)
    checkout, gateway = parsed.alerts
    assert {a.source for a in parsed.alerts} == {"alertmanager"}
    assert [a.status for a in parsed.alerts] == ["firing", "firing"]
    assert [a.fingerprint for a in parsed.alerts] == ["e2ba533adc9ab5dc", "beda7276e1927b94"]  # as sent

    assert checkout.labels == CHECKOUT_LABELS
    assert checkout.service == "checkout"  # the `service` label wins over `job`
    assert checkout.summary == "checkout 5xx ratio above 5% for 10 minutes"
    assert checkout.annotations["runbook_url"] == "https://runbooks.warroom.example/checkout/errors"
    assert checkout.links == (CHECKOUT_GENERATOR, AM_EXTERNAL)
    assert checkout.starts_at == utc(2026, 3, 14, 9, 26, 53, 589793)  # nanoseconds cut to microseconds
    assert checkout.ends_at is None  # Go's zero time

    assert gateway.labels == GATEWAY_LABELS
    assert gateway.service == "payments-gateway"  # no `service` label: the `job` label
    assert gateway.summary == "payments-gateway 5xx ratio is 6.1% (threshold 5%)."  # no summary: the description
    assert gateway.links == (GATEWAY_GENERATOR, AM_EXTERNAL)
    assert gateway.starts_at == utc(2026, 3, 14, 9, 27, 1, 120000)  # +01:00, in UTC


def test_alertmanager_resolved_group_is_the_same_alerts_ended() -> None:
    firing = parse_fixture("alertmanager", "alertmanager_firing.json")
    resolved = parse_fixture("alertmanager", "alertmanager_resolved.json")

    assert resolved.group_key == firing.group_key == CHECKOUT_GROUP_KEY
    assert [a.status for a in resolved.alerts] == ["resolved", "resolved"]
    assert [a.fingerprint for a in resolved.alerts] == [a.fingerprint for a in firing.alerts]
    assert [a.labels for a in resolved.alerts] == [CHECKOUT_LABELS, GATEWAY_LABELS]
    assert [a.ends_at for a in resolved.alerts] == [
        utc(2026, 3, 14, 9, 58, 23, 400000),
        utc(2026, 3, 14, 9, 59, 53, 4417),
    ]
    assert [a.starts_at for a in resolved.alerts] == [a.starts_at for a in firing.alerts]
    assert [a.service for a in resolved.alerts] == ["checkout", "payments-gateway"]


def test_alertmanager_without_fingerprints_hashes_the_labels() -> None:
    parsed = parse_fixture("alertmanager", "alertmanager_no_fingerprint.json")

    assert parsed.group_key == '{}:{alertname="QueueBacklog"}'
    assert (parsed.truncated, parsed.note) == (0, None)  # no truncatedAlerts: 0
    orders, refunds = parsed.alerts
    orders_labels = {"alertname": "QueueBacklog", "job": "orders-worker", "queue": "orders", "severity": "warning"}
    refunds_labels = {**orders_labels, "queue": "refunds"}
    assert orders.fingerprint == fingerprint_of_labels(orders_labels)  # no fingerprint field
    assert refunds.fingerprint == fingerprint_of_labels(refunds_labels)  # an empty one
    assert orders.fingerprint != refunds.fingerprint
    assert orders.status == "firing"  # the group's: the alert has no status of its own
    assert refunds.status == "resolved"  # its own, in a firing group
    assert orders.summary == "orders queue backlog above 10k messages"
    assert refunds.summary == "QueueBacklog"  # no annotations: the alertname
    assert {a.service for a in parsed.alerts} == {"orders-worker"}
    assert [a.links for a in parsed.alerts] == [(AM_EXTERNAL,), (AM_EXTERNAL,)]  # no or empty generatorURL
    assert refunds.ends_at == utc(2026, 3, 14, 7, 55)


def test_alertmanager_truncated_alerts() -> None:
    parsed = parse_fixture("alertmanager", "alertmanager_truncated.json")

    assert parsed.truncated == 3
    assert parsed.note == "alertmanager left out 3 alert(s) of this group (truncatedAlerts)"
    assert parsed.group_key == '{}:{alertname="DiskAlmostFull"}'
    [alert] = parsed.alerts
    assert alert.fingerprint == "dbd4448ce8018bf6"
    assert (alert.status, alert.service) == ("firing", "node")
    assert alert.summary == "db-1 /dev/nvme0n1p1 has 4% space left."
    assert alert.links == (AM_EXTERNAL,)  # generatorURL == externalURL: once
    assert alert.starts_at == utc(2026, 3, 14, 6, 15, 0, 500000)


def test_alertmanager_v3_numeric_group_key_beyond_2_to_the_53() -> None:
    body = fixture("alertmanager_v3_numeric_group_key.json")
    assert b'"groupKey": 14695981039346656037' in body  # a JSON number, not a string
    parsed = parse("alertmanager", body, JSON)

    assert parsed.group_key == "14695981039346656037"  # exact: not rounded through a float
    assert parsed.note == "alertmanager webhook version '3' (expected '4'); read as version 4"
    [alert] = parsed.alerts
    assert alert.fingerprint == fingerprint_of_labels({"alertname": "ApiDown", "job": "api", "severity": "critical"})
    assert (alert.status, alert.service, alert.summary) == ("firing", "api", "api is down")


def test_alertmanager_group_with_an_empty_alerts_list() -> None:
    parsed = parse_fixture("alertmanager", "alertmanager_empty_alerts.json")
    assert parsed == Parsed(alerts=[], group_key=CHECKOUT_GROUP_KEY, truncated=0, note="the group holds no alerts")


# --- Grafana --------------------------------------------------------------------------------------

GRAFANA = "https://grafana.warroom.example"
SEARCH_GROUP_KEY = '{}/{}:{alertname="SearchLatencyHigh", grafana_folder="search"}'
SEARCH_RULE = f"{GRAFANA}/alerting/grafana/edwk3n9a/view?orgId=1"


def silence_url(instance: str, service: bool) -> str:
    matchers = ["alertname%3DSearchLatencyHigh", "grafana_folder%3Dsearch", f"instance%3D{instance}"]
    matchers += ["service%3Dsearch"] if service else []
    matchers += ["severity%3Dwarning"]
    return (
        f"{GRAFANA}/alerting/silence/new?alertmanager=grafana&"
        + "&".join(f"matcher={m}" for m in matchers)
        + "&orgId=1"
    )


def test_grafana_firing_group() -> None:
    parsed = parse_fixture("grafana", "grafana_firing.json")

    assert parsed.group_key == SEARCH_GROUP_KEY
    assert (parsed.truncated, parsed.note) == (0, None)  # version "1" is Grafana's
    first, second = parsed.alerts
    assert {a.source for a in parsed.alerts} == {"grafana"}
    assert [a.status for a in parsed.alerts] == ["firing", "firing"]
    assert [a.fingerprint for a in parsed.alerts] == ["678cbd9ab3ffcace", "3087528bc6d16c0c"]

    assert first.labels == {
        "alertname": "SearchLatencyHigh",
        "grafana_folder": "search",
        "instance": "search-1",
        "service": "search",
        "severity": "warning",
    }
    assert first.service == "search"
    assert first.summary == "search p99 latency above 800 ms"
    assert first.annotations == {
        "description": "p99 of /search on search-1 is 912 ms over the last 5 minutes.",
        "summary": "search p99 latency above 800 ms",
        "values": '{"B":912.5,"C":1}',
        "valueString": (
            "[ var='B' labels={instance=search-1} value=912.5 ], [ var='C' labels={instance=search-1} value=1 ]"
        ),
    }
    assert first.links == (  # generator, dashboard, panel, silence, then the external URL
        SEARCH_RULE,
        f"{GRAFANA}/d/search-slo?orgId=1",
        f"{GRAFANA}/d/search-slo?orgId=1&viewPanel=4",
        silence_url("search-1", service=True),
        f"{GRAFANA}/",
    )
    assert first.starts_at == utc(2026, 3, 14, 10, 2, 10)  # 11:02:10+01:00
    assert first.ends_at is None

    assert second.service is None  # neither `service` nor `job`
    assert second.summary == "SearchLatencyHigh"  # no annotations: the alertname
    assert second.annotations == {}  # values null and an empty valueString add nothing
    assert second.links == (SEARCH_RULE, silence_url("search-2", service=False), f"{GRAFANA}/")  # empty URLs left out
    assert second.starts_at == utc(2026, 3, 14, 10, 3, 40)


def test_grafana_resolved_group_is_the_same_alerts_ended() -> None:
    firing = parse_fixture("grafana", "grafana_firing.json")
    resolved = parse_fixture("grafana", "grafana_resolved.json")

    assert resolved.group_key == SEARCH_GROUP_KEY
    assert [a.status for a in resolved.alerts] == ["resolved", "resolved"]
    assert [a.fingerprint for a in resolved.alerts] == [a.fingerprint for a in firing.alerts]
    assert [a.ends_at for a in resolved.alerts] == [utc(2026, 3, 14, 10, 31, 10), utc(2026, 3, 14, 10, 31, 10)]
    assert resolved.alerts[0].annotations["values"] == '{"B":640.25,"C":0}'  # the values at resolution
    assert [a.summary for a in resolved.alerts] == ["search p99 latency above 800 ms", "SearchLatencyHigh"]


# --- PagerDuty V3 ---------------------------------------------------------------------------------

PD_INCIDENT = "Q2W7RM0CHK5XZ1"
PD_TITLE = "Checkout — 5xx über 5 % (café-checkout)"
PD_URL = f"https://warroom-example.pagerduty.com/incidents/{PD_INCIDENT}"
WARROOM_INCIDENT = "INC-3f9a1c2b7d4e-1"


def pd_labels(event_type: str) -> dict[str, str]:
    return {
        "event_type": event_type,
        "incident_number": "4127",
        "urgency": "high",
        "priority": "P1",
        "incident_key": WARROOM_INCIDENT,
    }


def test_pagerduty_triggered_is_a_firing_alert() -> None:
    parsed = parse_fixture("pagerduty", "pagerduty_incident_triggered.json")

    assert (parsed.group_key, parsed.truncated, parsed.note) == (None, 0, None)
    [alert] = parsed.alerts
    assert alert.source == "pagerduty"
    assert alert.fingerprint == PD_INCIDENT
    assert alert.status == "firing"
    assert alert.service == "Checkout"
    assert alert.summary == PD_TITLE  # raw UTF-8 decoded
    assert alert.labels == pd_labels("incident.triggered")
    assert alert.annotations == {  # agent null: no agent
        "event_id": "01JPA7T3K9Q8W4M2X6Z0B5C1DE",
        "occurred_at": "2026-03-14T09:27:41.512000+00:00",
    }
    assert alert.links == (PD_URL,)
    assert alert.starts_at == utc(2026, 3, 14, 9, 27, 40)
    assert alert.ends_at is None


def test_pagerduty_acknowledged_stays_firing_and_names_the_agent() -> None:
    [alert] = parse_fixture("pagerduty", "pagerduty_incident_acknowledged.json").alerts
    assert (alert.fingerprint, alert.status, alert.ends_at) == (PD_INCIDENT, "firing", None)
    assert alert.labels == pd_labels("incident.acknowledged")
    assert alert.annotations["agent"] == "Ayşe Demir"
    assert alert.annotations["occurred_at"] == "2026-03-14T09:31:07.214000+00:00"


def test_pagerduty_resolved_ends_when_it_occurred() -> None:
    [alert] = parse_fixture("pagerduty", "pagerduty_incident_resolved.json").alerts
    assert (alert.fingerprint, alert.status) == (PD_INCIDENT, "resolved")
    assert alert.labels == pd_labels("incident.resolved")
    assert alert.ends_at == utc(2026, 3, 14, 10, 2, 55, 870000)  # 11:02:55.870+01:00
    assert alert.starts_at == utc(2026, 3, 14, 9, 27, 40)


@pytest.mark.parametrize(
    ("name", "note"),
    [
        (
            "pagerduty_incident_annotated.json",
            "ignored PagerDuty event type incident.annotated: its data is of type incident_note, not the incident",
        ),
        ("pagerduty_service_updated.json", "ignored PagerDuty event type service.updated"),
    ],
)
def test_pagerduty_events_that_are_not_an_incident_state_give_no_alert(name: str, note: str) -> None:
    assert parse_fixture("pagerduty", name) == Parsed(alerts=[], group_key=None, note=note)


def test_pagerduty_event_names_the_incident_and_warrooms_dedup_key() -> None:
    event = parse_pagerduty_event(fixture("pagerduty_incident_acknowledged.json"), JSON)
    assert event == PagerDutyEvent(
        event_id="01JPA7W8N2R5T7V9Y1A3C5E7GH",
        event_type="incident.acknowledged",
        occurred_at=utc(2026, 3, 14, 9, 31, 7, 214000),
        agent="Ayşe Demir",
        incident=PD_INCIDENT,
        incident_key=WARROOM_INCIDENT,
    )
    assert event.known


def test_pagerduty_event_a_note_names_only_the_incident_it_is_on() -> None:
    event = parse_pagerduty_event(fixture("pagerduty_incident_annotated.json"), JSON)
    assert (event.event_id, event.event_type, event.incident, event.incident_key) == (
        "01JPA8C2E4G6J8L0N2Q4S6U8WX",
        "incident.annotated",
        PD_INCIDENT,
        None,
    )
    assert event.known


def test_pagerduty_event_service_updated_is_not_a_known_incident_event() -> None:
    event = parse_pagerduty_event(fixture("pagerduty_service_updated.json"), JSON)
    assert (event.event_type, event.incident, event.incident_key, event.known) == ("service.updated", None, None, False)


# --- generic --------------------------------------------------------------------------------------

BACKUP_LABELS = {"severity": "critical", "team": "storage", "attempt": "3"}
BACKUP_SUMMARY = "nightly backup of orders-db did not finish"


def test_generic_firing_alert() -> None:
    parsed = parse_fixture("generic", "generic_firing.json")
    assert (parsed.group_key, parsed.note) == (None, None)
    [alert] = parsed.alerts
    assert alert.source == "generic"
    assert alert.fingerprint == fingerprint_of_labels(
        {**BACKUP_LABELS, "__service__": "orders-db", "__summary__": BACKUP_SUMMARY}
    )
    assert (alert.status, alert.service, alert.summary) == ("firing", "orders-db", BACKUP_SUMMARY)
    assert alert.labels == BACKUP_LABELS  # the number 3 as "3"
    assert alert.annotations == {"runbook": "https://runbooks.warroom.example/backups"}
    assert alert.links == ("https://ci.warroom.example/jobs/backup/812",)  # the repeat left out
    assert alert.starts_at == utc(2026, 3, 14, 2, 10)
    assert alert.ends_at is None


def test_generic_resolved_batch() -> None:
    [firing] = parse_fixture("generic", "generic_firing.json").alerts
    parsed = parse_fixture("generic", "generic_resolved.json")
    assert parsed.note is None
    backup, size = parsed.alerts
    assert backup.fingerprint == firing.fingerprint  # the same problem, resolved
    assert (backup.status, backup.ends_at) == ("resolved", utc(2026, 3, 14, 4, 10))  # Unix seconds
    assert size.fingerprint == "backup-orders-db-size"
    assert size.status == "resolved"  # "RESOLVED"
    assert size.service == "orders-db"  # from the labels
    assert size.summary == "backup size dropped by 40%"


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "name", "field", "reason"),
    [
        ("alertmanager", "alertmanager_alert_without_labels.json", "alerts[1].labels", "required, but missing"),
        ("grafana", "alertmanager_alert_without_labels.json", "alerts[1].labels", "required, but missing"),
        ("pagerduty", "pagerduty_incident_without_id.json", "event.data.id", "required, but missing"),
        ("alertmanager", "pagerduty_incident_triggered.json", "alerts", "required, but missing"),
        ("grafana", "pagerduty_incident_triggered.json", "alerts", "required, but missing"),
        ("alertmanager", "generic_firing.json", "alerts", "required, but missing"),
        ("pagerduty", "alertmanager_firing.json", "event", "required, but missing"),
        ("pagerduty", "grafana_firing.json", "event", "required, but missing"),
        ("generic", "alertmanager_firing.json", "alerts[0].summary", "required, but missing (also: alerts[1].summary)"),
    ],
)
def test_a_body_not_of_the_sources_shape_is_refused_at_the_field(
    source: str, name: str, field: str, reason: str
) -> None:
    with pytest.raises(SchemaMismatch) as caught:
        parse_fixture(source, name)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert caught.value.http_status == 422
    assert str(caught.value) == f"{field}: {reason}"


def test_pagerduty_event_refuses_what_parse_refuses() -> None:
    with pytest.raises(SchemaMismatch) as caught:
        parse_pagerduty_event(fixture("pagerduty_incident_without_id.json"), JSON)
    assert caught.value.field == "event.data.id"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_fixture_not_sent_as_json_is_an_unsupported_media_type(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse("alertmanager", fixture("alertmanager_firing.json"), content_type)
    assert isinstance(caught.value, AlertRejectedError)
    assert caught.value.http_status == 415


def test_a_broken_fixture_is_malformed_at_its_line_and_column() -> None:
    body = fixture("alertmanager_firing.json").replace(b'"receiver": "warroom",', b'"receiver": warroom,')
    with pytest.raises(MalformedBody) as caught:
        parse("alertmanager", body, JSON)
    assert caught.value.reason == "malformed JSON at line 2, column 15: Expecting value"
    assert caught.value.http_status == 400


# --- Grafana HMAC ---------------------------------------------------------------------------------

GRAFANA_SECRET = "grafana-hmac-warroom-5Tq8"
SIGNATURE = "X-Grafana-Alerting-Signature"
TIMESTAMP = "X-Grafana-Alerting-Signature-Timestamp"
NOW = datetime(2026, 3, 14, 10, 2, 30, tzinfo=UTC)
TS = int(NOW.timestamp())


def grafana_sign(body: bytes, timestamp: int | None = None, secret: str = GRAFANA_SECRET) -> str:
    """Grafana's construction: hex HMAC-SHA256 of ``[<timestamp> ":"] <body>``."""
    message = body if timestamp is None else f"{timestamp}:".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def timestamped(body: bytes, timestamp: int) -> dict[str, str]:
    return {SIGNATURE: grafana_sign(body, timestamp), TIMESTAMP: str(timestamp)}


@pytest.mark.parametrize("offset", [0, -300, 300])
def test_grafana_timestamped_signature_passes(offset: int) -> None:
    body = fixture("grafana_firing.json")
    check_grafana_hmac(timestamped(body, TS + offset), body, GRAFANA_SECRET, now=NOW)
    check_grafana_hmac({SIGNATURE: grafana_sign(body)}, body, GRAFANA_SECRET, now=NOW)  # body only


def test_grafana_tampered_body_or_other_secret_is_refused() -> None:
    body = fixture("grafana_firing.json")
    headers = timestamped(body, TS)
    tampered = body.replace(b'"B": 912.5', b'"B": 512.5')
    assert tampered != body
    cases = {
        "tampered body": (headers, tampered),
        "other body": (headers, fixture("grafana_resolved.json")),
        "other secret": ({SIGNATURE: grafana_sign(body, TS, secret="not-the-secret"), TIMESTAMP: str(TS)}, body),
        "moved timestamp": ({**headers, TIMESTAMP: str(TS + 60)}, body),
        "timestamp dropped": ({SIGNATURE: headers[SIGNATURE]}, body),
    }
    for case, (sent_headers, sent_body) in cases.items():
        check = partial(check_grafana_hmac, sent_headers, sent_body, GRAFANA_SECRET, now=NOW)
        error = refused(check, GRAFANA_SECRET, headers[SIGNATURE])
        assert str(error) == f"the {SIGNATURE} signature does not match the body", case


def test_grafana_stale_or_future_timestamp_is_refused() -> None:
    body = fixture("grafana_firing.json")
    stale = refused(
        lambda: check_grafana_hmac(timestamped(body, TS - 301), body, GRAFANA_SECRET, now=NOW), GRAFANA_SECRET
    )
    assert str(stale) == (
        "stale signature timestamp: signed 301 s ago, more than the 300 s allowed; "
        "check the clocks of Grafana and warroom"
    )
    hour_old = refused(lambda: check_grafana_hmac(timestamped(body, TS - 3600), body, GRAFANA_SECRET, now=NOW))
    assert str(hour_old).startswith("stale signature timestamp: signed 3600 s ago")
    future = refused(lambda: check_grafana_hmac(timestamped(body, TS + 301), body, GRAFANA_SECRET, now=NOW))
    assert str(future).startswith("stale signature timestamp: 301 s in the future")


def test_grafana_timestamped_signature_verifies_without_its_header_only_for_a_body_that_is_not_json() -> None:
    body = fixture("grafana_firing.json")
    signed = timestamped(body, TS)
    replayed = f"{TS}:".encode() + body
    check_grafana_hmac({SIGNATURE: signed[SIGNATURE]}, replayed, GRAFANA_SECRET, now=NOW)
    with pytest.raises(MalformedBody, match="Extra data"):
        parse("grafana", replayed, JSON)


# --- PagerDuty signatures -------------------------------------------------------------------------

PD_SECRET = "whsec-warroom-9Qv2Lr7Tn4Xk"
PD_ROTATED = "whsec-warroom-rotated-Hc8Jw3Pz"
PD_HEADER = "X-PagerDuty-Signature"
# HMAC-SHA256(PD_SECRET, the exact bytes of pagerduty_incident_triggered.json), hex: computed once with
# Python's hmac and pinned, so a change to the fixture's bytes (an edit, a line ending) is seen
PD_VECTOR = "v1=b0e7899db7068ea06c1868315507bddf216bffee076b705c5b16a7320b5f6650"


def pd_sign(body: bytes, secret: str) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pd_body() -> bytes:
    return fixture("pagerduty_incident_triggered.json")


def test_pagerduty_known_vector_passes() -> None:
    body = pd_body()
    assert not body.endswith(b"\n") and "é".encode() in body  # hashed as stored: raw UTF-8, no newline
    assert pd_sign(body, PD_SECRET) == PD_VECTOR
    check_pagerduty_signature({PD_HEADER: PD_VECTOR}, body, [PD_SECRET])
    check_pagerduty_signature({"x-pagerduty-signature": PD_VECTOR.upper().replace("V1=", "v1=")}, body, [PD_SECRET])


def test_pagerduty_wrong_secret_is_refused() -> None:
    body = pd_body()
    for secrets in ([PD_ROTATED], ["whsec-warroom-9Qv2Lr7Tn4X"], [PD_SECRET + "k"]):
        error = refused(
            lambda secrets=secrets: check_pagerduty_signature({PD_HEADER: PD_VECTOR}, body, secrets),
            *secrets,
            PD_VECTOR[3:],
        )
        assert str(error) == "no X-PagerDuty-Signature signature matches the body with a configured secret"


def test_pagerduty_two_signatures_during_a_rotation() -> None:
    body = pd_body()
    header = {PD_HEADER: f"{pd_sign(body, PD_SECRET)},{pd_sign(body, PD_ROTATED)}"}
    assert header[PD_HEADER].startswith(PD_VECTOR + ",v1=")
    check_pagerduty_signature(header, body, [PD_SECRET])  # warroom not yet rotated
    check_pagerduty_signature(header, body, [PD_ROTATED])  # warroom rotated first
    check_pagerduty_signature(header, body, ["unrelated-secret", PD_ROTATED])  # any configured secret
    check_pagerduty_signature({PD_HEADER: pd_sign(body, PD_ROTATED)}, body, [PD_SECRET, PD_ROTATED])
    error = refused(lambda: check_pagerduty_signature(header, body, ["wrong-secret"]), PD_SECRET, PD_ROTATED)
    assert str(error) == "no X-PagerDuty-Signature signature matches the body with a configured secret"


def test_pagerduty_tampered_body_is_refused() -> None:
    body = pd_body()
    headers = {PD_HEADER: f"{PD_VECTOR},{pd_sign(body, PD_ROTATED)}"}
    same_json_other_bytes = json.dumps(json.loads(body), separators=(",", ":")).encode()  # \u00e9 escapes
    assert json.loads(same_json_other_bytes) == json.loads(body) and same_json_other_bytes != body
    tampered = {
        "title changed": body.replace(b"Checkout \xe2\x80\x94 5xx", b"Checkout \xe2\x80\x94 4xx"),
        "resolved instead": body.replace(b'"status":"triggered"', b'"status":"resolved"'),
        "re-serialized": same_json_other_bytes,
        "trailing newline": body + b"\n",
        "empty": b"",
    }
    for case, sent in tampered.items():
        assert sent != body, case
        error = refused(partial(check_pagerduty_signature, headers, sent, [PD_SECRET, PD_ROTATED]), PD_SECRET)
        assert str(error) == "no X-PagerDuty-Signature signature matches the body with a configured secret", case


@pytest.mark.parametrize(
    ("headers", "secrets", "message"),
    [
        ({}, [PD_SECRET], "missing X-PagerDuty-Signature header: the request is not signed"),
        ({PD_HEADER: "v2=" + PD_VECTOR[3:]}, [PD_SECRET], "the X-PagerDuty-Signature header has no v1= signature"),
        ({PD_HEADER: PD_VECTOR[3:]}, [PD_SECRET], "the X-PagerDuty-Signature header has no v1= signature"),
        ({PD_HEADER: PD_VECTOR}, [], "no PagerDuty webhook secret is configured: every request is refused"),
        ({PD_HEADER: PD_VECTOR}, [""], "no PagerDuty webhook secret is configured: every request is refused"),
    ],
)
def test_pagerduty_unsigned_or_unconfigured_is_refused(
    headers: dict[str, str], secrets: list[str], message: str
) -> None:
    error = refused(lambda: check_pagerduty_signature(headers, pd_body(), secrets), PD_SECRET)
    assert str(error) == message


def test_pagerduty_signed_body_parses_into_the_incident() -> None:
    body = pd_body()
    check_pagerduty_signature({PD_HEADER: PD_VECTOR}, body, [PD_SECRET])
    [alert] = parse("pagerduty", body, "application/json; charset=utf-8").alerts
    assert (alert.fingerprint, alert.labels["incident_key"]) == (PD_INCIDENT, WARROOM_INCIDENT)
