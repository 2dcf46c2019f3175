"""Programme (a class of Sepeda Keren), its sessions and who took part: the social office's (Dinsos) vocabulary.

Sepeda Keren (Sekolah Perempuan, Disabilitas, Anak dan Kelompok Rentan) runs classes for women,
people with disabilities, children and other vulnerable groups. The vulnerable group a person is
counted under, their disability and the start-up capital they received are specific personal data
(UU PDP Art. 4(2)); every field that carries them says so in its description, so that an access
policy can find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from connectors import Record

from .context import Info
from .enums import DisabilityType, enum_or_none
from .pagination import SHUFFLED_NIK, Connection, paginate_keys

if TYPE_CHECKING:
    from .person import Person
    from .region import Region

#: Opens the description of every field holding specific personal data; an access policy can match it.
SPECIFIC = "Specific personal data (UU PDP Art. 4(2))"


@strawberry.enum(description=f"The vulnerable group (kelompok rentan) a participant is counted under. {SPECIFIC}.")
class VulnerabilityCategory(Enum):
    WOMAN = strawberry.enum_value("WOMAN", description="Perempuan: an adult woman.")
    DISABILITY = strawberry.enum_value("DISABILITY", description="Disabilitas: a person with a disability.")
    CHILD = strawberry.enum_value("CHILD", description="Anak: under 18 when enrolled.")
    ELDERLY = strawberry.enum_value("ELDERLY", description="Lansia: 60 or older when enrolled.")
    FORMER_MIGRANT_WORKER = strawberry.enum_value(
        "FORMER_MIGRANT_WORKER", description="Purna pekerja migran: once worked abroad."
    )
    OTHER = strawberry.enum_value("OTHER", description="Lainnya: none of the groups above.")


@strawberry.enum(description="Whether a class is still running.")
class ProgrammeStatus(Enum):
    RUNNING = strawberry.enum_value("RUNNING", description="Berjalan: sessions are still to come.")
    COMPLETED = strawberry.enum_value("COMPLETED", description="Selesai: every session has been held.")


@strawberry.enum(description="Where a participant stands in a class.")
class EnrolmentStatus(Enum):
    ACTIVE = strawberry.enum_value("ACTIVE", description="Aktif: taking part in a running class.")
    GRADUATED = strawberry.enum_value("GRADUATED", description="Lulus: completed the class.")
    LEFT = strawberry.enum_value("LEFT", description="Keluar: left before the end.")


@strawberry.enum(description="Whether every class takes a module.")
class ModuleKind(Enum):
    BASIC = strawberry.enum_value("BASIC", description="Dasar: taken by every class.")
    THEMATIC = strawberry.enum_value("THEMATIC", description="Tematik: chosen per class.")


@strawberry.type(description="A module of the Sepeda Keren curriculum.")
class ProgrammeModule:
    code: str = strawberry.field(description="The programme's code for the module, e.g. `ADVOKASI`.")
    name: str | None = strawberry.field(description="Name as the programme writes it.")
    kind: ModuleKind | None = strawberry.field(description="Basic or thematic.")


@strawberry.type(
    description=(
        "A class (angkatan) of Sepeda Keren, the social office's (Dinsos) school for women, people with disabilities, "
        "children and other vulnerable groups, in one kecamatan and year."
    )
)
class Programme:
    code: str = strawberry.field(description="The programme's code for the class, e.g. `SK-2024-12-01`.")
    name: str | None = strawberry.field(description="Name, e.g. `Sepeda Keren Pogalan 2024`.")
    year: int | None = strawberry.field(description="Year the class started.")
    pilot: bool | None = strawberry.field(description="Whether it was one of the 2019 pilot classes.")
    start_date: date | None = strawberry.field(description="Date of the first session.")
    end_date: date | None = strawberry.field(description="Date of the last session; null while the class runs.")
    status: ProgrammeStatus | None = strawberry.field(description="Running or completed.")
    participant_count: int | None = strawberry.field(description="Participants enrolled, as the programme counts them.")
    session_count: int | None = strawberry.field(description="Sessions held so far.")
    modules: list[ProgrammeModule] = strawberry.field(description="The modules the class takes, in curriculum order.")
    region_code: strawberry.Private[str | None]
    facilitator_nik: strawberry.Private[str | None]

    @classmethod
    def from_record(cls, r: Record) -> Programme:
        modules = zip(r.get("moduleCodes") or (), r.get("moduleNames") or (), r.get("moduleKinds") or (), strict=False)
        return cls(
            code=r["code"],
            name=r.get("name"),
            year=r.get("year"),
            pilot=r.get("pilot"),
            start_date=r.get("startDate"),
            end_date=r.get("endDate"),
            status=enum_or_none(ProgrammeStatus, r.get("status")),
            participant_count=r.get("participantCount"),
            session_count=r.get("sessionCount"),
            modules=[ProgrammeModule(code=c, name=n, kind=enum_or_none(ModuleKind, k)) for c, n, k in modules],
            region_code=r.get("regionCode"),
            facilitator_nik=r.get("facilitatorNik"),
        )

    @staticmethod
    async def load(info: Info, code: str | None) -> Programme | None:
        if code is None:
            return None
        record = await info.context.loaders.one("Programme", "code").load(code)
        return Programme.from_record(record) if record else None

    @strawberry.field(description="The desa hosting the class.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy(".region")] | None:
        from .region import Region

        return await Region.load(info, self.region_code)

    @strawberry.field(description="The class's facilitator (pendamping), from the civil registry by NIK.")
    async def facilitator(self, info: Info) -> Annotated[Person, strawberry.lazy(".person")] | None:
        from .person import Person

        return await Person.load(info, self.facilitator_nik)

    @strawberry.field(description="The sessions held so far, in date order.")
    async def sessions(self, info: Info) -> list[ProgrammeSession] | None:
        return await ProgrammeSession.of(info, self.code)

    @strawberry.field(
        description=(
            "Everyone enrolled in the class, a page at a time, ordered by NIK: the people on the attendance list of "
            "any of its sessions." + SHUFFLED_NIK
        )
    )
    async def participants(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, 0 to 100.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
    ) -> Connection[ProgrammeParticipation] | None:
        # The programme lists participants by person only; its classes are known through their
        # attendance lists, which name everyone expected at a session from their enrolment on.
        # Asked by class, not session by session: an API with a class recap answers in one list
        # per class, and one without goes through the sessions itself (``through`` in its mapping).
        rows = await info.context.loaders.many("ProgrammeAttendance", "programme").load(self.code)
        niks = {row["nik"] for row in rows if row.get("nik")}

        async def to_nodes(page: Sequence[str]) -> list[ProgrammeParticipation]:
            records = await info.context.loaders.one("ProgrammeParticipant", "nik").load_many(list(page))
            # A NIK on an attendance list the participant lookup does not know still shows as enrolled.
            return [
                ProgrammeParticipation.in_programme(r or {"nik": nik}, self.code)
                for nik, r in zip(page, records, strict=True)
            ]

        return await paginate_keys(
            sorted(niks), first=first, after=after, cursors=info.context.cursors, scope=f"ProgrammeParticipant:{self.code}",
            to_nodes=to_nodes, order_salt=info.context.list_order_salt("Person", "nik"),
        )


@strawberry.type(description="One session of a Sepeda Keren class.")
class ProgrammeSession:
    code: str = strawberry.field(description="The programme's code for the session, e.g. `SK-2024-12-01-S03`.")
    date: date | None = strawberry.field(description="Day the session was held.")
    module_code: str | None = strawberry.field(description="Code of the module taught (see `Programme.modules`).")
    module_name: str | None = strawberry.field(description="Name of the module taught.")
    programme_code: strawberry.Private[str | None]
    region_code: strawberry.Private[str | None]

    @classmethod
    def from_record(cls, r: Record) -> ProgrammeSession:
        return cls(
            code=r["code"],
            date=r.get("date"),
            module_code=r.get("moduleCode"),
            module_name=r.get("moduleName"),
            programme_code=r.get("programme"),
            region_code=r.get("regionCode"),
        )

    @staticmethod
    async def of(info: Info, programme_code: str) -> list[ProgrammeSession]:
        records = await info.context.loaders.many("ProgrammeSession", "programme").load(programme_code)
        return sorted((ProgrammeSession.from_record(r) for r in records), key=lambda s: (s.date or date.min, s.code))

    @strawberry.field(description="The desa where the session was held.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy(".region")] | None:
        from .region import Region

        return await Region.load(info, self.region_code)

    @strawberry.field(description="The class this session belongs to.")
    async def programme(self, info: Info) -> Programme | None:
        return await Programme.load(info, self.programme_code)


async def attendance_lists(info: Info, programme_code: str) -> list[tuple[ProgrammeSession, list[Record]]]:
    """Each session of a class with its attendance rows (``nik``, ``present``): one batch for all sessions."""

    sessions = await ProgrammeSession.of(info, programme_code)
    rows = await info.context.loaders.many("ProgrammeAttendance", "session").load_many([s.code for s in sessions])
    return list(zip(sessions, rows, strict=True))


@strawberry.type(description="Whether a participant came to one session they were expected at.")
class SessionAttendance:
    session: ProgrammeSession = strawberry.field(description="The session.")
    present: bool | None = strawberry.field(description="Whether the participant came.")
    nik: strawberry.Private[str | None] = None

    @property
    def data_subject(self) -> str | None:
        """The NIK of the participant this attendance is about (read by the gateway's audit)."""

        return self.nik


@strawberry.type(
    description=(
        "One person's enrolment in one Sepeda Keren class, with the vulnerable groups the programme counts them "
        f"under. {SPECIFIC}: it tells that a person belongs to a vulnerable group."
    )
)
class ProgrammeParticipation:
    enrolled_on: date | None = strawberry.field(description="Day the person joined the class.")
    status: EnrolmentStatus | None = strawberry.field(description="Active, graduated or left.")
    categories: list[VulnerabilityCategory] = strawberry.field(
        description=(
            f"{SPECIFIC}: the vulnerable groups the programme counts the person under "
            "(may reveal a disability or a child)."
        )
    )
    disability_type: DisabilityType | None = strawberry.field(
        description=f"{SPECIFIC}: health data. Kind of disability, when the person is counted under DISABILITY."
    )
    start_up_capital: int | None = strawberry.field(
        description=f"{SPECIFIC}: personal financial data. JAPRI start-up capital received after graduating, in rupiah."
    )
    nik: strawberry.Private[str]
    programme_code: strawberry.Private[str]

    @property
    def data_subject(self) -> str | None:
        """The NIK of the person this object's data is about (read by the gateway's audit)."""

        return self.nik

    @classmethod
    def in_programme(cls, r: Record, programme_code: str) -> ProgrammeParticipation:
        """The enrolment in ``programme_code`` out of a participant record (whose enrolments are parallel lists)."""

        codes = list(r.get("programmes") or ())
        i = codes.index(programme_code) if programme_code in codes else None

        def nth(field: str) -> Any:
            values = r.get(field) or ()
            return values[i] if i is not None and i < len(values) else None

        categories = (enum_or_none(VulnerabilityCategory, c) for c in r.get("categories") or ())
        return cls(
            enrolled_on=nth("enrolledOn"),
            status=enum_or_none(EnrolmentStatus, nth("enrolmentStatus")),
            categories=[c for c in categories if c is not None],
            disability_type=enum_or_none(DisabilityType, r.get("disabilityType")),
            start_up_capital=nth("startUpCapital"),
            nik=r["nik"],
            programme_code=programme_code,
        )

    @staticmethod
    async def of_person(info: Info, nik: str) -> list[ProgrammeParticipation]:
        record = await info.context.loaders.one("ProgrammeParticipant", "nik").load(nik)
        if record is None:
            return []
        return [ProgrammeParticipation.in_programme(record, code) for code in record.get("programmes") or ()]

    @strawberry.field(description="The participant in the civil registry, by NIK.")
    async def person(self, info: Info) -> Annotated[Person, strawberry.lazy(".person")] | None:
        from .person import Person

        return await Person.load(info, self.nik)

    @strawberry.field(description="The class.")
    async def programme(self, info: Info) -> Programme | None:
        return await Programme.load(info, self.programme_code)

    @strawberry.field(description="The sessions held while the person was enrolled, in date order, and whether they came.")
    async def attendance(self, info: Info) -> list[SessionAttendance] | None:
        return await self._attendance(info)

    @strawberry.field(description="Number of sessions held while the person was enrolled.")
    async def sessions_expected(self, info: Info) -> int | None:
        return len(await self._attendance(info))

    @strawberry.field(description="Number of those sessions the person came to.")
    async def sessions_attended(self, info: Info) -> int | None:
        return sum(1 for a in await self._attendance(info) if a.present)

    async def _attendance(self, info: Info) -> list[SessionAttendance]:
        held = await attendance_lists(info, self.programme_code)
        return [
            SessionAttendance(session=session, present=row.get("present"), nik=self.nik)
            for session, rows in held
            for row in rows
            if row.get("nik") == self.nik
        ]
