"""School (by NPSN), Student (by NISN) and daily attendance: the education office's vocabulary."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from connectors import Record

from .context import Info
from .entities import by_key
from .pagination import SHUFFLED_NISN, in_list_order
from .enums import AttendanceStatus, SchoolLevel, SchoolOwnership, Sex, enum_or_none
from .errors import InvalidInput
from .identifiers import validate_nisn, validate_npsn
from .projection import TypeReads, own_names
from .scalars import NIK, NISN, NPSN
from .statistics import PupilCount, pupil_counts

#: Sex by code (``enum_or_none``'s table), for ``Student.from_record``.
_SEX = {m.value: m for m in Sex}
_new = object.__new__

if TYPE_CHECKING:
    from .person import Person
    from .region import Region

#: Longest attendance range one field may ask for: a school year.
MAX_ATTENDANCE_DAYS = 366


@strawberry.federation.type(
    keys=["npsn"], description="A school in the education office's records (Dapodik), identified by NPSN."
)
class School:
    npsn: NPSN = strawberry.field(description="The school's NPSN.")
    name: str | None = strawberry.field(description="Official name.")
    level: SchoolLevel | None = strawberry.field(description="Form of education (SD, MI, SMP, MTs, SMA, SMK).")
    ownership: SchoolOwnership | None = strawberry.field(description="Negeri (public) or swasta (private).")
    address: str | None = strawberry.field(description="Street address.")
    region_code: strawberry.Private[str | None]

    @classmethod
    def from_record(cls, r: Record) -> School:
        return cls(
            npsn=r["npsn"],
            name=r.get("name"),
            level=enum_or_none(SchoolLevel, r.get("level")),
            ownership=enum_or_none(SchoolOwnership, r.get("ownership")),
            address=r.get("address"),
            region_code=r.get("regionCode"),
        )

    @classmethod
    async def resolve_reference(cls, info: Info, npsn: Any) -> School | None:
        """A federated router's reference to a school (``{__typename: "School", npsn}``)."""

        return await by_key(npsn, validate_npsn, lambda key: School.load(info, key))

    @staticmethod
    async def load(info: Info, npsn: str | None) -> School | None:
        if npsn is None:
            return None
        record = await info.context.loaders.one("School", "npsn").load(npsn)
        return School.from_record(record) if record else None

    @strawberry.field(description="The desa/kelurahan where the school stands.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy(".region")] | None:
        from .region import Region

        return await Region.load(info, self.region_code)

    @strawberry.field(description="Pupils enrolled at this school, ordered by NISN." + SHUFFLED_NISN)
    async def students(
        self,
        info: Info,
        grade: Annotated[int | None, strawberry.argument(description="Only pupils in this grade (1-12).")] = None,
    ) -> list[Student] | None:
        records = await info.context.loaders.many("Student", "school").load(self.npsn)
        records = in_list_order(records, "nisn", info.context.list_order_salt("Student", "nisn"))
        return [Student.from_record(r) for r in records if grade is None or r.get("grade") == grade]

    @strawberry.field(
        description=(
            "The school's pupils counted by grade and sex, at the education office: the enrolment statistics, "
            "for roles that may not list the pupils themselves."
        )
    )
    async def pupil_counts(self, info: Info) -> list[PupilCount] | None:
        return await pupil_counts(info, self.npsn)

    @strawberry.field(
        description=(
            "Daily attendance counts of the school's pupils between two dates (inclusive, at most 366 days), "
            "one entry per school day that has records, in date order."
        )
    )
    async def attendance(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from", description="First day, inclusive.")],
        to: Annotated[date, strawberry.argument(description="Last day, inclusive.")],
    ) -> list[AttendanceDay] | None:
        if to < from_:
            raise InvalidInput("`to` is before `from`.", argument="to", reason="OUT_OF_RANGE")
        if (to - from_).days >= MAX_ATTENDANCE_DAYS:
            raise InvalidInput(
                f"An attendance range may span at most {MAX_ATTENDANCE_DAYS} days.", argument="to", reason="OUT_OF_RANGE"
            )
        loader = info.context.loaders.grouped_counts("Attendance", "school", ("date", "from", "to"), ("date", "status"))
        groups = await loader.load((self.npsn, from_, to))
        days: dict[date, AttendanceDay] = {}
        for g in groups:
            day = days.get(g["date"])
            if day is None:
                day = days[g["date"]] = AttendanceDay(date=g["date"], present=0, sick=0, permitted=0, absent=0)
            status = enum_or_none(AttendanceStatus, g.get("status"))
            if status is not None:
                setattr(day, _COUNTER[status], getattr(day, _COUNTER[status]) + int(g["count"]))
        return [days[d] for d in sorted(days)]


_COUNTER = {
    AttendanceStatus.PRESENT: "present",
    AttendanceStatus.SICK: "sick",
    AttendanceStatus.PERMITTED: "permitted",
    AttendanceStatus.ABSENT: "absent",
}


@strawberry.type(description="How many of a school's pupils were present, sick, permitted or absent on one day.")
class AttendanceDay:
    date: date = strawberry.field(description="The school day.")
    present: int = strawberry.field(description="Pupils present (hadir).")
    sick: int = strawberry.field(description="Pupils absent through illness (sakit).")
    permitted: int = strawberry.field(description="Pupils absent with permission (izin).")
    absent: int = strawberry.field(description="Pupils absent without notice (alpa).")

    @strawberry.field(description="Pupils with an attendance record that day.")
    def total(self) -> int:
        return self.present + self.sick + self.permitted + self.absent


#: What each field of ``Student`` reads of Dapodik's record (``resolvers.projection``): the NISN and
#: the NIK always (pupils are listed in NISN order; the audit names the data subject by the NIK).
STUDENT_READS = TypeReads(
    "Student",
    always=("nisn", "nik"),
    fields={
        **own_names("nisn", "nik", "name", "sex", "birthPlace", "birthDate", "grade", "className", "enrolledOn", "school"),
        "birthYear": ("birthDate",),
        "person": ("nik",),
    },
    via={"School.students(grade)": ("grade",)},  # the argument filters the records themselves
)


@strawberry.federation.type(
    keys=["nisn"], description="A pupil's enrolment in the education office's records (Dapodik), identified by NISN."
)
class Student:
    nisn: NISN = strawberry.field(description="The pupil's NISN.")
    nik: NIK | None = strawberry.field(description="The NIK recorded by the school; joins to the civil registry.")
    name: str | None = strawberry.field(description="Name as recorded by the school (may differ from the registry's).")
    sex: Sex | None = strawberry.field(description="Sex as recorded by the school.")
    birth_place: str | None = strawberry.field(description="Place of birth as recorded by the school.")
    birth_date: date | None = strawberry.field(description="Date of birth as recorded by the school (may differ from the registry's).")
    grade: int | None = strawberry.field(description="Grade (tingkat), 1-12.")
    class_name: str | None = strawberry.field(description="Class (rombongan belajar), e.g. `7B`.")
    enrolled_on: date | None = strawberry.field(description="Date the pupil entered this school.")
    school_npsn: strawberry.Private[str | None]

    @strawberry.field(
        description=(
            "Year of birth as recorded by the school, from `birthDate`: all a role that may see the birth date only "
            "as its year gets (its `birthDate` is null, with a `WITHHELD` error)."
        )
    )
    def birth_year(self) -> int | None:
        return self.birth_date.year if isinstance(self.birth_date, date) else None

    @property
    def data_subject(self) -> str | None:
        """The NIK of the person this object's data is about (read by the gateway's audit)."""

        return self.nik

    @classmethod
    async def resolve_reference(cls, info: Info, nisn: Any) -> Student | None:
        """A federated router's reference to a pupil (``{__typename: "Student", nisn}``)."""

        return await by_key(nisn, validate_nisn, lambda key: Student.load(info, key))

    @staticmethod
    async def load(info: Info, nisn: str) -> Student | None:
        record = await info.context.loaders.one("Student", "nisn").load(nisn)
        return Student.from_record(record) if record else None

    @classmethod
    def from_record(cls, r: Record) -> Student:
        # As Person.from_record: fifty schools' pupils are thousands of students per answer, and
        # the dataclass's keyword call and enum_or_none were most of each one's cost. Same values.
        get = r.get
        sex = get("sex")
        student = _new(cls)
        try:
            student.__dict__ = {
                "nisn": r["nisn"],
                "nik": get("nik"),
                "name": get("name"),
                "sex": None if sex is None else _SEX.get(sex),
                "birth_place": get("birthPlace"),
                "birth_date": get("birthDate"),
                "grade": get("grade"),
                "class_name": get("className"),
                "enrolled_on": get("enrolledOn"),
                "school_npsn": get("school"),
            }
        except TypeError:  # an unhashable code (a list): enum_or_none makes it None
            return cls._checked(r)
        return student

    @classmethod
    def _checked(cls, r: Record) -> Student:
        return cls(
            nisn=r["nisn"],
            nik=r.get("nik"),
            name=r.get("name"),
            sex=enum_or_none(Sex, r.get("sex")),
            birth_place=r.get("birthPlace"),
            birth_date=r.get("birthDate"),
            grade=r.get("grade"),
            class_name=r.get("className"),
            enrolled_on=r.get("enrolledOn"),
            school_npsn=r.get("school"),
        )

    @strawberry.field(description="The school the pupil is enrolled at.")
    async def school(self, info: Info) -> School | None:
        return await School.load(info, self.school_npsn)

    @strawberry.field(
        description="The pupil in the civil registry, matched by NIK; null when the registry does not know the NIK."
    )
    async def person(self, info: Info) -> Annotated[Person, strawberry.lazy(".person")] | None:
        from .person import Person

        return await Person.load(info, self.nik)
