"""A fix for Tortoise's SQLite transactions, applied by `db.init_db`.

Tortoise 1.1.9 (tortoise-orm issue #1757): `SqliteTransactionContext.__aenter__` takes the
connection's lock, then awaits BEGIN. A task cancelled in between (a scan stopped at
shutdown, a request cancelled) leaves the lock taken, and BEGIN possibly executed, because
`__aexit__` never runs for a failed `__aenter__`: every later query on the database then
waits forever. SQLite is the embedded default, so this entry undoes what it did when it
fails: it leaves the transaction (a no-op when BEGIN did not run) and releases the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tortoise.backends.sqlite.client import SqliteTransactionContext
from tortoise.connection import get_connections

__all__ = ["install"]

logger = logging.getLogger(__name__)


async def _aenter(self: Any) -> Any:
    await self._trxlock.acquire()
    token = None
    try:
        await self.ensure_connection()
        token = get_connections().set(self.connection_name, self.connection)
        await self.connection.begin()
    except BaseException:
        if token is not None:
            get_connections().reset(token)
        raw = self.connection._connection
        if raw is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(raw.rollback())
        self._trxlock.release()
        raise
    self.token = token
    return self.connection


def install() -> None:
    """Replace the entry of SQLite transactions (once; only on the Tortoise it was written
    for: where its internals differ, the original stays and a warning says so)."""
    current = SqliteTransactionContext.__aenter__
    if current is _aenter:
        return
    slots = getattr(SqliteTransactionContext, "__slots__", ())
    if not {"_trxlock", "connection_name", "token"} <= set(slots) or not hasattr(
        SqliteTransactionContext, "ensure_connection"
    ):
        logger.warning("Tortoise's SQLite transactions changed; cancellation fix not applied")
        return
    SqliteTransactionContext.__aenter__ = _aenter  # type: ignore[method-assign]
