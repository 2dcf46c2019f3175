"""Relay-style connections over keyset paging at the source.

A cursor is the key of the last record seen, sealed (``resolvers.cursors``) so that it is
opaque to clients and reveals no key, a NIK for instance; the next page is asked of the source as ``key > cursor``, so deep pages cost the same as the
first and nothing is fetched to be thrown away. ``totalCount`` is a separate count query,
sent only when a client selects it.

``paginate_keys`` pages a list whose keys the vocabulary already holds (a class's participants,
gathered from its attendance lists), building nodes for the page only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Generic, TypeVar

import strawberry

from connectors import Filter, Record, SourceQuery, SourceReader, shuffled_position

from .cursors import CursorSeal
from .errors import InvalidInput

T = TypeVar("T")

#: The paging arguments of every connection field.
PageSize = Annotated[int | None, strawberry.argument(description="Page size, 0 to 100 (default 20).")]
After = Annotated[str | None, strawberry.argument(description="Return items after this cursor (`pageInfo.endCursor`).")]

#: What a list's description adds when its order may be shuffled (``GraphContext.list_order_salt``).
SHUFFLED_NIK = (
    " For a role that sees NIKs masked, in a shuffled order no NIK decides (the same on every page): a NIK's place "
    "in NIK order would tell the sex and birth date its mask hides."
)
SHUFFLED_NISN = " For a role that sees NISNs masked, in a shuffled order no NISN decides (the same on every page)."

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class Position:
    """A key's place in one list, sealed into a cursor only when a client asks for it (sealing
    costs a random nonce and an encryption; most pages are read without their cursors)."""

    __slots__ = ("_cursors", "_key", "_scope", "_sealed")

    def __init__(self, cursors: CursorSeal, key: str, scope: str) -> None:
        self._cursors = cursors
        self._key = key
        self._scope = scope
        self._sealed: str | None = None

    def cursor(self) -> str:
        """The sealed cursor; the same text every time it is asked of this position."""

        if self._sealed is None:
            self._sealed = self._cursors.seal(self._key, self._scope)
        return self._sealed


@strawberry.type(description="Where a page sits in the whole list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether items precede this page (pages only go forward; true when `after` was given).")
    first: strawberry.Private[Position | None]
    last: strawberry.Private[Position | None]

    @strawberry.field(description="Cursor of the first item on this page.")
    def start_cursor(self) -> str | None:
        return self.first.cursor() if self.first is not None else None

    @strawberry.field(description="Cursor of the last item; pass it as `after` for the next page.")
    def end_cursor(self) -> str | None:
        return self.last.cursor() if self.last is not None else None


@strawberry.type(description="One item of a page, with the cursor that points at it.")
class Edge(Generic[T]):
    node: T = strawberry.field(description="The item.")
    position: strawberry.Private[Position]

    @strawberry.field(
        description=(
            "Opaque position of this item; pass as `after` to continue after it. Encrypted, so it tells nothing "
            "about the item, and different each time; valid while the gateway keeps its cursor key."
        )
    )
    def cursor(self) -> str:
        return self.position.cursor()


@strawberry.type(description="A page of a list, Relay-style: `edges { cursor node }`, `pageInfo` and `totalCount`.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    page_info: PageInfo = strawberry.field(description="Whether there are more pages, and the cursors to reach them.")
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Items on this page (the `node` of each edge), for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Number of items in the whole list, across all pages (one extra count query at the source).")
    async def total_count(self) -> int | None:
        return await self.count_total()


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
    cursors: CursorSeal,
    to_node: Callable[[Record], T],
    order_salt: str | None = None,
    fields: frozenset[str] | None = None,
) -> Connection[T]:
    """One page of ``entity`` records matching ``where``, in key order (shuffled with ``order_salt``:
    ``GraphContext.list_order_salt``); ``cursors`` seals the positions. ``fields``: what ``to_node``
    reads of a record (``Loaders.fields``; the key is always there)."""

    size = check_page_size(first)
    where = tuple(where)
    scope = list_scope(entity, where)
    after_key = cursors.open(after, scope) if after is not None else None
    # One record more than the page says whether another page follows; `first: 0` still asks
    # for that one, so an empty page of a non-empty list says hasNextPage: true.
    records = await sources.fetch(
        SourceQuery(entity, where=where, after=after_key, limit=size + 1, shuffle=order_salt, fields=fields)
    )
    page = records[:size]
    edges = [Edge(node=to_node(r), position=Position(cursors, str(r[key]), scope)) for r in page]

    async def count_total() -> int:
        counted = await sources.fetch(SourceQuery(entity, where=where, group_by=()))
        return int(counted[0]["count"]) if counted else 0

    return _connection(edges, has_next_page=len(records) > size, after_given=after_key is not None, count_total=count_total)


def list_scope(entity: str, where: Sequence[Filter]) -> str:
    """What a page cursor is bound to: the entity listed and the list's conditions, so that a
    cursor of one filter is refused by another (``CursorSeal`` scope)."""

    return f"{entity}:{tuple(where)!r}"


async def paginate_keys(
    keys: Sequence[str],
    *,
    first: int | None,
    after: str | None,
    cursors: CursorSeal,
    scope: str,
    to_nodes: Callable[[Sequence[str]], Awaitable[Sequence[T]]],
    order_salt: str | None = None,
) -> Connection[T]:
    """One page of a list of known keys, in key order (shuffled with ``order_salt``); ``to_nodes``
    turns the page's keys into its nodes. ``scope`` names the keys' entity, which the cursors are bound to."""

    size = check_page_size(first)
    after_key = cursors.open(after, scope) if after is not None else None
    place = (lambda k: (k,)) if order_salt is None else (lambda k: (shuffled_position(order_salt, k), k))
    ordered = sorted(set(keys), key=place)
    rest = ordered if after_key is None else [k for k in ordered if place(k) > place(after_key)]
    page = rest[:size]
    nodes = await to_nodes(page) if page else []
    edges = [Edge(node=n, position=Position(cursors, k, scope)) for k, n in zip(page, nodes, strict=True)]

    async def count_total() -> int:
        return len(ordered)

    return _connection(edges, has_next_page=len(rest) > size, after_given=after_key is not None, count_total=count_total)


def in_list_order(records: Sequence[Record], key: str, order_salt: str | None) -> Sequence[Record]:
    """A whole list (not paged) in the order ``paginate`` gives: as the source sent it (key
    order), or shuffled by ``order_salt``."""

    if order_salt is None:
        return records
    return sorted(records, key=lambda r: (shuffled_position(order_salt, r.get(key)), str(r.get(key))))


def _connection(
    edges: list[Edge[T]], *, has_next_page: bool, after_given: bool, count_total: Callable[[], Awaitable[int]]
) -> Connection[T]:
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next_page,
            has_previous_page=after_given,
            first=edges[0].position if edges else None,
            last=edges[-1].position if edges else None,
        ),
        count_total=count_total,
    )
