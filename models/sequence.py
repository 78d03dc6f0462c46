from __future__ import annotations

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model


class Sequence(Model):
    """Named counters for gapless numbers (ticket numbers).

    `next_value` must run inside the caller's transaction: the row lock (FOR UPDATE on
    PostgreSQL; SQLite serializes writers) makes concurrent callers queue, and a rollback of
    the caller also rolls the counter back, so numbers have no gaps and no collisions.
    """

    name = fields.CharField(max_length=50, primary_key=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "ms_sequence"

    @classmethod
    async def next_value(cls, name: str, connection: BaseDBAsyncClient) -> int:
        await cls.get_or_create(name=name, defaults={"value": 0}, using_db=connection)
        row = await cls.select_for_update().using_db(connection).get(name=name)
        row.value += 1
        await row.save(using_db=connection, update_fields=["value"])
        return int(row.value)

    @classmethod
    async def reserve(cls, name: str, connection: BaseDBAsyncClient) -> int:
        """Lock the counter for the caller's transaction and return its current value.

        For allocating many numbers at once: hand out value+1, value+2, ... in memory, then
        `store` the last one in the same transaction (a rollback undoes both: no gaps)."""
        await cls.get_or_create(name=name, defaults={"value": 0}, using_db=connection)
        row = await cls.select_for_update().using_db(connection).get(name=name)
        return int(row.value)

    @classmethod
    async def peek(cls, name: str, connection: BaseDBAsyncClient) -> int:
        """The counter's current value, read without locking or creating it (a dry run
        predicts the next numbers; a real scan may take them first)."""
        row = await cls.filter(name=name).using_db(connection).first()
        return int(row.value) if row is not None else 0

    @classmethod
    async def store(cls, name: str, value: int, connection: BaseDBAsyncClient) -> None:
        """Write the last value handed out after `reserve` (same transaction)."""
        await cls.filter(name=name).using_db(connection).update(value=value)
