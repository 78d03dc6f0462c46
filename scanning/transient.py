"""Which failures of a message's transaction are the database's weather, not the message's.

A deadlock, a serialization failure, a lock or statement timeout, a dropped connection or
SQLite's "database is locked" say nothing about the mail: the same message succeeds when
tried again. Quarantining it for such a failure would keep it out of every later scan with
no ticket made, so the pipeline leaves it unlogged for the next scan instead (see
`process.process_message` and `pipeline._FolderScan._one_by_one`).
"""

from __future__ import annotations

import asyncpg

__all__ = ["LoggedElsewhere", "is_transient"]

_TRANSIENT_PG = (
    asyncpg.exceptions.TransactionRollbackError,  # deadlock detected, serialization failure
    asyncpg.exceptions.LockNotAvailableError,  # lock_timeout
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout, a cancel request
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,  # connection closed or busy
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    # A connection the server terminated mid-statement (a restart, a failover) can reach the
    # next BEGIN with its protocol still "in another operation": "cannot switch to state
    # 15; another operation (2) is in progress". Seen by the fault-injection suite, where it
    # quarantined a mail that was fine (no ticket ever).
    asyncpg.exceptions.InternalClientError,
)
_TRANSIENT_SQLITE = ("database is locked", "database table is locked", "database is busy")


class LoggedElsewhere(Exception):
    """The message's log row was written meanwhile by another scan: it is done, not failed."""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes, and exceptions wrapped as the first argument (Tortoise
    wraps driver errors as `OperationalError(driver_error)`). Not `__context__`: an error
    raised while handling a transient one is a failure of its own."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is seen for seen in out):
            continue
        out.append(e)
        wrapped = e.args[0] if e.args and isinstance(e.args[0], BaseException) else None
        todo.extend((e.__cause__, wrapped))
    return out


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) is a failure that trying again later can cure."""
    for e in _chain(exc):
        if isinstance(e, (*_TRANSIENT_PG, ConnectionError, TimeoutError)):
            return True
        if type(e).__name__ == "OperationalError" and any(
            s in str(e).casefold() for s in _TRANSIENT_SQLITE
        ):
            return True
    return False
