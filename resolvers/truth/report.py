"""The discrepancy report: streamed page by page from the sources, never stored.

A report is a sequence of segments, walked in order, each a comparison with the authority (the
registry) that reads one side page by page with keyset paging at the source, ``CHUNK`` records
at a time, and looks the other side up in batched calls:

0. **Pupils** (``compare``): Dapodik's pupils in NISN order against the registry (name, birth
   date, sex, NIK, and deaths against active enrolments); the pupils without a NIK that a page
   shows are matched by name once per page (``compare.match_nameless``).
1. **Deaths** (``holders``): the registry's deaths in NIK order against every system that holds
   whether a person is alive (the health office's patients, the JKN portal, Sepeda Keren).

A page stops as soon as it holds ``first`` discrepancies and one more (to know whether another
page follows), so an early page costs only the chunks it needed. Its cursor seals the last item's
position (segment, the record's key, the item's rank), bound to the report's arguments; the next
page resumes at that record. ``totalCount`` and ``discrepancyCounts`` walk every segment.

An agency's system that fails costs only its own comparison: the walk records the error on that
comparison (``DiscrepancyConnection.comparisons``, a null ``DiscrepancyCount.count``) and goes on
with the others; ``totalCount`` is null with the error (a total short of a system would pass for
the whole). The registry failing fails the report: every comparison needs the authority.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from connectors import Filter, Record, SourceError, SourceQuery, SourceReader

from ..context import Info
from ..errors import InvalidInput
from ..pagination import Edge, PageInfo, Position, check_page_size
from .compare import PUPIL, PUPILS, RESIDENT, Catalogue, compare_pupils, match_nameless, sides
from .holders import DEATHS, HOLDERS, Holder, death_discrepancies, holder_records
from .types import (
    FACT_ORDER,
    Discrepancy,
    DiscrepancyComparison,
    DiscrepancyCount,
    DiscrepancyPage,
    Fact,
    DiscrepancyValue,
    StudentDiscrepancyValue,
    itemised,
    seen_by,
)

#: Records of the scanned system compared per round-trip (one source call each way).
CHUNK = 500

#: The facts each comparison holds: a pupil's record all of them but the desa, the others only alive or dead.
PUPIL_FACTS = (Fact.NAME, Fact.BIRTH_DATE, Fact.SEX, Fact.ALIVE, Fact.NIK)
HOLDER_FACTS = (Fact.ALIVE,)


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
        if self.agency is not None and d.agency_code != self.agency:
            return False
        if self.region is not None:
            code = d.region_code or ""
            return code == self.region or code.startswith(self.region + ".")
        return True

    def compares(self, agency: str, facts: Sequence[Fact]) -> bool:
        """Whether a comparison of ``agency``'s system on ``facts`` can hold an item of the report."""

        return (self.agency is None or self.agency == agency) and (self.fact is None or self.fact in facts)

    @property
    def scope(self) -> str:
        """What the report's cursors are bound to: a cursor of one report is refused by another."""

        return f"Discrepancy:{self.fact.name if self.fact else '*'}:{self.agency or '*'}:{self.region or '*'}"


