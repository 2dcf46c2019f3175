"""Relay-style connections over keyset paging at the source.

A cursor is the key of the last record seen, wrapped so clients treat it as opaque; the
next page is asked of the source as ``key > cursor``, so deep pages cost the same as the
first and nothing is fetched to be thrown away. ``totalCount`` is a separate count query,
sent only when a client selects it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from connectors import Filter, Record, SourceQuery, SourceReader

from .errors import InvalidInput

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
_CURSOR_PREFIX = "sd1:"


@strawberry.type(description="Where a page sits in the whole list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether items precede this page (pages only go forward; true when `after` was given).")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item on this page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item; pass it as `after` for the next page.")


@strawberry.type(description="One item of a page, with the cursor that points at it.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item; pass as `after` to continue after it.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, Relay-style: `edges { cursor node }`, `pageInfo` and `totalCount`.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    page_info: PageInfo = strawberry.field(description="Whether there are more pages, and the cursors to reach them.")
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Items on this page (the `node` of each edge), for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Number of items in the whole list, across all pages (one extra count query at the source).")
    async def total_count(self) -> int:
        return await self.count_total()


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{key}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith(_CURSOR_PREFIX):
        raise InvalidInput(
            "`after` is not a cursor from this gateway; pass a `cursor` or `pageInfo.endCursor` you received.",
            argument="after",
            reason="MALFORMED",
        )
    return raw[len(_CURSOR_PREFIX) :]


def check_page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"`first` must be between 0 and {MAX_PAGE_SIZE}; got {first}.", argument="first", reason="OUT_OF_RANGE"
        )
    return first


async def paginate(
    sources: SourceReader,
    entity: str,
    key: str,
    where: Sequence[Filter],
    *,
    first: int | None,
    after: str | None,
    to_node: Callable[[Record], T],
) -> Connection[T]:
    """One page of ``entity`` records matching ``where``, in key order."""

    size = check_page_size(first)
    after_key = decode_cursor(after) if after is not None else None
    where = tuple(where)
    records: Sequence[Record] = []
    if size:
        records = await sources.fetch(SourceQuery(entity, where=where, after=after_key, limit=size + 1))
    page = records[:size]
    edges = [Edge(cursor=encode_cursor(r[key]), node=to_node(r)) for r in page]

    async def count_total() -> int:
        counted = await sources.fetch(SourceQuery(entity, where=where, group_by=()))
        return int(counted[0]["count"]) if counted else 0

    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(records) > size,
            has_previous_page=after_key is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count_total=count_total,
    )
