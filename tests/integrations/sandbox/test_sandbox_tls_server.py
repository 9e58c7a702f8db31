"""The sandbox CA, the threaded TLS server and the ``Sandboxes`` bundle."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from fastapi import FastAPI

from warroom.integrations.pagerduty.credentials import PagerDutyCredentials
from warroom.integrations.pagerduty.pager import PagerDutyPager
from warroom.integrations.sandbox.server import Sandboxes, serve_in_thread
from warroom.integrations.sandbox.tls import SandboxTLS, ensure_ca


def test_ensure_ca_creates_once_and_reuses(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path)
    contents = {p: p.read_bytes() for p in (first.ca_path, first.cert_path, first.key_path)}
    second = ensure_ca(tmp_path)
    assert second == first
    assert {p: p.read_bytes() for p in contents} == contents
    assert first.ca_path == tmp_path / "sandbox-ca" / "ca.pem"
    for key in (tmp_path / "sandbox-ca" / "ca-key.pem", first.key_path):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_the_server_certificate_names_loopback_and_is_signed_by_the_ca(tmp_path: Path) -> None:
    tls = ensure_ca(tmp_path)
    cert = x509.load_pem_x509_certificate(tls.cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(tls.ca_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    cert.verify_directly_issued_by(ca)


def test_a_server_certificate_from_another_ca_is_replaced(tmp_path: Path) -> None:
    tls = ensure_ca(tmp_path)
    other = ensure_ca(tmp_path / "other")
    tls.cert_path.write_bytes(other.cert_path.read_bytes())
    renewed = ensure_ca(tmp_path)
    cert = x509.load_pem_x509_certificate(renewed.cert_path.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(renewed.ca_path.read_bytes()))


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def test_serve_in_thread_binds_an_ephemeral_port_over_tls(sandbox_tls: SandboxTLS) -> None:
    server = serve_in_thread(hello_app(), sandbox_tls)
    try:
        assert server.base_url.startswith("https://127.0.0.1:")
        assert server.port > 0
        with httpx.Client(verify=sandbox_tls.client_context()) as http:
            assert http.get(f"{server.base_url}/hello").json() == {"hello": "world"}
            with pytest.raises(httpx.ConnectError):  # the system trust store does not know the CA
                httpx.get(f"{server.base_url}/hello", verify=ssl.create_default_context())
    finally:
        server.stop()
    assert not server.thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/hello", verify=sandbox_tls.client_context())


def test_sandboxes_point_warroom_at_themselves(tmp_path: Path) -> None:
    with Sandboxes(tmp_path, jira=False) as boxes:
        env = boxes.env()
        assert boxes.jira_url is None
        assert env["WARROOM_PAGERDUTY_API_URL"] == boxes.pagerduty_url
        assert env["WARROOM_PAGERDUTY_EVENTS_URL"] == boxes.events_url
        assert env["WARROOM_CA_BUNDLE"] == str(tmp_path / "sandbox-ca" / "ca.pem")
        pager = PagerDutyPager(PagerDutyCredentials.from_env(env))
        try:
            assert pager.page("inc-env", "s", "info", "src", {}).dedup_key == "inc-env"
            assert [o.escalation_level for o in pager.oncall("PESC001")] == [1, 2, 3]
        finally:
            pager.close()
        url = boxes.pagerduty_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, verify=boxes.tls.client_context() if boxes.tls else True)


def test_sandboxes_start_jira_too_when_it_is_there(tmp_path: Path) -> None:
    pytest.importorskip("warroom.integrations.sandbox.jira")
    with Sandboxes(tmp_path) as boxes:
        assert boxes.jira_url is not None
        assert boxes.jira_url != boxes.pagerduty_url
        assert boxes.env()["WARROOM_JIRA_URL"] == boxes.jira_url


def test_env_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        Sandboxes(tmp_path).env()
