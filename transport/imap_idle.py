"""A small asyncio IMAP client: exactly what a push watcher needs, one socket and no thread.

Commands: CAPABILITY, STARTTLS (or TLS on connect), LOGIN / AUTHENTICATE PLAIN / XOAUTH2,
EXAMINE, STATUS, IDLE/DONE, NOOP, LOGOUT. A watcher holds one of these per watched folder
for hours, so what counts is the cost of an idle connection. Measured on this machine with
300 idle IMAPS connections to Dovecot (bench/idle_clients.py):

    client                               RSS per connection   CPU per connect+login+IDLE
    this one                             288 KB               4.5 ms
    aioimaplib 2.0.3                     301 KB               5.3 ms
    this one, small TLS buffers           65 KB               4.5 ms
    aioimaplib, small TLS buffers         76 KB               5.6 ms
    imapclient (transport/imap.py)       a thread each: 8 MB of stack reserved, the GIL

Most of the cost was asyncio's 256 KB TLS read buffer, hence `small_tls_buffers()`. With it
both asyncio clients fit the budget of 1 MB per folder; this one is kept because it is a
little lighter, answers every failure through our error table, bounds what it reads (a
watcher never fetches mail) and is ~300 lines we can read, where aioimaplib carries a
full IMAP4rev1 client (FETCH parsing, command queues) that a watcher never uses.

Failure story: every failure leaves this module as a `MailError` classified by the one
table in `transport/errors.py` (a refused login as LOGIN_REJECTED, a dropped socket as
NETWORK_ERROR, a NO/BAD as PROTOCOL_ERROR, ...). Input is bounded: a response line may
hold 64 KB, a literal 1 MB (a watcher never fetches mail), anything larger is a protocol
error and the connection is dropped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import imaplib
import itertools
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from imapclient import imap_utf7
from imapclient.exceptions import LoginError

from .errors import (
    ErrorCode,
    ImapConnectionError,
    MailError,
    classify_error,
    count_connection_error,
)
from .imap import ImapSettings
from .tls import client_context

__all__ = ["IdleClient", "Untagged", "parse_status"]

MAX_LINE = 64 * 1024
MAX_LITERAL = 1024 * 1024
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_CAPS = re.compile(rb"\[CAPABILITY ([^\]]*)\]", re.I)
_UNTAGGED_NUMBER = re.compile(rb"^\* (\d+) (EXISTS|EXPUNGE|RECENT|FETCH)\b(.*)$", re.I | re.S)
_STATUS_ITEMS = re.compile(rb"([A-Z]+) (\d+)", re.I)


@dataclass(frozen=True)
class Untagged:
    """One untagged response: `* 5 EXISTS` is Untagged("EXISTS", 5, b"")."""

    kind: str
    number: int | None
    rest: bytes = b""

    @classmethod
    def parse(cls, line: bytes) -> Untagged:
        numbered = _UNTAGGED_NUMBER.match(line)
        if numbered:
            kind = numbered.group(2).decode().upper()
            return cls(kind, int(numbered.group(1)), numbered.group(3))
        word, _, rest = line[2:].partition(b" ")
        return cls(word.decode("ascii", "replace").upper(), None, rest)


# asyncio's SSLProtocol preallocates and zero-fills a 256 KB read buffer for every TLS
# connection (CPython 3.11-3.13, the class attribute `max_size`): 256 KB resident per idle
# watcher, most of its cost. The attribute is only the chunk size of socket reads and TLS
# records carry at most 16 KB, so 32 KB reads lose nothing; processes that hold many idle
# connections (watchers) lower it once. Measured: see bench/push_latency.py.
TLS_READ_CHUNK = 32 * 1024


def small_tls_buffers() -> None:
    """Lower asyncio's per-TLS-connection read buffer to `TLS_READ_CHUNK` (process-wide)."""
    from asyncio import sslproto

    if getattr(sslproto.SSLProtocol, "max_size", 0) > TLS_READ_CHUNK:
        sslproto.SSLProtocol.max_size = TLS_READ_CHUNK


def quote(text: str) -> bytes:
    """An IMAP quoted string; CR/LF cannot be quoted and are refused."""
    if "\r" in text or "\n" in text:
        raise ValueError("IMAP strings cannot hold line breaks")
    return b'"' + text.encode("utf-8").replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def mailbox(name: str) -> bytes:
    """A folder name as IMAP sends it: modified UTF-7, quoted."""
    return quote(imap_utf7.encode(name).decode("ascii"))


def parse_status(line: bytes) -> dict[str, int]:
    """`* STATUS "INBOX" (MESSAGES 3 UIDNEXT 7)` -> {"MESSAGES": 3, "UIDNEXT": 7}."""
    items = line[line.rfind(b"(") + 1 : line.rfind(b")")]
    return {k.decode().upper(): int(v) for k, v in _STATUS_ITEMS.findall(items)}