@dataclass
class Walk:
    """The comparisons one walk of a report makes (entity -> comparison), each with its error once it failed.

    A walk compares only the systems whose discrepancies the caller may see, in full or masked: the
    policy classes each kind of value as the data of the record it is about (a pupil's
    ``StudentDiscrepancyValue`` as children's data, a patient's ``HealthRecordDiscrepancyValue`` as
    health data, ...; ``types.seen_by``), so a listed discrepancy never shows a system the caller
    could not reach. Counting walks (``discrepancyCounts``) compare the same systems: a count never
    covers records its caller may not see. Each system is read through the caller's row scopes (a
    school operator's pupils are its school's, a health officer's deaths and patients those of its
    area), as any list of its records is.

    A listing walk yields only the facts the caller may have itemised (``types.itemised``: not
    ``ALIVE`` or ``SEX`` to a caller who has them withheld, whose items would tell that withheld
    value of a person it lists masked), and skips a system none of whose facts it may; a counting
    walk counts every fact of the systems it compares: a count per kecamatan, or per desa at the
    finest ``region``, names no one, as ``Region.residentCounts``' deceased per desa does not.
    """

    found: Catalogue
    comparisons: dict[str, DiscrepancyComparison] = field(default_factory=dict)
    #: The facts this walk yields, by the type of their values (every fact compared, when counting).
    facts: dict[type[DiscrepancyValue], frozenset[Fact]] = field(default_factory=dict)

    @classmethod
    async def start(cls, info: Info, report: Report, *, counting: bool = False) -> Walk:
        found = await sides(info, PUPIL, RESIDENT, "School", *(h.entity for h in HOLDERS))
        walk = cls(found)
        if RESIDENT not in found:
            return walk  # nothing to compare with
        wanted = [(PUPIL, StudentDiscrepancyValue, PUPIL_FACTS), *((h.entity, h.value, HOLDER_FACTS) for h in HOLDERS)]
        for entity, value, compared in wanted:
            if entity not in found or not info.context.may_resolve(*seen_by(value)):
                continue
            facts = compared if counting else itemised(info, value, compared)
            if not facts or not report.compares(found[entity].agency, facts):
                continue
            side = found[entity]
            walk.comparisons[entity] = DiscrepancyComparison(
                source=side.source, system=side.system, facts=list(facts), agency_code=side.agency
            )
            walk.facts[value] = frozenset(facts)
        return walk

    def yields(self, d: Discrepancy) -> bool:
        """Whether ``d`` is one of this walk's items (its fact one the walk yields for its kind of value)."""

        return d.fact in self.facts.get(type(d.values[0]), ())

    def live(self, entity: str) -> bool:
        """Whether ``entity``'s system is compared in this walk and has not failed."""

        comparison = self.comparisons.get(entity)
        return comparison is not None and comparison.error is None

    def failed(self, entity: str, error: SourceError) -> None:
        """Record ``entity``'s system failing, or re-raise if the failure is the authority's."""

        if error.source == self.found[RESIDENT].source:
            raise error
        self.comparisons[entity].error = error


async def discrepancies(
    info: Info, report: Report, walk: Walk, start: tuple[int, str, int] | None = None
) -> AsyncIterator[Discrepancy]:
    """The report's discrepancies in order (segment, record key, rank), after ``start``."""

    segments = ((PUPILS, _pupil_items), (DEATHS, _death_items))
    for segment, items in segments:
        if start is not None and segment < start[0]:
            continue
        resume = start[1:] if start is not None and start[0] == segment else None
        async for d in items(info, walk, resume):
            if report.admits(d) and walk.yields(d):
                yield d


async def _pupil_items(info: Info, walk: Walk, resume: tuple[str, int] | None) -> AsyncIterator[Discrepancy]:
    """Dapodik's pupils against the registry, from ``resume`` (a NISN and an item's rank) on."""

    if not walk.live(PUPIL):
        return
    async for records, rank in _chunks(info, walk, PUPIL, "nisn", (), resume):
        try:
            found = await compare_pupils(info, records, walk.found)
        except SourceError as e:
            walk.failed(PUPIL, e)
            return
        for d in found:
            if _rank(d) > rank:
                yield d


async def _death_items(info: Info, walk: Walk, resume: tuple[str, int] | None) -> AsyncIterator[Discrepancy]:
    """The registry's deaths against every live holder, from ``resume`` (a NIK and a holder's rank) on."""

    holders = [h for h in HOLDERS if walk.live(h.entity)]
    if not holders:
        return
    reader = info.context.loaders.sources
    deceased = (Filter("status", "eq", "DECEASED"),)
    async for residents, rank in _chunks(info, walk, RESIDENT, "nik", deceased, resume):
        niks = [str(r["nik"]) for r in residents]
        # The systems are asked side by side: each chunk costs the slowest of them, not their sum.
        live = [h for h in holders if walk.live(h.entity)]
        held = dict(zip((h.entity for h in live), await asyncio.gather(*(_held(reader, walk, h, niks) for h in live)), strict=True))
        for n, resident in enumerate(residents):
            floor = rank if n == 0 else -1  # only a resumed chunk's first resident has items already shown
            for holder in holders:
                record = held.get(holder.entity, {}).get(str(resident["nik"]))
                for d in death_discrepancies(resident, holder, record, walk.found):
                    if _rank(d) > floor:
                        yield d


async def _held(reader: SourceReader, walk: Walk, holder: Holder, niks: list[str]) -> dict[str, Record]:
    """``holder``'s records of ``niks``; none, with the failure recorded, if its system fails."""

    try:
        return await holder_records(reader, holder, niks)
    except SourceError as e:
        walk.failed(holder.entity, e)
        return {}


