"""Open WebSocket sessions by API token: a session ends as soon as its token stops being good.

A subscription is authenticated once, at `connection_init`; after that the socket stays
open for hours. So each session is registered here with its token, and one watcher task per
process ends the sessions whose token was revoked or expired:

1. Revocation event: `revokeApiToken` and `mailscanner token revoke` publish
   `{"kind": "token_revoked"}` on `events.AUTH_CHANNEL`; with REDIS_URL that travels through
   Redis pub/sub, so the sessions of every API process end within moments.
2. Periodic re-check, every `recheck_seconds`: one query for all tokens held by open
   sessions (revoked, deleted, user deactivated), plus each session's own expiry time. It
   catches what no event announced: a revocation from a CLI run without Redis, an expiry, a
   lost pub/sub message.

Ending a session stops its operations first, then closes the socket with code 4401 and a
reason a person can read ("API token revoked"), as graphql-transport-ws clients expect for
"credentials no longer accepted". The watcher runs only while sessions are open; a failed
re-check (a database blip) is logged and tried again at the next round.

`SessionHandler` is the view's graphql-transport-ws handler: it registers each acknowledged
session here and closes the socket (4400) on a malformed message, where strawberry's own
handler would fail with a traceback.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
)

from . import events
from .ops import metrics

logger = logging.getLogger(__name__)
CLOSE_CODE = 4401
RECHECK_SECONDS = 2.0


# Every open graphql-transport-ws session of this process; the metrics count their running
# subscriptions at scrape time (a gauge that is never incremented cannot drift).
_LIVE: weakref.WeakSet[SessionHandler] = weakref.WeakSet()


def open_subscriptions() -> int:
    return sum(len(session.operations) for session in list(_LIVE))


metrics.SUBSCRIPTIONS.set_function(open_subscriptions)


class Session(Protocol):
    async def end(self, code: int, reason: str) -> None: ...


class SessionHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """graphql-transport-ws whose sessions are registered here, and whose malformed messages
    close the socket with 4400 instead of failing in strawberry (it only expects KeyError)."""

    async def handle(self) -> None:
        _LIVE.add(self)
        try:
            await super().handle()
        finally:
            _LIVE.discard(self)
            _registry(self.view).discard(self)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None:
            _registry(self.view).add(self, principal.token_id, principal.expires_at)

    async def handle_message(self, message: Any) -> None:
        # strawberry expects {"type": ..., "payload": {...}} and only catches KeyError.
        if not isinstance(message, dict) or not isinstance(message.get("payload", {}), dict):
            await self.handle_invalid_message("WebSocket message must be a JSON object")
            return
        try:
            await super().handle_message(cast("Message", message))
        except (TypeError, AttributeError):
            await self.handle_invalid_message("Failed to parse message")

    async def handle_subscribe(self, message: Any) -> None:
        payload = message.get("payload") or {}
        if not (isinstance(message.get("id"), str) and isinstance(payload.get("query"), str)
                and isinstance(payload.get("variables") or {}, dict)
                and isinstance(payload.get("operationName") or "", str)):
            await self.handle_invalid_message("Invalid subscribe message")
            return
        await super().handle_subscribe(message)

    async def end(self, code: int, reason: str) -> None:
        """Stop every operation, then close (called by the registry when the token dies)."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(Exception):  # already closed by the client
            await self.websocket.close(code=code, reason=reason)

    @staticmethod
    def _get_pre_execution_close_reason(error: Any) -> str | None:
        # A close reason may carry at most 123 bytes; syntax errors can be longer.
        reason = BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)
        return None if reason is None else reason.encode()[:120].decode(errors="ignore")


def _registry(view: object) -> SessionRegistry:
    registry = getattr(view, "sessions", None)
    assert isinstance(registry, SessionRegistry), "the view must have a SessionRegistry"
    return registry


class SessionRegistry:
    def __init__(self, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.recheck_seconds = recheck_seconds
        self._sessions: dict[Session, tuple[int, datetime | None]] = {}
        self._watcher: asyncio.Task[None] | None = None

    def add(self, session: Session, token_id: int, expires_at: datetime | None) -> None:
        self._sessions[session] = (token_id, expires_at)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="ws session watcher")

    def discard(self, session: Session) -> None:
        self._sessions.pop(session, None)

    def __len__(self) -> int:
        return len(self._sessions)

    async def _watch(self) -> None:
        stream: AsyncIterator[dict[str, Any]] = events.subscribe(events.AUTH_CHANNEL)
        pending: asyncio.Future[dict[str, Any]] = asyncio.ensure_future(stream.__anext__())
        try:
            while self._sessions:
                done, _ = await asyncio.wait({pending}, timeout=self.recheck_seconds)
                if done:
                    event = pending.result()
                    pending = asyncio.ensure_future(stream.__anext__())
                    if event.get("kind") == "token_revoked":
                        await self._end_token(int(event.get("token_id", 0)), "API token revoked")
                try:
                    await self._recheck()
                except Exception:  # noqa: BLE001 — a database blip: try again next round
                    logger.warning("ws sessions: token re-check failed", exc_info=True)
        except Exception:  # noqa: BLE001 — the events stream broke; the next add() restarts
            logger.warning("ws session watcher stopped", exc_info=True)
        finally:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
            await stream.aclose()  # type: ignore[attr-defined]

    async def _recheck(self) -> None:
        from .models import ApiToken

        now = datetime.now(UTC)
        for session, (_, expires_at) in list(self._sessions.items()):
            if expires_at is not None and expires_at <= now:
                await self._end(session, "API token expired")
        ids = {token_id for token_id, _ in self._sessions.values()}
        if not ids:
            return
        good = await ApiToken.filter(id__in=ids, revoked=False, user__active=True).values_list(
            "id", flat=True)
        for token_id in ids - set(good):
            await self._end_token(token_id, "API token revoked")

    async def _end_token(self, token_id: int, reason: str) -> None:
        for session, (held, _) in list(self._sessions.items()):
            if held == token_id:
                await self._end(session, reason)

    async def _end(self, session: Session, reason: str) -> None:
        if self._sessions.pop(session, None) is None:
            return
        logger.info("closing a WebSocket session: %s", reason)
        try:
            await session.end(CLOSE_CODE, reason)
        except Exception:  # noqa: BLE001 — the client may be gone already
            logger.debug("ending a WebSocket session failed", exc_info=True)
