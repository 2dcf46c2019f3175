"""``absenceAlerts``: school days on which a class's pupils off sick rise beyond the class's own baseline,
adjusted for the day's level in the rest of the regency.

Cost, whatever the region: one statement for the schools, two grouped statements at the education
office (sick pupils per school, class and day; pupils recorded per school and day), computed by its
database (``GROUP BY``), never a pupil's row. The day factor's reference (the rest of the regency's
schools) comes from the same two statements when the question covers the regency; a smaller region
(and the live subscription's one school) adds one grouped statement: pupils per day and status over
every school. A day the counts flag is confirmed by the cluster test (``detection``): one more grouped
statement per distinct window of flagged days, pupils counted per school, class and NISN over the
window's school days, for the flagged classes only; the NISNs are keys that are counted, never
answered. Each alert's explanation is read on demand: the health
office's case reports of its weeks in its kecamatan (one call per distinct kecamatan and weeks),
the facilities covering its desa, and the pupils' desa spread (the NIKs of the class's pupils off
that day are read as keys of one grouped registry statement, never answered: the education
database does not hold pupils' addresses)."""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

import strawberry

from connectors import Filter, Record, SourceQuery, SourceReader

from ..context import Info
from ..errors import InvalidInput
from .detection import METHOD, Parameters, Reference, cluster_window, clustered, detect

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
        "`threshold`, the limit set by the count `expected` that day (the class's own baseline times the day's "
        "regency-wide `dayFactor`), and so on the school day before. An aggregate: no pupil is named. See "
        "`Query.absenceAlerts` for the method."
    )
)
class AbsenceAlert:
    date: date = strawberry.field(description="The school day.")
    rombel: str | None = strawberry.field(description="The class (rombongan belajar), e.g. `4B`.")
    count: int = strawberry.field(description="Pupils of the class with a counted status that day.")
    baseline: AbsenceBaseline = strawberry.field(description="The class's level before the day (mean, sd).")
    threshold: int = strawberry.field(
        description="The count that raises an alert: the Poisson limit on `expected` (see `method`)."
    )
    day_factor: float = strawberry.field(
        description=(
            "The day effect: the rate of pupils off sick that day at the rest of the regency's schools (all but this "
            "one) over their rate on the class's baseline days. Above 1 when the whole regency is sicker than "
            "before (the rainy season), so a rise every school shares does not alert; 1 when the method's "
            "`day_effect` is off."
        )
    )
    expected: float = strawberry.field(
        description="The count expected that day: `baseline.mean` times `dayFactor`, at least the method's `min_mean`."
    )
    method: str = strawberry.field(
        description=(
            "The method: `POISSON_MOVING_BASELINE` (a Poisson limit on the class's moving baseline scaled by the "
            "day factor, held two school days, confirmed by a cluster of the same pupils off on each of the last "
            "three school days)."
        )
    )
    statuses: list[str] = strawberry.field(description="The attendance statuses counted (`SICK` by default).")
    same_pupils: int | None = strawberry.field(
        default=None,
        description=(
            "The cluster that confirmed the alert: pupils of the class counted on each of its last `clusterDays` "
            "school days up to `date` (the same children every day, not a sum), at least the method's "
            "`cluster_min`. Null when the method's cluster test is off."
        ),
    )
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
    where_school = {s["npsn"]: s.get("regionCode") for s in schools}
    return await alerts_at(sources, where_school, from_, to, params, regency=region is None)


async def countable_schools(sources: SourceReader, npsns: Iterable[str]) -> set[str]:
    """Of ``npsns``, the schools whose pupils the caller may count: those where its reader finds pupils.

    An alert counts a class's pupils (``Student`` records) and places them by desa, so it goes only to a
    caller whose row scope on ``Student`` shows that school's pupils, as ``School.pupilCounts`` and
    ``discrepancyCounts`` count only those (the school operator: its own school; a role without such a
    scope: every school). The detection itself, and the day factor's regency-wide reference, are read
    unscoped: they are counts of every school, no class's. One grouped statement over the schools,
    through the caller's reader; none when there are none."""

    wanted = tuple(sorted(set(npsns)))
    if not wanted:
        return set()
    rows = await sources.fetch(SourceQuery("Student", where=(Filter("school", "in", wanted),), group_by=("school",)))
    return {r.get("school") for r in rows if int(r.get("count") or 0) > 0}


