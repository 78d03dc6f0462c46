"""Which failures of a message's transaction leave the mail for the next scan (transient)
rather than quarantine it: the database's weather is never the mail's fault."""

from __future__ import annotations

import asyncpg
from tortoise.exceptions import IntegrityError, OperationalError

from mailscanner.scanning.transient import is_transient

# What asyncpg raises on BEGIN over a connection the server terminated mid-statement.
DEAD_CONNECTION = asyncpg.exceptions.InternalClientError(
    "cannot switch to state 15; another operation (2) is in progress"
)


def test_a_connection_the_server_terminated_mid_statement_is_transient() -> None:
    assert is_transient(DEAD_CONNECTION)
    assert is_transient(OperationalError(DEAD_CONNECTION))  # as Tortoise wraps driver errors


def test_dropped_connections_deadlocks_and_a_locked_sqlite_are_transient() -> None:
    assert is_transient(asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation"))
    assert is_transient(asyncpg.exceptions.InterfaceError("connection is closed"))
    assert is_transient(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))
    assert is_transient(OperationalError("database is locked"))


def test_a_failure_of_the_mail_itself_is_not_transient() -> None:
    assert not is_transient(ValueError("bad header"))
    assert not is_transient(IntegrityError("duplicate key value violates unique constraint"))
    # raised while handling a transient failure, it is a failure of its own
    try:
        try:
            raise DEAD_CONNECTION
        except asyncpg.exceptions.InternalClientError:
            raise ValueError("bad header") from None
    except ValueError as exc:
        assert not is_transient(exc)
