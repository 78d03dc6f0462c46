"""One watched folder: a connection that IDLEs (or polls), reconnecting for as long as asked.

The loop: CONNECTING (fresh credentials, connect, log in) -> the cheap check against the
last scan's signature (mail that came while nobody watched is asked for at once) -> IDLING
(EXAMINE, IDLE, renewed every `idle_seconds`) or, on a server without IDLE, POLLING (one
STATUS per scan interval). Any failure -> BACKING_OFF for an exponential, jittered delay
(an authentication failure waits the longest), then CONNECTING again. Cancellation logs
out and ends the loop: that is how a deactivated scanner's connections close.

What counts as news: `* n EXISTS` with n above the count we know (mail arrived; our own
scan's moves and deletes only lower it), and for "only unread" scanners a FETCH whose FLAGS
lack \\Seen (mail marked unread again). EXPUNGE and \\Seen being set are the scan's own
doing and ask for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..models import PushState, ScanType
from ..scanning.signature import signature, status_items
from ..transport.errors import ErrorCode, MailError, classify_error
from ..transport.imap import ImapSettings
from ..transport.imap_idle import IdleClient, Untagged
from .config import WatchConfig

logger = logging.getLogger(__name__)

# Failures that retrying soon cannot fix: wait the longest backoff before trying again.
_SLOW = {
    ErrorCode.LOGIN_REJECTED,
    ErrorCode.IMAP_DISABLED,
    ErrorCode.OAUTH_REAUTH_REQUIRED,
    ErrorCode.CONFIGURATION,
    ErrorCode.TLS_CERTIFICATE_UNTRUSTED,
}


@dataclass(frozen=True)
class FolderTarget:
    scanner_id: int
    folder: str
    scan_type: ScanType
    poll_seconds: float  # the scanner's interval: how often a server without IDLE is asked


class Pacer:
    """Connection ramp shared by all watchers of a process: at most `rate` connects a second
    (a burst of a thousand overflows imap-login's listen backlog; stack-notes)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


def backoff(attempt: int, cap: float, code: ErrorCode | None) -> float:
    """1, 2, 4 ... s up to `cap`, each between half and all of it (jitter spreads a thousand
    reconnects after a server restart); the cap at once for failures waiting needs a person."""
    base = cap if code in _SLOW else min(cap, 2.0 ** max(attempt - 1, 0))
    return base * random.uniform(0.5, 1.0)


class FolderWatch:
    """Watch one folder until cancelled; report news through `on_change`, state to `on_state`."""

    def __init__(
        self,
        target: FolderTarget,
        credentials: Callable[[], Awaitable[ImapSettings]],
        stored_signature: Callable[[], Awaitable[str | None]],
        on_change: Callable[[str], None],
        on_state: Callable[[FolderWatch], None],
        config: WatchConfig,
        pacer: Pacer,
    ) -> None:
        self.target = target
        self._credentials = credentials
        self._stored_signature = stored_signature
        self._on_change = on_change
        self._on_state = on_state
        self.config = config
        self.pacer = pacer
        self.state = PushState.CONNECTING
        self.since = datetime.now(UTC)
        self.last_event_at: datetime | None = None
        self.last_error: str | None = None
        self.polls = 0  # cheap checks made while POLLING (tests, bench)
        self.connects = 0  # connection attempts
        self.events = 0  # changes reported
        self._exists = 0
        self._where: tuple[str, int | str] = ("the server", "?")
        self._reached = False  # this connection got as far as IDLING or POLLING

    def _set(self, state: PushState, error: str | None = None) -> None:
        if state in (PushState.IDLING, PushState.POLLING):
            self._reached = True
        if error is not None:
            self.last_error = error
        if state != self.state or error is not None:
            self.state, self.since = state, datetime.now(UTC)
            self._on_state(self)

    def _news(self, why: str) -> None:
        self.events += 1
        self.last_event_at = datetime.now(UTC)
        self._on_change(why)
        self._on_state(self)

    async def run(self) -> None:
        attempt = 0
        while True:
            self._reached = False
            self._set(PushState.CONNECTING)
            client: IdleClient | None = None
            code: ErrorCode | None = None
            try:
                await self.pacer.wait()
                self.connects += 1
                settings = await self._credentials()
                self._where = (settings.host, settings.port)
                client = await IdleClient.connect(settings)
                _keepalive(client)
                await self._catch_up(client)
                if "IDLE" in client.capabilities:
                    await self._idle(client)
                else:
                    await self._poll(client)
            except asyncio.CancelledError:
                if client is not None:
                    await asyncio.shield(client.logout())
                raise
            except Exception as exc:  # noqa: BLE001 — every failure means: back off, reconnect
                host, port = self._where
                error = exc if isinstance(exc, MailError) else classify_error(
                    exc, host=host, port=port
                )
                code = error.code
                logger.info(
                    "watch %s/%s: %s (%s)",
                    self.target.scanner_id,
                    self.target.folder,
                    error.message,
                    error.detail,
                )
                self._set(PushState.BACKING_OFF, error.message)
            if client is not None:
                client.abort()
            # The delay grows until a connection gets as far as IDLE or polling again: a
            # folder that fails right after login (deleted, no rights) is not retried hot.
            attempt = 1 if self._reached else attempt + 1
            await asyncio.sleep(backoff(attempt, self.config.max_backoff_seconds, code))

    async def _check(self, client: IdleClient) -> str:
        answer = await asyncio.wait_for(
            client.status(self.target.folder, status_items(client.capabilities)),
            self.config.answer_timeout_seconds,
        )
        return signature(answer, self.target.scan_type)

    async def _catch_up(self, client: IdleClient) -> None:
        """Mail that came while nobody watched (first start, takeover, reconnect)."""
        if await self._check(client) != await self._stored_signature():
            self._news("changed while not watched")

    async def _idle(self, client: IdleClient) -> None:
        timeout = self.config.answer_timeout_seconds
        for response in await asyncio.wait_for(client.examine(self.target.folder), timeout):
            if response.kind == "EXISTS" and response.number is not None:
                self._exists = response.number
        while True:
            await asyncio.wait_for(client.idle(), timeout)
            self._set(PushState.IDLING)
            renew_at = time.monotonic() + self.config.idle_seconds
            while (left := renew_at - time.monotonic()) > 0:
                self._consider(await client.wait(left))
            # Leaving and re-entering IDLE before the server's limit is also the keepalive:
            # a dead peer shows as no answer to DONE.
            self._consider(await asyncio.wait_for(client.done(), timeout))

    def _consider(self, responses: list[Untagged]) -> None:
        news: str | None = None
        for r in responses:
            if r.kind == "BYE":
                raise ConnectionResetError(f"the server said BYE{r.rest.decode(errors='replace')}")
            if r.kind == "EXPUNGE":
                self._exists = max(0, self._exists - 1)
            elif r.kind == "EXISTS" and r.number is not None:
                if r.number > self._exists:
                    news = "EXISTS"
                self._exists = r.number
            elif (
                r.kind == "FETCH"
                and self.target.scan_type == ScanType.UNREAD
                and b"FLAGS" in r.rest.upper()
                and b"\\SEEN" not in r.rest.upper()
            ):
                news = news or "marked unread"
        if news is not None:
            self._news(news)

    async def _poll(self, client: IdleClient) -> None:
        """No IDLE: the cheap check at the scanner's interval on the open connection."""
        self._set(PushState.POLLING)
        asked: str | None = None
        while True:
            await asyncio.sleep(self.target.poll_seconds)
            now = await self._check(client)
            self.polls += 1
            # One request per change: the scan it starts records `now` as its signature.
            if now != await self._stored_signature() and now != asked:
                asked = now
                self._news("STATUS changed")


def _keepalive(client: IdleClient) -> None:
    """TCP keepalive: a peer that vanished without a word (NAT, power) is noticed in ~2 min
    instead of at the next IDLE renewal."""
    sock = client.writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 20)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
