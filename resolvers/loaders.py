"""Per-request batching: every lookup by key goes through a loader, one source query per batch.

A query's number of source round-trips therefore depends on its depth, not on list sizes.
Loaders are created per request (aiodataloader binds the running loop, and caching across
requests would copy data the OPDs own), with the request's ``Projection``: a record from a loader
holds at least the fields the request's document reads of its entity (``resolvers.projection``),
so a resolver that needs more of a record than its type declares fetches it itself.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Coroutine, Hashable, Sequence
from datetime import date
from typing import Any

from aiodataloader import DataLoader, Loader, failed_dispatch

from connectors import Filter, Record, SourceError, SourceQuery, SourceReader, UnusableKey, traced_batch

from .projection import READ_ALL, Projection

AttendanceKey = tuple[str, date, date]


class Loaders:
    """Lazily built loaders for one request, keyed by (kind, entity, field)."""

    def __init__(self, sources: SourceReader, projection: Projection = READ_ALL) -> None:
        self.sources = sources
        self.projection = projection
        self._loaders: dict[Hashable, DataLoader] = {}
        #: The request's event loop, found by the first loader (each lookup of it costs a getpid()).
        self._loop: asyncio.AbstractEventLoop | None = None

    def fields(self, entity: str) -> frozenset[str] | None:
        """What to ask ``entity``'s source for (``SourceQuery.fields``) in this request."""

        return self.projection.of(entity)

    def _get(self, key: Hashable, batch: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]) -> DataLoader:
        loader = self._loaders.get(key)
        if loader is None:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            # traced_batch: a span per batch when this request is traced (gateway.telemetry); else batch itself.
            loader = self._loaders[key] = RequestLoader(_remember_failures(traced_batch(key, batch)), self._loop)
        return loader

    # The batch functions below close over the sources, never over ``self``: a loader's batch
    # function referring to the ``Loaders`` that holds the loader is a reference cycle, which
    # kept every loader's cache (a future and a record per key) alive after the request until
    # the cyclic collector walked it.

    def one(self, entity: str, field: str) -> DataLoader:
        """Key -> the record whose ``field`` equals it, or ``None``."""

        sources, fields = self.sources, self.fields(entity)

        async def batch(keys: list[Any]) -> list[Record | UnusableKey | None]:
            records, refused = await _by_keys(sources, entity, field, keys, fields)
            by_key = {r.get(field): r for r in records}
            return [refused.get(k) or by_key.get(k) for k in keys]

        return self._get(("one", entity, field), batch)

    def many(self, entity: str, field: str) -> DataLoader:
        """Key -> every record whose ``field`` equals it (in key order)."""

        sources, fields = self.sources, self.fields(entity)

        async def batch(keys: list[Any]) -> list[list[Record] | UnusableKey]:
            records, refused = await _by_keys(sources, entity, field, keys, fields)
            grouped: dict[Any, list[Record]] = defaultdict(list)
            for r in records:
                grouped[r.get(field)].append(r)
            return [refused.get(k) or grouped.get(k, []) for k in keys]

        return self._get(("many", entity, field), batch)

    def within(self, entity: str, field: str) -> DataLoader:
        """Region code -> every record whose ``field`` (a region code) lies within that region."""

        sources, fields = self.sources, self.fields(entity)
        wanted = None if fields is None else fields | {field}  # the batch is split by it

        async def batch(prefixes: list[str]) -> list[list[Record]]:
            records = await sources.fetch(
                SourceQuery(entity, where=(Filter(field, "prefix", tuple(set(prefixes))),), fields=wanted)
            )
            return [[r for r in records if _within(r.get(field), p)] for p in prefixes]

        return self._get(("within", entity, field), batch)

    def grouped_counts(self, entity: str, by: str, within: tuple[str, str, str], group_by: Sequence[str]) -> DataLoader:
        """(key, low, high) -> counts grouped by ``group_by`` for records with ``by`` = key and ``low <= within <= high``.

        ``within`` is (field, name of low bound, name of high bound); one source query per
        distinct (low, high) range, all keys of that range batched.
        """

        field = within[0]
        sources = self.sources

        async def batch(keys: list[tuple[Any, Any, Any]]) -> list[list[Record]]:
            ranges: dict[tuple[Any, Any], set[Any]] = defaultdict(set)
            for key, low, high in keys:
                ranges[(low, high)].add(key)

            async def one_range(low: Any, high: Any, ids: set[Any]) -> Sequence[Record]:
                query = SourceQuery(
                    entity,
                    where=(Filter(by, "in", tuple(ids)), Filter(field, "gte", low), Filter(field, "lte", high)),
                    group_by=(by, *group_by),
                )
                return await sources.fetch(query)

            answers = await asyncio.gather(*(one_range(lo, hi, ids) for (lo, hi), ids in ranges.items()))
            found: dict[tuple[Any, Any, Any], list[Record]] = defaultdict(list)
            for (low, high), records in zip(ranges, answers, strict=True):
                for r in records:
                    found[(r.get(by), low, high)].append(r)
            return [found.get(k, []) for k in keys]

        return self._get(("counts", entity, by, within, tuple(group_by)), batch)


