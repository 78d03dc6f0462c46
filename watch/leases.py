"""Which process watches which scanner: membership, consistent hashing, leases (Redis).

Every watcher process heartbeats into one sorted set (`<prefix>mailscanner:watch:members`,
score = when its membership expires). Each tick it reads the live members and places every
wanted scanner on a hash ring of them (64 points per member): the scanners that land on
it are its share. That share is only a wish; the guarantee is the lease: a scanner is
watched only by the holder of `<prefix>mailscanner:watch:lease:<id>` (SET NX PX), which the
holder renews every tick (one script call per 1,000 leases) and gives up at once when the
ring says the scanner is now someone else's. So:

- a new watcher joins the ring; the others release what moved to it, it takes that at its
  next tick (rebalancing moves ~1/N of the scanners, not all of them);
- a dead watcher's membership and leases expire after `lease_seconds`; the survivors' next
  tick takes its scanners (15 s + a 5 s tick by default: within the 30 s promised);
- two processes that briefly disagree about the members never both watch: only one SET NX
  succeeds; a holder that stalled past its lease finds the renewal refused and stops.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..workers.config import JobsConfig
from .status import WATCHER_NAME

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

POINTS = 64
CHUNK = 1000
WATCH_MEMBERS_KEY = "mailscanner:watch:members"
WATCH_LEASE_KEY = "mailscanner:watch:lease:{scanner_id}"

# KEYS = lease keys, ARGV[1] = our token, ARGV[2] = ttl ms -> 1/0 per key (still ours?)
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then
    redis.call('pexpire', key, ARGV[2]); out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then redis.call('del', key) end
end
return 1
"""


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class Ring:
    """Consistent hashing: ~one hash per scanner and a binary search, so 100,000 scanners
    are placed in a fraction of a second even with many members."""

    def __init__(self, members: Iterable[str]) -> None:
        pairs = sorted((_point(f"{m}#{i}"), m) for m in members for i in range(POINTS))
        self._points = [p for p, _ in pairs]
        self._owners = [m for _, m in pairs]

    def owner(self, scanner_id: int) -> str | None:
        if not self._points:
            return None
        i = bisect.bisect(self._points, _point(f"scanner:{scanner_id}")) % len(self._points)
        return self._owners[i]


class RedisLeases:
    """`Assignment` for many processes; see the module docstring."""

    def __init__(self, redis: Redis, jobs: JobsConfig, lease_seconds: float) -> None:
        self.redis = redis
        self.jobs = jobs
        self.ttl_ms = int(lease_seconds * 1000)
        self.me = f"{WATCHER_NAME}:{uuid.uuid4().hex[:8]}"
        self.held: set[int] = set()
        self._ring_key: tuple[tuple[str, ...], frozenset[int]] | None = None
        self._mine: set[int] = set()

    @property
    def members_key(self) -> str:
        return self.jobs.prefix + WATCH_MEMBERS_KEY

    def lease_key(self, scanner_id: int) -> str:
        return self.jobs.prefix + WATCH_LEASE_KEY.format(scanner_id=scanner_id)

    async def members(self) -> list[str]:
        """Heartbeat, drop expired members, return the live ones."""
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.members_key, {self.me: now + self.ttl_ms})
            pipe.zremrangebyscore(self.members_key, "-inf", now)
            pipe.zrange(self.members_key, 0, -1)
            pipe.pexpire(self.members_key, self.ttl_ms * 4)
            answers = await pipe.execute()
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in answers[2])

    def share(self, members: list[str], wanted: set[int]) -> set[int]:
        key = (tuple(members), frozenset(wanted))
        if key != self._ring_key:  # recomputed only when members or scanners change
            ring = Ring(members)
            self._mine = {s for s in wanted if ring.owner(s) == self.me}
            self._ring_key = key
        return self._mine

    async def claim(self, wanted: set[int]) -> set[int]:
        """The scanners this process may watch now (renew, release, acquire)."""
        mine = self.share(await self.members(), wanted)
        keep = sorted(self.held & mine)
        still = await self._renew(keep)
        lost = set(keep) - still
        if lost:
            logger.warning("watch leases lost (stalled past their TTL?): %s", sorted(lost))
        await self._release(sorted(self.held - mine))
        # A lease that lapsed (we stalled) is taken again if nobody else took it meanwhile.
        gained = await self._acquire(sorted(mine - still))
        self.held = still | gained
        return set(self.held)

    async def _renew(self, ids: list[int]) -> set[int]:
        still: set[int] = set()
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            keys = [self.lease_key(s) for s in chunk]
            flags = await self.redis.eval(_RENEW, len(keys), *keys, self.me, str(self.ttl_ms))  # type: ignore[misc]
            still.update(s for s, ok in zip(chunk, flags, strict=True) if ok)
        return still

    async def _release(self, ids: list[int]) -> None:
        for i in range(0, len(ids), CHUNK):
            keys = [self.lease_key(s) for s in ids[i : i + CHUNK]]
            await self.redis.eval(_RELEASE, len(keys), *keys, self.me)  # type: ignore[misc]

    async def _acquire(self, ids: list[int]) -> set[int]:
        gained: set[int] = set()
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            async with self.redis.pipeline(transaction=False) as pipe:
                for s in chunk:
                    pipe.set(self.lease_key(s), self.me, nx=True, px=self.ttl_ms)
                answers = await pipe.execute()
            gained.update(s for s, ok in zip(chunk, answers, strict=True) if ok)
        return gained

    async def stop(self) -> None:
        """Leave: give every lease and the membership back (a clean stop hands over at once)."""
        await self._release(sorted(self.held))
        self.held = set()
        await self.redis.zrem(self.members_key, self.me)


class EveryScanner:
    """`Assignment` of the embedded mode: one process, it watches every wanted scanner."""

    async def claim(self, wanted: set[int]) -> set[int]:
        return set(wanted)

    async def stop(self) -> None:
        return None
