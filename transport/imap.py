"""A narrow async IMAP session over imapclient: folders, search, fetch, flag, move, delete.

imapclient is synchronous and a client must not be shared between threads, so each
session owns ONE worker thread and every call runs there (`loop.run_in_executor`). The
event loop stays free meanwhile, which lets the scan pipeline fetch the next batch while it
processes the current one. Every failure leaves this module as a classified `MailError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol, TypeVar

import imapclient

from .errors import ErrorCode, ImapConnectionError, ImapProtocolError, MailError, classify_error
from .folders import FolderInfo, from_list_entry

__all__ = [
    "FetchedMessage",
    "FolderStatus",
    "ImapSession",
    "ImapSettings",
    "MailboxSession",
    "SEEN",
    "DELETED",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
SEEN = b"\\Seen"
DELETED = b"\\Deleted"
Encryption = Literal["ssl", "starttls", "none"]


@dataclass(frozen=True)
class ImapSettings:
    """Everything needed to open a session; give `password` or an OAuth `access_token`."""

    host: str
    port: int
    encryption: Encryption = "ssl"
    validate_certificate: bool = True
    username: str = ""
    password: str | None = None
    access_token: str | None = None
    timeout: float = 30.0

    def __repr__(self) -> str:  # never print secrets
        return (
            f"ImapSettings(host={self.host!r}, port={self.port}, encryption={self.encryption!r},"
            f" validate_certificate={self.validate_certificate}, username={self.username!r})"
        )


@dataclass(frozen=True)
class FolderStatus:
    name: str
    uidvalidity: int
    uidnext: int
    exists: int


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    flags: tuple[bytes, ...]


class MailboxSession(Protocol):
    """What the scan pipeline needs from a mailbox (fakes implement this for unit tests)."""

    async def capabilities(self) -> tuple[str, ...]: ...
    async def list_folders(self) -> list[FolderInfo]: ...
    async def select(self, folder: str) -> FolderStatus: ...
    async def status(self, folder: str, items: Sequence[str]) -> dict[str, int]: ...
    async def search(self, criteria: list[Any]) -> list[int]: ...
    async def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]: ...
    async def add_flags(self, uids: Sequence[int], flags: Iterable[bytes]) -> None: ...
    async def move(self, uids: Sequence[int], folder: str) -> None: ...
    async def delete(self, uids: Sequence[int]) -> None: ...
    async def ensure_folder(self, folder: str) -> None: ...
    async def close(self) -> None: ...


def _ssl_context(validate: bool) -> ssl.SSLContext:
    # The system trust store (SSL_CERT_FILE/SSL_CERT_DIR are honoured by default paths).
    ctx = ssl.create_default_context()
    if not validate:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _open_client(s: ImapSettings) -> imapclient.IMAPClient:
    """Connect, secure and log in (runs in the session thread)."""
    ctx = _ssl_context(s.validate_certificate)
    timeout = imapclient.SocketTimeout(connect=s.timeout, read=max(s.timeout, 60.0))
    client = imapclient.IMAPClient(
        s.host, port=s.port, ssl=s.encryption == "ssl", ssl_context=ctx, timeout=timeout
    )
    try:
        if s.encryption == "starttls":
            if not client.has_capability("STARTTLS"):
                raise ImapConnectionError(
                    f"{s.host} does not offer STARTTLS on port {s.port}. Use SSL/TLS (port 993) "
                    "or, on a trusted network only, no encryption.",
                    code=ErrorCode.STARTTLS_UNSUPPORTED,
                )
            client.starttls(ctx)
        if s.access_token is not None:
            client.oauth2_login(s.username, s.access_token)
        else:
            client.login(s.username, s.password or "")
    except BaseException:
        client.shutdown()
        raise
    _quiet(client._imap)
    return client


class ImapSession:
    """One logged-in IMAP connection with its own thread. Use `async with await open(...)`."""

    def __init__(
        self, client: imapclient.IMAPClient, executor: ThreadPoolExecutor, settings: ImapSettings
    ) -> None:
        self._client = client
        self._executor = executor
        self._settings = settings
        self._selected: str | None = None

    @classmethod
    async def open(cls, settings: ImapSettings) -> ImapSession:
        """Connect and log in; raises a classified MailError (never a raw socket error)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imap-{settings.host}")
        loop = asyncio.get_running_loop()
        try:
            client = await loop.run_in_executor(executor, _open_client, settings)
        except BaseException as exc:
            executor.shutdown(wait=False)
            if isinstance(exc, Exception):
                raise classify_error(exc, host=settings.host, port=settings.port) from exc
            raise
        return cls(client, executor, settings)

    async def __aenter__(self) -> ImapSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except MailError:
            raise
        except Exception as exc:
            raise classify_error(exc, host=self._settings.host, port=self._settings.port) from exc

    # -- folders ------------------------------------------------------------------------
    async def capabilities(self) -> tuple[str, ...]:
        caps = await self._call(self._client.capabilities)
        return tuple(c.decode() if isinstance(c, bytes) else str(c) for c in caps)

    async def list_folders(self) -> list[FolderInfo]:
        """The live folder list, names decoded from modified UTF-7, sorted by path."""
        entries = await self._call(self._client.list_folders)
        return sorted((from_list_entry(*e) for e in entries), key=lambda f: f.name.casefold())

    async def select(self, folder: str) -> FolderStatus:
        def run() -> FolderStatus:
            try:
                info = self._client.select_folder(folder)
            except imapclient.exceptions.IMAPClientError as exc:
                if not self._client.folder_exists(folder):
                    raise ImapProtocolError(
                        f"The folder {folder!r} does not exist on the server.",
                        code=ErrorCode.FOLDER_NOT_FOUND,
                    ) from exc
                raise
            self._selected = folder
            return FolderStatus(
                folder,
                int(info[b"UIDVALIDITY"]),
                int(info.get(b"UIDNEXT", 0)),
                int(info.get(b"EXISTS", 0)),
            )

        return await self._call(run)

    async def status(self, folder: str, items: Sequence[str]) -> dict[str, int]:
        """STATUS of a folder (not the selected one, RFC 3501), e.g. {"UIDNEXT": 7}."""
        answer = await self._call(self._client.folder_status, folder, list(items))
        return {k.decode().upper() if isinstance(k, bytes) else str(k).upper(): int(v)
                for k, v in answer.items()}

    async def ensure_folder(self, folder: str) -> None:
        """Create the folder (and subscribe to it) unless it exists."""

        def run() -> None:
            if not self._client.folder_exists(folder):
                self._client.create_folder(folder)
                # Subscribing is a nicety for mail clients, not needed by us.
                with contextlib.suppress(imapclient.exceptions.IMAPClientError):
                    self._client.subscribe_folder(folder)

        await self._call(run)

    # -- messages (in the selected folder, by UID) --------------------------------------
    async def search(self, criteria: list[Any]) -> list[int]:
        """UID SEARCH; e.g. `["UNSEEN"]`, `["UID", "101:*"]`, `["SINCE", date(2026, 1, 1)]`."""
        result = await self._call(self._client.search, criteria)
        return sorted(int(u) for u in result)

    async def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """Full raw messages with BODY.PEEK[] (nothing is marked read), in UID order.

        Sent over imapclient's own connection but read with stdlib imaplib: imapclient's
        response parser costs ~3x imaplib's on big literals, and this runs in the session
        thread next to the event loop (the GIL is shared)."""
        if not uids:
            return []
        return await self._call(_fetch_raw, self._client._imap, list(uids))

    async def add_flags(self, uids: Sequence[int], flags: Iterable[bytes]) -> None:
        if uids:
            await self._call(self._client.add_flags, list(uids), list(flags), True)

    async def move(self, uids: Sequence[int], folder: str) -> None:
        """MOVE when the server supports it, else COPY + \\Deleted + UID EXPUNGE."""
        if not uids:
            return
        await self.ensure_folder(folder)

        def run() -> None:
            if self._client.has_capability("MOVE"):
                self._client.move(list(uids), folder)
            else:
                self._client.copy(list(uids), folder)
                self._expunge(list(uids))

        await self._call(run)

    async def delete(self, uids: Sequence[int]) -> None:
        """Flag \\Deleted and expunge exactly these UIDs (never other deleted mail)."""
        if uids:
            await self._call(self._expunge, list(uids))

    def _expunge(self, uids: list[int]) -> None:
        self._client.add_flags(uids, [DELETED], True)
        if self._client.has_capability("UIDPLUS"):
            self._client.uid_expunge(uids)
        else:  # plain EXPUNGE would purge other \Deleted mail too; leave it flagged instead
            logger.info("server lacks UIDPLUS; %d message(s) left flagged \\Deleted", len(uids))

    async def close(self) -> None:
        """Log out (best effort) and stop the session thread."""

        def run() -> None:
            try:
                self._client.logout()
            except Exception:  # noqa: BLE001 — closing a broken connection is still closing
                with contextlib.suppress(Exception):
                    self._client.shutdown()

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, run)
        finally:
            self._executor.shutdown(wait=False)


