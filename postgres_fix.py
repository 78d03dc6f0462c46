"""A fix for Tortoise's pooled (PostgreSQL) connections, applied by `db.init_db`.

Tortoise 1.1.9 hands a connection back to asyncpg's pool at the end of a transaction
(`TransactionContextPooled.__aexit__`) and of a single statement
(`PoolConnectionWrapper.__aexit__`). When the server has terminated that connection (a
PostgreSQL restart or failover, `pg_terminate_backend`) at the wrong moment, asyncpg's
`release()` cannot reset it: it closes it and raises (`InternalClientError: cannot switch to
state 12; another operation (2) is in progress`). Two things then went wrong:

1. the transaction's exit skipped resetting the task's connection context, so every later
   query of that task ran on the released connection and failed ("connection has been
   released back to the pool"): a scan left all its remaining mail for later, could not
   record its own end, and its run stayed RUNNING;
2. a statement or a transaction that had completed was reported as failed.

By then the pool has dropped the connection and the work's outcome is known (committed,
rolled back, or failed with its own error), so a failing release is logged, nothing more,
and the context is always reset.

The same connection can also fail the next BEGIN (`TransactionContextPooled.__aenter__`):
Tortoise had already made it the task's connection and does not undo that, nor give the
connection back, when BEGIN raises (as for SQLite, see sqlite_fix.py), so the task's later
queries failed on it ("connection is closed"). Here a failed BEGIN undoes both.
Found by tests/integration/test_fault_injection.py (PostgreSQL connections dropped).
"""

from __future__ import annotations

import logging
from typing import Any

from tortoise.backends.base.client import PoolConnectionWrapper, TransactionContextPooled
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

__all__ = ["install"]

logger = logging.getLogger(__name__)


async def _release(pool: Any, connection: Any) -> None:
    try:
        await pool.release(connection)
    except Exception:  # noqa: BLE001 — the pool has closed it; see the module docstring
        logger.warning("a dead database connection was dropped from the pool", exc_info=True)


async def _transaction_enter(self: Any) -> Any:
    await self.ensure_connection()
    self.client._connection = await self.client._parent._pool.acquire()
    token = get_connections().set(self.connection_name, self.client)
    try:
        await self.client.begin()
    except BaseException:
        get_connections().reset(token)
        await _release(self.client._parent._pool, self.client._connection)
        raise
    self.token = token
    return self.client


async def _transaction_exit(self: Any, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
    # Tortoise's own steps, with the release guarded and the context reset in any case.
    try:
        if not self.client._finalized:
            if exc_type:
                # Can't rollback a transaction that already failed.
                if exc_type is not TransactionManagementError:
                    await self.client.rollback()
            else:
                await self.client.commit()
    finally:
        try:
            if self.client._parent._pool:
                await _release(self.client._parent._pool, self.client._connection)
        finally:
            get_connections().reset(self.token)


async def _statement_exit(self: Any, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
    await _release(self.client._pool, self.connection)


def install() -> None:
    """Replace the entry and exits (once; only on the Tortoise they were written for: where
    its internals differ, the originals stay and a warning says so)."""
    if TransactionContextPooled.__aexit__ is _transaction_exit:
        return
    needed = {"client", "token", "connection_name"}
    if not needed <= set(getattr(TransactionContextPooled, "__slots__", ())) or not {
        "client",
        "connection",
    } <= set(getattr(PoolConnectionWrapper, "__slots__", ())):
        logger.warning("Tortoise's pooled connections changed; dead-connection fix not applied")
        return
    TransactionContextPooled.__aenter__ = _transaction_enter  # type: ignore[method-assign]
    TransactionContextPooled.__aexit__ = _transaction_exit  # type: ignore[method-assign]
    PoolConnectionWrapper.__aexit__ = _statement_exit  # type: ignore[method-assign]
