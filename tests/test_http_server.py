"""`mailscanner serve`'s uvicorn, with raw sockets: no connection stays open for free."""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import uvicorn

from mailscanner.app import create_app
from mailscanner.http_server import server_config
from mailscanner.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(settings: Settings) -> Iterator[int]:
    """A real uvicorn (as `mailscanner serve` configures it) with a 1 s request timeout."""
    settings = replace(settings, request_timeout=TIMEOUT)
    port = _free_port()
    # No schema needed: these requests are answered before any route touches the database.
    app = create_app(settings, migrate=False, start_services=False)
    server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=port,
                                          log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


def _seconds_until_closed(port: int, payload: bytes) -> tuple[float, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(payload)
        start = time.monotonic()
        received = b""
        while chunk := sock.recv(4096):  # until the server closes
            received += chunk
        return time.monotonic() - start, received


@pytest.mark.parametrize("payload", [
    b"",  # connects and sends nothing
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",  # half a head
], ids=["idle", "half-head"])
def test_a_connection_without_a_complete_request_head_is_closed(server: int,
                                                                payload: bytes) -> None:
    waited, received = _seconds_until_closed(server, payload)
    assert received == b""
    assert TIMEOUT * 0.5 <= waited < 20


def test_a_request_whose_body_stops_half_way_gets_408_then_the_connection_closes(
        server: int) -> None:
    # the OAuth callback reads its form body before anything else
    payload = (b"POST /oauth/microsoft/callback HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: 100\r\n\r\nstate=abc&co")
    waited, received = _seconds_until_closed(server, payload)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"REQUEST_TIMEOUT"' in received
    assert waited < 20


def test_an_idle_keep_alive_connection_is_closed_after_a_request(server: int) -> None:
    waited, received = _seconds_until_closed(
        server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 ")
    assert waited < 20


def test_a_long_query_string_is_cut_in_the_access_log(server: int,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        _seconds_until_closed(server, b"GET /healthz?q=" + b"x" * 50_000
                              + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert lines and all(len(line) < 400 for line in lines)
