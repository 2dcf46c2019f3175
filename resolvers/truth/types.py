"""The vocabulary of "one truth": a fact two agencies disagree on, each side with its source."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from ..context import Info
from ..enums import Sex
from ..pagination import Connection
from ..scalars import NIK

if TYPE_CHECKING:
    from ..agency import Agency
    from ..person import Person
    from ..region import Region


@strawberry.enum(description="A fact about a person that more than one agency records, and that they may disagree on.")
class Fact(Enum):
    NAME = strawberry.enum_value(
        "NAME",
        description="Full name, compared after normalising case, spacing and gelar (titles before the name, degrees after a comma).",
    )
    BIRTH_DATE = strawberry.enum_value("BIRTH_DATE", description="Date of birth, compared exactly.")
    SEX = strawberry.enum_value("SEX", description="Sex, compared exactly.")
    REGION = strawberry.enum_value("REGION", description="Desa/kelurahan of residence, compared exactly.")
    ALIVE = strawberry.enum_value(
        "ALIVE", description="Alive or dead: the registry records a death while another agency's record is still active."
    )
    NIK = strawberry.enum_value(
        "NIK", description="The NIK: another agency holds one the registry has never issued, or none at all."
    )


#: Facts in the order a record's discrepancies are listed (and paged).
FACT_ORDER: tuple[Fact, ...] = tuple(Fact)
#: Their names, as ``[discrepancies.authority]`` in the gateway's config names them.
FACT_NAMES: tuple[str, ...] = tuple(f.name for f in Fact)


@strawberry.interface(
    description=(
        "One agency's side of a discrepancy: the value its system holds, which system, when that record last "
        "changed, and whether that system is the authority for the fact. Only the field of the discrepancy's "
        "`fact` is set (`name` for NAME, `birthDate` for BIRTH_DATE, ...). Personal data of the class of the "
        "record the discrepancy is about, whose type says which: a pupil's (`StudentDiscrepancyValue`, "
        "children's data), a patient's (`HealthRecordDiscrepancyValue`, health data), a JKN membership's "
        "(`HealthInsuranceDiscrepancyValue`), a Sepeda Keren enrolment's "
        "(`ProgrammeParticipationDiscrepancyValue`, disability data). Both sides of one discrepancy have the "
        "same type, so they are shown to the same roles and masked the same way, as the same field of that "
        "record is."
    )
)
class DiscrepancyValue:
    source: str = strawberry.field(description="The gateway's name for the system holding this value (see `Agency.sources`).")
    system: str | None = strawberry.field(description="The system behind it, e.g. SIAK or Dapodik.")
    authoritative: bool = strawberry.field(
        description="Whether this system is the authority for the fact (the registry for identity); the other side is to be corrected."
    )
    present: bool = strawberry.field(
        description="Whether this system holds the person at all; false when, say, the registry has no resident with the other side's NIK."
    )
    record: str | None = strawberry.field(
        description=(
            "The record's key in this system: the NISN in Dapodik, the NIK in the registry and the systems held by "
            "NIK (the health office, the JKN portal, Sepeda Keren). Personal data."
        )
    )
    updated_at: datetime | None = strawberry.field(
        description=(
            "When this system last changed the record; null where the system keeps no such time (Dapodik, the "
            "health office's patients, the JKN portal, Sepeda Keren)."
        )
    )
    name: str | None = strawberry.field(description="NAME: the name as this system writes it.")
    birth_date: date | None = strawberry.field(description="BIRTH_DATE: the date of birth this system holds.")
    sex: Sex | None = strawberry.field(description="SEX: the sex this system holds.")
    alive: bool | None = strawberry.field(
        description=(
            "ALIVE: false where this system records a death, true where its record is active (a pupil enrolled, a "
            "patient not recorded as dead, a JKN membership paid up, a Sepeda Keren enrolment running)."
        )
    )
    nik: NIK | None = strawberry.field(description="NIK: the NIK this system holds for the person; null if none.")
    region_code: strawberry.Private[str | None]
    agency_code: strawberry.Private[str]
    subject: strawberry.Private[str | None]

    @property
    def data_subject(self) -> str | None:
        """The NIK of the person this value is about (read by the gateway's audit)."""

        return self.subject

    @strawberry.field(
        description="BIRTH_DATE: the year of `birthDate`, all a role that may see the birth date only as its year gets."
    )
    def birth_year(self) -> int | None:
        return self.birth_date.year if isinstance(self.birth_date, date) else None

    @strawberry.field(description="REGION: the desa/kelurahan this system holds.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy("..region")] | None:
        from ..region import Region

        return await Region.load(info, self.region_code) if self.region_code else None

    @strawberry.field(description="The agency (OPD) running this system.")
    async def agency(self, info: Info) -> Annotated[Agency, strawberry.lazy("..agency")] | None:
        from ..agency import Agency

        return await Agency.load(info, self.agency_code)


@strawberry.type(
    description=(
        "A side of a discrepancy about a pupil in Dapodik (Dapodik's value or the registry's): children's data, "
        "classed like the pupil's own fields (`Student`)."
    )
)
class StudentDiscrepancyValue(DiscrepancyValue):
    pass


@strawberry.type(
    description=(
        "A side of a discrepancy about a patient of the health office (its value or the registry's): health "
        "data, classed like the patient's record (`HealthRecord`)."
    )
)
class HealthRecordDiscrepancyValue(DiscrepancyValue):
    pass


@strawberry.type(
    description=(
        "A side of a discrepancy about a JKN membership (the JKN portal's value or the registry's): personal "
        "data, classed like the membership (`HealthInsurance`)."
    )
)
class HealthInsuranceDiscrepancyValue(DiscrepancyValue):
    pass


@strawberry.type(
    description=(
        "A side of a discrepancy about a Sepeda Keren enrolment (the programme's value or the registry's): "
        "disability data, classed like the enrolment (`ProgrammeParticipation`)."
    )
)
class ProgrammeParticipationDiscrepancyValue(DiscrepancyValue):
    pass


#: Every type of a discrepancy's values, one per kind of record compared with the authority (the schema
#: lists them: no field returns them by name).
VALUE_TYPES: tuple[type[DiscrepancyValue], ...] = (
    StudentDiscrepancyValue,
    HealthRecordDiscrepancyValue,
    HealthInsuranceDiscrepancyValue,
    ProgrammeParticipationDiscrepancyValue,
)


def seen_by(value_type: type[DiscrepancyValue]) -> tuple[str, str]:
    """The field (type, name) whose decision says whether a caller may see ``value_type``'s items at
    all, in full or masked: the record's key, classed like the rest of the value."""

    return value_type.__name__, "record"


#: The field of a discrepancy's values that holds each fact: what an item of the fact is a function of.
FACT_FIELDS: dict[Fact, str] = {
    Fact.NAME: "name",
    Fact.BIRTH_DATE: "birthDate",
    Fact.SEX: "sex",
    Fact.REGION: "region",
    Fact.ALIVE: "alive",
    Fact.NIK: "nik",
}


def itemised(info: Info, value_type: type[DiscrepancyValue], facts: Iterable[Fact]) -> tuple[Fact, ...]:
    """Those of ``facts`` whose discrepancies in ``value_type`` are listed to the caller: the facts
    whose field (``FACT_FIELDS``) it is shown something of (``GraphContext.reads_value``).

    An item's existence is a function of its fact's values: an ``ALIVE`` item says the registry
    records the person as dead, a ``SEX`` item that the two systems hold different sexes. To a
    caller who has that field withheld (hidden, as the analyst has a pupil's or a resident's
    status and sex), the item would tell the withheld value of a person it can pick out by the
    item's masked NIK and desa among the residents it lists masked. A field masked to a part (a
    name's initials, a date's year, a NIK's ends) is shown on both sides, and the item adds only
    that the two systems' whole values differ, not either value. Counts are not itemised
    (``discrepancyCounts`` counts every fact of the systems the caller may see).
    """

    return tuple(f for f in facts if info.context.reads_value(value_type.__name__, FACT_FIELDS[f]))


@strawberry.type(
    description=(
        "Two agencies disagree on one fact about one person: both values side by side with their systems, the "
        "time each record last changed, and which system is the authority for the fact. Computed live from the "
        "agencies' systems when asked; nothing is stored. Personal data (about a pupil: children's data)."
    )
)
class Discrepancy:
    fact: Fact = strawberry.field(description="What disagrees.")
    values: list[DiscrepancyValue] = strawberry.field(
        description="Each system's value, the authoritative one first."
    )
    authority: str | None = strawberry.field(
        description="The system that is the authority for this fact (the gateway's source name), as configured."
    )
    subject: strawberry.Private[str | None]
    person_nik: strawberry.Private[str | None]
    region_code: strawberry.Private[str | None]
    agency_code: strawberry.Private[str]
    #: Where the discrepancy sits in a report: the record's key in the scanned system, and the fact's rank.
    position: strawberry.Private[str]
    #: A pupil's Dapodik record without a NIK, kept until the page matches it by name.
    pupil: strawberry.Private[Mapping[str, Any] | None] = None

    @property
    def data_subject(self) -> str | None:
        """The NIK of the person the discrepancy is about (read by the gateway's audit)."""

        return self.subject

    @strawberry.field(
        description=(
            "The resident in the civil registry: the holder of the NIK both sides share or, for a record without a "
            "NIK, the one resident with exactly its name, birth date and sex; null if there is none."
        )
    )
    async def person(self, info: Info) -> Annotated[Person, strawberry.lazy("..person")] | None:
        from ..person import Person

        return await Person.load(info, self.person_nik)

    @strawberry.field(
        description=(
            "Where the discrepancy is counted: the resident's desa in the registry or, for a record without a NIK or "
            "with one the registry does not know, the desa of the record's holder (a pupil's school)."
        )
    )
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy("..region")] | None:
        from ..region import Region

        return await Region.load(info, self.region_code)


@strawberry.type(description="How many discrepancies of one fact one agency's system has in one kecamatan: no person in it.")
class DiscrepancyCount:
    fact: Fact = strawberry.field(description="What disagrees.")
    agency_code: strawberry.Private[str]
    kecamatan_code: strawberry.Private[str | None]
    tally: strawberry.Private[int]
    #: The error of the agency's system, when it failed during the walk (the count is then unknown).
    error: strawberry.Private[Exception | None] = None

    @strawberry.field(
        description=(
            "Discrepancies of this fact, agency and kecamatan. Null, with the system's error, when that agency's "
            "system failed during the walk: the one row of its fact then has no kecamatan, and the other "
            "agencies' counts stand."
        )
    )
    def count(self) -> int | None:
        if self.error is not None:
            raise self.error
        return self.tally

    @strawberry.field(description="The agency whose records disagree with the authority (the side to be corrected).")
    async def agency(self, info: Info) -> Annotated[Agency, strawberry.lazy("..agency")] | None:
        from ..agency import Agency

        return await Agency.load(info, self.agency_code)

    @strawberry.field(description="The kecamatan the discrepancies are counted in (see `Discrepancy.region`); null if unknown.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy("..region")] | None:
        from ..region import Region

        return await Region.load(info, self.kecamatan_code)


@strawberry.type(
    description=(
        "One comparison a report made: an agency's system against the authority, for the facts it holds. No "
        "person in it."
    )
)
class DiscrepancyComparison:
    source: str = strawberry.field(description="The gateway's name for the agency's system compared with the authority.")
    system: str | None = strawberry.field(description="The system behind it, e.g. Dapodik.")
    facts: list[Fact] = strawberry.field(
        description=(
            "The facts compared: those this system holds of a person, less those whose value the caller has "
            "withheld (an ALIVE item would tell a status the caller may not read): those are only counted."
        )
    )
    agency_code: strawberry.Private[str]
    #: The system's error, once it failed: its comparison stops, the others go on.
    error: strawberry.Private[Exception | None] = None

    @strawberry.field(
        description=(
            "True when this system was read as far as the answer needed. Null, with the system's error, when it "
            "failed: its discrepancies are missing from the answer, the other systems' stand."
        )
    )
    def complete(self) -> bool | None:
        if self.error is not None:
            raise self.error
        return True

    @strawberry.field(description="The agency (OPD) running this system.")
    async def agency(self, info: Info) -> Annotated[Agency, strawberry.lazy("..agency")] | None:
        from ..agency import Agency

        return await Agency.load(info, self.agency_code)


@strawberry.type(
    name="DiscrepancyConnection",
    description=(
        "A page of the discrepancy report, Relay-style, with the comparisons its walk made: a system that failed "
        "costs only its own discrepancies, and `comparisons` says which."
    ),
)
class DiscrepancyPage(Connection[Discrepancy]):
    made: strawberry.Private[list[DiscrepancyComparison]]

    @strawberry.field(
        description=(
            "Each agency's system this page compared with the authority, in the report's order; `complete` is null, "
            "with the error, for one that failed (its discrepancies are missing from the page)."
        )
    )
    def comparisons(self) -> list[DiscrepancyComparison]:
        return self.made
