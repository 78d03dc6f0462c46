"""Mutual exclusion for scans: a Redis lock across machines, an asyncio one in embedded mode.

The Redis lock is `SET key token NX PX ttl`, renewed by a heartbeat while held and released by
a compare-and-delete script, so a SIGKILLed worker blocks its scanner for one TTL at most and
a holder can never delete a lock that has since passed to someone else. If a renewal finds the
lock gone (the holder stalled past the TTL and another worker took over), the guarded work is
cancelled rather than allowed to run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

# KEYS[1] = lock key, ARGV[1] = token [, ARGV[2] = ttl ms]
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) else return 0 end"
)
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


# The message the guarded task is cancelled with when the lock is lost: the work it was doing
# now belongs to the lock's new holder (or to whoever takes it next), so it must not record
# an outcome for it (the scan pipeline leaves its run RUNNING, for the new holder to resume).
LOCK_LOST = "mailscanner: lock lost while held"


class LockBusy(Exception):
    """Someone else holds the lock."""


class LockLost(Exception):
    """The lock expired or was taken over while held; the guarded work was cancelled."""


def new_token() -> str:
    # host and pid make `GET <lock key>` answer "who is scanning this?" for an operator.
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class Locks(Protocol):
    def hold(self, key: str) -> contextlib.AbstractAsyncContextManager[str]:
        """Hold `key` for the block; raise LockBusy if taken, LockLost if lost while held."""
        ...

    async def is_held(self, key: str) -> bool: ...


class RedisLocks:
    def __init__(self, redis: Redis, ttl_seconds: float) -> None:
        self.redis = redis
        self.ttl_ms = max(int(ttl_seconds * 1000), 100)

    async def acquire(self, key: str, token: str) -> bool:
        return bool(await self.redis.set(key, token, nx=True, px=self.ttl_ms))

    async def renew(self, key: str, token: str) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, key, token, str(self.ttl_ms)))  # type: ignore[misc]

    async def release(self, key: str, token: str) -> bool:
        return bool(await self.redis.eval(_RELEASE, 1, key, token))  # type: ignore[misc]

    async def is_held(self, key: str) -> bool:
        return bool(await self.redis.exists(key))

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[str]:
        token = new_token()
        if not await self.acquire(key, token):
            raise LockBusy(key)
        body = asyncio.current_task()
        lost = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(key, token, body, lost))
        try:
            yield token
        except asyncio.CancelledError:
            if lost.is_set():
                raise LockLost(key) from None
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            try:
                await asyncio.shield(self.release(key, token))
            except Exception:  # noqa: BLE001 — the TTL frees it anyway
                logger.warning("could not release lock %s", key, exc_info=True)

    async def _heartbeat(
        self, key: str, token: str, body: asyncio.Task[object] | None, lost: asyncio.Event
    ) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                still_ours = await self.renew(key, token)
            except Exception:  # noqa: BLE001 — a blip; the next beat may succeed within the TTL
                logger.warning("could not renew lock %s", key, exc_info=True)
                continue
            if not still_ours:
                logger.error("lock %s was lost while held; cancelling the work it guarded", key)
                lost.set()
                if body is not None:
                    body.cancel(LOCK_LOST)
                return


class InProcessLocks:
    """Embedded mode: one process, so a set of held keys is the whole lock (no TTL needed)."""

    def __init__(self) -> None:
        self._held: dict[str, str] = {}

    async def is_held(self, key: str) -> bool:
        return key in self._held

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[str]:
        if key in self._held:
            raise LockBusy(key)
        token = new_token()
        self._held[key] = token
        try:
            yield token
        finally:
            if self._held.get(key) == token:
                del self._held[key]
