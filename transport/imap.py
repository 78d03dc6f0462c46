"""A narrow async IMAP session over imapclient: folders, search, fetch, flag, move, delete.

imapclient is synchronous and a client must not be shared between threads, so each
session owns ONE worker thread and every call runs there (`loop.run_in_executor`). The
event loop stays free meanwhile, which lets the scan pipeline fetch the next batch while it
processes the current one. Every failure leaves this module as a classified `MailError`.

Label stores (Gmail): folders are labels and every message also sits in the "All Mail"
folder (special-use \\All, RFC 6154). There \\Deleted + EXPUNGE only removes a label,
so "delete" moves the message to the \\Trash folder instead, and "move" out of All Mail
copies (adds a label; the message stays in All Mail anyway). A session knows it talks to a
label store by the server's capability (X-GM-EXT-1) or by a folder marked \\All; folder
names are never assumed ("[Gmail]/Papierkorb" is a German Trash). With X-GM-EXT-1 each
fetched message also carries X-GM-MSGID, Gmail's id of the message across labels.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol, TypeVar

import imapclient

from .errors import (
    ErrorCode,
    ImapConnectionError,
    ImapProtocolError,
    MailError,
    classify_error,
    count_connection_error,
)
from .folders import FolderInfo, from_list_entry
from .tls import client_context

__all__ = [
    "FetchedMessage",
    "FolderStatus",
    "ImapSession",
    "ImapSettings",
    "MailboxSession",
    "MessageMeta",
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
class MessageMeta:
    """What FETCH tells about a message without reading it."""

    uid: int
    size: int
    arrived: datetime  # INTERNALDATE, UTC
    flags: tuple[bytes, ...]


META_ITEMS = [b"RFC822.SIZE", b"INTERNALDATE", b"FLAGS"]
META_CHUNK = 2000  # UIDs per FETCH command: servers cap the command line (Dovecot 64 kB)


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    flags: tuple[bytes, ...]
    # The server's id of the message in every folder it appears in (Gmail's X-GM-MSGID).
    server_id: str | None = None


class MailboxSession(Protocol):
    """What the scan pipeline needs from a mailbox (fakes implement this for unit tests)."""

    async def capabilities(self) -> tuple[str, ...]: ...
    async def list_folders(self) -> list[FolderInfo]: ...
    async def select(self, folder: str) -> FolderStatus: ...
    async def examine(self, folder: str) -> FolderStatus: ...
    async def status(self, folder: str, items: Sequence[str]) -> dict[str, int]: ...
    async def search(self, criteria: list[Any]) -> list[int]: ...
    async def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]: ...
    async def fetch_meta(self, uids: Sequence[int]) -> list[MessageMeta]: ...
    async def add_flags(self, uids: Sequence[int], flags: Iterable[bytes]) -> None: ...
    async def move(self, uids: Sequence[int], folder: str) -> None: ...
    async def delete(self, uids: Sequence[int]) -> None: ...
    async def ensure_folder(self, folder: str) -> None: ...
    async def close(self) -> None: ...


def _open_client(s: ImapSettings) -> imapclient.IMAPClient:
    """Connect, secure and log in (runs in the session thread)."""
    ctx = client_context(s.validate_certificate)
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
        # After a failed STARTTLS handshake the socket is already unusable, and closing it
        # raises (e.g. "Bad file descriptor"): that must not replace the real failure.
        _close_quietly(client)
        raise
    _quiet(client._imap)
    return client


def _close_quietly(client: imapclient.IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 — best effort; the caller re-raises the real error
        logger.debug("could not shut down a failed IMAP connection", exc_info=True)


class ImapSession:
    """One logged-in IMAP connection with its own thread. Use `async with await open(...)`."""

    def __init__(
        self, client: imapclient.IMAPClient, executor: ThreadPoolExecutor, settings: ImapSettings
    ) -> None:
        self._client = client
        self._executor = executor
        self._settings = settings
        self._selected: str | None = None
        self._folders: list[FolderInfo] | None = None  # the live list, read once per session

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
                error = classify_error(exc, host=settings.host, port=settings.port)
                count_connection_error(error)
                raise error from exc
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
        self._folders = sorted(
            (from_list_entry(*e) for e in entries), key=lambda f: f.name.casefold()
        )
        return list(self._folders)

    async def special_folder(self, flag: str) -> str | None:
        """The folder the server marks with a special-use flag (`\\Trash`, `\\All`, ...)."""
        folders = self._folders if self._folders is not None else await self.list_folders()
        return next((f.name for f in folders if f.special_use == flag), None)

    async def is_label_store(self) -> bool:
        """Gmail-like: folders are labels over one store of messages (see the module doc)."""
        if await self._has_gmail_extensions():
            return True
        return await self.special_folder("\\All") is not None

    async def _has_gmail_extensions(self) -> bool:
        # In the session thread: imapclient may ask the server for its capabilities.
        return bool(await self._call(self._client.has_capability, "X-GM-EXT-1"))

    async def select(self, folder: str) -> FolderStatus:
        return await self._call(self._select, folder, False)

    async def examine(self, folder: str) -> FolderStatus:
        """Open the folder read-only (IMAP EXAMINE): nothing in it can change, not even
        the \\Recent flags a SELECT clears (dry runs and previews look with this)."""
        return await self._call(self._select, folder, True)

    def _select(self, folder: str, readonly: bool) -> FolderStatus:
        try:
            info = self._client.select_folder(folder, readonly=readonly)
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
                self._folders = None  # re-read on next use
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
        with_msgid = await self._has_gmail_extensions()
        return await self._call(_fetch_raw, self._client._imap, list(uids), with_msgid)

    async def fetch_meta(self, uids: Sequence[int]) -> list[MessageMeta]:
        """Size, arrival time (INTERNALDATE) and flags, without the messages, in UID order."""
        out: list[MessageMeta] = []
        for i in range(0, len(uids), META_CHUNK):
            answer = await self._call(
                self._client.fetch, list(uids[i : i + META_CHUNK]), META_ITEMS
            )
            for uid, data in answer.items():
                if b"INTERNALDATE" not in data:
                    continue  # expunged meanwhile by another client
                # imapclient gives local time without a zone (normalise_times): make it UTC
                arrived: datetime = data[b"INTERNALDATE"].astimezone(UTC)
                size = int(data.get(b"RFC822.SIZE", 0))
                out.append(MessageMeta(int(uid), size, arrived, tuple(data.get(b"FLAGS", ()))))
        return sorted(out, key=lambda m: m.uid)

    async def add_flags(self, uids: Sequence[int], flags: Iterable[bytes]) -> None:
        if uids:
            await self._call(self._client.add_flags, list(uids), list(flags), True)

    async def move(self, uids: Sequence[int], folder: str) -> None:
        """MOVE when the server supports it, else COPY + \\Deleted + UID EXPUNGE. In a label
        store, out of All Mail only COPY (adds the label; expunging there would delete)."""
        if not uids:
            return
        await self.ensure_folder(folder)
        copy_only = await self._in_all_mail()

        def run() -> None:
            if copy_only:
                self._client.copy(list(uids), folder)
            elif self._client.has_capability("MOVE"):
                self._client.move(list(uids), folder)
            else:
                self._client.copy(list(uids), folder)
                self._expunge(list(uids))

        await self._call(run)

    async def delete(self, uids: Sequence[int]) -> None:
        """Flag \\Deleted and expunge exactly these UIDs (never other deleted mail); in a
        label store, move them to the Trash folder (expunging only removes a label there)."""
        if not uids:
            return
        if await self.is_label_store():
            trash = await self.special_folder("\\Trash")
            if trash is None:
                raise ImapProtocolError(
                    "This mailbox keeps messages as labels (like Gmail), where deleting means "
                    "moving to the Trash folder, but the server marks no folder as Trash "
                    "(special-use \\Trash). Show the Trash folder in IMAP (Gmail: Settings, "
                    "Labels, \"Show in IMAP\").",
                    code=ErrorCode.FOLDER_NOT_FOUND,
                )
            if trash != self._selected:
                await self.move(uids, trash)
                return
        await self._call(self._expunge, list(uids))

    async def _in_all_mail(self) -> bool:
        selected = self._selected
        return selected is not None and selected == await self.special_folder("\\All")

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
_GM_MSGID = re.compile(rb"[( ]X-GM-MSGID (\d+)")


def _quiet(imap: imaplib.IMAP4) -> None:
    """Turn off imapclient's imaplib debug hook unless someone listens: at debug level 5
    imaplib formats the repr of every fetched literal (megabytes per batch) even when the
    log record is then dropped."""
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        imap.debug = 0


def _fetch_raw(
    imap: imaplib.IMAP4, uids: list[int], with_msgid: bool = False
) -> list[FetchedMessage]:
    """`UID FETCH uids (BODY.PEEK[] FLAGS)` with imaplib (plus X-GM-MSGID where the server
    has X-GM-EXT-1); runs in the session thread.

    imaplib answers a list where each message is a (b"n (UID u FLAGS (..) BODY[] {size}",
    literal) tuple followed by the rest of its response (b")" or b" FLAGS (..))"); an
    unsolicited FETCH (a flag change by another client) is a bare bytes item."""
    wanted = set(uids)
    items = "(BODY.PEEK[] FLAGS X-GM-MSGID)" if with_msgid else "(BODY.PEEK[] FLAGS)"
    typ, data = imap.uid("FETCH", ",".join(map(str, uids)), items)
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
        msgid = _GM_MSGID.search(head) or _GM_MSGID.search(tail)
        found[uid] = FetchedMessage(
            uid, bytes(item[1]), flags, msgid.group(1).decode() if msgid else None
        )
    return [found[u] for u in sorted(found)]


def since_criteria(day: date) -> list[Any]:
    return ["SINCE", day]
