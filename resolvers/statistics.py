"""Counts computed at the source: the statistics a role may read without seeing anyone.

A role that sees residents or pupils only masked may not filter them by a field it cannot read
(``persons(filter: {sex})`` would tell it each listed person's sex), but the counts themselves
are what it needs: how many residents of a desa by sex and status, how many pupils of a school
by grade and sex. These fields ask the source for exactly that (a ``GROUP BY`` in the OPD's own
database) and return numbers, never a person.
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from connectors import Filter, Record, SourceQuery

from .context import Info
from .enums import ResidentStatus, Sex, enum_or_none


@strawberry.type(description="How many residents of a region share one sex and one status; counted by the civil registry.")
class ResidentCount:
    sex: Sex | None = strawberry.field(description="The residents' sex (null: not recorded).")
    status: ResidentStatus | None = strawberry.field(description="Alive, deceased or moved away (null: not recorded).")
    count: int = strawberry.field(description="How many residents.")


@strawberry.type(description="How many pupils of a school share one grade and one sex; counted by the education office.")
class PupilCount:
    grade: int | None = strawberry.field(description="The grade (1-12; null: not recorded).")
    sex: Sex | None = strawberry.field(description="The pupils' sex (null: not recorded).")
    count: int = strawberry.field(description="How many pupils.")


async def resident_counts(info: Info, region_code: str) -> list[ResidentCount]:
    """Residents within ``region_code`` grouped by sex and status, in a stable order."""

    rows = await info.context.loaders.sources.fetch(
        SourceQuery("Person", where=(Filter("regionCode", "prefix", (region_code,)),), group_by=("sex", "status"))
    )
    counts = [
        ResidentCount(sex=enum_or_none(Sex, r.get("sex")), status=enum_or_none(ResidentStatus, r.get("status")), count=_count(r))
        for r in rows
    ]
    return sorted(counts, key=lambda c: (_name(c.sex), _name(c.status)))


async def pupil_counts(info: Info, npsn: str) -> list[PupilCount]:
    """Pupils of the school ``npsn`` grouped by grade and sex, in grade order."""

    rows = await info.context.loaders.sources.fetch(
        SourceQuery("Student", where=(Filter("school", "eq", npsn),), group_by=("grade", "sex"))
    )
    counts = [PupilCount(grade=_grade(r.get("grade")), sex=enum_or_none(Sex, r.get("sex")), count=_count(r)) for r in rows]
    return sorted(counts, key=lambda c: (c.grade if c.grade is not None else 99, _name(c.sex)))


def _count(row: Record) -> int:
    return int(row.get("count") or 0)


def _grade(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _name(value: object) -> str:
    return getattr(value, "value", "") or ""


__all__: Sequence[str] = ("PupilCount", "ResidentCount", "pupil_counts", "resident_counts")
