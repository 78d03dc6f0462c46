from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from mailscanner.db import analyze_if_never_analyzed, close_db, init_db, run_migrations
from mailscanner.models import Contact, Scanner, Ticket
from mailscanner.settings import Settings, load_settings

from .conftest import PG_ADMIN_DSN


async def test_ticket_numbers_are_gapless_and_unique_under_concurrency(db: Settings) -> None:
    async def create(i: int) -> str:
        async with in_transaction() as conn:
            number = await Ticket.allocate_number("TT", conn)
            await Ticket.create(number=number, title=f"t{i}", using_db=conn)
            return number

    numbers = await asyncio.gather(*(create(i) for i in range(20)))
    assert sorted(numbers, key=lambda n: int(n[2:])) == [f"TT{i}" for i in range(1, 21)]


async def test_a_rolled_back_ticket_does_not_consume_a_number(db: Settings) -> None:
    try:
        async with in_transaction() as conn:
            await Ticket.allocate_number("TT", conn)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with in_transaction() as conn:
        assert await Ticket.allocate_number("TT", conn) == "TT1"


async def test_contact_email_is_unique_case_insensitively(db: Settings) -> None:
    await Contact.create(name="A", email="Alice@Example.com")
    from tortoise.exceptions import IntegrityError
    with pytest.raises(IntegrityError):
        await Contact.create(name="B", email="alice@example.COM")


async def test_scanner_password_is_encrypted_at_rest(db: Settings) -> None:
    s = Scanner(name="s", host="h", username="u")
    s.set_password("hunter2-secret")
    await s.save()
    row = await Scanner.get(id=s.id)
    assert "hunter2" not in (row.password_encrypted or "")
    assert row.get_password() == "hunter2-secret"


def test_no_table_or_column_comment_contains_a_semicolon() -> None:
    # Tortoise's SQLite schema editor splits DDL on ";" (comments included), so a semicolon
    # in a model docstring or field description breaks `mailscanner migrate` on SQLite.
    from tortoise.models import Model

    import mailscanner.models as m
    models = [v for v in vars(m).values() if isinstance(v, type) and issubclass(v, Model)]
    for model in models:
        doc = (model.__doc__ or "").strip().split("\n")[0]
        assert ";" not in doc, model
        for name, field in model._meta.fields_map.items():
            assert ";" not in (field.description or ""), f"{model.__name__}.{name}"


@pytest.fixture
async def new_postgres_db() -> AsyncIterator[str]:
    """A new PostgreSQL database built by the migrations, whichever database the run uses:
    what a first install gets (compression settings, no planner statistics yet)."""
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    name = f"mailscanner_new_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await run_migrations(f"{base}/{name}")
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_ticket_text_is_compressed_with_lz4_on_postgresql(new_postgres_db: str) -> None:
    # (SQLite does not compress; the migration does nothing there.)
    conn = await asyncpg.connect(new_postgres_db)
    try:
        await conn.execute(
            "INSERT INTO ms_ticket (number, title, description, status, priority,"
            " created_at, updated_at) VALUES ('TT1', 't', $1, 'open', 'normal', now(), now())",
            "a support mail, quoted again and again. " * 2000,
        )
        method = await conn.fetchval("SELECT pg_column_compression(description) FROM ms_ticket")
    finally:
        await conn.close()
    assert method == "lz4"


async def test_tables_without_statistics_are_analyzed_once(
    new_postgres_db: str, tmp_path: Path
) -> None:
    # A first scan into a new database: the planner has no statistics yet.
    env = {"DATABASE_URL": new_postgres_db, "MAILSCANNER_DATA_DIR": str(tmp_path)}
    await init_db(load_settings({**env, "MAILSCANNER_SECRET_KEY": "k" * 20}))
    try:
        await Contact.create(name="A", email="a@example.com")
        tables = ["ms_contact", "ms_ticket"]
        assert await analyze_if_never_analyzed(tables) == ["ms_contact"]  # ticket: empty
        assert await analyze_if_never_analyzed(tables) == []  # analyzed now
    finally:
        await close_db()


