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
"credentials no longer accepted". The watcher runs only while sessions are open.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

from . import events

logger = logging.getLogger(__name__)
CLOSE_CODE = 4401
RECHECK_SECONDS = 2.0


class Session(Protocol):
    async def end(self, code: int, reason: str) -> None: ...


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
                await self._recheck()
        except Exception:  # noqa: BLE001 — the next add() starts a new watcher
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
