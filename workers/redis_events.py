"""Live events over Redis pub/sub, so a subscriber sees events from every worker process.

Installed with `events.set_broker(RedisBroker(redis, config))` by workers and by the API when
REDIS_URL is set. Publishing is one PUBLISH per event. Subscribing uses one pattern
subscription per process (`<prefix>mailscanner:events:*`) and fans messages out to local
subscribers, so a thousand open GraphQL subscriptions cost one Redis connection, not a
thousand. Events are notifications; the database stays the record (subscribers re-read it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .config import JobsConfig

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

logger = logging.getLogger(__name__)


class RedisBroker:
    """`events.Broker` on Redis pub/sub."""

    def __init__(self, redis: Redis, config: JobsConfig | None = None) -> None:
        self.redis = redis
        self.config = config or JobsConfig()
        self._prefix = self.config.events_channel("")
        self._local: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._start_lock = asyncio.Lock()

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        await self.redis.publish(self._prefix + channel, json.dumps(event, default=str))

    async def subscribe(self, channel: str) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._local[channel].add(queue)
        try:
            await self._start()
            while True:
                yield await queue.get()
        finally:
            self._local[channel].discard(queue)
            if not self._local[channel]:
                del self._local[channel]

    async def _start(self) -> None:
        async with self._start_lock:
            if self._reader is None:
                self._pubsub = self.redis.pubsub()
                await self._pubsub.psubscribe(self._prefix + "*")
                self._reader = asyncio.create_task(self._read(self._pubsub), name="redis events")
        # Until Redis confirms the subscription, an event published now could be missed.
        await self._ready.wait()

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — redis-py reconnects and re-subscribes on the next read
                logger.warning("redis events: read failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            if message["type"] == "psubscribe":
                self._ready.set()
            elif message["type"] == "pmessage":
                self._dispatch(message["channel"], message["data"])

    def _dispatch(self, raw_channel: bytes | str, data: bytes | str) -> None:
        name = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        channel = name[len(self._prefix) :]
        queues = self._local.get(channel)
        if not queues:
            return
        try:
            event = json.loads(data)
        except ValueError:
            logger.warning("redis events: undecodable event on %s", name)
            return
        for queue in list(queues):
            queue.put_nowait(event)

    async def close(self) -> None:
        """Stop reading and drop the pub/sub connection (the Redis client stays open)."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = None
        self._ready.clear()
