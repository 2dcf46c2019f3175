"""``absenceAlerts``: school days on which a class's pupils off sick rise beyond the class's own baseline.

Cost, whatever the region: one statement for the schools, two grouped statements at the education
office (sick pupils per school, class and day; school days per school), computed by its database
(``GROUP BY``), never a pupil's row. Each alert's explanation is read on demand: the health
office's case reports of its weeks in its kecamatan (one call per distinct kecamatan and weeks),
the facilities covering its desa, and the pupils' desa spread (the NIKs of the class's pupils off
that day are read as keys of one grouped registry statement, never answered: the education
database does not hold pupils' addresses).
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

import strawberry

from connectors import Filter, Record, SourceQuery, SourceReader

from ..context import Info
from ..errors import InvalidInput
from .detection import METHOD, Parameters, detect

if TYPE_CHECKING:
    from ..health import CaseReport, HealthFacility
    from ..region import Region
    from ..school import School, Student

#: Longest range one question may scan: a school year.
MAX_ALERT_DAYS = 366
#: Calendar days read before ``from`` per school day of look-back, with room for holidays.
_CALENDAR_PER_SCHOOL_DAY = 7 / 5
_HOLIDAY_MARGIN_DAYS = 21


@strawberry.type(description="A class's own level before an alert day: the baseline the day was tested against.")
class AbsenceBaseline:
    mean: float = strawberry.field(description="Mean pupils off per school day over the baseline window.")
    sd: float = strawberry.field(description="Sample standard deviation over the same window.")
    days: int = strawberry.field(description="School days in the window (the method's `baselineDays`).")


@strawberry.type(description="How many of an alert's pupils live in one desa (from the civil registry); a count, no person.")
class DesaCount:
    count: int = strawberry.field(description="Pupils of the alert who live there.")
    region_code: strawberry.Private[str | None]

    @strawberry.field(description="The desa/kelurahan; null for pupils the registry does not know by their NIK.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy("..region")] | None:
        from ..region import Region

        return await Region.load(info, self.region_code)


@strawberry.type(
    description=(
        "An early warning: on `date`, `count` pupils of one class (rombel) of `school` were off sick, at or above "
        "`threshold`, the limit the class's own baseline sets, and so on the school day before. An aggregate: no "
        "pupil is named. See `Query.absenceAlerts` for the method."
    )
)
class AbsenceAlert:
    date: date = strawberry.field(description="The school day.")
    rombel: str | None = strawberry.field(description="The class (rombongan belajar), e.g. `4B`.")
    count: int = strawberry.field(description="Pupils of the class with a counted status that day.")
    baseline: AbsenceBaseline = strawberry.field(description="The class's level before the day (mean, sd).")
    threshold: int = strawberry.field(description="The count that raises an alert, from the baseline (see `method`).")
    method: str = strawberry.field(
        description="The method: `POISSON_MOVING_BASELINE` (a Poisson limit on the moving baseline, held two school days)."
    )
    statuses: list[str] = strawberry.field(description="The attendance statuses counted (`SICK` by default).")
    school_npsn: strawberry.Private[str]
    region_code: strawberry.Private[str | None]

    @strawberry.field(description="The school.")
    async def school(self, info: Info) -> Annotated[School, strawberry.lazy("..school")] | None:
        from ..school import School

        return await School.load(info, self.school_npsn)

    @strawberry.field(
        description=(
            "The health office's SKDR case reports of the alert's epidemiological week and the week before, from every "
            "desa of the school's kecamatan (each with its desa and reporting puskesmas): what the clinics saw."
        )
    )
    async def case_reports(self, info: Info) -> list[Annotated[CaseReport, strawberry.lazy("..health")]] | None:
        from ..health import CaseReport

        kecamatan = _kecamatan(self.region_code)
        if kecamatan is None:
            return []
        year, week = epi_week(self.date)
        first = max(1, week - 1)
        return await CaseReport.fetch(info, [Filter("regionCode", "prefix", (kecamatan,))], year, first, week, None)

    @strawberry.field(description="The health facilities (puskesmas) whose working area covers the school's desa.")
    async def health_facilities(self, info: Info) -> list[Annotated[HealthFacility, strawberry.lazy("..health")]] | None:
        from ..health import HealthFacility

        return await HealthFacility.covering(info, self.region_code)

    @strawberry.field(
        description=(
            "Where the class's pupils counted that day live: pupils per desa, counted by the civil registry from "
            "their NIKs (which are never answered)."
        )
    )
    async def desa_spread(self, info: Info) -> list[DesaCount] | None:
        rows = await self._pupils_by(info, "nik")
        niks = tuple(r["nik"] for r in rows if r.get("nik"))
        unknown = sum(int(r.get("count") or 0) for r in rows if not r.get("nik"))
        counts: list[DesaCount] = []
        if niks:
            grouped = await info.context.loaders.sources.fetch(
                SourceQuery("Person", where=(Filter("nik", "in", niks),), group_by=("regionCode",))
            )
            counts = [DesaCount(count=int(g.get("count") or 0), region_code=g.get("regionCode")) for g in grouped]
            unknown += len(niks) - sum(c.count for c in counts)
        if unknown:
            counts.append(DesaCount(count=unknown, region_code=None))
        return sorted(counts, key=lambda c: (c.region_code is None, c.region_code or ""))


    @strawberry.field(
        description=(
            "The pupils behind the alert (the class's pupils counted that day), ordered by NISN: children's data, "
            "for roles that may see pupils, under the same rules as `School.students` (masked for the analyst, "
            "a school operator's own school only)."
        )
    )
    async def pupils(self, info: Info) -> list[Annotated[Student, strawberry.lazy("..school")]] | None:
        from ..school import Student

        nisns = sorted(r["nisn"] for r in await self._pupils_by(info, "nisn") if r.get("nisn"))
        found = await info.context.loaders.one("Student", "nisn").load_many(nisns)
        return [Student.from_record(r) for r in found if isinstance(r, Mapping)]

    async def _pupils_by(self, info: Info, field: str) -> Sequence[Record]:
        """The alert's pupils counted by ``field`` (one row per pupil's NIK or NISN), at the education office."""

        return await info.context.loaders.sources.fetch(
            SourceQuery(
                "Attendance",
                where=(
                    Filter("school", "eq", self.school_npsn),
                    Filter("date", "eq", self.date),
                    Filter("className", "eq", self.rombel),
                    Filter("status", "in", tuple(self.statuses)),
                ),
                group_by=(field,),
            )
        )


def epi_week(day: date) -> tuple[int, int]:
    """``(year, week)`` of the epidemiological week (Sunday-Saturday; week 1 holds 4 January) containing ``day``."""

    def week_one(year: int) -> date:
        jan4 = date(year, 1, 4)
        return jan4 - timedelta(days=(jan4.weekday() + 1) % 7)

    year = day.year
    if day >= week_one(year + 1):
        return year + 1, 1
    if day < week_one(year):
        year -= 1
    return year, (day - week_one(year)).days // 7 + 1


async def absence_alerts(
    info: Info, from_: date, to: date, region: str | None, params: Parameters | None = None
) -> list[AbsenceAlert]:
    """Every alert between ``from_`` and ``to`` (inclusive) at the schools within ``region`` (all when ``None``)."""

    params = params or Parameters()
    if to < from_:
        raise InvalidInput("`to` is before `from`.", argument="to", reason="OUT_OF_RANGE")
    if (to - from_).days >= MAX_ALERT_DAYS:
        raise InvalidInput(f"An alert scan may span at most {MAX_ALERT_DAYS} days.", argument="to", reason="OUT_OF_RANGE")
    sources = info.context.loaders.sources
    if region is not None:
        schools = await sources.fetch(SourceQuery("School", where=(Filter("regionCode", "prefix", (region,)),)))
    else:
        schools = await sources.fetch(SourceQuery("School"))
    return await alerts_at(sources, {s["npsn"]: s.get("regionCode") for s in schools}, from_, to, params)


async def alerts_at(
    sources: SourceReader, where_school: dict[str, str | None], from_: date, to: date, params: Parameters
) -> list[AbsenceAlert]:
    """The alerts between ``from_`` and ``to`` at the schools ``where_school`` names (NPSN -> desa):
    the detection both ``absenceAlerts`` and ``absenceAlertRaised`` run, on two grouped statements."""

    if not where_school:
        return []
    start = from_ - timedelta(days=math.ceil(params.lookback * _CALENDAR_PER_SCHOOL_DAY) + _HOLIDAY_MARGIN_DAYS)
    in_range = (Filter("school", "in", tuple(where_school)), Filter("date", "gte", start), Filter("date", "lte", to))
    days_rows, off_rows = await asyncio.gather(
        sources.fetch(SourceQuery("Attendance", where=in_range, group_by=("school", "date"))),
        sources.fetch(
            SourceQuery(
                "Attendance",
                where=(*in_range, Filter("status", "in", params.statuses)),
                group_by=("school", "className", "date"),
            )
        ),
    )
    return _alerts(days_rows, off_rows, where_school, from_, to, params)


def _alerts(
    days_rows: Sequence[Record],
    off_rows: Sequence[Record],
    where_school: dict[str, str | None],
    from_: date,
    to: date,
    params: Parameters,
) -> list[AbsenceAlert]:
    school_days: dict[str, list[date]] = defaultdict(list)
    for r in days_rows:
        school_days[r["school"]].append(r["date"])
    counts: dict[tuple[str, str | None], dict[date, int]] = defaultdict(dict)
    for r in off_rows:
        counts[(r["school"], r.get("className"))][r["date"]] = int(r.get("count") or 0)
    alerts: list[AbsenceAlert] = []
    for (npsn, rombel), per_day in counts.items():
        days = sorted(school_days.get(npsn, ()))
        series = [per_day.get(d, 0) for d in days]
        for hit in detect(series, days, params, since=from_):
            if hit.day > to:
                continue
            alerts.append(
                AbsenceAlert(
                    date=hit.day,
                    rombel=rombel,
                    count=hit.count,
                    baseline=AbsenceBaseline(mean=round(hit.mean, 3), sd=round(hit.sd, 3), days=params.baseline_days),
                    threshold=hit.threshold,
                    method=METHOD,
                    statuses=list(params.statuses),
                    school_npsn=npsn,
                    region_code=where_school.get(npsn),
                )
            )
    return sorted(alerts, key=lambda a: (a.date, a.school_npsn, a.rombel or ""))


def _kecamatan(region_code: str | None) -> str | None:
    if not region_code or region_code.count(".") < 2:
        return None
    return ".".join(region_code.split(".")[:3])
