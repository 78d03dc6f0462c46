"""Helpers shared by resolvers: ids, pagination over querysets, public errors."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from tortoise.models import Model
from tortoise.queryset import QuerySet

from ..http_errors import excerpt
from ..schema.errors import ErrorCode, InputErrors, NotFoundError
from ..schema.errors import PublicError as PublicError  # raised by resolvers, shown to clients
from ..schema.pagination import MAX_PAGE, Connection, Edge, PageInfo, decode_cursor, encode_cursor

T = TypeVar("T")
M = TypeVar("M", bound=Model)


# Ids are IntField primary keys: 32-bit on PostgreSQL, so a larger number names no row on
# either database (and would be a database error on PostgreSQL above 2^31, on SQLite above
# 2^63). Such an id is "not found", the same on both, and never reaches a query.
MAX_ID = 2**31 - 1
NO_ROW = 0  # an id no row has (ids start at 1): filtering on it matches nothing


def _id_number(value: object) -> int | None:
    """The id as a positive integer, NO_ROW if it is a number out of range, None if not an id."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        return NO_ROW if text.isascii() and text.isdigit() else None
    number = int(text)
    if number <= 0:
        return None
    return number if number <= MAX_ID else NO_ROW


def parse_id(value: str | int | None, field: str, errors: InputErrors | None = None) -> int | None:
    """Our ids are integers; a malformed one is an input error naming the field.

    A well-formed id out of the database's range names nothing: with `errors` that is a
    NOT_FOUND error on the field; without (lookups, filters) it is NO_ROW, which matches
    no row."""
    if value is None:
        return None
    number = _id_number(value)
    if number == NO_ROW and errors is not None:
        errors.add(field, ErrorCode.NOT_FOUND, f"No object with id {excerpt(str(value))}")
        return None
    if number is None:
        shown = excerpt(repr(value))
        if errors is None:
            raise PublicError(f"{field}: {shown} is not a valid id")
        errors.add(field, ErrorCode.INVALID_ID, f"{shown} is not a valid id")
    return number


def not_found(kind: str, id_: object) -> NotFoundError:
    shown = excerpt(str(id_))
    return NotFoundError(message=f"{kind} {shown} not found", id=strawberry.ID(shown))


async def get_or_none(model: type[M], id_: object) -> M | None:
    number = _id_number(id_)
    if not number:  # malformed or out of range: no such row
        return None
    return await model.filter(id=number).first()


async def paginate(qs: QuerySet[M], first: int | None, after: str | None,
                   convert: Callable[[M], T]) -> Connection[T]:
    size = MAX_PAGE if first is None else first
    if size < 0 or size > MAX_PAGE:
        raise PublicError(f"first must be between 0 and {MAX_PAGE}")
    try:
        after_offset = decode_cursor(after)
    except ValueError as exc:
        raise PublicError(str(exc)) from None
    start = 0 if after_offset is None else after_offset + 1
    total = await qs.count()
    rows = await qs.offset(start).limit(size) if size else []
    edges = [Edge(cursor=encode_cursor(start + i), node=convert(r)) for i, r in enumerate(rows)]
    return Connection(
        edges=edges, total_count=total,
        page_info=PageInfo(
            has_next_page=start + len(rows) < total, has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None))


def is_public(error: Any) -> bool:
    return isinstance(error, PublicError)