async def alerts_at(
    sources: SourceReader,
    where_school: dict[str, str | None],
    from_: date,
    to: date,
    params: Parameters,
    *,
    regency: bool = False,
) -> list[AbsenceAlert]:
    """The alerts between ``from_`` and ``to`` at the schools ``where_school`` names (NPSN -> desa):
    the detection both ``absenceAlerts`` and ``absenceAlertRaised`` run, on two grouped statements,
    kept to the schools whose pupils the caller may count (``countable_schools``).

    ``regency``: ``where_school`` is every school of the regency, so the day factor's reference is
    summed from the same statements; otherwise (and with ``day_effect`` on) a third statement counts
    the regency's pupils per day and status."""

    if not where_school:
        return []
    start = from_ - timedelta(days=math.ceil(params.lookback * _CALENDAR_PER_SCHOOL_DAY) + _HOLIDAY_MARGIN_DAYS)
    dates = (Filter("date", "gte", start), Filter("date", "lte", to))
    in_range = (Filter("school", "in", tuple(where_school)), *dates)
    statements = [
        sources.fetch(SourceQuery("Attendance", where=in_range, group_by=("school", "date"))),
        sources.fetch(
            SourceQuery(
                "Attendance",
                where=(*in_range, Filter("status", "in", params.statuses)),
                group_by=("school", "className", "date"),
            )
        ),
    ]
    if params.day_effect and not regency:
        statements.append(sources.fetch(SourceQuery("Attendance", where=dates, group_by=("date", "status"))))
    days_rows, off_rows, *regency_rows = await asyncio.gather(*statements)
    if not params.day_effect:
        totals = None
    elif regency_rows:
        totals = _regency_totals(regency_rows[0], params)
    else:  # the regency's totals are the sums of the schools' own
        totals = _sum_by_day(days_rows), _sum_by_day(off_rows)
    flagged = _alerts(days_rows, off_rows, where_school, from_, to, params, totals)
    # Only the caller's (its schools' pupils), before the cluster test reads anything more for them.
    countable = await countable_schools(sources, (alert.school_npsn for alert, _ in flagged))
    flagged = [(alert, window) for alert, window in flagged if alert.school_npsn in countable]
    if not params.cluster_min:
        return [alert for alert, _ in flagged]
    return await _confirmed(sources, flagged, params)


#: A day the counts flag, with the school days its cluster test reads (``None``: too few).
Flagged = tuple["AbsenceAlert", tuple[date, ...] | None]


async def _confirmed(sources: SourceReader, flagged: Sequence[Flagged], params: Parameters) -> list[AbsenceAlert]:
    """The flagged days whose class had at least ``cluster_min`` pupils counted on each day of the window.

    One grouped statement per distinct window (days flagged on the same school days share it),
    over the flagged schools and classes only: pupils counted per school, class and NISN."""

    by_window: dict[tuple[date, ...], list[AbsenceAlert]] = defaultdict(list)
    for alert, window in flagged:
        if window is not None:
            by_window[window].append(alert)
    windows = list(by_window)
    answers = await asyncio.gather(*(_days_counted(sources, by_window[w], w, params) for w in windows))
    confirmed: list[AbsenceAlert] = []
    for window, rows in zip(windows, answers, strict=True):
        days_counted: dict[tuple[str, str | None], dict[str, int]] = defaultdict(dict)
        for r in rows:
            days_counted[(r["school"], r.get("className"))][r["nisn"]] = int(r.get("count") or 0)
        for alert in by_window[window]:
            same = clustered(days_counted.get((alert.school_npsn, alert.rombel), {}), window)
            if same >= params.cluster_min:
                alert.same_pupils = same
                confirmed.append(alert)
    return sorted(confirmed, key=lambda a: (a.date, a.school_npsn, a.rombel or ""))


