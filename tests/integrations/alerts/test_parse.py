"""integrations.alerts.parse: real vendor bodies from the shared payloads (WARROOM_SHARED_DIR; see its SOURCES.md), and
the refusals, each with the field it names.

Fingerprints of bodies without one are checked against ``fingerprint_of_labels`` of the labels
written out here, so a parser that hashed anything else (or the labels of another alert) fails.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import shared_payload
from warroom.incident.errors import AlertRejectedError
from warroom.incident.models import fingerprint_of_labels
from warroom.integrations.alerts.parse import (
    SOURCES,
    MalformedBody,
    PagerDutyEvent,
    Parsed,
    SchemaMismatch,
    UnsupportedMediaType,
    parse,
    parse_pagerduty_event,
)

JSON = "application/json"


def payload(name: str) -> bytes:
    return shared_payload(name)


def parse_file(source: str, name: str) -> Parsed:
    return parse(source, payload(name), JSON)


def parse_json(source: str, document: Any, content_type: str | None = JSON) -> Parsed:
    return parse(source, json.dumps(document, ensure_ascii=False).encode(), content_type)


def rejected(source: str, document: Any) -> SchemaMismatch:
    with pytest.raises(SchemaMismatch) as caught:
        parse_json(source, document)
    return caught.value


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_sources_are_the_four_intake_routes() -> None:
    assert SOURCES == ("alertmanager", "grafana", "pagerduty", "generic")


def test_an_unknown_source_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown alert source 'nagios'"):
        parse("nagios", b"{}", JSON)


# --- Alertmanager: real bodies --------------------------------------------------------------------


def test_alertmanager_one_alert_without_status_fingerprint_or_generator_url() -> None:
    parsed = parse_file("alertmanager", "am_msteams_prom_post_request.json")

    assert parsed.group_key == '{}:{alertname="high_memory_load"}'
    assert parsed.truncated == 0
    assert parsed.note is None
    [alert] = parsed.alerts
    labels = {
        "alertname": "high_memory_load",
        "instance": "instance-with-hyphen_and_underscore",
        "job": "docker_nodes",
        "monitor": "master",
        "severity": "warning",
    }
    assert alert.source == "alertmanager"
    assert alert.labels == labels
    assert alert.fingerprint == fingerprint_of_labels(labels)
    assert alert.status == "firing"  # the group's: the alert has no status of its own
    assert alert.service == "docker_nodes"  # no `service` label: the `job` label
    assert alert.summary == "Server High Memory usage"
    assert alert.links == ("http://docker.for.mac.host.internal:9093",)  # externalURL only
    # -05:00 offset and nanoseconds: the same instant in UTC, to the microsecond
    assert alert.starts_at == utc(2018, 3, 7, 11, 33, 21, 873077)
    assert alert.starts_at is not None and alert.starts_at.utcoffset() == timedelta(0)  # in UTC
    assert alert.ends_at is None  # 0001-01-01T00:00:00Z


def test_alertmanager_several_alerts_in_one_group_keep_their_own_fingerprints() -> None:
    parsed = parse_file("alertmanager", "am_msteams_three_alerts_grafana_inspired.json")

    assert parsed.group_key == '{}/{namespace="whatever/promstack"}:{alertname="JustATestAlert_1"}'
    assert parsed.note is None
    assert [a.fingerprint for a in parsed.alerts] == [
        "ff6a7a0f5f1c1309",
        "554664fa753a2b45",
        "911c76f0240f015b",
    ]
    assert [a.labels["name"] for a in parsed.alerts] == ["grafana", "nginx", "prometheus"]
    assert [a.annotations["value"] for a in parsed.alerts] == ["30.10 %", "33.79 %", "3.65 %"]
    for alert in parsed.alerts:
        assert alert.status == "firing"
        assert alert.service is None  # neither `service` nor `job`
        assert alert.summary == "Ratio(Max(Working Set, RSS) / Reservation) [5m Avg] < 40 %"  # \u003c
        assert alert.annotations["description"].endswith("justo duo dolores et ea.\\n")  # literal \n kept
        assert alert.links[1] == "https://domain.com/promstack/alertmanager"
        assert alert.links[0].startswith("https://domain.com/promstack/prometheus/graph?g0.expr=")
        assert alert.starts_at == utc(2020, 10, 11, 14, 34, 11, 279383)


def test_alertmanager_mixed_firing_and_resolved_in_a_firing_group() -> None:
    parsed = parse_file("alertmanager", "am_bougou_vmalert_mixed_firing_resolved.json")

    assert parsed.group_key == '{}:{alertname="CPUHigh"}'
    assert parsed.truncated == 0
    assert [a.status for a in parsed.alerts] == ["firing", "resolved", "firing", "firing"]
    # the source's fingerprint is kept as sent, even though vmalert sent one value for all four
    assert {a.fingerprint for a in parsed.alerts} == {"83eb2c81e0da3faf"}
    assert [a.labels["alertname"] for a in parsed.alerts] == ["CPUHigh", "CPUHigh", "CPUHigh1", "CPUHigh2"]
    assert [a.ends_at for a in parsed.alerts] == [None, utc(2021, 3, 30, 13, 17, 50, 814674), None, None]
    assert {a.summary for a in parsed.alerts} == {"cpu usage is high than 20% for 5 minutes"}
    assert {a.links for a in parsed.alerts} == {
        (
            "http://10.30.12.22:8429/api/v1/2026138838271548684/17025577897922373885/status",
            "http://10.30.12.22:9193",
        )
    }


def test_alertmanager_truncated_alerts_and_missing_optional_fields() -> None:
    parsed = parse_file("alertmanager", "am_pfnet_truncated_alerts_2.json")

    assert parsed.truncated == 2
    assert parsed.group_key == "group1"
    assert parsed.note == "alertmanager left out 2 alert(s) of this group (truncatedAlerts)"
    [alert] = parsed.alerts
    assert alert.fingerprint == fingerprint_of_labels({"g": "h"})
    assert alert.status == "firing"
    assert alert.service is None
    assert alert.summary == "alert from alertmanager"  # no summary, description or alertname
    assert alert.annotations == {"i": "j"}
    assert alert.links == ("http://alert.example.com",)  # generatorURL == externalURL: once
    assert alert.starts_at == utc(2020, 1, 1, 12, 34, 56)
    assert alert.ends_at == utc(2020, 1, 2, 12, 34, 56)  # a real endsAt is kept, status or not


def test_alertmanager_v4_without_fingerprint_hashes_its_labels() -> None:
    parsed = parse_file("alertmanager", "am_alerta_v4_no_fingerprint.json")

    assert parsed.group_key == "{}:{alertname=thing_dead}"
    assert parsed.truncated == 0
    assert parsed.note is None
    [alert] = parsed.alerts
    assert alert.fingerprint == fingerprint_of_labels({"alertname": "thing_dead", "severity": "critical"})
    assert alert.summary == "No things for over 10 minutes"
    assert alert.annotations["runbookBad"] == "https://internal.myorg.net/wiki/alerts/{app}/{alertname}"
    assert alert.starts_at == utc(2017, 8, 3, 19, 17, 37, 804000)
    assert alert.links == (
        "http://somehost:9090/graph?g0.expr=sum%28irate%28messages_received_total%5B5m%5D%29%29+%3D%3D+0&g0.tab=0",
        "http://somehost:9093",
    )


def test_alertmanager_compact_body_from_a_log() -> None:
    parsed = parse_file("alertmanager", "am_prometheusalert_compact_from_log.json")

    assert parsed.group_key == '{}/{job=~"^(?:.*)$"}:{instance="example-1"}'
    [alert] = parsed.alerts
    assert alert.fingerprint == "e2a5025853d4da64"
    assert alert.service == "example"  # the `service` label wins over `job`
    assert alert.summary == "target was down! example dev /example-1 was down for more than 120s."
    assert alert.links[0].endswith("+%21%3D+1&g0.tab=1")  # \u0026 decoded
    assert alert.starts_at == utc(2020, 5, 21, 2, 58, 7, 830216)


def test_alertmanager_without_version_or_group_key() -> None:
    parsed = parse_file("alertmanager", "edge_am_prometheusalert_no_version_no_groupkey.json")

    assert parsed.group_key is None
    assert parsed.note == "no alertmanager webhook version given; read as version 4"
    [alert] = parsed.alerts
    assert alert.fingerprint == fingerprint_of_labels(
        {
            "alertname": "TestAlert",
            "instance": "localhost",
            "level": "1",
            "severity": "warning",
            "job": "node_exporter",
            "hostgroup": "test",
            "hostname": "ecs01",
        }
    )
    assert alert.service == "node_exporter"
    assert alert.summary == "Test Alert Summary"
    assert alert.links == ("http://localhost/alerts", "http://localhost/prometheus")


def test_alertmanager_v3_with_a_numeric_group_key_beyond_2_to_the_53() -> None:
    parsed = parse_file("alertmanager", "edge_am_v3_alerta_numeric_groupkey.json")

    assert parsed.group_key == "5615590933959184469"  # exact: not rounded through a float
    assert parsed.note == "alertmanager webhook version '3' (expected '4'); read as version 4"
    [alert] = parsed.alerts
    assert alert.service == "System"
    assert alert.summary == "Connect fail"
    assert alert.labels["timeout"] == "600"
    assert alert.starts_at == utc(2016, 8, 1, 10, 27, 8, 8000)


def test_alertmanager_v3_without_group_key_two_alerts() -> None:
    parsed = parse_file("alertmanager", "edge_am_v3_dingtalk_playground.json")

    assert parsed.group_key is None
    assert parsed.note == "alertmanager webhook version '3' (expected '4'); read as version 4"
    common = {"alertname": "something_happened", "job": "node", "service": "prometheus_bot"}
    common |= {"severity": "warning", "supervisor": "runit"}
    assert [a.fingerprint for a in parsed.alerts] == [
        fingerprint_of_labels({**common, "env": "prod", "instance": "server01.int:9100"}),
        fingerprint_of_labels({**common, "env": "staging", "instance": "server02.int:9100"}),
    ]
    assert [a.summary for a in parsed.alerts] == ["Oops, something happened!", "Oops, something happend!"]
    assert {a.service for a in parsed.alerts} == {"prometheus_bot"}


def test_alertmanager_body_without_alerts_is_refused_at_alerts() -> None:
    with pytest.raises(SchemaMismatch) as caught:
        parse_file("alertmanager", "edge_am_prometheusalert_no_alerts.json")
    assert caught.value.field == "alerts"
    assert caught.value.reason == "required, but missing"
    assert caught.value.http_status == 422


def test_alertmanager_group_with_an_empty_alerts_list() -> None:
    parsed = parse_json("alertmanager", {"version": "4", "groupKey": "g", "status": "resolved", "alerts": []})
    assert parsed == Parsed(alerts=[], group_key="g", truncated=0, note="the group holds no alerts")


# --- Grafana: real bodies -------------------------------------------------------------------------


def test_grafana_default_template_payload() -> None:
    parsed = parse_file("grafana", "grafana_alerting_test_default_payload.json")

    assert parsed.group_key == "alertname"
    assert parsed.truncated == 0
    assert parsed.note is None  # version "1" is Grafana's
    [alert] = parsed.alerts
    assert alert.source == "grafana"
    assert alert.fingerprint == "fac0861a85de433a"
    assert alert.summary == "alert1"  # only annotation ann1: the alertname
    assert alert.annotations == {"ann1": "annv1"}  # values is null: no `values` annotation
    assert alert.starts_at is None  # the zero time, on startsAt too
    assert alert.ends_at is None
    assert alert.links == (  # empty dashboardURL and panelURL left out
        "http://localhost/test?orgId=1",
        "http://localhost/alerting/silence/new?alertmanager=grafana&matcher=alertname%3Dalert1"
        "&matcher=lbl1%3Dval1&orgId=1",
        "http://localhost",
    )


def test_grafana_values_go_into_the_annotations_and_urls_into_the_links() -> None:
    parsed = parse_file("grafana", "grafana_bougou_firing_values.json")

    assert parsed.group_key == '{}/{}:{alertname="CPU Usage High", grafana_folder="alert"}'
    [alert] = parsed.alerts
    assert alert.fingerprint == "68d4e65db3ad9208"
    assert alert.summary == "CPU Usage High"
    assert alert.service is None
    assert json.loads(alert.annotations["values"]) == {"C": 12, "D": 1}
    assert alert.annotations == {
        "values": '{"C":12,"D":1}',
        "valueString": "[ var='D' labels={} value=1 ], [ var='C' labels={} value=12 ]",
    }
    assert alert.links == (
        "http://localhost/grafana/alerting/grafana/fOO_kffVz/view?orgId=1",
        "http://localhost/grafana/d/200ac8fdbfbb74b39aff88118e4d1c2c?orgId=1",
        "http://localhost/grafana/d/200ac8fdbfbb74b39aff88118e4d1c2c?orgId=1&viewPanel=1",
        "http://localhost/grafana/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DCPU+Usage+High"
        "&matcher=grafana_folder%3Dalert&matcher=testkey%3Dtestvalue",
        "http://localhost/grafana/",
    )
    assert alert.starts_at == utc(2023, 3, 29, 9, 41, 10)


def test_grafana_image_url_and_an_own_values_annotation() -> None:
    body = {
        "version": "1",
        "status": "resolved",
        "alerts": [
            {
                "labels": {"alertname": "Disk"},
                "annotations": {"values": "set by the rule"},
                "values": {"B": 0.5},
                "imageURL": "https://img.example/x.png",
                "generatorURL": "",
            }
        ],
    }
    [alert] = parse_json("grafana", body).alerts
    assert alert.status == "resolved"
    assert alert.annotations == {"values": "set by the rule"}  # the rule's own annotation is kept
    assert alert.links == ("https://img.example/x.png",)


def test_an_alertmanager_body_reads_as_a_grafana_body_without_the_extras() -> None:
    as_grafana = parse_file("grafana", "am_pfnet_truncated_alerts_2.json")
    assert as_grafana.truncated == 2
    assert as_grafana.note is not None and "version '4' (expected '1')" in as_grafana.note
    assert as_grafana.alerts[0].summary == "alert from grafana"


# --- PagerDuty V3 ---------------------------------------------------------------------------------


def test_pagerduty_docs_priority_updated_is_a_firing_alert() -> None:
    parsed = parse_file("pagerduty", "pd_v3_docs_incident_priority_updated.json")

    assert parsed.group_key is None
    assert parsed.note is None
    [alert] = parsed.alerts
    assert alert.source == "pagerduty"
    assert alert.fingerprint == "PGR0VU2"
    assert alert.status == "firing"
    assert alert.service == "API Service"
    assert alert.summary == "A little bump in the road"
    assert alert.links == ("https://acme.pagerduty.com/incidents/PGR0VU2",)
    assert alert.labels == {
        "event_type": "incident.priority_updated",
        "incident_number": "2",
        "urgency": "high",
        "priority": "P1",
        "incident_key": "d3640fbd41094207a1c11e58e46b1662",
    }
    assert alert.annotations == {
        "event_id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
        "occurred_at": "2020-10-02T18:45:22.169000+00:00",
        "agent": "Tenex Engineer",
    }
    assert alert.starts_at == utc(2020, 4, 9, 15, 16, 27)
    assert alert.ends_at is None


def test_pagerduty_signed_body_with_a_numeric_conference_number() -> None:
    [alert] = parse_file("pagerduty", "pd_v3_signed_incident_priority_updated.json").alerts
    assert (alert.fingerprint, alert.status, alert.service) == ("PGR0VU2", "firing", "API Service")
    assert alert.annotations["event_id"] == "01BWDWL3NYY7LUFPZCC28QUCMK"
    assert "agent" in alert.annotations and alert.starts_at is None  # client null, no created_at


def test_pagerduty_service_updated_is_ignored_with_a_note() -> None:
    parsed = parse_file("pagerduty", "pd_v3_docs_service_updated.json")
    assert parsed == Parsed(alerts=[], group_key=None, note="ignored PagerDuty event type service.updated")


def pd_event(event_type: str, **data: Any) -> dict[str, Any]:
    incident = {"id": "PABC123", "type": "incident", "title": "Checkout down", "status": "triggered"}
    return {
        "event": {
            "id": "01EVENT",
            "event_type": event_type,
            "resource_type": event_type.partition(".")[0],
            "occurred_at": "2024-05-01T12:30:00+02:00",
            "agent": None,
            "client": None,
            "data": incident | data,
        }
    }


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("incident.triggered", "firing"),
        ("incident.acknowledged", "firing"),
        ("incident.unacknowledged", "firing"),
        ("incident.reopened", "firing"),
        ("incident.escalated", "firing"),
        ("incident.priority_updated", "firing"),
        ("incident.resolved", "resolved"),
    ],
)
def test_pagerduty_incident_event_types(event_type: str, status: str) -> None:
    data_status = "resolved" if event_type == "incident.resolved" else "triggered"
    [alert] = parse_json("pagerduty", pd_event(event_type, status=data_status)).alerts
    assert alert.status == status
    assert alert.fingerprint == "PABC123"
    assert alert.summary == "Checkout down"
    assert alert.ends_at == (utc(2024, 5, 1, 10, 30) if status == "resolved" else None)


def test_pagerduty_an_event_on_a_resolved_incident_stays_resolved() -> None:
    [alert] = parse_json("pagerduty", pd_event("incident.priority_updated", status="resolved")).alerts
    assert alert.status == "resolved"


@pytest.mark.parametrize(
    ("body", "note"),
    [
        (
            pd_event("incident.annotated", type="incident_note", content="looked at it"),
            "ignored PagerDuty event type incident.annotated: its data is of type incident_note, not the incident",
        ),
        (
            {"event": {"event_type": "pagey.ping", "resource_type": "pagey", "data": {"message": "hi"}}},
            "ignored PagerDuty event type pagey.ping",
        ),
    ],
)
def test_pagerduty_events_that_are_not_an_incident_state_give_no_alert(body: Any, note: str) -> None:
    assert parse_json("pagerduty", body) == Parsed(alerts=[], group_key=None, note=note)


def test_pagerduty_incident_without_id_or_event_is_refused_with_the_path() -> None:
    body = pd_event("incident.triggered")
    del body["event"]["data"]["id"]
    assert rejected("pagerduty", body).field == "event.data.id"
    assert rejected("pagerduty", {"incident": {}}).field == "event"
    assert rejected("pagerduty", {"event": {"event_type": "incident.triggered", "data": []}}).field == ("event.data")


def test_pagerduty_event_from_the_docs_names_the_incident_and_its_dedup_key() -> None:
    event = parse_pagerduty_event(payload("pd_v3_docs_incident_priority_updated.json"), JSON)
    assert event == PagerDutyEvent(
        event_id="5ac64822-4adc-4fda-ade0-410becf0de4f",
        event_type="incident.priority_updated",
        occurred_at=utc(2020, 10, 2, 18, 45, 22, 169000),
        agent="Tenex Engineer",
        incident="PGR0VU2",
        incident_key="d3640fbd41094207a1c11e58e46b1662",
    )
    assert event.known


def test_pagerduty_event_signed_body_has_no_incident_key() -> None:
    event = parse_pagerduty_event(payload("pd_v3_signed_incident_priority_updated.json"), JSON)
    assert (event.event_id, event.incident, event.incident_key) == ("01BWDWL3NYY7LUFPZCC28QUCMK", "PGR0VU2", None)


def test_pagerduty_event_a_note_names_only_the_incident_it_is_on() -> None:
    body = pd_event("incident.annotated", type="incident_note", content="looked at it",
                    incident={"id": "PABC123", "type": "incident_reference"})
    event = parse_pagerduty_event(json.dumps(body).encode(), JSON)
    assert (event.event_type, event.incident, event.incident_key, event.known) == (
        "incident.annotated", "PABC123", None, True)
    assert event.occurred_at == utc(2024, 5, 1, 10, 30)


@pytest.mark.parametrize(
    ("body", "event_type"),
    [
        ("pd_v3_docs_service_updated.json", "service.updated"),
        (json.dumps({"event": {"event_type": "pagey.ping", "resource_type": "pagey", "data": {}}}).encode(),
         "pagey.ping"),
        (json.dumps(pd_event("incident.foo", incident_key="INC-1")).encode(), "incident.foo"),
    ],
)
def test_pagerduty_event_types_pagerduty_does_not_document_are_not_known(body: bytes | str, event_type: str) -> None:
    event = parse_pagerduty_event(payload(body) if isinstance(body, str) else body, JSON)
    assert event.event_type == event_type and not event.known


def test_pagerduty_event_refuses_what_parse_refuses() -> None:
    body = pd_event("incident.acknowledged")
    del body["event"]["data"]["id"]
    with pytest.raises(SchemaMismatch) as caught:
        parse_pagerduty_event(json.dumps(body).encode(), JSON)
    assert caught.value.field == "event.data.id"
    with pytest.raises(UnsupportedMediaType):
        parse_pagerduty_event(b"{}", "text/plain")


# --- generic --------------------------------------------------------------------------------------


def test_generic_single_alert_with_defaults() -> None:
    labels = {"severity": "critical", "service": "payments"}
    [alert] = parse_json("generic", {"summary": "payments p99 over 2 s", "labels": labels}).alerts

    assert alert.source == "generic"
    assert alert.status == "firing"
    assert alert.service == "payments"  # from the labels, when not given
    expected = fingerprint_of_labels({**labels, "__service__": "payments", "__summary__": "payments p99 over 2 s"})
    assert alert.fingerprint == expected
    assert alert.fingerprint != fingerprint_of_labels(labels)  # the summary is part of it
    assert (alert.annotations, alert.links, alert.starts_at, alert.ends_at) == ({}, (), None, None)


def test_generic_full_alert() -> None:
    body = {
        "fingerprint": "checkout-5xx",
        "status": "resolved",
        "service": "checkout",
        "summary": "checkout error rate above 5%",
        "labels": {"team": "web", "severity": 2},
        "annotations": {"runbook": "https://runbooks.example/checkout"},
        "starts_at": "2024-05-01T12:00:00+02:00",
        "ends_at": 1714561200,
        "links": ["https://grafana.example/d/abc", "https://grafana.example/d/abc", ""],
        "extra": "allowed",
    }
    [alert] = parse_json("generic", body).alerts
    assert alert.fingerprint == "checkout-5xx"
    assert alert.status == "resolved"
    assert alert.service == "checkout"
    assert alert.labels == {"team": "web", "severity": "2"}
    assert alert.starts_at == utc(2024, 5, 1, 10, 0)
    assert alert.ends_at == utc(2024, 5, 1, 11, 0)
    assert alert.links == ("https://grafana.example/d/abc",)


def test_generic_several_alerts_and_none() -> None:
    parsed = parse_json("generic", {"alerts": [{"summary": "one"}, {"summary": "two", "status": "RESOLVED"}]})
    assert [(a.summary, a.status) for a in parsed.alerts] == [("one", "firing"), ("two", "resolved")]
    assert parsed.alerts[0].fingerprint != parsed.alerts[1].fingerprint
    assert parse_json("generic", {"alerts": []}) == Parsed(alerts=[], group_key=None, note="the body holds no alerts")


# --- unicode and lenient values -------------------------------------------------------------------


def test_unicode_survives_every_step() -> None:
    labels = {"alertname": "ДискПолон", "équipe": "基盤", "emoji": "🔥"}
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"labels": labels, "annotations": {"summary": "Диск заполнен на 95 % — 🔥"}}],
    }
    [alert] = parse_json("alertmanager", body).alerts
    assert alert.labels == labels
    assert alert.summary == "Диск заполнен на 95 % — 🔥"
    assert alert.fingerprint == fingerprint_of_labels(labels)
    escaped = json.dumps(body, ensure_ascii=True).encode()  # \uXXXX escapes, surrogate pairs included
    assert parse("alertmanager", escaped, JSON).alerts == [alert]
    assert parse("alertmanager", b"\xef\xbb\xbf" + escaped, JSON).alerts == [alert]  # a UTF-8 BOM


def test_numbers_and_booleans_in_labels_become_strings() -> None:
    body = {
        "status": "firing",
        "alerts": [{"labels": {"level": 2, "ratio": 0.5, "page": True, "gone": None}}],
    }
    [alert] = parse_json("alertmanager", body).alerts
    assert alert.labels == {"level": "2", "ratio": "0.5", "page": "true", "gone": ""}


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/x-www-form-urlencoded", "application/jsonp"]
)
def test_a_body_not_sent_as_json_is_an_unsupported_media_type(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse("alertmanager", payload("am_pfnet_truncated_alerts_2.json"), content_type)
    assert isinstance(caught.value, AlertRejectedError)
    assert caught.value.http_status == 415
    assert "application/json" in caught.value.reason


def test_a_charset_other_than_utf8_is_an_unsupported_media_type() -> None:
    with pytest.raises(UnsupportedMediaType, match="charset is 'iso-8859-1'"):
        parse("generic", b'{"summary": "x"}', "application/json; charset=ISO-8859-1")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
    ],
)
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert len(parse("alertmanager", payload("am_pfnet_truncated_alerts_2.json"), content_type).alerts) == 1


def test_malformed_json_names_the_line_and_column() -> None:
    body = payload("am_pfnet_truncated_alerts_2.json").replace(b'"receiver": "receiver1",', b'"receiver": receiver1,')
    with pytest.raises(MalformedBody) as caught:
        parse("alertmanager", body, JSON)
    assert caught.value.reason == "malformed JSON at line 6, column 15: Expecting value"
    assert caught.value.field is None
    assert caught.value.http_status == 400


def test_a_cut_body_and_an_empty_body_are_malformed() -> None:
    whole = payload("am_prometheusalert_compact_from_log.json")
    with pytest.raises(MalformedBody) as caught:
        parse("alertmanager", whole[:600], JSON)  # cut inside the \u0026 escape
    assert caught.value.reason == "malformed JSON at line 1, column 598: Invalid \\uXXXX escape"
    with pytest.raises(MalformedBody, match=r"^malformed JSON at line 1, column 1: Expecting value$"):
        parse("generic", b"", JSON)
    # "<timestamp>:<body>", the only body a timestamped Grafana signature verifies without its
    # timestamp header (see check_grafana_hmac), is no JSON
    with pytest.raises(MalformedBody, match="Extra data"):
        parse("grafana", b"1714560000:" + payload("grafana_bougou_firing_values.json"), JSON)


def test_a_body_that_is_not_utf8_is_malformed() -> None:
    with pytest.raises(MalformedBody, match=r"not UTF-8 \(byte 13 is invalid\)"):
        parse("generic", b'{"summary": "\xe9t\xe9"}', JSON)


def alertmanager_group(*alerts: dict[str, Any], **group: Any) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "alerts": list(alerts)} | group


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        (
            alertmanager_group(
                {"labels": {"a": "1"}}, {"labels": {"a": "2"}}, {"labels": {"a": "3"}, "status": "pending"}
            ),
            "alerts[2].status",
            "expected 'firing' or 'resolved', got \"pending\"",
        ),
        (
            alertmanager_group({"labels": {"a": "1"}}, {"labels": ["a", "1"]}),
            "alerts[1].labels",
            "expected an object of strings, got an array",
        ),
        (
            alertmanager_group({"labels": {"severity": {"level": 1}}}),
            "alerts[0].labels.severity",
            "expected a string, got an object",
        ),
        (
            alertmanager_group({"labels": {"grafana folder": ["x"]}}),
            'alerts[0].labels["grafana folder"]',
            "expected a string, got an array",
        ),
        (alertmanager_group({"annotations": {}}), "alerts[0].labels", "required, but missing"),
        (
            alertmanager_group({"labels": {}, "startsAt": "yesterday"}),
            "alerts[0].startsAt",
            'expected an RFC 3339 time, e.g. 2024-05-01T12:00:00Z, got a string "yesterday"',
        ),
        (
            alertmanager_group({"labels": {}, "startsAt": "2024-05-01T12:00:00"}),
            "alerts[0].startsAt",
            "expected a time with a timezone offset, e.g. 2024-05-01T12:00:00Z, got one without",
        ),
        (alertmanager_group(truncatedAlerts=-1), "truncatedAlerts", "expected a number >= 0, got -1"),
        (
            alertmanager_group(truncatedAlerts="many"),
            "truncatedAlerts",
            'expected an integer, got a string "many"',
        ),
        (alertmanager_group(groupKey={"a": 1}), "groupKey", "expected a string, got an object"),
        (
            {"version": "4", "alerts": [{"labels": {"a": "1"}}]},
            "alerts[0].status",
            "required when the group has no status, but missing",
        ),
        ({"status": "firing", "alerts": {"labels": {}}}, "alerts", "expected an array, got an object"),
        ([alertmanager_group()], None, "expected a JSON object, got an array"),
        ("firing", None, "expected a JSON object, got a string"),
    ],
)
def test_schema_violations_name_the_field(document: Any, field: str | None, reason: str) -> None:
    error = rejected("alertmanager", document)
    assert (error.field, error.reason) == (field, reason)
    assert error.http_status == 422
    assert str(error) == (f"{field}: {reason}" if field else reason)


def test_several_violations_name_the_first_and_list_the_others() -> None:
    error = rejected(
        "alertmanager",
        alertmanager_group({"labels": {"a": {}}}, {"labels": 1, "status": "x"}, truncatedAlerts=-1),
    )
    assert error.field == "truncatedAlerts"
    assert error.reason == (
        "expected a number >= 0, got -1 (also: alerts[0].labels.a, alerts[1].status, alerts[1].labels)"
    )


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        ({"status": "firing"}, "summary", "required, but missing"),
        ({"summary": "   "}, "summary", "expected a summary, got a blank string"),
        ({"summary": "x", "status": "ok"}, "status", "expected 'firing' or 'resolved', got \"ok\""),
        ({"summary": "x", "links": "https://x"}, "links", 'expected an array, got a string "https://x"'),
        ({"alerts": [{"summary": "x"}, {"labels": {}}]}, "alerts[1].summary", "required, but missing"),
    ],
)
def test_generic_violations_name_the_field(document: Any, field: str, reason: str) -> None:
    error = rejected("generic", document)
    assert (error.field, error.reason) == (field, reason)


# --- fingerprints: a property ---------------------------------------------------------------------

label_names = st.text(min_size=1, max_size=12)
label_values = st.text(max_size=16)


@given(labels=st.dictionaries(label_names, label_values, min_size=1, max_size=8), seed=st.integers(0, 2**32))
def test_fingerprint_is_stable_under_key_order_and_changes_with_any_value(labels: dict[str, str], seed: int) -> None:
    def fingerprint(source: str, alert_labels: dict[str, str]) -> str:
        if source == "alertmanager":
            body: dict[str, Any] = {"status": "firing", "alerts": [{"labels": alert_labels}]}
        else:
            body = {"summary": "same", "labels": alert_labels}
        [alert] = parse_json(source, body).alerts
        return alert.fingerprint

    items = list(labels.items())
    random.Random(seed).shuffle(items)
    shuffled = dict(items)
    changed_key = items[0][0]
    changed = {**labels, changed_key: labels[changed_key] + "!"}
    for source in ("alertmanager", "generic"):
        assert fingerprint(source, shuffled) == fingerprint(source, labels)
        assert fingerprint(source, changed) != fingerprint(source, labels)
    assert fingerprint("alertmanager", labels) == fingerprint_of_labels(labels)