async def _chunks(
    info: Info, walk: Walk, entity: str, key: str, where: tuple[Filter, ...], resume: tuple[str, int] | None
) -> AsyncIterator[tuple[Sequence[Record], int]]:
    """``entity``'s records in ``key`` order (or shuffled: ``GraphContext.list_order_salt``), ``CHUNK`` at a
    time, each chunk with the rank its items must pass.

    With ``resume`` the record it names comes first, alone, with the rank of the last item shown
    of it; the chunks after it start above its key. A failure of a system other than the
    authority ends its chunks (``Walk.failed``).
    """

    reader = info.context.loaders.sources
    # Walked in key order, or shuffled for a caller who does not read the key in full: the report's
    # order must not tell a masked NIK's sex and birth date any more than a list of persons may.
    salt = info.context.list_order_salt(entity, key)
    after: str | None = None
    try:
        if resume is not None:
            last, rank = resume
            yield await reader.fetch(SourceQuery(entity, where=(*where, Filter(key, "in", (last,))))), rank
            after = last
        while True:
            records = await reader.fetch(SourceQuery(entity, where=where, after=after, limit=CHUNK, shuffle=salt))
            if not records:
                return
            yield records, -1
            if len(records) < CHUNK:
                return
            after = str(records[-1][key])
    except SourceError as e:
        walk.failed(entity, e)


async def discrepancy_page(info: Info, report: Report, *, first: int | None, after: str | None) -> DiscrepancyPage:
    """One page of the report, Relay-style."""

    size = check_page_size(first)
    cursors = info.context.cursors
    start = _position(cursors.open(after, report.scope)) if after is not None else None
    walk = await Walk.start(info, report)
    page: list[Discrepancy] = []
    async with aclosing(discrepancies(info, report, walk, start)) as stream:
        async for d in stream:
            page.append(d)
            if len(page) > size:
                break
    shown = await _matched(info, walk, page[:size])
    edges = [Edge(node=d, position=Position(cursors, d.position, report.scope)) for d in shown]

    async def count_total() -> int:
        again = await Walk.start(info, report)
        total = sum([1 async for _ in discrepancies(info, report, again)])
        failed = next((c.error for c in again.comparisons.values() if c.error is not None), None)
        if failed is not None:
            raise failed  # a total short of a failed system's items would pass for the whole
        return total

    return DiscrepancyPage(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(page) > size,
            has_previous_page=start is not None,
            first=edges[0].position if edges else None,
            last=edges[-1].position if edges else None,
        ),
        count_total=count_total,
        made=list(walk.comparisons.values()),
    )


async def _matched(info: Info, walk: Walk, items: list[Discrepancy]) -> list[Discrepancy]:
    """``items`` with the pupils without a NIK matched to a resident by name (``compare.match_nameless``)."""

    if not any(d.pupil is not None for d in items):
        return items
    return await match_nameless(info, items, walk.found)


async def discrepancy_counts(info: Info, report: Report) -> list[DiscrepancyCount]:
    """The report counted per fact, agency and kecamatan (a walk of every segment, of the systems whose
    discrepancies the caller may see: ``Walk``).

    A comparison whose system failed is counted as one row per fact with a null count and the
    error: a part of it was read, but how much is missing is unknown.
    """

    walk = await Walk.start(info, report, counting=True)
    tally: Counter[tuple[Fact, str, str | None]] = Counter()
    async for d in discrepancies(info, report, walk):
        tally[(d.fact, d.agency_code, _kecamatan(d.region_code))] += 1
    rows = [
        DiscrepancyCount(fact=fact, tally=n, agency_code=agency, kecamatan_code=kecamatan)
        for (fact, agency, kecamatan), n in tally.items()
    ]
    for comparison in walk.comparisons.values():
        if comparison.error is None:
            continue
        rows = [r for r in rows if r.agency_code != comparison.agency_code]
        rows += [
            DiscrepancyCount(fact=fact, tally=0, agency_code=comparison.agency_code, kecamatan_code=None, error=comparison.error)
            for fact in comparison.facts
            if report.fact is None or fact is report.fact
        ]
    return sorted(rows, key=lambda r: (FACT_ORDER.index(r.fact), r.agency_code, r.kecamatan_code or ""))


def _kecamatan(code: str | None) -> str | None:
    """``35.03.08.2011`` -> ``35.03.08``."""

    if not code:
        return None
    parts = code.split(".")
    return ".".join(parts[:3]) if len(parts) >= 3 else None


def _rank(d: Discrepancy) -> int:
    return int(d.position.rsplit(":", 1)[1])


def _position(text: str) -> tuple[int, str, int]:
    segment, _, rest = text.partition(":")
    key, _, rank = rest.rpartition(":")
    if not segment.isdigit() or not key or not rank.isdigit():
        raise InvalidInput("The cursor does not point into this report.", argument="after", reason="MALFORMED")
    return int(segment), key, int(rank)
