"""SMTP connections kept open between sends, so a burst of comment emails logs in once.

Every new connection costs a TCP and TLS handshake and an AUTH exchange, and providers
limit them: Microsoft 365 and Gmail throttle or refuse clients that open many connections
or logins per minute. A job runner (the arq worker, or the embedded runner) owns one
`SmtpConnections`; a send borrows an idle connection made with the same settings, checks it
with NOOP (servers drop idle clients after a few minutes), and gives it back when the send
succeeded. A connection that failed in any way is closed, never reused: the send is then
retried by the job like any other temporary failure, so reuse never sends a mail twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiosmtplib

__all__ = ["Connection", "SmtpConnections", "close_client", "quit_client"]

# NOOP and QUIT: a live server answers at once; a half-open socket must not stall a send.
NOOP_TIMEOUT = 5.0


@dataclass(eq=False)
class Connection:
    """An open, authenticated SMTP client and how much it has been used."""

    client: aiosmtplib.SMTP
    opened: float = field(default_factory=time.monotonic)
    idle_since: float = field(default_factory=time.monotonic)
    sent: int = 0


class SmtpConnections:
    """Idle connections by settings (any change of host, login or security is another key).

    `idle_seconds` stays below common server idle timeouts (Postfix 300 s, Exchange 600 s);
    `max_age_seconds` bounds how long one login (and an OAuth token) is used; some servers
    cap messages per connection, hence `max_messages`."""

    def __init__(
        self,
        *,
        max_idle: int = 4,
        idle_seconds: float = 60.0,
        max_age_seconds: float = 600.0,
        max_messages: int = 100,
    ) -> None:
        self.max_idle, self.idle_seconds = max_idle, idle_seconds
        self.max_age_seconds, self.max_messages = max_age_seconds, max_messages
        self._idle: dict[object, list[Connection]] = {}
        self._closed = False
        self.opened = 0  # connections made through this pool (for tests and benchmarks)

    def _usable(self, conn: Connection, now: float) -> bool:
        return (
            conn.client.is_connected
            and now - conn.idle_since < self.idle_seconds
            and now - conn.opened < self.max_age_seconds
            and conn.sent < self.max_messages
        )

    async def acquire(
        self, key: object, connect: Callable[[], Awaitable[aiosmtplib.SMTP]]
    ) -> Connection:
        """An idle connection for `key` that answers NOOP, else a new one from `connect`."""
        await self._prune()
        idle = self._idle.get(key, [])
        while idle:
            conn = idle.pop()  # the most recently used: the likeliest to be alive
            try:
                await conn.client.noop(timeout=NOOP_TIMEOUT)
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                await close_client(conn.client)
                continue
            return conn
        conn = Connection(await connect())
        self.opened += 1
        return conn

    async def release(self, key: object, conn: Connection, *, ok: bool) -> None:
        """Give `conn` back after a send: kept when the send succeeded and there is room."""
        conn.sent += 1
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(key, [])
        if ok and not self._closed and len(idle) < self.max_idle and self._usable(
            conn, conn.idle_since
        ):
            idle.append(conn)
            return
        if ok:
            await quit_client(conn.client)
        else:
            await close_client(conn.client)

    async def _prune(self) -> None:
        # Decide and detach first, then QUIT: other sends may borrow and give back
        # connections while this one awaits.
        now = time.monotonic()
        stale: list[Connection] = []
        for key, idle in list(self._idle.items()):
            stale.extend(c for c in idle if not self._usable(c, now))
            idle[:] = [c for c in idle if self._usable(c, now)]
            if not idle:
                del self._idle[key]
        for conn in stale:
            await quit_client(conn.client)

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    async def close(self) -> None:
        """QUIT every idle connection; connections in use are closed when given back."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await quit_client(conn.client)


async def close_client(client: aiosmtplib.SMTP) -> None:
    """Drop the connection without a word (after an error)."""
    transport = client.transport
    client.close()
    await _abort(transport)


async def quit_client(client: aiosmtplib.SMTP) -> None:
    """QUIT, then drop the connection."""
    transport = client.transport
    try:
        await client.quit(timeout=NOOP_TIMEOUT)
    except (aiosmtplib.SMTPException, OSError):
        client.close()  # the message is already accepted; a rude QUIT changes nothing
    await _abort(transport)


async def _abort(transport: asyncio.BaseTransport | None) -> None:
    # After QUIT (or an error) nothing more is said: drop the socket now. A TLS transport's
    # close() first waits for the server's TLS goodbye, and a loop that ends before it comes
    # leaks the socket (ResourceWarning, an intermittent test failure).
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    await asyncio.sleep(0)  # the socket is closed on the next loop turn