@dataclass
class IdleClient:
    """One connection. Build with `await IdleClient.connect(settings)` (logged in)."""

    settings: ImapSettings
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    capabilities: frozenset[str] = frozenset()
    _tags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _idle_tag: bytes | None = None

    # -- opening ----------------------------------------------------------------------
    @classmethod
    async def connect(cls, settings: ImapSettings) -> IdleClient:
        """Connect, secure, log in; raises a classified MailError (never a raw socket error)."""
        try:
            return await asyncio.wait_for(cls._connect(settings), settings.timeout)
        except MailError as exc:
            count_connection_error(exc)
            raise
        except Exception as exc:
            error = classify_error(exc, host=settings.host, port=settings.port)
            count_connection_error(error)
            raise error from exc

    @classmethod
    async def _connect(cls, s: ImapSettings) -> IdleClient:
        ctx = client_context(s.validate_certificate)
        reader, writer = await asyncio.open_connection(
            s.host, s.port, ssl=ctx if s.encryption == "ssl" else None, limit=MAX_LINE
        )
        client = cls(s, reader, writer)
        try:
            greeting = await client._line()
            if not greeting.startswith(b"* OK") and not greeting.startswith(b"* PREAUTH"):
                raise imaplib.IMAP4.abort(greeting.decode("utf-8", "replace"))
            client._take_caps(greeting)
            if not client.capabilities:
                await client.refresh_capabilities()
            if s.encryption == "starttls":
                await client._starttls(ctx)
            await client._login()
        except BaseException:
            client.abort()
            raise
        return client

    async def _starttls(self, ctx: ssl.SSLContext) -> None:
        if "STARTTLS" not in self.capabilities:
            raise ImapConnectionError(
                f"{self.settings.host} does not offer STARTTLS on port {self.settings.port}. "
                "Use SSL/TLS (port 993) or, on a trusted network only, no encryption.",
                code=ErrorCode.STARTTLS_UNSUPPORTED,
            )
        await self.command(b"STARTTLS")
        await self.writer.start_tls(ctx, server_hostname=self.settings.host)
        self.capabilities = frozenset()  # RFC 3501: forget what was said in the clear
        await self.refresh_capabilities()

    async def _login(self) -> None:
        s = self.settings
        if s.access_token is not None:
            sasl = f"user={s.username}\x01auth=Bearer {s.access_token}\x01\x01"
            ok = await self._authenticate(b"XOAUTH2", sasl.encode())
        elif "AUTH=PLAIN" in self.capabilities:
            ok = await self._authenticate(b"PLAIN", f"\0{s.username}\0{s.password or ''}".encode())
        else:
            ok = await self._tagged(b"LOGIN " + quote(s.username) + b" " + quote(s.password or ""))
        if not ok[0]:
            raise LoginError(ok[1].decode("utf-8", "replace"))
        if _CAPS.search(ok[1]):
            self._take_caps(ok[1])
        else:
            await self.refresh_capabilities()  # post-login capabilities differ (IDLE, MOVE)

    async def _authenticate(self, mechanism: bytes, payload: bytes) -> tuple[bool, bytes]:
        encoded = base64.b64encode(payload)
        tag = self._tag()
        if "SASL-IR" in self.capabilities:
            await self._send(tag + b" AUTHENTICATE " + mechanism + b" " + encoded)
        else:
            await self._send(tag + b" AUTHENTICATE " + mechanism)
            line = await self._until_continuation_or_tagged(tag)
            if not line.startswith(b"+"):
                return _result(line, tag)
            await self._send(encoded)
        while True:
            line = await self._line()
            if line.startswith(b"+"):
                await self._send(b"")  # XOAUTH2's error challenge: answer empty, then NO
            elif line.startswith(tag + b" "):
                return _result(line, tag)

    # -- commands ---------------------------------------------------------------------
    async def refresh_capabilities(self) -> None:
        lines = await self.command(b"CAPABILITY")
        for line in lines:
            if line.upper().startswith(b"* CAPABILITY "):
                self.capabilities = frozenset(line[13:].decode("ascii", "replace").upper().split())

    async def examine(self, folder: str) -> list[Untagged]:
        """Open `folder` read-only (no flag changes, no \\Recent taken from anyone)."""
        return [Untagged.parse(line) for line in await self.command(b"EXAMINE " + mailbox(folder))]

    async def status(self, folder: str, items: Sequence[str]) -> dict[str, int]:
        """STATUS of a folder, e.g. {"UIDNEXT": 7, "MESSAGES": 3} (one round trip)."""
        lines = await self.command(
            b"STATUS " + mailbox(folder) + b" (" + " ".join(items).encode() + b")"
        )
        for line in lines:
            if line.upper().startswith(b"* STATUS "):
                return parse_status(line)
        raise imaplib.IMAP4.error("STATUS returned no status")

    async def noop(self) -> list[Untagged]:
        return [Untagged.parse(line) for line in await self.command(b"NOOP")]

    async def idle(self) -> None:
        """Enter IDLE; read what arrives with `wait()`, leave with `done()`."""
        tag = self._tag()
        await self._send(tag + b" IDLE")
        line = await self._until_continuation_or_tagged(tag)
        if not line.startswith(b"+"):
            raise imaplib.IMAP4.error(f"IDLE refused: {line.decode('utf-8', 'replace')}")
        self._idle_tag = tag

    async def wait(self, timeout: float) -> list[Untagged]:
        """Untagged responses received in IDLE within `timeout` (empty: nothing happened).

        More responses already buffered are returned with the first one, so a burst of
        EXISTS lines is one call."""
        try:
            first = await asyncio.wait_for(self._line(), timeout)
        except TimeoutError:
            return []
        lines = [first]
        while b"\n" in getattr(self.reader, "_buffer", b""):  # complete lines only, no wait
            lines.append(await self._line())
        return [Untagged.parse(line) for line in lines if line.startswith(b"* ")]

    async def done(self) -> list[Untagged]:
        """Leave IDLE; returns responses that arrived meanwhile."""
        tag, self._idle_tag = self._idle_tag, None
        if tag is None:
            return []
        await self._send(b"DONE")
        lines = await self._until_tagged(tag)
        return [Untagged.parse(line) for line in lines]

    async def logout(self) -> None:
        """Best effort: LOGOUT within a second, then close the socket."""
        with contextlib.suppress(Exception):
            if self._idle_tag is not None:
                await asyncio.wait_for(self.done(), 1)
            await asyncio.wait_for(self.command(b"LOGOUT"), 1)
        self.abort()

    def abort(self) -> None:
        """Drop the connection now: no TLS close_notify round trip that a dead or unwilling
        peer would hold open for 30 s (LOGOUT, when wanted, came before)."""
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    async def command(self, text: bytes) -> list[bytes]:
        """Send one command; its untagged lines, or imaplib.IMAP4.error on NO/BAD."""
        tag = self._tag()
        await self._send(tag + b" " + text)
        lines = await self._until_tagged(tag)
        ok, tail = _result(lines.pop(), tag)
        if not ok:
            raise imaplib.IMAP4.error(
                f"{text.split(b' ')[0].decode()} failed: {tail.decode('utf-8', 'replace')}"
            )
        self._take_caps(tail)
        return lines

    # -- wire -------------------------------------------------------------------------
    async def _tagged(self, text: bytes) -> tuple[bool, bytes]:
        tag = self._tag()
        await self._send(tag + b" " + text)
        lines = await self._until_tagged(tag)
        return _result(lines[-1], tag)

    def _tag(self) -> bytes:
        return b"W%d" % next(self._tags)

    def _take_caps(self, line: bytes) -> None:
        found = _CAPS.search(line)
        if found:
            self.capabilities = frozenset(found.group(1).decode("ascii", "replace").upper().split())

    async def _send(self, line: bytes) -> None:
        self.writer.write(line + b"\r\n")
        await self.writer.drain()

    async def _until_tagged(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = await self._line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines
            if line.startswith(b"* BYE"):
                raise imaplib.IMAP4.abort(line.decode("utf-8", "replace"))

    async def _until_continuation_or_tagged(self, tag: bytes) -> bytes:
        while True:
            line = await self._line()
            if line.startswith(b"+") or line.startswith(tag + b" "):
                return line
            if line.startswith(b"* BYE"):
                raise imaplib.IMAP4.abort(line.decode("utf-8", "replace"))

    async def _line(self) -> bytes:
        """One response line, literals folded in; EOF is ConnectionResetError."""
        parts = []
        while True:
            try:
                raw = await self.reader.readuntil(b"\r\n")
            except asyncio.IncompleteReadError as exc:
                raise ConnectionResetError("the server closed the connection") from exc
            except asyncio.LimitOverrunError as exc:
                raise imaplib.IMAP4.abort("response line over 64 KB") from exc
            line = raw[:-2]
            literal = _LITERAL.search(line)
            if literal is None:
                parts.append(line)
                return b"".join(parts)
            size = int(literal.group(1))
            if size > MAX_LITERAL:
                raise imaplib.IMAP4.abort(f"literal of {size} bytes in a watcher response")
            try:
                data = await self.reader.readexactly(size)
            except asyncio.IncompleteReadError as exc:
                raise ConnectionResetError("the server closed the connection") from exc
            parts.append(line[: literal.start()] + quote_bytes(data))


def quote_bytes(data: bytes) -> bytes:
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _result(line: bytes, tag: bytes) -> tuple[bool, bytes]:
    tail = line[len(tag) + 1 :]
    return tail[:2].upper() == b"OK", tail
