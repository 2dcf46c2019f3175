"""Person (by NIK) and Family (by No. KK): the civil registry's part of the vocabulary."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from connectors import Record

from .context import Info
from .entities import by_key
from .enums import FamilyRelation, MaritalStatus, Religion, ResidentStatus, Sex, enum_or_none
from .identifiers import validate_kk, validate_nik
from .lookahead import prefetch, selects
from .pagination import SHUFFLED_NIK, in_list_order
from .projection import EVERY_FIELD, TypeReads, own_names
from .scalars import KK, NIK

#: Enum members by value (``enum_or_none``'s tables), for ``Person.from_record``.
_SEX = {m.value: m for m in Sex}
_RELIGION = {m.value: m for m in Religion}
_MARITAL = {m.value: m for m in MaritalStatus}
_RELATION = {m.value: m for m in FamilyRelation}
_STATUS = {m.value: m for m in ResidentStatus}
_new = object.__new__

if TYPE_CHECKING:
    from .health import HealthFacility, HealthRecord
    from .insurance import HealthInsurance
    from .programme import ProgrammeParticipation
    from .region import Region
    from .school import Student
    from .truth import Discrepancy


@strawberry.federation.type(
    keys=["nik"], description="A resident in the civil registry (Dispendukcapil, SIAK), identified by NIK."
)
class Person:
    nik: NIK = strawberry.field(description="The resident's NIK.")
    name: str | None = strawberry.field(description="Full name (nama lengkap) as on the KTP.")
    sex: Sex | None = strawberry.field(description="Sex (jenis kelamin).")
    birth_place: str | None = strawberry.field(description="Place of birth (tempat lahir).")
    birth_date: date | None = strawberry.field(description="Date of birth (tanggal lahir) as recorded in the registry.")
    religion: Religion | None = strawberry.field(description="Religion or belief (agama).")
    marital_status: MaritalStatus | None = strawberry.field(description="Marital status (status perkawinan).")
    family_relation: FamilyRelation | None = strawberry.field(description="Relation to the head of the family (SHDK).")
    occupation: str | None = strawberry.field(description="Occupation (jenis pekerjaan), in the registry's own words.")
    status: ResidentStatus | None = strawberry.field(description="Alive, deceased or moved away.")
    updated_at: datetime | None = strawberry.field(description="When the registry last changed this record.")
    kk: strawberry.Private[str | None]
    region_code: strawberry.Private[str | None]

    @property
    def data_subject(self) -> str | None:
        """The NIK of the person this object's data is about (read by the gateway's audit)."""

        return self.nik

    @strawberry.field(
        description=(
            "Year of birth, from `birthDate`: all a role that may see the birth date only as its year gets "
            "(its `birthDate` is null, with a `WITHHELD` error)."
        )
    )
    def birth_year(self) -> int | None:
        return self.birth_date.year if isinstance(self.birth_date, date) else None

    @classmethod
    def from_record(cls, r: Record) -> Person:
        # Built without the dataclass's __init__ and with the enum tables at hand: a page of
        # fifty schools' pupils makes some 44,000 persons (each family's members), and the
        # keyword call and five enum_or_none calls were half the cost of each. Same values.
        get = r.get
        sex, religion, marital = get("sex"), get("religion"), get("maritalStatus")
        relation, status = get("familyRelation"), get("status")
        person = _new(cls)
        try:
            person.__dict__ = {
                "nik": r["nik"],
                "name": get("name"),
                "sex": None if sex is None else _SEX.get(sex),
                "birth_place": get("birthPlace"),
                "birth_date": get("birthDate"),
                "religion": None if religion is None else _RELIGION.get(religion),
                "marital_status": None if marital is None else _MARITAL.get(marital),
                "family_relation": None if relation is None else _RELATION.get(relation),
                "occupation": get("occupation"),
                "status": None if status is None else _STATUS.get(status),
                "updated_at": get("updatedAt"),
                "kk": get("kk"),
                "region_code": get("regionCode"),
            }
        except TypeError:  # an unhashable code (a list): enum_or_none makes it None
            return cls._checked(r)
        return person

    @classmethod
    def _checked(cls, r: Record) -> Person:
        return cls(
            nik=r["nik"],
            name=r.get("name"),
            sex=enum_or_none(Sex, r.get("sex")),
            birth_place=r.get("birthPlace"),
            birth_date=r.get("birthDate"),
            religion=enum_or_none(Religion, r.get("religion")),
            marital_status=enum_or_none(MaritalStatus, r.get("maritalStatus")),
            family_relation=enum_or_none(FamilyRelation, r.get("familyRelation")),
            occupation=r.get("occupation"),
            status=enum_or_none(ResidentStatus, r.get("status")),
            updated_at=r.get("updatedAt"),
            kk=r.get("kk"),
            region_code=r.get("regionCode"),
        )

    @strawberry.field(description="The family card (KK) the person is listed on.")
    async def family(self, info: Info) -> Family | None:
        if self.kk is None:
            return None
        if selects(info, "members") and info.context.may_resolve("Family", "members"):
            prefetch(info.context.loaders.many("Person", "kk").load(self.kk))
        return await Family.load(info, self.kk)

    @strawberry.field(description="The desa/kelurahan of the person's registered address.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy(".region")] | None:
        from .region import Region

        return await Region.load(info, self.region_code)

    @strawberry.field(
        description="The person's enrolment in the education office's records (Dapodik), matched by NIK; null if not a pupil."
    )
    async def student(self, info: Info) -> Annotated[Student, strawberry.lazy(".school")] | None:
        from .school import Student

        record = await info.context.loaders.one("Student", "nik").load(self.nik)
        return Student.from_record(record) if record else None

    @strawberry.field(
        description="The puskesmas whose working area covers the person's desa (from the health office); null if none."
    )
    async def health_facility(self, info: Info) -> Annotated[HealthFacility, strawberry.lazy(".health")] | None:
        from .health import HealthFacility

        facilities = await HealthFacility.covering(info, self.region_code)
        return facilities[0] if facilities else None

    @strawberry.field(
        description=(
            "The person's national health insurance (JKN) membership, from the province's portal (federated in "
            "by NIK); null if not a member."
        )
    )
    async def health_insurance(self, info: Info) -> Annotated[HealthInsurance, strawberry.lazy(".insurance")] | None:
        from .insurance import HealthInsurance

        return await HealthInsurance.of_person(info, self.nik)

    @strawberry.field(description="The person's record in the health system, matched by NIK; null if not registered. Health data.")
    async def health_record(self, info: Info) -> Annotated[HealthRecord, strawberry.lazy(".health")] | None:
        from .health import HealthRecord

        record = await info.context.loaders.one("Patient", "nik").load(self.nik)
        return HealthRecord.from_record(record) if record else None

    @strawberry.field(
        description=(
            "The person's Sepeda Keren classes (social office), matched by NIK; empty if they never took part. "
            "Specific personal data (UU PDP Art. 4(2)): taking part tells that a person belongs to a vulnerable group."
        )
    )
    async def programmes(self, info: Info) -> list[Annotated[ProgrammeParticipation, strawberry.lazy(".programme")]] | None:
        from .programme import ProgrammeParticipation

        return await ProgrammeParticipation.of_person(info, self.nik)

    @strawberry.field(
        description=(
            "Where other agencies' records of this person disagree with the registry's (name, birth date, sex, desa, "
            "alive or dead), each with both values, their systems and which one is the authority; empty if none "
            "does. Compares the records the caller may follow from the person (`student`: Dapodik). Children's "
            "data where the other record is a pupil's."
        )
    )
    async def discrepancies(self, info: Info) -> list[Annotated[Discrepancy, strawberry.lazy(".truth")]] | None:
        from .truth import person_discrepancies

        return await person_discrepancies(info, self)

    @classmethod
    async def resolve_reference(cls, info: Info, nik: Any) -> Person | None:
        """A federated router's reference to a person (``{__typename: "Person", nik}``)."""

        return await by_key(nik, validate_nik, lambda key: Person.load(info, key))

    @staticmethod
    async def load(info: Info, nik: str | None) -> Person | None:
        if nik is None:
            return None
        record = await info.context.loaders.one("Person", "nik").load(nik)
        return Person.from_record(record) if record else None


