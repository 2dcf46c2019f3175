"""Subscription fields: change notices from the feed, each answer read live under the subscriber's policy.

A field takes notices of one entity from ``info.context.changes`` (a ``connectors.ChangeFeed``),
keeps those of the requested region (a kecamatan's code matches its desa) and kinds, and yields
an event object holding only the notice (key, kind, time). Everything else is read when the
event is executed, through the event's own loaders, so masks, refusals and row scopes apply
per subscriber exactly as in a query; nothing of a record passes through the feed.

An event type may define ``admits(context)``: the gateway calls it with the event's context
before executing it, and drops the event when the subscriber's live read finds nothing (a
resident outside the subscriber's row scope is not even announced).

What change capture publishes, per entity (``Change.entity``, ``Change.key``, ``Change.kind``):

``Person``
    the NIK; ``BORN``, ``DIED``, ``MOVED_IN``, ``MOVED_OUT`` or ``UPDATED``; ``region`` the desa.
``CaseReport``
    ``"{year}:{week}:{disease}"`` (an SKDR line of one desa and week); ``ADDED``.
``AttendanceDay``
    ``"{npsn}:{YYYY-MM-DD}"`` (a school's day); ``RECORDED``; ``region`` the school's desa.
    ``attendanceRecorded`` reads its totals; ``absenceAlertRaised`` runs the absence-alert
    detection on it (``resolvers.signals.live``).
``SourceStatus``
    the source's name; ``UP``, ``DEGRADED`` or ``DOWN`` (the gateway publishes these itself when a
    source's breaker or health changes).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from connectors import Change, Filter, SourceHealth, SourceQuery
from core import SatudataError

from .context import GraphContext, Info
from .enums import AttendanceStatus, enum_or_none
from .health import CaseReport
from .person import Person
from .scalars import RegionCode
from .school import AttendanceDay, School
from .signals.alerts import AbsenceAlert
from .signals.live import AlertWatch

__all__ = ["Subscription", "SubscriptionsUnavailable"]


class SubscriptionsUnavailable(SatudataError):
    """The gateway runs without a change feed: nothing could ever be delivered."""

    code = "SUBSCRIPTIONS_UNAVAILABLE"
    status = 503


@strawberry.enum(description="What happened to a resident, as the civil registry recorded it.")
class ResidentChangeKind(Enum):
    BORN = strawberry.enum_value("BORN", description="A birth was registered.")
    DIED = strawberry.enum_value("DIED", description="A death was registered.")
    MOVED_IN = strawberry.enum_value("MOVED_IN", description="The resident moved into the region.")
    MOVED_OUT = strawberry.enum_value("MOVED_OUT", description="The resident moved out of the region.")
    UPDATED = strawberry.enum_value("UPDATED", description="Another correction or change of the record.")


@strawberry.enum(description="A source's state as the gateway sees it from its calls.")
class SourceState(Enum):
    UP = strawberry.enum_value("UP", description="The last calls succeeded.")
    DEGRADED = strawberry.enum_value("DEGRADED", description="Recent calls failed, or a probe is under way.")
    DOWN = strawberry.enum_value("DOWN", description="The circuit breaker is open: calls are refused until a probe succeeds.")


@strawberry.enum(description="A source's circuit breaker.")
class BreakerPosition(Enum):
    CLOSED = strawberry.enum_value("closed", description="Calls go through.")
    OPEN = strawberry.enum_value("open", description="Calls are refused at once after repeated failures.")
    HALF_OPEN = strawberry.enum_value("half_open", description="One probe call is let through to test the source.")


@strawberry.type(description="A change of one resident's record; the resident is read live from the registry.")
class ResidentChange:
    kind: ResidentChangeKind | None = strawberry.field(
        description=(
            "What happened. It tells a resident's status (born, died, moved away), so it is withheld "
            "(null, with a WITHHELD error) from a subscriber who does not read residents' records in full."
        )
    )
    at: datetime = strawberry.field(description="When the registry recorded the change.")
    nik: strawberry.Private[str]

    async def admits(self, context: GraphContext) -> bool:
        """Whether the subscriber's live read finds the resident (within their row scope)."""

        return await context.loaders.one("Person", "nik").load(self.nik) is not None

    @strawberry.field(description="The resident as the registry holds them now, under the subscriber's policy.")
    async def person(self, info: Info) -> Person | None:
        return await Person.load(info, self.nik)


