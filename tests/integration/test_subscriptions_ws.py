"""Subscriptions as a browser or frontend uses them: graphql-transport-ws over a real
WebSocket handshake, the token sent in connection_init (browsers cannot set headers)."""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from mailscanner.app import create_app
from mailscanner.db import close_db, init_db
from mailscanner.models import ApiToken, Role
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


def _admin_and_agent(settings: Settings, agent_expires_in: timedelta | None = None
                     ) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        await init_db(settings, migrate=settings.is_sqlite)
        try:
            return (await create_token(Role.ADMIN, "ws admin"),
                    await create_token(Role.AGENT, "ws agent", expires_in=agent_expires_in))
        finally:
            await close_db()
    return asyncio.run(make())


def _closed_within(ws: Any, seconds: float) -> tuple[int | None, str, float]:
    """Wait for the server to close the socket; returns (code, reason, seconds waited)."""
    start = time.monotonic()
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            _receive(ws)
    waited = time.monotonic() - start
    assert waited < seconds, waited
    return closed.value.code, closed.value.reason, waited


@pytest.mark.parametrize("how", ["api", "database"])
def test_an_open_subscription_is_closed_once_its_token_is_revoked(settings: Settings,
                                                                  how: str) -> None:
    admin, agent = _admin_and_agent(settings)
    app = create_app(settings)
    with (
        TestClient(app) as client,
        client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        # given: an agent's live subscription
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {agent}"}})
        assert _receive(ws)["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        # when: the token is revoked through the API (an event), or only in the database
        # (as `mailscanner token revoke` does from a process without Redis)
        listed = client.post("/graphql", json={"query": "{ apiTokens { nodes { id name } } }"},
                             headers={"Authorization": f"Bearer {admin}"}).json()
        agent_id = next(n["id"] for n in listed["data"]["apiTokens"]["nodes"]
                        if n["name"] == "ws agent")
        if how == "api":
            revoke = "mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }"
            client.post("/graphql", json={"query": revoke, "variables": {"id": agent_id}},
                        headers={"Authorization": f"Bearer {admin}"})
        else:
            async def revoke_in_database() -> None:
                await ApiToken.filter(id=int(agent_id)).update(revoked=True)
            client.portal.call(revoke_in_database)  # type: ignore[union-attr]
        # then
        code, reason, _ = _closed_within(ws, 10)
        assert (code, reason) == (4401, "API token revoked")


def test_an_open_subscription_is_closed_when_its_token_expires(settings: Settings) -> None:
    _, agent = _admin_and_agent(settings, agent_expires_in=timedelta(seconds=3))
    app = create_app(settings)
    with (
        TestClient(app) as client,
        client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {agent}"}})
        assert _receive(ws)["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        code, reason, _ = _closed_within(ws, 15)
        assert (code, reason) == (4401, "API token expired")


def test_a_websocket_with_a_revoked_token_is_refused(settings: Settings) -> None:
    admin, agent = _admin_and_agent(settings)

    async def revoke() -> None:
        await init_db(settings)
        try:
            await ApiToken.filter(name="ws agent").update(revoked=True)
        finally:
            await close_db()
    asyncio.run(revoke())
    app = create_app(settings)
    with (
        TestClient(app) as client,
        client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {agent}"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


@pytest.mark.parametrize("message", [1, "x", None, [], {"type": "subscribe", "id": "1",
                                                          "payload": "x"},
                                     {"type": "subscribe", "id": "1", "payload": {"query": 5}}])
def test_a_malformed_websocket_message_closes_the_socket_with_4400(settings: Settings,
                                                                  message: Any) -> None:
    _, agent = _admin_and_agent(settings)
    app = create_app(settings)
    with (
        TestClient(app) as client,
        client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {agent}"}})
        assert _receive(ws)["type"] == "connection_ack"
        ws.send_json(message)
        with pytest.raises(WebSocketDisconnect) as closed:
            _receive(ws)
        assert closed.value.code == 4400
