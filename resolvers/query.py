"""Root fields: lookups by the shared identifiers, and paged, filtered lists."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from connectors import Filter, SourceQuery

from .agency import Agency
from .context import Info
from .enums import ResidentStatus, SchoolLevel, SchoolOwnership, Sex
from .errors import InvalidInput
from .feedback import Feedback, FeedbackFilter, feedback_page
from .health import HealthFacility
from .lookahead import prefetch, selects
from .pagination import SHUFFLED_NIK, SHUFFLED_NISN, After, Connection, PageSize, paginate
from .person import Family, Person
from .programme import Programme
from .region import Region
from .scalars import KK, NIK, NISN, NPSN, RegionCode
from .school import School, Student
from .signals.alerts import AbsenceAlert, absence_alerts
from .truth import DiscrepancyCount, DiscrepancyPage, Fact, Report, discrepancy_counts, discrepancy_page

#: Shortest name search the sources are asked to run; shorter ones match half the regency.
MIN_NAME_SEARCH = 3


@strawberry.input(description="Conditions on residents; all given conditions must hold.")
class PersonFilter:
    region: RegionCode | None = strawberry.field(default=None, description="Address within this region (any level).")
    name_contains: str | None = strawberry.field(default=None, description="Name contains this text (case-insensitive, at least 3 characters).")
    status: ResidentStatus | None = strawberry.field(default=None, description="Only residents with this status.")
    sex: Sex | None = strawberry.field(default=None, description="Only residents of this sex.")


@strawberry.input(description="Conditions on schools; all given conditions must hold.")
class SchoolFilter:
    region: RegionCode | None = strawberry.field(default=None, description="Located within this region (any level).")
    level: SchoolLevel | None = strawberry.field(default=None, description="Only schools of this level.")
    ownership: SchoolOwnership | None = strawberry.field(default=None, description="Only public or only private schools.")
    name_contains: str | None = strawberry.field(default=None, description="Name contains this text (case-insensitive, at least 3 characters).")


@strawberry.input(description="Conditions on pupils; all given conditions must hold.")
class StudentFilter:
    school: NPSN | None = strawberry.field(default=None, description="Only pupils of this school.")
    grade: int | None = strawberry.field(default=None, description="Only pupils in this grade (1-12).")
    name_contains: str | None = strawberry.field(default=None, description="Name contains this text (case-insensitive, at least 3 characters).")


@strawberry.input(description="Conditions on Sepeda Keren classes; all given conditions must hold.")
class ProgrammeFilter:
    year: int | None = strawberry.field(default=None, description="Only classes that started in this year.")
    region: RegionCode | None = strawberry.field(default=None, description="Only classes hosted within this region (any level).")


#: The arguments of the discrepancy report and its counts.
FactArg = Annotated[Fact | None, strawberry.argument(description="Only discrepancies of this fact.")]
AgencyArg = Annotated[
    str | None,
    strawberry.argument(
        description="Only discrepancies in this agency's records (its code, e.g. `DINDIKPORA`): the side to be corrected."
    ),
]
RegionArg = Annotated[
    RegionCode | None, strawberry.argument(description="Only discrepancies counted within this region (see `Discrepancy.region`).")
]


def _name_filter(text: str | None) -> list[Filter]:
    if text is None:
        return []
    text = text.strip()
    if len(text) < MIN_NAME_SEARCH:
        raise InvalidInput(
            f"nameContains needs at least {MIN_NAME_SEARCH} characters.", argument="nameContains", reason="OUT_OF_RANGE"
        )
    return [Filter("name", "contains", text)]


def _eq(field: str, value: object) -> list[Filter]:
    if value is None:
        return []
    return [Filter(field, "eq", getattr(value, "value", value))]


def person_conditions(f: PersonFilter) -> list[Filter]:
    """The source conditions of ``persons(filter:)`` (its page cursors are bound to them)."""

    return [
        *([Filter("regionCode", "prefix", (f.region,))] if f.region else []),
        *_name_filter(f.name_contains),
        *_eq("status", f.status),
        *_eq("sex", f.sex),
    ]


def school_conditions(f: SchoolFilter) -> list[Filter]:
    """The source conditions of ``schools(filter:)`` (its page cursors are bound to them)."""

    return [
        *([Filter("regionCode", "prefix", (f.region,))] if f.region else []),
        *_eq("level", f.level),
        *_eq("ownership", f.ownership),
        *_name_filter(f.name_contains),
    ]


@strawberry.type(description="Entry points into the regency's graph. Every answer is read live from the agencies' own systems.")
class Query:
    @strawberry.field(description="A resident by NIK; null if the registry has no such NIK.")
    async def person(self, info: Info, nik: Annotated[NIK, strawberry.argument(description="The NIK to look up.")]) -> Person | None:
        if selects(info, "student") and info.context.may_resolve("Person", "student"):
            prefetch(info.context.loaders.one("Student", "nik").load(nik))
        return await Person.load(info, nik)

    @strawberry.field(description="A family card by its number (No. KK); null if unknown.")
    async def family(self, info: Info, kk: Annotated[KK, strawberry.argument(description="The family card number.")]) -> Family | None:
        return await Family.load(info, kk)

    @strawberry.field(description="A school by NPSN; null if unknown.")
    async def school(self, info: Info, npsn: Annotated[NPSN, strawberry.argument(description="The school's NPSN.")]) -> School | None:
        return await School.load(info, npsn)

    @strawberry.field(description="A pupil by NISN; null if unknown.")
    async def student(self, info: Info, nisn: Annotated[NISN, strawberry.argument(description="The pupil's NISN.")]) -> Student | None:
        return await Student.load(info, nisn)

    @strawberry.field(
        description=(
            "A region by Kemendagri code, at any level; e.g. `35.03` is Kabupaten Trenggalek. The gateway knows the "
            "province 35, the regency 35.03 and every region in it: any other code (`35.04`, `35.03.99`) is refused "
            "with `BAD_USER_INPUT`, reason `UNKNOWN_REGION`, never answered with null."
        )
    )
    async def region(
        self, info: Info, code: Annotated[RegionCode, strawberry.argument(description="Kemendagri code, dotted.")]
    ) -> Region | None:
        return await Region.load(info, code)

    @strawberry.field(description="A health facility by the health office's code; null if unknown.")
    async def health_facility(
        self, info: Info, code: Annotated[str, strawberry.argument(description="The facility's code.")]
    ) -> HealthFacility | None:
        return await HealthFacility.load(info, code)

    @strawberry.field(description="The agencies (OPD) whose systems feed this graph.")
    async def agencies(self, info: Info) -> list[Agency]:
        records = await info.context.loaders.sources.fetch(SourceQuery("Agency"))
        return [Agency.from_record(r) for r in records]

    @strawberry.field(description="An agency by its code (e.g. `DINKES`); null if the gateway does not know it.")
    async def agency(self, info: Info, code: Annotated[str, strawberry.argument(description="The agency's code.")]) -> Agency | None:
        return await Agency.load(info, code)

    @strawberry.field(description="A Sepeda Keren class by its code (e.g. `SK-2024-12-01`); null if unknown.")
    async def programme(
        self, info: Info, code: Annotated[str, strawberry.argument(description="The class's code.")]
    ) -> Programme | None:
        return await Programme.load(info, code)

    @strawberry.field(description="Sepeda Keren classes, a page at a time, ordered by code.")
    async def programmes(
        self, info: Info, first: PageSize = 20, after: After = None, filter: Annotated[ProgrammeFilter | None, strawberry.argument(description="Conditions; all must hold.")] = None
    ) -> Connection[Programme] | None:
        f = filter or ProgrammeFilter()
        where = [*_eq("year", f.year), *([Filter("regionCode", "prefix", (f.region,))] if f.region else [])]
        return await paginate(
            info.context.loaders.sources, "Programme", "code", where, first=first, after=after, cursors=info.context.cursors, to_node=Programme.from_record
        )

    @strawberry.field(description="Citizens' reports (complaints, suggestions, aspirations, questions), a page at a time, in order of arrival (tracking number).")
    async def feedback(
        self, info: Info, first: PageSize = 20, after: After = None, filter: Annotated[FeedbackFilter | None, strawberry.argument(description="Conditions; all must hold.")] = None
    ) -> Connection[Feedback] | None:
        return await feedback_page(info, [], filter, first=first, after=after)

    @strawberry.field(
        description=(
            "Early warnings (issue 12): school days on which a class's (rombel's) pupils off sick rise beyond the "
            "class's own baseline, between two dates (inclusive, at most 366 days), at the schools within `region` "
            "(the whole regency when not given), in date order. Method: a Poisson threshold on a moving baseline "
            "adjusted for the day's level, held two days: the expected count is the mean of the class's previous 15 "
            "school days (ending 2 school days before: the guard band) times the day factor (the rest of the "
            "regency's schools' rate of pupils off sick that day over their rate on those 15 days, so a rise every "
            "school shares is not an alert), raised to 0.75; the limit is the smallest count whose probability under "
            "Poisson(expected) is at most 0.001, and 4 at least; an alert is a day at or above the limit following "
            "another. A class needs 17 school days of records before it can alert. Counted by the education office "
            "(`GROUP BY`), never a pupil's row; an aggregate."
        )
    )
    async def absence_alerts(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from", description="First day, inclusive.")],
        to: Annotated[date, strawberry.argument(description="Last day, inclusive.")],
        region: Annotated[RegionCode | None, strawberry.argument(description="Only schools within this region (any level).")] = None,
    ) -> list[AbsenceAlert] | None:
        return await absence_alerts(info, from_, to, region, info.context.signals)

    @strawberry.field(description="Residents, a page at a time, ordered by NIK." + SHUFFLED_NIK)
    async def persons(
        self, info: Info, first: PageSize = 20, after: After = None, filter: Annotated[PersonFilter | None, strawberry.argument(description="Conditions; all must hold.")] = None
    ) -> Connection[Person] | None:
        where = person_conditions(filter or PersonFilter())
        return await paginate(
            info.context.loaders.sources, "Person", "nik", where, first=first, after=after, cursors=info.context.cursors,
            to_node=Person.from_record, order_salt=info.context.list_order_salt("Person", "nik"),
            fields=info.context.loaders.fields("Person"),
        )

    @strawberry.field(description="Schools, a page at a time, ordered by NPSN.")
    async def schools(
        self, info: Info, first: PageSize = 20, after: After = None, filter: Annotated[SchoolFilter | None, strawberry.argument(description="Conditions; all must hold.")] = None
    ) -> Connection[School] | None:
        where = school_conditions(filter or SchoolFilter())
        return await paginate(
            info.context.loaders.sources, "School", "npsn", where, first=first, after=after, cursors=info.context.cursors, to_node=School.from_record
        )

    @strawberry.field(description="Pupils, a page at a time, ordered by NISN." + SHUFFLED_NISN)
    async def students(
        self, info: Info, first: PageSize = 20, after: After = None, filter: Annotated[StudentFilter | None, strawberry.argument(description="Conditions; all must hold.")] = None
    ) -> Connection[Student] | None:
        f = filter or StudentFilter()
        where = [*_eq("school", f.school), *_eq("grade", f.grade), *_name_filter(f.name_contains)]
        return await paginate(
            info.context.loaders.sources, "Student", "nisn", where, first=first, after=after, cursors=info.context.cursors,
            to_node=Student.from_record, order_salt=info.context.list_order_salt("Student", "nisn"),
            fields=info.context.loaders.fields("Student"),
        )

    @strawberry.field(
        description=(
            "Where agencies' records of the same persons disagree with the civil registry (the authority for "
            "identity), a page at a time: each with both values side by side, their systems, the records' "
            "last-update times and the authority. Compared: Dapodik's pupils (name, birth date, sex, NIK, alive), "
            "then the registry's deaths against the health office's patients, the JKN portal's memberships and "
            "Sepeda Keren's enrolments (alive), each only for a caller who may see that system's records. Read "
            "live, page by page, from the agencies' systems (one side's records in key order, each chunk compared "
            "in batched lookups); nothing is stored. A system that fails costs only its own discrepancies "
            "(`comparisons`). Personal data: children's data where the records are pupils'."
        )
    )
    async def discrepancies(
        self,
        info: Info,
        fact: FactArg = None,
        agency: AgencyArg = None,
        region: RegionArg = None,
        first: PageSize = 20,
        after: After = None,
    ) -> DiscrepancyPage | None:
        return await discrepancy_page(info, Report(fact, agency, region), first=first, after=after)

    @strawberry.field(
        description=(
            "The discrepancy report counted per fact, agency and kecamatan, with no person in it: what a role that "
            "sees persons only masked reads instead of the list. Counts every comparison the report makes; walks "
            "the agencies' systems when asked. A system that fails has a null count, with its error."
        )
    )
    async def discrepancy_counts(
        self, info: Info, fact: FactArg = None, agency: AgencyArg = None, region: RegionArg = None
    ) -> list[DiscrepancyCount] | None:
        return await discrepancy_counts(info, Report(fact, agency, region))