async def _days_counted(
    sources: SourceReader, alerts: Sequence[AbsenceAlert], window: tuple[date, ...], params: Parameters
) -> Sequence[Record]:
    """Each pupil's counted days in ``window`` (the same school days of every school in ``alerts``), per
    school and class, for the alerts' schools and classes only."""

    where = [
        Filter("school", "in", tuple(sorted({a.school_npsn for a in alerts}))),
        Filter("date", "gte", window[0]),
        Filter("date", "lte", window[-1]),
        Filter("status", "in", params.statuses),
    ]
    if all(a.rombel is not None for a in alerts):  # a unit without a class counts the school's pupils without one
        where.insert(1, Filter("className", "in", tuple(sorted({a.rombel for a in alerts if a.rombel is not None}))))
    return await sources.fetch(SourceQuery("Attendance", where=tuple(where), group_by=("school", "className", "nisn")))


#: The regency's pupils per day: recorded, and with a counted status.
Totals = tuple[dict[date, int], dict[date, int]]


def _sum_by_day(rows: Sequence[Record]) -> dict[date, int]:
    summed: dict[date, int] = defaultdict(int)
    for r in rows:
        summed[r["date"]] += int(r.get("count") or 0)
    return summed


def _regency_totals(rows: Sequence[Record], params: Parameters) -> Totals:
    """Pupils recorded and pupils with a counted status per day, from rows grouped by day and status."""

    return _sum_by_day(rows), _sum_by_day([r for r in rows if r.get("status") in params.statuses])


def _alerts(
    days_rows: Sequence[Record],
    off_rows: Sequence[Record],
    where_school: dict[str, str | None],
    from_: date,
    to: date,
    params: Parameters,
    totals: Totals | None = None,
) -> list[Flagged]:
    """The days the counts flag (the method's screen), each with its cluster window."""

    school_days: dict[str, dict[date, int]] = defaultdict(dict)
    for r in days_rows:
        school_days[r["school"]][r["date"]] = int(r.get("count") or 0)
    counts: dict[tuple[str, str | None], dict[date, int]] = defaultdict(dict)
    school_counted: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for r in off_rows:
        n = int(r.get("count") or 0)
        counts[(r["school"], r.get("className"))][r["date"]] = n
        school_counted[r["school"]][r["date"]] += n
    alerts: list[Flagged] = []
    for (npsn, rombel), per_day in counts.items():
        days = sorted(school_days.get(npsn, ()))
        series = [per_day.get(d, 0) for d in days]
        reference = None
        if totals is not None:  # the rest of the regency: its totals less the unit's own school
            recorded, counted = totals
            own_recorded, own_counted = school_days[npsn], school_counted[npsn]
            reference = Reference(
                counted=[max(counted.get(d, 0) - own_counted.get(d, 0), 0) for d in days],
                recorded=[max(recorded.get(d, 0) - own_recorded.get(d, 0), 0) for d in days],
            )
        for hit in detect(series, days, params, since=from_, reference=reference):
            if hit.day > to:
                continue
            alerts.append((
                AbsenceAlert(
                    date=hit.day,
                    rombel=rombel,
                    count=hit.count,
                    baseline=AbsenceBaseline(mean=round(hit.mean, 3), sd=round(hit.sd, 3), days=params.baseline_days),
                    threshold=hit.threshold,
                    day_factor=round(hit.factor, 3),
                    expected=round(hit.expected, 3),
                    method=METHOD,
                    statuses=list(params.statuses),
                    school_npsn=npsn,
                    region_code=where_school.get(npsn),
                ),
                cluster_window(days, hit.day, params),
            ))
    return sorted(alerts, key=lambda f: (f[0].date, f[0].school_npsn, f[0].rombel or ""))


def _kecamatan(region_code: str | None) -> str | None:
    if not region_code or region_code.count(".") < 2:
        return None
    return ".".join(region_code.split(".")[:3])
