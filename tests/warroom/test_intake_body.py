"""Bodies that do not arrive: a slow sender gets 408 after the intake's body timeout, a sender that
hangs up mid-body is one warning line (no traceback), and neither leaves a row in the inbox.

A raw socket sends the headers (with Content-Length) and half the body. The slow case waits on the
server's own timeout (kept short here); nothing in the test sleeps."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import Clock
from tests.warroom.test_intake import TOKEN, settings
from warroom.intake import create_intake_app
from warroom.runner import Background
from warroom.tasks.runtime import Runtime

BODY = json.dumps({"summary": "checkout error rate above 5%", "service": "checkout"}).encode()


@contextmanager
def served(runtime: Runtime, clock: Clock, body_timeout: float) -> Iterator[str]:
    server = Background(create_intake_app(runtime, settings(), clock, dispatch_loop=False, body_timeout=body_timeout))
    try:
        yield server.url
    finally:
        server.stop()


def half_sent(url: str) -> socket.socket:
    """A connection that has sent the headers and half of BODY."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    head = (f"POST /v1/alerts/generic HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(BODY)}\r\n\r\n").encode()
    sock.sendall(head + BODY[: len(BODY) // 2])
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (line.partition(":") for line in lines[1:]) if k.lower() == "content-length")
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        body += chunk
    return int(lines[0].split()[1]), json.loads(body[:length])


def test_a_body_that_does_not_arrive_in_time_gets_408_and_stores_nothing(
    make_runtime: Callable[..., Runtime],
) -> None:
    clock = Clock()
    runtime = make_runtime(30, clock=clock)
    with served(runtime, clock, body_timeout=0.5) as url:
        with half_sent(url) as sock:
            status, answer = read_response(sock)  # the server's timeout ends the wait
        assert status == 408
        assert answer == {"error": f"the body did not arrive within 0.5 s ({len(BODY) // 2} bytes came): "
                                   "send it again, whole"}
        assert runtime.ledger.count_inbox() == 0
        counts = httpx.get(f"{url}/healthz").json()["counts"]
        assert counts == {"body_timeout:generic": 1}
        whole = httpx.post(f"{url}/v1/alerts/generic", content=BODY, timeout=30,
                           headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
        assert whole.status_code == 202, whole.text  # the next sender is not held up


class Seen(logging.Handler):
    """Signals when the intake logs the disconnect, so the test waits for the event, not for time."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.logged = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "warroom.intake" and "disconnected" in record.getMessage():
            self.logged.set()


def test_a_sender_that_hangs_up_mid_body_is_one_warning_and_stores_nothing(
    make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    runtime = make_runtime(30, clock=clock)
    seen = Seen()
    watched = [logging.getLogger("warroom.intake"), logging.getLogger("uvicorn")]  # uvicorn does not propagate
    for logger in watched:
        logger.addHandler(seen)
    logging.getLogger("uvicorn").addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING), served(runtime, clock, body_timeout=30) as url:
            half_sent(url).close()
            assert seen.logged.wait(30), "the intake did not notice the sender hang up"
            counts = httpx.get(f"{url}/healthz").json()["counts"]  # still serving
    finally:
        for logger in watched:
            logger.removeHandler(seen)
        logging.getLogger("uvicorn").removeHandler(caplog.handler)

    assert counts == {"disconnected:generic": 1}
    assert runtime.ledger.count_inbox() == 0
    intake_lines = [r for r in caplog.records if r.name == "warroom.intake"]
    assert [(r.levelno, r.getMessage()) for r in intake_lines] == [
        (logging.WARNING, f"a generic webhook's sender disconnected after {len(BODY) // 2} bytes of the body: "
                          "nothing stored")]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text
