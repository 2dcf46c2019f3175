"""Issue 10: concurrent key lookups of one shape share a statement while one is in flight.

The unit tests drive ``Coalescer`` with a source that answers when told to, so each test
decides what is in flight; the last ones run 200 lookups from 20 concurrent callers against
the registry on PostgreSQL and MariaDB and compare every answer with the same lookup alone.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Sequence
import pytest

from connectors import Filter, SourceQuery
from connectors.base import Record
from connectors.coalesce import Coalescer, shape_of
from connectors.sql import SqlConnector
from demo.gateway_config import render_config

from ..conftest import Backend

ROWS = [{"nik": f"{n:016d}", "kk": f"{n // 3:016d}", "region": "35.03.01" if n % 2 else "35.03.02"} for n in range(30)]


class HeldSource:
    """Answers a query from ``ROWS`` when its gate opens; records every query it was sent."""

    def __init__(self) -> None:
        self.sent: list[SourceQuery] = []
        self.gates: list[asyncio.Event] = []
        self.error: Exception | None = None
        self.cancelled = 0

    async def run(self, query: SourceQuery) -> Sequence[Record]:
        self.sent.append(query)
        gate = asyncio.Event()
        self.gates.append(gate)
        try:
            await gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return [r for r in ROWS if all(_holds(r, f) for f in query.where)]

    async def release(self, index: int) -> None:
        while len(self.gates) <= index:
            await asyncio.sleep(0)
        self.gates[index].set()


def _holds(record: Record, f: Filter) -> bool:
    value = record[f.field]
    if f.op == "in":
        return value in f.value
    if f.op == "prefix":
        return any(value.startswith(p) for p in f.value)
    raise AssertionError(f.op)


def by(field: str, *keys: str, scope: tuple[Filter, ...] = ()) -> SourceQuery:
    return SourceQuery("Person", where=(Filter(field, "in", tuple(keys)), *scope))


def nik(n: int) -> str:
    return f"{n:016d}"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lookup_with_nothing_in_flight_goes_at_once_and_alone():
    source = HeldSource()
    coalescer = Coalescer(source.run, max_keys=100, max_wait_s=60)
    lookup = asyncio.ensure_future(coalescer.fetch(by("nik", nik(1))))
    await settle()
    assert source.sent == [by("nik", nik(1))]
    await source.release(0)
    assert [r["nik"] for r in await lookup] == [nik(1)]
    assert coalescer.merged_statements == 0


async def test_lookups_arriving_while_one_is_in_flight_share_the_next_statement_and_get_only_their_keys():
    source = HeldSource()
    coalescer = Coalescer(source.run, max_keys=100, max_wait_s=60)
    first = asyncio.ensure_future(coalescer.fetch(by("nik", nik(1))))
    await settle()
    waiting = [
        asyncio.ensure_future(coalescer.fetch(by("nik", *keys)))
        for keys in ([nik(2)], [nik(3), nik(4)], [nik(4), nik(5)], [nik(29), "no such nik"])
    ]
    await settle()
    assert len(source.sent) == 1  # they wait for the one in flight
    await source.release(0)
    await settle()
    assert len(source.sent) == 2
    (merged,) = source.sent[1].where
    assert set(merged.value) == {nik(2), nik(3), nik(4), nik(5), nik(29), "no such nik"}
    await source.release(1)
    answers = [[r["nik"] for r in await w] for w in waiting]
    assert answers == [[nik(2)], [nik(3), nik(4)], [nik(4), nik(5)], [nik(29)]]
    assert [r["nik"] for r in await first] == [nik(1)]
    assert (coalescer.merged_statements, coalescer.merged_lookups) == (1, 4)


async def test_queries_that_differ_in_more_than_their_keys_are_never_merged():
    source = HeldSource()
    coalescer = Coalescer(source.run, max_keys=100, max_wait_s=60)
    scoped = (Filter("region", "prefix", ("35.03.01",)),)
    lookups = [
        asyncio.ensure_future(coalescer.fetch(q))
        for q in (
            by("nik", nik(1)),
            by("nik", nik(2), scope=scoped),  # another caller's row scope
            by("kk", nik(0)),  # another key field
            SourceQuery("Person", where=(Filter("nik", "in", (nik(3),)),), limit=1),  # paged: not a key lookup
            by("nik", nik(4), scope=scoped),  # joins the scoped one in flight only
        )
    ]
    await settle()
    assert len(source.sent) == 4
    for index in range(5):
        await source.release(index)
    answers = [[r["nik"] for r in await lookup] for lookup in lookups]
    assert answers == [[nik(1)], [], [nik(0), nik(1), nik(2)], [nik(3)], []]  # 2 and 4 are outside 35.03.01
    assert [q.where[0].value for q in source.sent[4:]] == [(nik(4),)]


async def test_a_full_group_sends_the_next_lookup_alone():
    source = HeldSource()
    coalescer = Coalescer(source.run, max_keys=3, max_wait_s=60)
    lookups = [asyncio.ensure_future(coalescer.fetch(by("nik", nik(n), nik(n + 10)))) for n in range(3)]
    await settle()
    # 0 is in flight, 1 waits (2 keys), 2 would make 4 keys: it goes alone
    assert [q.where[0].value for q in source.sent] == [(nik(0), nik(10)), (nik(2), nik(12))]
    for index in range(3):
        await source.release(index)
    assert [sorted(r["nik"] for r in await lookup) for lookup in lookups] == [
        [nik(n), nik(n + 10)] for n in range(3)
    ]


async def test_every_member_of_a_failed_statement_gets_the_source_error():
    source = HeldSource()
    coalescer = Coalescer(source.run, max_keys=100, max_wait_s=60)
    first = asyncio.ensure_future(coalescer.fetch(by("nik", nik(1))))
    await settle()
    waiting = [asyncio.ensure_future(coalescer.fetch(by("nik", nik(n)))) for n in (2, 3)]
    await settle()
    await source.release(0)
    assert len(await first) == 1
    source.error = RuntimeError("source went away")
    await source.release(1)
    for lookup in waiting:
        with pytest.raises(RuntimeError, match="source went away"):
            await lookup


async def test_a_member_that_leaves_does_not_cancel_the_others_and_the_last_to_leave_stops_the_statement():
    source = HeldSource()
    coalescer = Coalescer(source.run, max_keys=100, max_wait_s=60)
    first = asyncio.ensure_future(coalescer.fetch(by("nik", nik(1))))
    await settle()
    stays, leaves = (asyncio.ensure_future(coalescer.fetch(by("nik", nik(n)))) for n in (2, 3))
    await settle()
    await source.release(0)
    await first
    await settle()
    leaves.cancel()  # its deadline passed
    await settle()
    assert source.cancelled == 0
    await source.release(1)
    assert [r["nik"] for r in await stays] == [nik(2)]

    # Now everyone leaves a group whose statement is running: it is cancelled at the source.
    first = asyncio.ensure_future(coalescer.fetch(by("nik", nik(1))))
    await settle()
    lonely = asyncio.ensure_future(coalescer.fetch(by("nik", nik(5))))
    await settle()
    await source.release(2)
    await first
    await settle()
    assert len(source.sent) == 4
    lonely.cancel()
    await settle()
    assert source.cancelled == 1
    # ... and the shape is free again: the next lookup goes at once.
    after = asyncio.ensure_future(coalescer.fetch(by("nik", nik(6))))
    await settle()
    assert len(source.sent) == 5
    await source.release(4)
    assert [r["nik"] for r in await after] == [nik(6)]


async def test_a_slow_statement_in_flight_holds_the_waiting_group_no_longer_than_max_wait():
    source = HeldSource()
    coalescer = Coalescer(source.run, max_keys=100, max_wait_s=0.05)
    slow = asyncio.ensure_future(coalescer.fetch(by("nik", nik(1))))
    await settle()
    waiting = [asyncio.ensure_future(coalescer.fetch(by("nik", nik(n)))) for n in (2, 3)]
    await settle()
    assert len(source.sent) == 1
    await asyncio.sleep(0.2)  # the first is still at the source: the group went in a slot of its own
    assert [q.where[0].value for q in source.sent] == [(nik(1),), (nik(2), nik(3))]
    await source.release(1)
    assert [[r["nik"] for r in await w] for w in waiting] == [[nik(2)], [nik(3)]]
    # Both slots are free again once the slow one returns: the next lookup goes at once.
    await source.release(0)
    assert [r["nik"] for r in await slow] == [nik(1)]
    after = asyncio.ensure_future(coalescer.fetch(by("nik", nik(4))))
    await settle()
    assert len(source.sent) == 3
    await source.release(2)
    await after
    assert coalescer._in_flight == {}


def test_only_key_lookups_have_a_shape():
    assert shape_of(by("nik", nik(1))) is not None
    assert shape_of(SourceQuery("Person", where=(Filter("nik", "in", (nik(1),)),), after=nik(0))) is None
    assert shape_of(SourceQuery("Person", where=(Filter("nik", "in", (nik(1),)),), group_by=())) is None
    assert shape_of(SourceQuery("Person", where=(Filter("region", "prefix", ("35.03",)),))) is None
    two_in = SourceQuery("Person", where=(Filter("nik", "in", (nik(1),)), Filter("kk", "in", (nik(0),))))
    assert shape_of(two_in) is None


@pytest.mark.parametrize("backend_name", ["postgresql", "mariadb"])
def test_twenty_concurrent_callers_get_what_each_would_get_alone_from_fewer_statements(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    backend: Backend = request.getfixturevalue(f"{backend_name}_backend")  # session fixtures load outside a loop
    asyncio.run(_concurrent_against_alone(backend))


async def _concurrent_against_alone(backend: Backend) -> None:
    config = tomllib.loads(render_config(registry_url=backend.registry_url, education_url=backend.education_url))
    connector = SqlConnector.from_settings("siak", config["sources"]["siak"])
    await connector.start()
    try:
        people = await connector.fetch(SourceQuery("Person", limit=200))
        lookups: list[SourceQuery] = []
        for n, person in enumerate(people):
            # one by NIK, then a family by KK, then two NIKs at once: the loaders' three shapes
            if n % 3 == 0:
                lookups.append(by("nik", person["nik"]))
            elif n % 3 == 1:
                lookups.append(by("kk", person["kk"]))
            else:
                lookups.append(by("nik", person["nik"], people[n - 1]["nik"]))
        alone = [await connector._fetch_now(q) for q in lookups]  # the reference: each on its own
        gate = asyncio.Semaphore(20)
        sent_before = connector.coalescer.merged_statements

        async def one(query: SourceQuery) -> Sequence[Record]:
            async with gate:
                return await connector.fetch(query)

        together = await asyncio.gather(*(one(q) for q in lookups))
        assert [sorted(r["nik"] for r in rs) for rs in together] == [sorted(r["nik"] for r in rs) for rs in alone]
        assert [list(map(dict, rs)) for rs in together] == [list(map(dict, rs)) for rs in alone]
        assert connector.coalescer.merged_statements > sent_before
        assert connector.coalescer.merged_lookups > connector.coalescer.merged_statements
    finally:
        await connector.aclose()