async def test_a_transaction_cancelled_while_it_starts_leaves_sqlite_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite whichever database the run uses: the embedded default (sqlite_fix.py).
    from tortoise.backends.sqlite.client import SqliteTransactionWrapper

    url = f"sqlite://{tmp_path / 'db.sqlite3'}"
    env = {"DATABASE_URL": url, "MAILSCANNER_DATA_DIR": str(tmp_path)}
    await init_db(load_settings({**env, "MAILSCANNER_SECRET_KEY": "k" * 20}), generate=True)
    try:
        # given: a transaction whose task is cancelled after BEGIN reached SQLite, before
        # `async with in_transaction()` had entered (a scan stopped at shutdown)
        begin, started = SqliteTransactionWrapper.begin, asyncio.Event()

        async def slow_begin(self: SqliteTransactionWrapper) -> None:
            await begin(self)
            started.set()
            await asyncio.sleep(30)

        monkeypatch.setattr(SqliteTransactionWrapper, "begin", slow_begin)

        async def write() -> None:
            async with in_transaction() as conn:
                await Contact.create(name="lost", email="lost@x.test", using_db=conn)

        task = asyncio.ensure_future(write())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        monkeypatch.undo()

        # then: the database answers, in and out of transactions, and nothing half-done stays
        async def write_again() -> None:
            async with in_transaction() as conn:
                await Contact.create(name="b", email="b@x.test", using_db=conn)

        await asyncio.wait_for(Contact.create(name="a", email="a@x.test"), 5)
        await asyncio.wait_for(write_again(), 5)
        names = cast("list[str]", await Contact.all().values_list("name", flat=True))
        assert sorted(names) == ["a", "b"]
    finally:
        await close_db()


async def test_a_dead_connection_the_pool_cannot_take_back_leaves_the_task_able_to_query(
    new_postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL whichever database the run uses (postgres_fix.py). When the server has
    # terminated a connection mid-operation, asyncpg's pool cannot reset it on release: it
    # closes it and raises. The seam is that release: it gives the connection back, then
    # raises as asyncpg does (the real race needs a termination landing mid-statement; the
    # fault-injection suite meets it now and then).
    from asyncpg.exceptions import InternalClientError
    from asyncpg.pool import Pool

    env = {"DATABASE_URL": new_postgres_db, "MAILSCANNER_DATA_DIR": str(tmp_path)}
    await init_db(load_settings({**env, "MAILSCANNER_SECRET_KEY": "k" * 20}))
    try:
        release = Pool.release
        failures = [2, 1]  # the transaction's release, then a single statement's

        async def release_then_fail(self: Pool, connection: object, **kwargs: object) -> None:
            await release(self, connection, **kwargs)
            if failures:
                failures.pop()
                raise InternalClientError("cannot switch to state 12; another operation (2) "
                                          "is in progress")

        monkeypatch.setattr(Pool, "release", release_then_fail)
        # when a transaction commits and its connection cannot be taken back
        async with in_transaction() as conn:
            await Contact.create(name="a", email="a@x.test", using_db=conn)
        # and then a statement's connection cannot be taken back either
        await Contact.create(name="b", email="b@x.test")
        # then both were done, and the task goes on querying, in and out of transactions
        assert not failures
        async with in_transaction() as conn:
            await Contact.create(name="c", email="c@x.test", using_db=conn)
        names = cast("list[str]", await Contact.all().values_list("name", flat=True))
        assert sorted(names) == ["a", "b", "c"]
    finally:
        monkeypatch.undo()
        await close_db()


async def test_a_transaction_whose_begin_fails_leaves_the_task_able_to_query(
    new_postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL whichever database the run uses (postgres_fix.py). A connection the server
    # terminated mid-statement can fail the next BEGIN; the seam is that BEGIN.
    from asyncpg.exceptions import InternalClientError
    from tortoise.backends.asyncpg.client import TransactionWrapper

    env = {"DATABASE_URL": new_postgres_db, "MAILSCANNER_DATA_DIR": str(tmp_path)}
    await init_db(load_settings({**env, "MAILSCANNER_SECRET_KEY": "k" * 20}))
    try:
        begin = TransactionWrapper.begin

        async def dead_begin(self: TransactionWrapper) -> None:
            raise InternalClientError("cannot switch to state 15; another operation (2) is "
                                      "in progress")

        monkeypatch.setattr(TransactionWrapper, "begin", dead_begin)
        # when a transaction cannot even begin, several times (more than the pool holds)
        for _ in range(12):
            with pytest.raises(InternalClientError):
                async with in_transaction() as conn:
                    await Contact.create(name="never", email="never@x.test", using_db=conn)
        monkeypatch.setattr(TransactionWrapper, "begin", begin)
        # then the task goes on querying, in and out of transactions (no connection is kept)
        await asyncio.wait_for(Contact.create(name="a", email="a@x.test"), 5)
        async with in_transaction() as conn:
            await Contact.create(name="b", email="b@x.test", using_db=conn)
        names = cast("list[str]", await Contact.all().values_list("name", flat=True))
        assert sorted(names) == ["a", "b"]
    finally:
        monkeypatch.undo()
        await close_db()
