"""``Coalescer``: key lookups of one shape from concurrent requests share a statement.

A request's loaders already batch its own keys into one query per entity and field. Under
load, twenty requests each send the same statement with different keys (``person(nik)`` is
``WHERE nik = $1`` twenty times), and each statement costs the gateway a round of driver work
and a socket write, and the database a parse-bind-execute, whatever its size. So while a
statement of one shape is at the source, later lookups of that shape wait and are sent
together as one when it returns (the database's group commit, applied to reads):

- a lookup that finds a free slot (fewer than ``max_in_flight`` statements of its shape at
  the source) is sent at once, in the caller's task, exactly as without a coalescer: an idle
  gateway adds no delay;
- the lookups that arrive while every slot is taken join one waiting group; when a statement
  returns (or after ``max_wait_s``, so that a slow one holds nobody for long), the group is
  sent as one query whose key list is the union of theirs, and each lookup gets back exactly
  the records whose key field is one of *its* keys;
- the busier the gateway, the longer a statement is in flight as its event loop sees it,
  and the more lookups share the next one; at most ``max_keys`` keys per statement.

Only queries that differ in nothing but their one ``in`` filter's keys are merged, so a row
scope (extra filters from the caller's policy), paging, ordering, grouping or the fields read
keep a query apart. Records are split by the key field, as the loaders split a batch, so each
lookup sees what it would have seen alone. A waiting lookup's deadline is its own: when it
leaves (cancelled, timed out), the group goes on for the others, and is cancelled when the
last one leaves.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import replace
from typing import Any

from .base import Filter, Record, SourceQuery

#: What a coalescer sends a merged query through.
Run = Callable[[SourceQuery], Awaitable[Sequence[Record]]]


def shape_of(query: SourceQuery) -> tuple[Hashable, Filter] | None:
    """``(shape, key filter)`` when ``query`` is a key lookup that may be merged, else ``None``.

    A key lookup has exactly one ``in`` filter and no paging or grouping; its shape is the
    query without that filter's keys (and must be hashable: filter values are tuples).
    """

    if query.limit is not None or query.after is not None or query.group_by is not None:
        return None
    keys = [f for f in query.where if f.op == "in"]
    if len(keys) != 1:
        return None
    key = keys[0]
    rest = tuple(f for f in query.where if f is not key)
    shape = (query.entity, key.field, rest, query.order_by, query.shuffle, query.fields)
    try:
        hash(shape)
    except TypeError:
        return None
    return shape, key


class _Group:
    """Lookups of one shape waiting for a statement slot."""

    __slots__ = ("query", "field", "keys", "waiting", "result", "task", "timer", "_by_key")

    def __init__(self, query: SourceQuery, field: str) -> None:
        self.query = query  # the first lookup's query: every member has the same shape
        self.field = field
        self.keys: dict[Any, None] = {}  # ordered union of the members' keys
        self.waiting = 0
        self.result: asyncio.Future[Sequence[Record]] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self._by_key: dict[Any, list[Record]] | None = None

    def records_of(self, records: Sequence[Record], keys: frozenset[Any]) -> list[Record]:
        """The merged answer's records of one member's ``keys``, in the statement's order.

        A member with one key (a lookup of one person, one family: nearly all) reads an index
        built once per group; filtering the whole answer per member cost O(members x records).
        """

        field = self.field
        if len(keys) != 1:
            return [r for r in records if r.get(field) in keys]
        if self._by_key is None:
            index: dict[Any, list[Record]] = {}
            for r in records:
                value = r.get(field)
                found = index.get(value)
                if found is None:
                    index[value] = [r]
                else:
                    found.append(r)
            self._by_key = index
        (key,) = keys
        return list(self._by_key.get(key, ()))

    def merged(self) -> SourceQuery:
        where = tuple(
            Filter(self.field, "in", tuple(self.keys)) if f.op == "in" else f for f in self.query.where
        )
        return replace(self.query, where=where)


class Coalescer:
    """Merges concurrent key lookups of one shape while statements of that shape are in flight.

    ``max_in_flight`` statements of a shape may be at the source at once; a lookup beyond
    them joins the group waiting for the next free slot, which it takes when one of them
    returns, or after ``max_wait_s`` in any case, so that one slow statement cannot hold the
    lookups behind it for longer than that.
    """

    def __init__(self, run: Run, *, max_keys: int, max_in_flight: int = 1, max_wait_s: float = 0.02) -> None:
        self._run = run
        self.max_keys = max_keys
        self.max_in_flight = max_in_flight
        self.max_wait_s = max_wait_s
        self._in_flight: dict[Hashable, int] = {}
        self._waiting: dict[Hashable, _Group] = {}
        #: Lookups answered by a merged statement, and the statements that answered them (for tests and metrics).
        self.merged_lookups = 0
        self.merged_statements = 0

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        found = shape_of(query)
        if found is None:
            return await self._run(query)
        shape, key = found
        if self._in_flight.get(shape, 0) < self.max_in_flight:
            self._in_flight[shape] = self._in_flight.get(shape, 0) + 1
            try:
                return await self._run(query)
            finally:
                self._release(shape)
        group = self._waiting.get(shape)
        if group is None or group.result.done():  # none waiting, or its members all left
            group = self._waiting[shape] = _Group(query, key.field)
            group.timer = asyncio.get_running_loop().call_later(self.max_wait_s, self._send_late, shape, group)
        elif len(group.keys) + len(key.value) > self.max_keys:
            return await self._run(query)  # the waiting group is full: this one goes alone
        group.keys.update(dict.fromkeys(key.value))
        return await self._wait(group, frozenset(key.value))

    async def _wait(self, group: _Group, keys: frozenset[Any]) -> Sequence[Record]:
        group.waiting += 1
        try:
            records = await asyncio.shield(group.result)
        finally:
            group.waiting -= 1
            if group.waiting == 0 and not group.result.done():
                # Everyone left before the answer: stop the statement (or never send it).
                if group.timer is not None:
                    group.timer.cancel()
                if group.task is not None:
                    group.task.cancel()
                group.result.cancel()
        return group.records_of(records, keys)

    def _release(self, shape: Hashable) -> None:
        """A statement of ``shape`` returned: its slot goes to the waiting group, or is free."""

        group = self._waiting.pop(shape, None)
        if group is not None and not group.result.done():
            self._start(shape, group)  # the slot passes on: the count stays
            return
        left = self._in_flight[shape] - 1
        if left:
            self._in_flight[shape] = left
        else:
            del self._in_flight[shape]

    def _send_late(self, shape: Hashable, group: _Group) -> None:
        """The group waited ``max_wait_s``: it goes in a slot of its own."""

        if self._waiting.get(shape) is not group or group.result.done():
            return
        del self._waiting[shape]
        self._in_flight[shape] = self._in_flight.get(shape, 0) + 1
        self._start(shape, group)

    def _start(self, shape: Hashable, group: _Group) -> None:
        if group.timer is not None:
            group.timer.cancel()
        # A context of its own: the statement serves several requests, so none of them (its
        # deadline, its trace) may ride along from the lookup whose statement just returned.
        group.task = asyncio.get_running_loop().create_task(self._send(shape, group), context=contextvars.Context())

    async def _send(self, shape: Hashable, group: _Group) -> None:
        try:
            records = await self._run(group.merged())
        except asyncio.CancelledError:
            if not group.result.done():
                group.result.cancel()
            raise
        except BaseException as exc:  # every member raises the source's error
            if not group.result.done():
                group.result.set_exception(exc)
        else:
            self.merged_statements += 1
            self.merged_lookups += group.waiting
            if not group.result.done():
                group.result.set_result(records)
        finally:
            self._release(shape)