class RequestLoader(DataLoader):
    """aiodataloader's ``DataLoader``, made and dispatched more cheaply (loaders live one request).

    ``DataLoader.__init__`` inspects the batch function on every construction, and each dispatch
    runs in two tasks (one to wait a loop turn, one for the batch). Here the wait is two
    ``call_soon`` hops, so keys requested within the same two loop turns still share one batch
    exactly as with ``DataLoader``, and the batch is the only task. Loading, caching and
    resolving are ``DataLoader``'s own.
    """

    def __init__(
        self,
        batch_load_fn: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.loop = loop
        self.batch_load_fn = batch_load_fn  # type: ignore[method-assign]
        self.get_cache_key = _same  # type: ignore[method-assign]
        self._cache = {}
        self._queue = []
        self._running: set[asyncio.Task[None]] = set()

    def do_resolve_reject(self, key: Any, future: asyncio.Future[Any]) -> None:
        self._queue.append(Loader(key=key, future=future))
        if len(self._queue) == 1:
            self.loop.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self.loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        queue, self._queue = self._queue, []
        task = self.loop.create_task(_dispatch_batch(self, queue))
        self._running.add(task)  # a reference, so the task is not collected half-way
        task.add_done_callback(self._running.discard)


async def _dispatch_batch(loader: DataLoader, queue: list[Loader]) -> None:
    """aiodataloader's ``dispatch_queue_batch`` for the batch functions above, which return a list
    of one value per key: without its checks for any batch function (an ``isinstance`` against
    ``typing.Iterable``, a copy of the values), which cost more per batch than resolving the keys.
    A batch that raises, or answers with other than one value per key, fails every key of it, as
    there (``failed_dispatch``: the keys are not cached)."""

    keys = [entry.key for entry in queue]
    try:
        values = await loader.batch_load_fn(keys)
        if type(values) is not list or len(values) != len(keys):
            raise TypeError(f"a batch function answered {len(keys)} keys with {type(values).__name__} {values!r:.200}")
        for entry, value in zip(queue, values):
            future = entry.future
            if not future.done():
                if isinstance(value, Exception):
                    future.set_exception(value)
                else:
                    future.set_result(value)
    except Exception as exc:  # noqa: BLE001 - every key of the batch gets it, as in aiodataloader
        failed_dispatch(loader, queue, exc)


async def _by_keys(
    sources: SourceReader, entity: str, field: str, keys: list[Any], fields: frozenset[str] | None
) -> tuple[Sequence[Record], dict[Any, UnusableKey]]:
    """The records whose ``field`` is one of ``keys``, and the keys the source refused to look up.

    A key the source cannot use (``..`` in a REST path) fails only itself: the batch is
    asked again without it, so a client's malformed key never costs another field its answer.
    """

    wanted = tuple(set(keys))
    try:
        return await sources.fetch(SourceQuery(entity, where=(Filter(field, "in", wanted),), fields=fields)), {}
    except UnusableKey as exc:
        refused = {k: exc for k in exc.keys}
        rest = tuple(k for k in wanted if k not in refused)
        if not rest:
            return [], refused
        return await sources.fetch(SourceQuery(entity, where=(Filter(field, "in", rest),), fields=fields)), refused


def _same(key: Any) -> Any:
    return key


def _remember_failures(
    batch: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]],
) -> Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]:
    """A source failure answers every key of the batch with that error, and stays cached.

    aiodataloader forgets the keys of a batch that raised, so a second resolver asking for the
    same key (after a look-ahead prefetch, say) would call the failed source again within the
    same request. Within one request, a key's answer (or failure) is given once.
    """

    async def remembering(keys: list[Any]) -> list[Any]:
        try:
            return await batch(keys)
        except SourceError as exc:
            return [exc] * len(keys)

    return remembering


def _within(code: Any, region: str) -> bool:
    if isinstance(code, (list, tuple)):  # e.g. a puskesmas's working area
        return any(_within(c, region) for c in code)
    return isinstance(code, str) and (code == region or code.startswith(region + "."))
