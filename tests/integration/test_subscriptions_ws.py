"""Subscriptions as a browser or frontend uses them: graphql-transport-ws over a real
WebSocket handshake, the token sent in connection_init (browsers cannot set headers)."""
from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from mailscanner.app import create_app
from mailscanner.db import close_db, init_db
from mailscanner.models import Role
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import Settings

pytestmark = pytest.mark.integration
PROTOCOL = "graphql-transport-ws"
SUBSCRIBE = "subscription { ticketEvents { kind ticket { number title } } }"
CREATE = (
    'mutation { createTicket(input: {title: "Live"})'
    " { ... on TicketPayload { ticket { number } } } }"
)


def _token(settings: Settings) -> str:
    async def make() -> str:
        await init_db(settings, migrate=settings.is_sqlite)
        try:
            return await create_token(Role.AGENT, "ws test")
        finally:
            await close_db()
    return asyncio.run(make())


def _receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = ws.receive_json()
    while message["type"] in {"ping", "pong"}:
        message = ws.receive_json()
    return message


def test_a_websocket_subscriber_sees_a_ticket_created_through_the_api(settings: Settings) -> None:
    token = _token(settings)
    app = create_app(settings)
    with (
        TestClient(app) as client,
        client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        # given: an authenticated subscription
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        assert _receive(ws)["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        # when: an agent creates tickets over HTTP (until the subscription, which starts
        # asynchronously after "subscribe", has seen one)
        numbers: list[str] = []
        done = threading.Event()

        def create_tickets() -> None:
            while not done.is_set() and len(numbers) < 50:
                response = client.post("/graphql", json={"query": CREATE},
                                       headers={"Authorization": f"Bearer {token}"})
                numbers.append(response.json()["data"]["createTicket"]["ticket"]["number"])
                done.wait(0.2)

        creator = threading.Thread(target=create_tickets)
        creator.start()
        try:
            message = _receive(ws)
        finally:
            done.set()
            creator.join()
        # then
        assert message["type"] == "next", message
        event = message["payload"]["data"]["ticketEvents"]
        assert event["kind"] == "TICKET_CREATED"
        assert event["ticket"]["title"] == "Live" and event["ticket"]["number"] in numbers
        ws.send_json({"id": "1", "type": "complete"})


def test_a_websocket_without_a_token_is_refused(settings: Settings) -> None:
    _token(settings)
    app = create_app(settings)
    with (
        TestClient(app) as client,
        client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {}})
        with pytest.raises(Exception) as closed:
            ws.receive_json()
        assert getattr(closed.value, "code", None) == 4403
