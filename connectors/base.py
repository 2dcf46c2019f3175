"""The connector seam: one value object in, records out, one close.

Resolvers describe *what* they need in the vocabulary (``SourceQuery``: an entity, filters
on vocabulary fields, keyset paging, optional grouping); a connector translates that into
its source's own language (SQL, REST, remote GraphQL) and maps the answer back into
vocabulary field names. Nothing above this seam knows a table, column or URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

#: One answer row, keyed by vocabulary field names (``nik``, ``name``, ``regionCode`` ...).
Record = Mapping[str, Any]

FilterOp = Literal["eq", "in", "prefix", "contains", "gte", "lte"]


@dataclass(frozen=True, slots=True)
class Filter:
    """A condition on one vocabulary field.

    - ``eq``: equal to ``value``.
    - ``in``: equal to one of ``value`` (a tuple); how loaders batch keys.
    - ``prefix``: starts with one of ``value`` (a tuple of prefixes); hierarchical region codes.
    - ``contains``: case-insensitive substring ``value``; name search.
    - ``gte`` / ``lte``: at least / at most ``value``; date ranges.
    """

    field: str
    op: FilterOp
    value: Any


@dataclass(frozen=True, slots=True)
class SourceQuery:
    """What the vocabulary asks of a source, in vocabulary terms.

    ``entity``
        The vocabulary type, e.g. ``"Person"``; the registry routes on it.
    ``where``
        Filters, all of which must hold.
    ``order_by``
        Vocabulary fields to sort by; empty means the entity's key. Keyset paging
        (``after``) is defined on the key order only.
    ``after``
        Return only records whose key is greater than this value (with ``shuffle``: that
        come after this key's place in the shuffled order).
    ``shuffle``
        A secret salt: list in the order of ``md5(shuffle || key)`` instead of the key's
        own (``connectors.shuffle``), for a list whose key order would tell its reader what
        the reader may not see; only with the key order (no ``order_by``).
    ``limit``
        At most this many records (``None``: all).
    ``group_by``
        When not ``None``, aggregate instead of listing: one record per distinct
        combination of these fields, with an extra ``count`` field. ``()`` counts all
        matching records into a single ``{"count": n}``.
    ``fields``
        The vocabulary fields the caller will read of each record (``None``: all of them).
        A source may leave the others out, and must still give the key and every field an
        ``in`` filter names (what loaders split a batch by); it may also give more. A listing
        of a person's name then reads one column of the registry's table, not twenty.
    """

    entity: str
    where: tuple[Filter, ...] = ()
    order_by: tuple[str, ...] = ()
    after: Any = None
    limit: int | None = None
    group_by: tuple[str, ...] | None = None
    shuffle: str | None = None
    fields: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.shuffle is not None and self.order_by:
            raise ValueError("a shuffled list is in its own order: give no order_by with shuffle")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a source says about itself, for ``Agency.sources`` and ``/healthz``."""

    name: str
    kind: str
    agency: str
    description: str
    entities: tuple[str, ...]
    system: str = ""


@runtime_checkable
class Connector(Protocol):
    """A source of vocabulary records. The whole protocol a new source kind implements.

    ``fetch`` must translate every library error into a ``SourceError`` subclass (see
    ``connectors.errors``), raised ``from`` the original, and must never copy data
    anywhere: each call reads the source live.
    """

    info: SourceInfo

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        """Answer ``query`` with records in vocabulary field names."""
        ...

    async def start(self) -> None:
        """Check the configuration against the live source (called once at start-up)."""
        ...

    async def aclose(self) -> None:
        """Release pools and clients."""
        ...


@dataclass
class SourceStats:
    """Cost of one request at one source."""

    calls: int = 0
    rows: int = 0
    ms: float = 0.0
    errors: int = 0


@dataclass
class SourceTrace:
    """Per-request record of source round-trips, shown in ``extensions.sources``."""

    sources: dict[str, SourceStats] = field(default_factory=dict)

    def record(self, source: str, *, rows: int, ms: float, error: bool = False) -> None:
        stats = self.sources.get(source)
        if stats is None:  # not setdefault: that would build a SourceStats on every call
            stats = self.sources[source] = SourceStats()
        stats.calls += 1
        stats.rows += rows
        stats.ms += ms
        stats.errors += int(error)

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.sources.values())

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"calls": s.calls, "rows": s.rows, "ms": round(s.ms, 3), "errors": s.errors}
            for name, s in sorted(self.sources.items())
        }


class SourceReader(Protocol):
    """The request-scoped face of the registry that loaders use: route by entity."""

    async def fetch(self, query: SourceQuery) -> Sequence[Record]: ...
