"""Multi-row INSERT ... RETURNING, for the scanner's batch writes (PostgreSQL and SQLite).

Tortoise's `bulk_create` executes its INSERT once per row (on asyncpg: one Bind/Execute and
socket write per row) and gives no ids back, so the scanner read them back with a second
query per table and batch; with model instances built for every row, that was about a third
of a 10,000-mail scan's time (bench/scan_throughput.py). Here one statement inserts all the
rows from plain values and returns the asked-for columns: on PostgreSQL from one array per
column (`unnest`), elsewhere as a multi-row VALUES list. Values are converted by the same
`Field.to_db_value` Tortoise uses; defaults are filled the way `Model()` does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from tortoise import timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import (
    BigIntField,
    BinaryField,
    CharField,
    DatetimeField,
    Field,
    IntField,
    JSONField,
    TextField,
)
from tortoise.fields.data import CharEnumFieldInstance
from tortoise.models import Model

__all__ = ["insert_models", "insert_rows", "new_row"]

M = TypeVar("M", bound=Model)

MAX_PARAMS = 30_000  # parameters per statement: SQLite takes 32,766
_PLAIN = (CharField, TextField, IntField, BigIntField, BinaryField)
_IMMUTABLE = (type(None), int, float, str, bool, bytes, Enum)


def _columns(model: type[Model]) -> list[str]:
    meta = model._meta
    return [name for name in meta.fields_db_projection if not meta.fields_map[name].generated]


def new_row(model: type[M], **values: Any) -> M:
    """An unsaved instance, as `model(**values)` makes it, several times faster (Model's
    constructor converts and checks every field through attribute hooks; the scanner builds
    thousands of tickets and contacts per batch). For column values of the right type only:
    anything else (a related object, say) takes the normal constructor."""
    meta = model._meta
    columns = meta.fields_db_projection
    if not values.keys() <= columns.keys():
        return model(**values)
    obj = model.__new__(model)
    put = object.__setattr__  # what Model._init_from_db does, for an unsaved row
    put(obj, "_partial", False)
    put(obj, "_saved_in_db", False)
    put(obj, "_custom_generated_pk", False)
    put(obj, "_await_when_save", {})
    for name in columns:
        if name in values:
            put(obj, name, values[name])
            continue
        put(obj, name, _fresh(meta.fields_map[name].default))
    return obj


def _fresh(default: Any) -> Any:
    """A field default as Model() gives it: called, or copied when it is mutable."""
    if callable(default):
        return default()
    return default if isinstance(default, _IMMUTABLE) else copy.deepcopy(default)


def _converter(field: Field[Any]) -> Callable[[Any], Any]:
    """`field.to_db_value`, short-cut for the values most columns hold: a str within its
    max_length, an int, bytes, an enum member, an aware datetime, a list or dict for JSON
    (to_db_value would only check or dump them)."""
    convert = field.to_db_value

    def checked(value: Any) -> Any:
        return convert(value, None)  # type: ignore[arg-type]

    if isinstance(field, CharEnumFieldInstance):
        members = field.enum_type
        return lambda value: value.value if type(value) is members else checked(value)
    if isinstance(field, DatetimeField):
        return lambda value: value if type(value) is datetime and value.tzinfo else checked(value)
    if isinstance(field, JSONField):
        dumps = field.encoder
        return lambda value: dumps(value) if type(value) in (list, dict) else checked(value)
    if type(field) not in _PLAIN:
        return checked
    kind = field.field_type
    limit = getattr(field, "max_length", None) or 1 << 62

    def plain(value: Any) -> Any:
        if value is None or type(value) is kind and (kind is not str or len(value) <= limit):
            return value
        return checked(value)  # coerces, or raises naming why

    return plain


def _default(model: type[Model], name: str, now: Any) -> Any:
    field = model._meta.fields_map[name]
    if isinstance(field, DatetimeField) and (field.auto_now or field.auto_now_add):
        return now
    return _fresh(field.default)


def _array_type(field: Field[Any]) -> str:
    """The PostgreSQL array type a column's values travel in, e.g. VARCHAR(998) -> varchar[]."""
    return str(field.get_for_dialect("postgres", "SQL_TYPE")).split("(")[0].lower() + "[]"


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
    converters = [_converter(meta.fields_map[name]) for name in columns]
    now = now or timezone.now()
    defaults = [_default(model, name, now) for name in columns]
    values = [
        [
            convert(
                default  # absent, or an unset auto_now(_add) time
                if (value := row.get(name)) is None and (name not in row or default is now)
                else value
            )
            for name, convert, default in zip(columns, converters, defaults, strict=True)
        ]
        for row in rows
    ]
    names = ", ".join(f'"{meta.fields_db_projection[name]}"' for name in columns)
    head = f'INSERT INTO "{meta.db_table}" ({names}) '
    tail = " RETURNING " + ", ".join(f'"{c}"' for c in returning) if returning else ""
    if conn.capabilities.dialect == "postgres":
        # One array per column: the statement text (and its prepared plan) is the same for
        # any number of rows, and asyncpg encodes the arrays in C.
        arrays = ", ".join(
            f"${i + 1}::{_array_type(meta.fields_map[name])}" for i, name in enumerate(columns)
        )
        sql = f"{head}SELECT * FROM unnest({arrays}){tail}"
        params: list[Any] = [list(column) for column in zip(*values, strict=True)]
        return await _run(conn, sql, params, returning)
    out: list[dict[str, Any]] = []
    group = "(" + ", ".join("?" * len(columns)) + ")"
    per_statement = max(1, MAX_PARAMS // len(columns))
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        sql = f"{head}VALUES {', '.join([group] * len(chunk))}{tail}"
        out.extend(await _run(conn, sql, [v for row in chunk for v in row], returning))
    return out


async def _run(
    conn: BaseDBAsyncClient, sql: str, params: list[Any], returning: Sequence[str]
) -> list[dict[str, Any]]:
    if returning:
        return await conn.execute_query_dict(sql, params)
    await conn.execute_query(sql, params)
    return []


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
