"""Live events for GraphQL subscriptions: scan progress and ticket activity.

`publish()` is called after a commit by whoever changed something (scan pipeline, send job,
mutations); `subscribe()` yields events for a channel. This module is the in-process broker
used in embedded mode; with Redis configured the workers layer installs a Redis pub/sub
broker through `set_broker()`, so events reach subscribers whichever process produced them.
"""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

logger = logging.getLogger(__name__)


def scan_run_channel(scan_run_id: int) -> str:
    return f"scan_run:{scan_run_id}"


TICKETS_CHANNEL = "tickets"
AUTH_CHANNEL = "auth"  # {"kind": "token_revoked", "token_id": N}: ws_sessions.py ends sessions


class Broker(Protocol):
    async def publish(self, channel: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str) -> AsyncIterator[dict[str, Any]]: ...


class InProcessBroker:
    """Fan-out to asyncio queues of the subscribers in this process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            queue.put_nowait(event)

    async def subscribe(self, channel: str) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers[channel].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers[channel].discard(queue)


_broker: Broker = InProcessBroker()


def set_broker(broker: Broker) -> None:
    global _broker
    _broker = broker


def get_broker() -> Broker:
    return _broker


async def publish(channel: str, event: dict[str, Any]) -> None:
    """Publish without ever failing the caller: an event is a notification, not the record."""
    try:
        await _broker.publish(channel, event)
    except Exception:  # noqa: BLE001 — the DB already holds the truth
        logger.warning("could not publish event on %s", channel, exc_info=True)


async def publish_ticket_event(kind: str, ticket_id: int, **extra: Any) -> None:
    """kind: ticket_created | ticket_updated | comment_added | comment_email_sent |
    comment_email_failed | comment_email_queued (a resend)."""
    await publish(TICKETS_CHANNEL, {"kind": kind, "ticket_id": ticket_id, **extra})


async def publish_token_revoked(token_id: int) -> None:
    await publish(AUTH_CHANNEL, {"kind": "token_revoked", "token_id": token_id})


def subscribe(channel: str) -> AsyncIterator[dict[str, Any]]:
    return _broker.subscribe(channel)