@strawberry.type(description="A new SKDR weekly report line from the health office; the line is read live.")
class CaseReportAdded:
    at: datetime = strawberry.field(description="When the health office recorded the line.")
    year: strawberry.Private[int]
    week: strawberry.Private[int]
    disease: strawberry.Private[str]
    region_code: strawberry.Private[str]

    async def _read(self, context: GraphContext) -> CaseReport | None:
        where = (
            # The filters Region.caseReports sends, which every health office source answers.
            Filter("regionCode", "prefix", (self.region_code,)),
            Filter("year", "eq", self.year),
            Filter("week", "gte", self.week),
            Filter("week", "lte", self.week),
            Filter("disease", "eq", self.disease),
        )
        records = await context.loaders.sources.fetch(SourceQuery("CaseReport", where=where))
        found = [r for r in records if r.get("regionCode") == self.region_code]
        return CaseReport.from_record(found[0]) if found else None

    async def admits(self, context: GraphContext) -> bool:
        """Whether the line is there to read (a notice may overtake the source's own commit)."""

        self._found = await self._read(context)
        return self._found is not None

    @strawberry.field(description="The report line as the health office holds it now.")
    async def report(self, info: Info) -> CaseReport | None:
        found = getattr(self, "_found", None)
        return found if found is not None else await self._read(info.context)


@strawberry.type(description="A school's attendance of one day was recorded; its totals are read live.")
class AttendanceRecorded:
    at: datetime = strawberry.field(description="When the school recorded the attendance.")
    date: date = strawberry.field(description="The school day the attendance is for.")
    npsn: strawberry.Private[str]

    async def admits(self, context: GraphContext) -> bool:
        """Whether the subscriber's live read finds the school."""

        return await context.loaders.one("School", "npsn").load(self.npsn) is not None

    @strawberry.field(description="The school.")
    async def school(self, info: Info) -> School | None:
        return await School.load(info, self.npsn)

    @strawberry.field(description="The day's totals as the school's records hold them now; null if none.")
    async def totals(self, info: Info) -> AttendanceDay | None:
        loader = info.context.loaders.grouped_counts("Attendance", "school", ("date", "from", "to"), ("date", "status"))
        groups = await loader.load((self.npsn, self.date, self.date))
        if not groups:
            return None
        day = AttendanceDay(date=self.date, present=0, sick=0, permitted=0, absent=0)
        for g in groups:
            status = enum_or_none(AttendanceStatus, g.get("status"))
            if status is not None:
                name = status.name.lower()
                setattr(day, name, getattr(day, name) + int(g["count"]))
        return day


@strawberry.type(description="A source's state changed (up, degraded, down; its breaker): for operators.")
class SourceStatus:
    at: datetime = strawberry.field(description="When the gateway saw the change.")
    source: str = strawberry.field(description="The configured source's name.")
    state: SourceState = strawberry.field(description="The source's state after the change.")
    breaker: BreakerPosition | None = strawberry.field(description="The source's circuit breaker as the event is sent.")
    consecutive_failures: int | None = strawberry.field(description="Failed calls in a row as the event is sent.")
    last_error_code: str | None = strawberry.field(description="The code of the last error (e.g. `SOURCE_TIMEOUT`), if any.")

    @classmethod
    def of(cls, change: Change, state: SourceState, health: Iterable[SourceHealth]) -> SourceStatus:
        """The notice, with the source's health as the gateway holds it now (not from any source)."""

        now = next((h for h in health if h.name == change.key), None)
        return cls(
            at=change.at,
            source=change.key,
            state=state,
            breaker=None if now is None else enum_or_none(BreakerPosition, now.breaker),
            consecutive_failures=None if now is None else now.consecutive_failures,
            last_error_code=None if now is None else now.last_error_code,
        )


def within(code: str, region: str) -> bool:
    """Whether the desa ``code`` lies in ``region`` (the region itself, or any region above it)."""

    return code == region or code.startswith(region + ".")


def school_day(change: Change) -> tuple[str, date] | None:
    """``(npsn, day)`` of an ``AttendanceDay`` notice (``"{npsn}:{YYYY-MM-DD}"``); ``None`` if malformed."""

    npsn, _, day = change.key.partition(":")
    try:
        return npsn, date.fromisoformat(day)
    except ValueError:
        return None


