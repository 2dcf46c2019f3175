"""The discrepancy report: streamed page by page from the sources, never stored.

A report walks the records of the system that is *not* the authority (Dapodik's pupils, in
key order, ``CHUNK`` at a time with keyset paging at the source) and compares each chunk with
the authority in batched lookups (``compare.compare_pupils``); the pupils without a NIK that a
page shows are matched by name once per page (``compare.match_nameless``). A page stops as soon as it holds
``first`` discrepancies and one more (to know whether another page follows), so an early page
costs only the chunks it needed. Its cursor seals the last item's position (the record's key
and the fact's rank), bound to the report's arguments; the next page resumes at that record.
``totalCount`` and ``discrepancyCounts`` walk the whole system.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from connectors import Filter, SourceQuery

from ..context import Info
from ..errors import InvalidInput
from ..pagination import Connection, Edge, Position, _connection, check_page_size
from .compare import PUPIL, RESIDENT, compare_pupils, match_nameless, sides
from .types import Discrepancy, DiscrepancyCount, Fact

#: Records of the scanned system compared per round-trip (one source call each way).
CHUNK = 500


@dataclass(frozen=True)
class Report:
    """What a report is asked for: all conditions must hold (``None``: any)."""

    fact: Fact | None = None
    #: The agency whose records disagree with the authority (the side to be corrected).
    agency: str | None = None
    #: Counted where ``Discrepancy.region`` lies (any level).
    region: str | None = None

    def admits(self, d: Discrepancy) -> bool:
        if self.fact is not None and d.fact is not self.fact:
            return False
        if self.region is not None:
            code = d.region_code or ""
            return code == self.region or code.startswith(self.region + ".")
        return True

    @property
    def scope(self) -> str:
        """What the report's cursors are bound to: a cursor of one report is refused by another."""

        return f"Discrepancy:{self.fact.name if self.fact else '*'}:{self.agency or '*'}:{self.region or '*'}"


async def discrepancies(info: Info, report: Report, start: tuple[str, int] | None = None) -> AsyncIterator[Discrepancy]:
    """The report's discrepancies in order (record key, then fact), after ``start`` (key, fact rank)."""

    found = await sides(info, PUPIL, RESIDENT, "School")
    if PUPIL not in found or RESIDENT not in found:
        return  # a deployment without both systems has nothing to compare
    if report.agency is not None and report.agency != found[PUPIL].agency:
        return
    reader = info.context.loaders.sources
    after: str | None = None
    if start is not None:
        key, rank = start
        records = await reader.fetch(SourceQuery(PUPIL, where=(Filter("nisn", "in", (key,)),)))
        for d in await compare_pupils(info, records, found):
            if int(d.position.rsplit(":", 1)[1]) > rank and report.admits(d):
                yield d
        after = key
    while True:
        records = await reader.fetch(SourceQuery(PUPIL, after=after, limit=CHUNK))
        if not records:
            return
        for d in await compare_pupils(info, records, found):
            if report.admits(d):
                yield d
        if len(records) < CHUNK:
            return
        after = str(records[-1]["nisn"])


async def discrepancy_page(info: Info, report: Report, *, first: int | None, after: str | None) -> Connection[Discrepancy]:
    """One page of the report, Relay-style."""

    size = check_page_size(first)
    cursors = info.context.cursors
    start = _position(cursors.open(after, report.scope)) if after is not None else None
    page: list[Discrepancy] = []
    async with aclosing(discrepancies(info, report, start)) as stream:
        async for d in stream:
            page.append(d)
            if len(page) > size:
                break
    shown = await match_nameless(info, page[:size], await sides(info, PUPIL, RESIDENT)) if page else []
    edges = [Edge(node=d, position=Position(cursors, d.position, report.scope)) for d in shown]

    async def count_total() -> int:
        return sum([1 async for _ in discrepancies(info, report)])

    return _connection(edges, has_next_page=len(page) > size, after_given=start is not None, count_total=count_total)


async def discrepancy_counts(info: Info, report: Report) -> list[DiscrepancyCount]:
    """The report counted per fact, agency and kecamatan (a walk of the whole system)."""

    tally: Counter[tuple[Fact, str, str | None]] = Counter()
    async for d in discrepancies(info, report):
        tally[(d.fact, d.agency_code, _kecamatan(d.region_code))] += 1
    order = list(Fact)
    return [
        DiscrepancyCount(fact=fact, count=n, agency_code=agency, kecamatan_code=kecamatan)
        for (fact, agency, kecamatan), n in sorted(tally.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1], kv[0][2] or ""))
    ]


def _kecamatan(code: str | None) -> str | None:
    """``35.03.08.2011`` -> ``35.03.08``."""

    if not code:
        return None
    parts = code.split(".")
    return ".".join(parts[:3]) if len(parts) >= 3 else None


def _position(text: str) -> tuple[str, int]:
    key, _, rank = text.rpartition(":")
    if not key or not rank.isdigit():
        raise InvalidInput("The cursor does not point into this report.", argument="after", reason="MALFORMED")
    return key, int(rank)
