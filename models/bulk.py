"""Multi-row INSERT ... RETURNING, for the scanner's batch writes (PostgreSQL and SQLite).

Tortoise's `bulk_create` executes its INSERT once per row (on asyncpg: one Bind/Execute and
socket write per row) and gives no ids back, so the scanner read them back with a second
query per table and batch; with model instances built for every row, that was about a third
of a 10,000-mail scan's time (bench/scan_throughput.py). Here one statement inserts up to a
few hundred rows from plain values and returns the asked-for columns. Values are converted
by the same `Field.to_db_value` Tortoise uses; defaults are filled the way `Model()` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tortoise import timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import DatetimeField
from tortoise.models import Model

__all__ = ["insert_models", "insert_rows"]

MAX_PARAMS = 30_000  # PostgreSQL takes 32,767 parameters per statement, SQLite 32,766


def _columns(model: type[Model]) -> list[str]:
    meta = model._meta
    return [name for name in meta.fields_db_projection if not meta.fields_map[name].generated]


def _default(model: type[Model], name: str, now: Any) -> Any:
    field = model._meta.fields_map[name]
    if isinstance(field, DatetimeField) and (field.auto_now or field.auto_now_add):
        return now
    default = field.default
    return default() if callable(default) else default


async def insert_rows(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    conn: BaseDBAsyncClient,
    returning: Sequence[str] = (),
    *,
    now: Any = None,
) -> list[dict[str, Any]]:
    """Insert `rows` (field name -> Python value, foreign keys as `<name>_id`; missing fields
    get their defaults, `auto_now(_add)` fields the current time) and return the
    `returning` columns of every inserted row. The returned rows are in no promised order
    (SQLite documents none): match them to `rows` by a unique key."""
    if not rows:
        return []
    meta = model._meta
    columns = _columns(model)
    unknown = {key for row in rows for key in row} - set(columns)
    if unknown:
        raise ValueError(f"{model.__name__} has no insertable field(s) {sorted(unknown)}")
    fields = [meta.fields_map[name] for name in columns]
    now = now or timezone.now()
    defaults = {name: _default(model, name, now) for name in columns}
    postgres = conn.capabilities.dialect == "postgres"
    names = ", ".join(f'"{meta.fields_db_projection[name]}"' for name in columns)
    tail = " RETURNING " + ", ".join(f'"{c}"' for c in returning) if returning else ""
    per_statement = max(1, MAX_PARAMS // len(columns))
    out: list[dict[str, Any]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params: list[Any] = []
        groups = []
        for row in chunk:
            first = len(params)
            for name, field in zip(columns, fields, strict=True):
                value = row.get(name)
                if value is None and (name not in row or defaults[name] is now):
                    value = defaults[name]  # absent, or an unset auto_now(_add) time
                params.append(field.to_db_value(value, None))  # type: ignore[arg-type]
            if postgres:
                groups.append("(" + ", ".join(f"${i + 1}" for i in range(first, len(params))) + ")")
            else:
                groups.append("(" + ", ".join("?" * len(columns)) + ")")
        sql = f'INSERT INTO "{meta.db_table}" ({names}) VALUES {", ".join(groups)}{tail}'
        if returning:
            out.extend(await conn.execute_query_dict(sql, params))
        else:
            await conn.execute_query(sql, params)
    return out


async def insert_models(
    instances: Sequence[Model], conn: BaseDBAsyncClient, key: str
) -> None:
    """Insert unsaved model `instances` (all of one model) and give each its id, matched by
    the unique field `key`; afterwards they are saved rows, as after `instance.save()`."""
    if not instances:
        return
    model = type(instances[0])
    columns = _columns(model)
    rows = [{name: getattr(obj, name) for name in columns} for obj in instances]
    now = timezone.now()
    inserted = await insert_rows(model, rows, conn, returning=("id", key), now=now)
    ids = {row[key]: row["id"] for row in inserted}
    for obj in instances:
        obj.pk = ids[getattr(obj, key)]
        obj._saved_in_db = True  # a later save() UPDATEs it instead of inserting again
        for name in columns:
            if getattr(obj, name, None) is None and _default(model, name, now) is now:
                setattr(obj, name, now)