async def notices(info: Info, entity: str, region: str | None, kinds: Iterable[str] | None = None) -> AsyncIterator[Change]:
    """The feed's notices of ``entity`` from now on, of ``region`` and ``kinds`` (``None``: all)."""

    feed = info.context.changes
    if feed is None:
        raise SubscriptionsUnavailable("This gateway has no change feed: subscriptions are not available.")
    wanted = None if kinds is None else frozenset(kinds)
    subscription = feed.subscribe(entity)
    try:
        async for change in subscription:
            if region is not None and not within(change.region, region):
                continue
            if wanted is not None and change.kind not in wanted:
                continue
            yield change
    finally:
        subscription.close()


@strawberry.type(
    description=(
        "Live changes, over graphql-transport-ws (WebSocket on /graphql) or GraphQL over SSE (POST /graphql with "
        "Accept: text/event-stream). Only the fact of a change passes through the gateway; each event's data is read "
        "live from the agency's system under the subscriber's own policy."
    )
)
class Subscription:
    @strawberry.subscription(
        description="Changes of residents registered in a region (a kecamatan includes its desa), of the given kinds (default: all)."
    )
    async def resident_changes(
        self,
        info: Info,
        region: Annotated[RegionCode, strawberry.argument(description="Kemendagri code of the region, at any level.")],
        kinds: Annotated[
            list[ResidentChangeKind] | None, strawberry.argument(description="Only these kinds of change (default: every kind).")
        ] = None,
    ) -> AsyncGenerator[ResidentChange, None]:
        names = None if kinds is None else [k.value for k in kinds]
        async for change in notices(info, "Person", region, names):
            kind = enum_or_none(ResidentChangeKind, change.kind)
            if kind is not None:
                yield ResidentChange(kind=kind, at=change.at, nik=change.key)

    @strawberry.subscription(description="New SKDR weekly report lines of a region's desa, as the health office records them.")
    async def case_reports_added(
        self,
        info: Info,
        region: Annotated[RegionCode, strawberry.argument(description="Kemendagri code of the region, at any level.")],
    ) -> AsyncGenerator[CaseReportAdded, None]:
        async for change in notices(info, "CaseReport", region):
            parts = change.key.split(":", 2)
            if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
                yield CaseReportAdded(
                    at=change.at, year=int(parts[0]), week=int(parts[1]), disease=parts[2], region_code=change.region
                )

    @strawberry.subscription(description="A school's daily attendance totals as the schools of a region record them.")
    async def attendance_recorded(
        self,
        info: Info,
        region: Annotated[RegionCode, strawberry.argument(description="Kemendagri code of the region, at any level.")],
    ) -> AsyncGenerator[AttendanceRecorded, None]:
        async for change in notices(info, "AttendanceDay", region):
            found = school_day(change)
            if found is not None:
                yield AttendanceRecorded(at=change.at, date=found[1], npsn=found[0])

    @strawberry.subscription(
        description=(
            "Early warnings as the schools of a region record their days: each time a school's attendance of a day is "
            "recorded, the detection of `Query.absenceAlerts` (same method, parameters and baseline) is run for that "
            "school and day, and each alert it raises is sent, once: a day recorded again sends only alerts not sent "
            "before. An aggregate, like `absenceAlerts`; the pupils behind an alert only for roles that may see them."
        )
    )
    async def absence_alert_raised(
        self,
        info: Info,
        region: Annotated[RegionCode, strawberry.argument(description="Kemendagri code of the region, at any level.")],
    ) -> AsyncGenerator[AbsenceAlert, None]:
        watch = AlertWatch()
        async for change in notices(info, "AttendanceDay", region):
            found = school_day(change)
            if found is None:
                continue
            # Looked at when the gateway admits it, with the event's own context (policy, deadline);
            # the day's further alerts, found there, follow it.
            yield watch.day(*found)
            while watch.waiting:
                yield watch.waiting.popleft()

    @strawberry.subscription(description="Each change of a source's state or circuit breaker, as the gateway's calls find it. For operators.")
    async def source_status(self, info: Info) -> AsyncGenerator[SourceStatus, None]:
        async for change in notices(info, "SourceStatus", None):
            state = enum_or_none(SourceState, change.kind)
            if state is not None:
                health = info.context.source_health
                yield SourceStatus.of(change, state, health() if health is not None else ())
