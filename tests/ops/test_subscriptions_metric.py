"""The open-subscriptions gauge follows real graphql-transport-ws sessions."""
from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from mailscanner.app import create_app
from mailscanner.settings import Settings

from ..integration.test_subscriptions_ws import PROTOCOL, SUBSCRIBE, _receive, _token
from .metrics_text import parse, value

pytestmark = pytest.mark.integration


def _open_subscriptions(client: TestClient) -> float:
    return value(parse(client.get("/metrics").text), "mailscanner_subscriptions_open")


def _until(client: TestClient, expected: float) -> None:
    deadline = time.monotonic() + 10
    while _open_subscriptions(client) != expected:
        assert time.monotonic() < deadline, f"subscriptions_open never became {expected}"
        time.sleep(0.05)


def test_subscriptions_open_counts_running_subscriptions(settings: Settings) -> None:
    token = _token(settings)
    with TestClient(create_app(settings)) as client:
        assert _open_subscriptions(client) == 0
        with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
            ws.send_json({"type": "connection_init",
                          "payload": {"Authorization": f"Bearer {token}"}})
            assert _receive(ws)["type"] == "connection_ack"
            # when two subscriptions run on the socket, then one is completed
            for operation in ("1", "2"):
                ws.send_json({"id": operation, "type": "subscribe",
                              "payload": {"query": SUBSCRIBE}})
            _until(client, 2)
            ws.send_json({"id": "1", "type": "complete"})
            _until(client, 1)
            message: dict[str, Any] = {"type": "complete", "id": "2"}
            ws.send_json(message)
            _until(client, 0)
        # and a closed socket leaves none behind
        assert _open_subscriptions(client) == 0