#: What each field of ``Person`` reads of the registry's record (``resolvers.projection``): a query
#: for names only selects the registry's NIK and name columns. The NIK always (the audit names the
#: data subject by it; members are listed in its order); a field not named reads the whole record.
PERSON_READS = TypeReads(
    "Person",
    always=("nik",),
    fields={
        **own_names(
            "nik", "name", "sex", "birthPlace", "birthDate", "religion", "maritalStatus", "familyRelation",
            "occupation", "status", "updatedAt",
        ),
        "birthYear": ("birthDate",),
        "family": ("kk",),
        "region": ("regionCode",),
        "student": ("nik",),
        "healthFacility": ("regionCode",),
        "healthInsurance": ("nik",),
        "healthRecord": ("nik",),
        "programmes": ("nik",),
        "discrepancies": EVERY_FIELD,  # compares name, birth date, sex, desa, status and their times
    },
)


#: What each field of ``Family`` reads of the registry's family card: the KK and the head's NIK
#: always (the audit names the card's data subject by the head's NIK).
FAMILY_READS = TypeReads(
    "Family",
    always=("kk", "headNik"),
    fields={
        **own_names("kk", "address", "rt", "rw", "issuedOn", "updatedAt"),
        "head": ("headNik",),
        "members": ("kk",),
        "region": ("regionCode",),
    },
)


