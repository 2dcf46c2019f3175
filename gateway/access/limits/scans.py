"""Lists a source sorts whole when they are shuffled: what the cost estimate counts as a scan.

A role that does not read a list's key in full gets the list in a shuffled order
(``RequestContext.list_order_salt``): the source orders by ``md5(salt || key)``, which no index
holds, so to return even the first page it computes and sorts the digest of every row the list's
conditions let through. A desa's residents are a few thousand rows; the regency's are 750,000
(427 ms a page on PostgreSQL at scale 1.0, against 1.7 ms in NIK order). Without a narrowing
condition a twenty-row page is a scan of the source, whatever ``first`` says.

``SCANS`` names those lists and when a list is narrow enough not to count: ``persons`` filtered
to a kecamatan or a desa, ``students`` filtered to a school, a region's ``residents`` where the
document shows the region to be a kecamatan or a desa. The other shuffled lists (``Family.members``,
``School.students``, ``Programme.participants``) are read under one parent and never count. Where
the region is reached decides its level (``region_level``): ``region(code:)`` from its code,
``children`` one level below and ``parent`` one above the region they hang from, every other
``Region`` field (``Person.region``, ``School.region``, ...) a desa or a kecamatan; a region
whose level the document does not tell (one from ``_entities``) counts as broad.

The estimate (``analysis``) records each unnarrowed read with the key that decides whether it is
shuffled (``Person.nik``), the same for every role; the guard adds a scan's cost for the roles whose
lists by that key are shuffled (``gateway.context.shuffles_list``), so the cached estimate of a
document serves every role.

Some fields walk their sources whole in any order, for every role: the discrepancy report
(``Query.discrepancies``, ``Query.discrepancyCounts``; ``resolvers.truth.report``) reads the
pupils and the registry's deaths chunk by chunk, and its ``fact``, ``agency`` and ``region``
arguments select among the items it compares, not what it reads, so a rare filter walks further
for a page, not less (``totalCount`` and the counts walk everything: 3 to 6 s at scale 1.0).
Their ``Scan`` has no key (``WALKS``): the guard counts them for every caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Code parts of the broadest region whose residents are narrow: a kecamatan (``35.03.08``).
NARROW_REGION_PARTS = 3
#: Code parts of a desa (``35.03.08.2011``): what a record's own ``region`` is.
DESA_PARTS = 4


@dataclass(frozen=True)
class Scan:
    """A list field that is a scan of its source when shuffled, unless ``narrow`` says otherwise."""

    #: ``Type.field`` of the list, also its name in ``[limits.list_sizes]`` (the whole list's length).
    field: str
    #: ``Type.key`` whose reading decides the order (``RequestContext.list_order_salt``); ``None``: a
    #: walk of its sources whatever the order, a scan for every caller.
    key: str | None
    #: Whether these (coerced) arguments, and the level of the region the list hangs from (code
    #: parts; ``None``: not known, or not a region), narrow the list to a part of its source.
    narrow: Callable[[Mapping[str, Any], int | None], bool]
    #: The arguments ``narrow`` reads (their variables are part of what a cached estimate depends on).
    arguments: tuple[str, ...] = ()


def _filter_region_narrow(arguments: Mapping[str, Any], _level: int | None) -> bool:
    return (region_parts((arguments.get("filter") or {}).get("region")) or 0) >= NARROW_REGION_PARTS


def _filter_school_given(arguments: Mapping[str, Any], _level: int | None) -> bool:
    return bool((arguments.get("filter") or {}).get("school"))


def _region_narrow(_arguments: Mapping[str, Any], level: int | None) -> bool:
    return level is not None and level >= NARROW_REGION_PARTS


def _never_narrow(_arguments: Mapping[str, Any], _level: int | None) -> bool:
    return False


SCANS: Mapping[str, Scan] = {
    s.field: s
    for s in (
        Scan("Query.persons", "Person.nik", _filter_region_narrow, ("filter",)),
        Scan("Query.students", "Student.nisn", _filter_school_given, ("filter",)),
        Scan("Region.residents", "Person.nik", _region_narrow),
        # The discrepancy report walks Dapodik's pupils and the registry's deaths whole, whatever the order.
        Scan("Query.discrepancies", None, _never_narrow),
        Scan("Query.discrepancyCounts", None, _never_narrow),
    )
}
#: The fields that walk their sources whole for every caller.
WALKS = frozenset(name for name, scan in SCANS.items() if scan.key is None)

REGION = "Region"
#: ``region(code:)``: the region's level is its code's.
REGION_BY_CODE = ("Query.region", "code")
#: Region fields that give a region where a record is counted, other than a desa.
_RECORD_REGION_PARTS = {"DiscrepancyCount.region": NARROW_REGION_PARTS}


def region_parts(code: Any) -> int | None:
    """The parts of a dotted Kemendagri code (``35.03`` -> 2); ``None`` for anything else."""

    return code.count(".") + 1 if isinstance(code, str) and code else None


def region_level(field: str, arguments: Mapping[str, Any], parent_level: int | None) -> int | None:
    """Code parts of the region(s) a ``Region``-valued field gives, as far as the document tells.

    ``field`` is ``Type.field``; ``parent_level`` the level of the region it hangs from, if any.
    """

    if field == REGION_BY_CODE[0]:
        return region_parts(arguments.get(REGION_BY_CODE[1]))
    if field == "Region.children":
        return None if parent_level is None else parent_level + 1
    if field == "Region.parent":
        return None if parent_level is None else parent_level - 1
    # Every other Region field is where a record is: a desa, unless named above.
    return _RECORD_REGION_PARTS.get(field, DESA_PARTS)
