"""The recorder and fault plan every sandbox shares, through a real TLS server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request

from warroom.integrations.sandbox.recorder import Fault, Recorder, add_sandbox_admin, redact_body
from warroom.integrations.sandbox.server import RunningServer, serve_in_thread
from warroom.integrations.sandbox.tls import SandboxTLS


@pytest.fixture
def echo(sandbox_tls: SandboxTLS) -> Iterator[tuple[RunningServer, Recorder, httpx.Client]]:
    app = FastAPI()

    @app.post("/things")
    async def things(request: Request) -> dict[str, object]:
        return {"got": await request.json()}

    @app.get("/things")
    def list_things() -> dict[str, object]:
        return {"things": []}

    @app.get("/other")
    def other() -> dict[str, object]:
        return {"other": True}

    recorder = Recorder(seed=7)
    add_sandbox_admin(app, recorder)
    server = serve_in_thread(app, sandbox_tls)
    client = httpx.Client(base_url=server.base_url, verify=sandbox_tls.client_context(), timeout=5.0)
    try:
        yield server, recorder, client
    finally:
        client.close()
        server.stop()


def test_requests_are_recorded_with_secrets_redacted(
    echo: tuple[RunningServer, Recorder, httpx.Client],
) -> None:
    _, recorder, client = echo
    client.post(
        "/things?token=abc&x=1&x=2",
        json={"routing_key": "R" * 32, "nested": [{"routing_key": "k2", "keep": "me"}], "password": "pw"},
        headers={
            "Authorization": "Token token=secret1",
            "X-Api-Key": "secret2",
            "Cookie": "s=secret3",
            "Token": "secret4",
            "X-Trace": "visible",
        },
    )
    [seen] = client.get("/_sandbox/requests").json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/things"
    assert seen["query"] == {"token": ["[redacted]"], "x": ["1", "2"]}
    for header in ("authorization", "x-api-key", "cookie", "token"):
        assert seen["headers"][header] == "[redacted]"
    assert seen["headers"]["x-trace"] == "visible"
    assert seen["body"] == {
        "routing_key": "[redacted]",
        "nested": [{"routing_key": "[redacted]", "keep": "me"}],
        "password": "[redacted]",
    }
    assert seen["response_status"] == 200
    assert seen["response_body"]["got"]["routing_key"] == "[redacted]"  # echoed secrets too
    assert seen["received_at"].endswith("+00:00")
    text = str(recorder.requests())
    for secret in ("secret1", "secret2", "secret3", "secret4", "R" * 32, "k2"):
        assert secret not in text


def test_admin_requests_are_neither_recorded_nor_faulted(
    echo: tuple[RunningServer, Recorder, httpx.Client],
) -> None:
    _, recorder, client = echo
    assert client.put("/_sandbox/faults", json={"status": 500}).status_code == 200
    assert client.get("/_sandbox/faults").json()["faults"][0]["status"] == 500
    assert client.get("/_sandbox/requests").json() == []
    assert client.get("/other").status_code == 500
    assert client.delete("/_sandbox/requests").status_code == 200
    assert recorder.requests() == []


def test_count_faults_apply_to_the_next_n_matching_requests(
    echo: tuple[RunningServer, Recorder, httpx.Client],
) -> None:
    _, recorder, client = echo
    plan = {"faults": [{"status": 429, "retry_after": "7", "count": 2, "path_prefix": "/things"}]}
    client.put("/_sandbox/faults", json=plan)
    assert client.get("/other").status_code == 200  # outside the prefix
    first = client.get("/things")
    assert (first.status_code, first.headers["retry-after"]) == (429, "7")
    assert first.json() == {"error": {"message": "Sandbox fault: status 429", "code": 2429}}
    assert client.get("/things").status_code == 429
    assert client.get("/things").status_code == 200
    assert client.get("/_sandbox/faults").json()["faults"][0]["count"] == 0
    assert [r.fault for r in recorder.requests()] == [None, "status 429", "status 429", None]


def test_an_empty_plan_clears_the_faults(echo: tuple[RunningServer, Recorder, httpx.Client]) -> None:
    _, _, client = echo
    client.put("/_sandbox/faults", json={"status": 503})
    assert client.get("/other").status_code == 503
    client.put("/_sandbox/faults", json={"faults": []})
    assert client.get("/other").status_code == 200


def test_an_invalid_plan_is_refused(echo: tuple[RunningServer, Recorder, httpx.Client]) -> None:
    _, recorder, client = echo
    assert client.put("/_sandbox/faults", json={"status": 429, "bogus": 1}).status_code == 422
    assert client.put("/_sandbox/faults", json={"count": 1, "fraction": 0.5}).status_code == 422
    assert recorder.faults() == []


def test_a_fraction_is_seeded_and_roughly_right(echo: tuple[RunningServer, Recorder, httpx.Client]) -> None:
    _, recorder, client = echo
    recorder.set_faults([Fault(status=502, fraction=0.25)])
    codes = [client.get("/other").status_code for _ in range(200)]
    failed = codes.count(502)
    assert 25 <= failed <= 75
    again = Recorder(seed=7)
    again.set_faults([Fault(status=502, fraction=0.25)])
    assert [again.take_fault("/other") is not None for _ in range(200)] == [c == 502 for c in codes]


def test_drop_connection_answers_nothing(echo: tuple[RunningServer, Recorder, httpx.Client]) -> None:
    _, recorder, client = echo
    recorder.set_faults([Fault(drop_connection=True, count=1)])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/things", json={"a": 1})
    assert client.post("/things", json={"a": 2}).json() == {"got": {"a": 2}}
    dropped, answered = recorder.requests()
    assert (dropped.fault, dropped.response_status, dropped.body) == ("drop", None, {"a": 1})
    assert answered.response_status == 200


def test_latency_delays_the_answer(echo: tuple[RunningServer, Recorder, httpx.Client]) -> None:
    _, recorder, client = echo
    recorder.set_faults([Fault(latency_ms=500, count=1)])
    with pytest.raises(httpx.ReadTimeout):
        client.get("/other", timeout=0.1)
    assert recorder.wait_idle(timeout=5.0)
    [slow] = recorder.requests()
    assert slow.fault == "latency 500ms"
    assert slow.response_status == 200  # it was answered, after the client had gone


def test_redact_body_leaves_other_values() -> None:
    assert redact_body({"a": [1, {"b": None}], "Routing_Key": "x"}) == {
        "a": [1, {"b": None}],
        "Routing_Key": "[redacted]",
    }
