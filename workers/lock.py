"""Mutual exclusion for scans: a lease in the database, held by whoever scans a mailbox.

One lock covers every way a scan starts (`mailscanner scan`, `runScanner`, the schedule,
push, recovery; embedded or arq; SQLite or PostgreSQL; across processes and machines):
`DatabaseLocks`, a row per key in `ms_scan_lease` (models/scan_lease.py) taken with one
conditional UPDATE (free or expired) or one INSERT, renewed by a heartbeat while held and
released by a compare-and-clear UPDATE. A SIGKILLed holder blocks its scanner for one TTL at
most, a holder can never release a lease that has since passed to someone else, and
`is_held` is what recovery asks before it touches a RUNNING run: only a run whose lease
expired (its process is dead) is an orphan. If a renewal finds the lease gone (the holder
stalled past the TTL and another took over), the guarded work is cancelled rather than
allowed to run twice. `RedisLocks` is the same lease in Redis (`SET NX PX`), kept for
callers that want it; `InProcessLocks` serves single-process tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from ..models import ScanLease

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


class _Leases:
    """Hold/heartbeat/release around a store's acquire/renew/release (Redis or database)."""

    ttl_ms: int

    async def acquire(self, key: str, token: str) -> bool:
        raise NotImplementedError

    async def renew(self, key: str, token: str) -> bool:
        raise NotImplementedError

    async def release(self, key: str, token: str) -> bool:
        raise NotImplementedError

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


class RedisLocks(_Leases):
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


def _now_ms() -> int:
    return int(time.time() * 1000)


class DatabaseLocks(_Leases):
    """The scan lock every starter shares: a lease row per key in the application database.

    Each process judges expiry by its own clock; keep hosts NTP-synced well within the TTL.
    """

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_ms = max(int(ttl_seconds * 1000), 100)

    async def acquire(self, key: str, token: str) -> bool:
        now = _now_ms()
        values: dict[str, Any] = {
            "owner": token, "expires_ms": now + self.ttl_ms, "taken_at": datetime.now(UTC)
        }
        # One statement decides: of two starters, only one UPDATE matches a free/expired row.
        free = Q(owner="") | Q(expires_ms__lt=now)
        if await ScanLease.filter(Q(key=key) & free).update(**values):
            return True
        if await ScanLease.exists(key=key):
            return False
        try:
            await ScanLease.create(key=key, **values)
        except IntegrityError:  # another starter inserted it first
            return False
        return True

    async def renew(self, key: str, token: str) -> bool:
        expires = _now_ms() + self.ttl_ms
        return bool(await ScanLease.filter(key=key, owner=token).update(expires_ms=expires))

    async def release(self, key: str, token: str) -> bool:
        return bool(await ScanLease.filter(key=key, owner=token).update(owner="", expires_ms=0))

    async def holder(self, key: str) -> str | None:
        """The live holder's token (`host:pid:...`), or None when free or expired."""
        row = await ScanLease.get_or_none(key=key)
        if row is None or not row.owner or row.expires_ms < _now_ms():
            return None
        return row.owner

    async def is_held(self, key: str) -> bool:
        return await self.holder(key) is not None


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