@strawberry.federation.type(
    keys=["kk"], description="A family card (Kartu Keluarga) in the civil registry: a household and its members."
)
class Family:
    kk: KK = strawberry.field(description="The family card number (No. KK).")
    address: str | None = strawberry.field(description="Street address or dusun.")
    rt: str | None = strawberry.field(description="Rukun tetangga (neighbourhood unit) number.")
    rw: str | None = strawberry.field(description="Rukun warga (community unit) number.")
    issued_on: date | None = strawberry.field(description="Date the current card was issued.")
    updated_at: datetime | None = strawberry.field(description="When the registry last changed this card.")
    head_nik: strawberry.Private[str | None]
    region_code: strawberry.Private[str | None]

    @property
    def data_subject(self) -> str | None:
        """The NIK of the person this object's data is about (read by the gateway's audit)."""

        return self.head_nik

    @classmethod
    async def resolve_reference(cls, info: Info, kk: Any) -> Family | None:
        """A federated router's reference to a family card (``{__typename: "Family", kk}``)."""

        return await by_key(kk, validate_kk, lambda key: Family.load(info, key))

    @staticmethod
    async def load(info: Info, kk: str) -> Family | None:
        record = await info.context.loaders.one("Family", "kk").load(kk)
        return Family.from_record(record) if record else None

    @classmethod
    def from_record(cls, r: Record) -> Family:
        get = r.get
        family = _new(cls)  # as Person.from_record: no keyword call per family
        family.__dict__ = {
            "kk": r["kk"],
            "address": get("address"),
            "rt": get("rt"),
            "rw": get("rw"),
            "issued_on": get("issuedOn"),
            "updated_at": get("updatedAt"),
            "head_nik": get("headNik"),
            "region_code": get("regionCode"),
        }
        return family

    @strawberry.field(description="The head of the family (kepala keluarga).")
    async def head(self, info: Info) -> Person | None:
        return await Person.load(info, self.head_nik)

    @strawberry.field(description="Everyone listed on this card, ordered by NIK." + SHUFFLED_NIK)
    async def members(self, info: Info) -> list[Person] | None:
        records = await info.context.loaders.many("Person", "kk").load(self.kk)
        return [Person.from_record(r) for r in in_list_order(records, "nik", info.context.list_order_salt("Person", "nik"))]

    @strawberry.field(description="The desa/kelurahan of the family's address.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy(".region")] | None:
        from .region import Region

        return await Region.load(info, self.region_code)
