"""Relay-style connections (`first/after`, `totalCount`) with opaque offset cursors."""
from __future__ import annotations

import base64
from typing import Generic, TypeVar

import strawberry

T = TypeVar("T")
MAX_PAGE = 100
MAX_OFFSET = 2**31 - 1  # a database OFFSET past this is an error, not an empty page


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int

    @strawberry.field(description="The nodes of this page (shortcut for edges { node })")
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    """Offset after which to start, or None; raises ValueError for a malformed cursor."""
    if cursor is None:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "o":
            raise ValueError
        offset = int(value)
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"invalid cursor {cursor[:100]!r}") from None
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"invalid cursor {cursor[:100]!r}")
    return offset
