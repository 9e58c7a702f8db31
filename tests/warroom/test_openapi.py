"""The intake's OpenAPI document: valid, one route per source with its body, auth and every answer; the
pages off by default; and a bounded schema-driven fuzz of the in-process app on a real ledger."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest.mock import MagicMock

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.core import NotSet

from tests.helpers import CONFIGS, Clock
from warroom.intake import create_intake_app, make_dispatcher
from warroom.integrations.alerts.parse import SOURCES
from warroom.settings import Settings
from warroom.tasks.runtime import Runtime
from warroom.tasks.work import Dispatcher

TOKEN = "openapi-token-for-tests"
GRAFANA_SECRET = "openapi-grafana-secret"
PD_SECRET = "openapi-pd-secret"
ANSWERS = {"202", "400", "401", "408", "413", "415", "422", "503"}
#: examples per fuzz test; raise it to fuzz longer (the suite's default keeps each test within seconds)
EXAMPLES = int(os.environ.get("WARROOM_FUZZ_EXAMPLES", "25"))


def intake_settings(**changes: Any) -> Settings:
    return Settings.model_validate({"config_dir": CONFIGS, "intake_tokens": TOKEN, "grafana_secret": GRAFANA_SECRET,
                                    "pagerduty_webhook_secrets": PD_SECRET, **changes})


def offline_app(**changes: Any) -> FastAPI:
    """The app for reading its document: nothing behind it is called."""
    return create_intake_app(MagicMock(spec=Runtime), intake_settings(**changes), Clock(),
                             MagicMock(spec=Dispatcher), dispatch_loop=False)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return offline_app().openapi()


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_has_its_route_with_body_security_and_every_answer(document: dict[str, Any], source: str) -> None:
    operation = document["paths"][f"/v1/alerts/{source}"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema["$ref"].rsplit("/", 1)[-1] in document["components"]["schemas"]

    schemes = document["components"]["securitySchemes"]
    used = {name for requirement in operation["security"] for name in requirement}
    assert used and used <= set(schemes)
    if source in ("alertmanager", "generic"):
        assert operation["security"] == [{"bearer": []}]
        assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    elif source == "grafana":
        assert {"grafanaSignature": []} in operation["security"]
        assert schemes["grafanaSignature"]["in"] == "header"
        assert schemes["grafanaSignature"]["name"] == "X-Grafana-Alerting-Signature"
        assert schemes["grafanaTimestamp"]["name"] == "X-Grafana-Alerting-Signature-Timestamp"
    else:
        assert operation["security"] == [{"pagerdutySignature": []}]
        assert schemes["pagerdutySignature"] == {**schemes["pagerdutySignature"], "type": "apiKey",
                                                 "in": "header", "name": "X-PagerDuty-Signature"}

    assert set(operation["responses"]) == ANSWERS
    for status, answer in operation["responses"].items():
        assert answer["description"], status
        assert answer["content"]["application/json"]["schema"], status


def test_only_the_sources_are_documented(document: dict[str, Any]) -> None:
    assert set(document["paths"]) == {f"/v1/alerts/{s}" for s in SOURCES} | {"/healthz"}


def test_the_grafana_header_names_follow_the_settings() -> None:
    schemes = offline_app(grafana_signature_header="X-Sig").openapi()["components"]["securitySchemes"]
    assert schemes["grafanaSignature"]["name"] == "X-Sig"


def test_the_document_and_its_pages_are_off_unless_turned_on() -> None:
    client = TestClient(offline_app())
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert client.get(path).status_code == 404, path
    assert client.post("/v1/alerts/nagios", content=b"{}").status_code == 404  # other sources, as before

    on = TestClient(offline_app(intake_docs=True))
    served = on.get("/openapi.json")
    assert served.status_code == 200 and "/v1/alerts/grafana" in served.json()["paths"]
    assert on.get("/docs").status_code == 200 and on.get("/redoc").status_code == 200


def test_intake_docs_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_INTAKE_DOCS", "true")
    assert Settings().intake_docs is True


# --- the fuzz -----------------------------------------------------------------------------------------


@dataclass
class Live:
    client: TestClient
    runtime: Runtime
    document: dict[str, Any]
    clock: Clock

    def schema(self, ref_or_schema: dict[str, Any]) -> dict[str, Any]:
        """A schema from the document, with the document's components so that its $refs resolve."""
        return {**ref_or_schema, "components": self.document["components"]}

    def body_schema(self, source: str) -> dict[str, Any]:
        operation = self.document["paths"][f"/v1/alerts/{source}"]["post"]
        return self.schema(operation["requestBody"]["content"]["application/json"]["schema"])

    def answer_schema(self, source: str, status: int) -> dict[str, Any]:
        answer = self.document["paths"][f"/v1/alerts/{source}"]["post"]["responses"][str(status)]
        return self.schema(answer["content"]["application/json"]["schema"])

    def headers(self, source: str, body: bytes, content_type: str) -> dict[str, str]:
        """What an authentic sender of ``source`` sends."""
        if source == "grafana":
            stamp = str(int(self.clock().timestamp()))
            signature = hmac.new(GRAFANA_SECRET.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
            auth = {"x-grafana-alerting-signature": signature, "x-grafana-alerting-signature-timestamp": stamp}
        elif source == "pagerduty":
            auth = {"x-pagerduty-signature": "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()}
        else:
            auth = {"authorization": f"Bearer {TOKEN}"}
        return {"content-type": content_type, **auth}

    def post(self, source: str, body: bytes, content_type: str = "application/json",
             authentic: bool = True) -> tuple[int, Any]:
        """Post, and check what the document promises: a documented answer whose body fits its schema,
        never a 500; a body is stored exactly when authentic, and every stored row says why it is as it is."""
        before = self.runtime.ledger.count_inbox()
        headers = self.headers(source, body, content_type) if authentic else {"content-type": content_type}
        response = self.client.post(f"/v1/alerts/{source}", content=body, headers=headers)
        assert response.status_code != 500, response.text
        assert str(response.status_code) in ANSWERS, (response.status_code, response.text)
        answer = response.json()
        OAS31Validator(self.answer_schema(source, response.status_code)).validate(answer)
        stored = self.runtime.ledger.count_inbox() - before
        if response.status_code == 401:
            assert not authentic and stored == 0
        else:
            assert stored == 1 and answer["inbox"] == self.runtime.ledger.inbox_rows()[-1].id
            row = self.runtime.ledger.inbox_row(answer["inbox"])
            assert row.source == source and row.body == body.decode("utf-8", "replace").replace("\x00", "\ufffd")
        # every stored body says what became of it: rejected, duplicate or failed ones why, accepted ones how
        unexplained = [(r.id, r.status) for r in self.runtime.ledger.inbox_rows(limit=100_000) if not r.reason]
        assert not unexplained, unexplained
        return response.status_code, answer


@pytest.fixture()
def live(make_runtime: Callable[..., Runtime]) -> Iterator[Live]:
    """The in-process app on a real ledger (SQLite under tmp_path), the sandboxes and a Prefect test server;
    its dispatcher is driven by hand (not at all here): what the intake does while the sender waits."""
    clock = Clock(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    runtime = make_runtime(30, clock=clock)
    app = create_intake_app(runtime, intake_settings(), clock, make_dispatcher(runtime), dispatch_loop=False)
    with TestClient(app) as client:
        yield Live(client, runtime, app.openapi(), clock)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


def bodies(live: Live, source: str, mode: GenerationMode) -> st.SearchStrategy[bytes]:
    """Request bodies that schemathesis generates from the route's schema in the document: fitting it
    (positive) or breaking it (negative)."""
    operation = schemathesis.openapi.from_dict(live.document)[f"/v1/alerts/{source}"]["POST"]
    return operation.as_strategy(generation_mode=mode).map(lambda case: encoded(case.body))


def encoded(body: Any) -> bytes:
    """A generated body as sent: JSON, unless it is raw bytes already (or missing)."""
    if isinstance(body, NotSet):
        return b""
    return body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize("source", SOURCES)
def test_fuzz_bodies_that_fit_the_schema_are_accepted(live: Live, source: str) -> None:
    """What the document says to send is what the intake takes: 202, stored, every row explained."""

    @FUZZ
    @given(body=bodies(live, source, GenerationMode.POSITIVE))
    def fits(body: bytes) -> None:
        status, answer = live.post(source, body)
        assert status == 202, (status, answer, body)

    fits()


@pytest.mark.parametrize("source", SOURCES)
def test_fuzz_any_body_gets_a_documented_answer_and_a_stored_reason(live: Live, source: str) -> None:
    """Bodies off the schema too (schemathesis' negative cases, bytes that are not JSON), other content
    types, no credentials: never a 500, and every stored body says why."""
    body = st.one_of(bodies(live, source, GenerationMode.NEGATIVE), bodies(live, source, GenerationMode.POSITIVE),
                     st.binary(max_size=200))
    content_types = st.sampled_from(["application/json", "application/json", "application/json; charset=utf-8",
                                     "text/plain", "application/json; charset=latin-1", ""])

    @FUZZ
    @given(body=body, content_type=content_types, authentic=st.sampled_from([True, True, True, False]))
    def answered(body: bytes, content_type: str, authentic: bool) -> None:
        live.post(source, body, content_type, authentic)

    answered()


@pytest.mark.parametrize("when", ["0001-01-01T05:00:00+10:00", "9999-12-31T23:00:00-05:00"])
def test_a_time_at_the_edge_of_the_calendar_is_refused_with_its_field(live: Live, when: str) -> None:
    """An RFC 3339 time that fits the schema but not UTC (year 0 or 10000 once converted) is the
    sender's error: 422 naming the field, not 503 ("send it again") and a retry that can never succeed."""
    status, answer = live.post("generic", encoded({"summary": "edge of time", "starts_at": when}))
    assert (status, answer.get("field")) == (422, "starts_at"), answer