_UID = re.compile(rb"[( ]UID (\d+)")
_FLAGS = re.compile(rb"[( ]FLAGS \(([^)]*)\)")


def _quiet(imap: imaplib.IMAP4) -> None:
    """Turn off imapclient's imaplib debug hook unless someone listens: at debug level 5
    imaplib formats the repr of every fetched literal (megabytes per batch) even when the
    log record is then dropped."""
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        imap.debug = 0


def _fetch_raw(imap: imaplib.IMAP4, uids: list[int]) -> list[FetchedMessage]:
    """`UID FETCH uids (BODY.PEEK[] FLAGS)` with imaplib; runs in the session thread.

    imaplib answers a list where each message is a (b"n (UID u FLAGS (..) BODY[] {size}",
    literal) tuple followed by the rest of its response (b")" or b" FLAGS (..))"); an
    unsolicited FETCH (a flag change by another client) is a bare bytes item."""
    wanted = set(uids)
    typ, data = imap.uid("FETCH", ",".join(map(str, uids)), "(BODY.PEEK[] FLAGS)")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH failed: {typ} {data!r}"[:500])
    found: dict[int, FetchedMessage] = {}
    for i, item in enumerate(data):
        if not isinstance(item, tuple) or b"BODY[]" not in item[0]:
            continue  # expunged meanwhile by another client: no literal
        head = item[0]
        tail = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
        uid_match = _UID.search(head) or _UID.search(tail)
        if uid_match is None or int(uid_match.group(1)) not in wanted:
            continue
        flags_match = _FLAGS.search(head) or _FLAGS.search(tail)
        flags = tuple(flags_match.group(1).split()) if flags_match else ()
        uid = int(uid_match.group(1))
        found[uid] = FetchedMessage(uid, bytes(item[1]), flags)
    return [found[u] for u in sorted(found)]


def since_criteria(day: date) -> list[Any]:
    return ["SINCE", day]
