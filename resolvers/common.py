"""Helpers shared by resolvers: ids, pagination over querysets, public errors."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from tortoise.models import Model
from tortoise.queryset import QuerySet

from ..schema.errors import ErrorCode, InputErrors, NotFoundError
from ..schema.pagination import MAX_PAGE, Connection, Edge, PageInfo, decode_cursor, encode_cursor

T = TypeVar("T")
M = TypeVar("M", bound=Model)


class PublicError(Exception):
    """An error whose message is safe to show (bad cursor, bad id in a query); others are masked."""


def parse_id(value: str | int | None, field: str, errors: InputErrors | None = None) -> int | None:
    """Our ids are integers; a malformed one is an input error naming the field."""
    if value is None:
        return None
    try:
        number = int(value)
        if number <= 0:
            raise ValueError
        return number
    except (TypeError, ValueError):
        if errors is None:
            raise PublicError(f"{field}: {value!r} is not a valid id") from None
        errors.add(field, ErrorCode.INVALID_ID, f"{value!r} is not a valid id")
        return None


def not_found(kind: str, id_: object) -> NotFoundError:
    return NotFoundError(message=f"{kind} {id_} not found", id=strawberry.ID(str(id_)))


async def get_or_none(model: type[M], id_: object) -> M | None:
    try:
        number = int(str(id_))
    except ValueError:
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
