"""HealthFacility, CaseReport and a person's health record: the health office's (Dinkes) vocabulary."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from connectors import Filter, Record, SourceQuery

from .context import Info
from .enums import DisabilityType, enum_or_none
from .errors import InvalidInput
from .scalars import DiseaseCode

if TYPE_CHECKING:
    from .region import Region


#: Arguments shared by every ``caseReports`` field.
Year = Annotated[int, strawberry.argument(description="Year of the epidemiological weeks.")]
FromWeek = Annotated[int, strawberry.argument(description="First epidemiological week (1-53).")]
ToWeek = Annotated[int, strawberry.argument(description="Last epidemiological week (1-53).")]
Disease = Annotated[DiseaseCode | None, strawberry.argument(description="Only this SKDR disease code (e.g. `A`, `J`).")]


@strawberry.enum(description="What kind of health facility.")
class FacilityKind(Enum):
    PUSKESMAS_INPATIENT = strawberry.enum_value("PUSKESMAS_INPATIENT", description="Puskesmas with inpatient care (rawat inap).")
    PUSKESMAS_OUTPATIENT = strawberry.enum_value("PUSKESMAS_OUTPATIENT", description="Puskesmas, outpatient only.")
    HOSPITAL = strawberry.enum_value("HOSPITAL", description="Regional public hospital (RSUD).")


@strawberry.type(description="A health facility of the regency (puskesmas or hospital), from the health office (Dinkes).")
class HealthFacility:
    code: str = strawberry.field(description="The health office's code for the facility.")
    name: str | None = strawberry.field(description="Name, e.g. `Puskesmas Watulimo`.")
    kind: FacilityKind | None = strawberry.field(description="Puskesmas (inpatient or outpatient) or hospital.")
    address: str | None = strawberry.field(description="Street address.")
    phone: str | None = strawberry.field(description="Telephone number.")
    region_code: strawberry.Private[str | None]
    coverage_codes: strawberry.Private[list[str]]

    @classmethod
    def from_record(cls, r: Record) -> HealthFacility:
        return cls(
            code=r["code"],
            name=r.get("name"),
            kind=enum_or_none(FacilityKind, r.get("kind")),
            address=r.get("address"),
            phone=r.get("phone"),
            region_code=r.get("regionCode"),
            coverage_codes=list(r.get("coverage") or ()),
        )

    @staticmethod
    async def load(info: Info, code: str | None) -> HealthFacility | None:
        if code is None:
            return None
        record = await info.context.loaders.one("HealthFacility", "code").load(code)
        return HealthFacility.from_record(record) if record else None

    @staticmethod
    async def covering(info: Info, region_code: str | None) -> list[HealthFacility]:
        """Facilities whose working area (wilayah kerja) includes any desa within ``region_code``."""

        if region_code is None:
            return []
        records = await info.context.loaders.within("HealthFacility", "coverage").load(region_code)
        return [HealthFacility.from_record(r) for r in records]

    @strawberry.field(description="The desa/kelurahan where the facility stands.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy(".region")] | None:
        from .region import Region

        return await Region.load(info, self.region_code)

    @strawberry.field(description="The desa and kelurahan in the facility's working area (wilayah kerja).")
    async def coverage(self, info: Info) -> list[Annotated[Region, strawberry.lazy(".region")]] | None:
        from .region import Region

        regions = [await Region.load(info, code) for code in self.coverage_codes]
        return [r for r in regions if r is not None]

    @strawberry.field(description="Weekly SKDR case reports from this facility, for one year and a range of epidemiological weeks.")
    async def case_reports(
        self,
        info: Info,
        year: Year,
        from_week: FromWeek = 1,
        to_week: ToWeek = 53,
        disease: Disease = None,
    ) -> list[CaseReport] | None:
        return await CaseReport.fetch(info, [Filter("facility", "eq", self.code)], year, from_week, to_week, disease)


@strawberry.type(description="One SKDR weekly report line: cases of one disease in one desa in one epidemiological week (Sunday-Saturday).")
class CaseReport:
    year: int = strawberry.field(description="Year of the epidemiological week.")
    week: int = strawberry.field(description="Epidemiological week number (1-53).")
    disease: str = strawberry.field(description="SKDR disease code, e.g. `A` (acute diarrhoea), `J` (influenza-like illness).")
    disease_name: str | None = strawberry.field(description="Disease or syndrome name as the health office writes it.")
    cases: int = strawberry.field(description="Cases reported that week.")
    threshold: int | None = strawberry.field(description="SKDR alert threshold for this disease.")
    alert: bool | None = strawberry.field(description="Whether the count reached the alert threshold.")
    facility_code: strawberry.Private[str | None]
    region_code: strawberry.Private[str | None]

    @classmethod
    def from_record(cls, r: Record) -> CaseReport:
        return cls(
            year=r["year"],
            week=r["week"],
            disease=r["disease"],
            disease_name=r.get("diseaseName"),
            cases=r.get("cases") or 0,
            threshold=r.get("threshold"),
            alert=r.get("alert"),
            facility_code=r.get("facility"),
            region_code=r.get("regionCode"),
        )

    @staticmethod
    async def fetch(
        info: Info, where: list[Filter], year: int, from_week: int, to_week: int, disease: str | None
    ) -> list[CaseReport]:
        if not (1 <= from_week <= to_week <= 53):
            raise InvalidInput("Weeks must satisfy 1 <= fromWeek <= toWeek <= 53.", argument="fromWeek", reason="OUT_OF_RANGE")
        where = [*where, Filter("year", "eq", year), Filter("week", "gte", from_week), Filter("week", "lte", to_week)]
        if disease is not None:
            where.append(Filter("disease", "eq", disease))
        records = await info.context.loaders.sources.fetch(SourceQuery("CaseReport", where=tuple(where)))
        reports = [CaseReport.from_record(r) for r in records]
        return sorted(reports, key=lambda c: (c.year, c.week, c.disease, c.region_code or ""))

    @strawberry.field(description="The reporting facility.")
    async def facility(self, info: Info) -> HealthFacility | None:
        return await HealthFacility.load(info, self.facility_code)

    @strawberry.field(description="The desa the cases were reported from.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy(".region")] | None:
        from .region import Region

        return await Region.load(info, self.region_code)


@strawberry.type(description="A person's record in the health system (SATUSEHAT-like). Health data: specific personal data under UU PDP.")
class HealthRecord:
    ihs_number: str | None = strawberry.field(description="SATUSEHAT patient number (IHS number).")
    blood_type: str | None = strawberry.field(description="Blood type (golongan darah).")
    registered_on: date | None = strawberry.field(description="Date of registration at the facility.")
    chronic_conditions: list[str] = strawberry.field(description="Recorded chronic conditions.")
    has_disability: bool | None = strawberry.field(description="Whether a disability is recorded.")
    disability_type: DisabilityType | None = strawberry.field(
        description="Kind of disability, when recorded (the same enum as `ProgrammeParticipation.disabilityType`)."
    )
    facility_code: strawberry.Private[str | None]
    nik: strawberry.Private[str | None] = None

    @property
    def data_subject(self) -> str | None:
        """The NIK of the person this object's data is about (read by the gateway's audit)."""

        return self.nik

    @classmethod
    def from_record(cls, r: Record) -> HealthRecord:
        return cls(
            ihs_number=r.get("ihsNumber"),
            blood_type=r.get("bloodType"),
            registered_on=r.get("registeredOn"),
            chronic_conditions=list(r.get("chronicConditions") or ()),
            has_disability=r.get("hasDisability"),
            disability_type=enum_or_none(DisabilityType, r.get("disabilityType")),
            facility_code=r.get("facility"),
            nik=r.get("nik"),
        )

    @strawberry.field(description="The facility where the person is registered.")
    async def registered_facility(self, info: Info) -> HealthFacility | None:
        return await HealthFacility.load(info, self.facility_code)
