"""Region: the Kemendagri code hierarchy (province -> regency -> kecamatan -> desa)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from connectors import Filter, Record

from .context import Info
from .entities import by_key
from .enums import RegionLevel, ResidentStatus, SchoolLevel, enum_or_none
from .feedback import Feedback, FeedbackFilter, feedback_page
from .health import Disease, FromWeek, ToWeek, Year
from .identifiers import validate_region_code
from .pagination import SHUFFLED_NIK, After, Connection, PageSize, paginate
from .scalars import RegionCode
from .statistics import ResidentCount, resident_counts

if TYPE_CHECKING:
    from .health import CaseReport, HealthFacility
    from .person import Person
    from .school import School


@strawberry.federation.type(
    keys=["code"], description="An administrative region, identified by its Kemendagri code."
)
class Region:
    code: RegionCode = strawberry.field(description="Kemendagri code, dotted (e.g. `35.03.08.2011`).")
    name: str | None = strawberry.field(description="Official name.")
    level: RegionLevel | None = strawberry.field(description="Province, regency, kecamatan, desa or kelurahan.")
    parent_code: strawberry.Private[str | None]

    @classmethod
    def from_record(cls, r: Record) -> Region:
        return cls(
            code=r["code"],
            name=r.get("name"),
            level=enum_or_none(RegionLevel, r.get("level")),
            parent_code=r.get("parentCode"),
        )

    @classmethod
    async def resolve_reference(cls, info: Info, code: Any) -> Region | None:
        """A federated router's reference to a region (``{__typename: "Region", code}``)."""

        return await by_key(code, validate_region_code, lambda key: Region.load(info, key))

    @staticmethod
    async def load(info: Info, code: str | None) -> Region | None:
        if code is None:
            return None
        record = await info.context.loaders.one("Region", "code").load(code)
        return Region.from_record(record) if record else None

    @strawberry.field(description="The region this one lies in; null for a province.")
    async def parent(self, info: Info) -> Region | None:
        return await Region.load(info, self.parent_code)

    @strawberry.field(description="The regions directly below this one, ordered by code.")
    async def children(self, info: Info) -> list[Region] | None:
        records = await info.context.loaders.many("Region", "parentCode").load(self.code)
        return [Region.from_record(r) for r in records]

    @strawberry.field(description="Schools located anywhere within this region, ordered by NPSN.")
    async def schools(
        self,
        info: Info,
        level: Annotated[SchoolLevel | None, strawberry.argument(description="Only schools of this level.")] = None,
    ) -> list[Annotated[School, strawberry.lazy(".school")]] | None:
        from .school import School

        records = await info.context.loaders.within("School", "regionCode").load(self.code)
        schools = [School.from_record(r) for r in records]
        return [s for s in schools if level is None or s.level == level]

    @strawberry.field(description="Health facilities whose working area covers all or part of this region.")
    async def health_facilities(self, info: Info) -> list[Annotated[HealthFacility, strawberry.lazy(".health")]] | None:
        from .health import HealthFacility

        return await HealthFacility.covering(info, self.code)

    @strawberry.field(description="Weekly SKDR case reports from this desa, for one year and a range of epidemiological weeks.")
    async def case_reports(
        self,
        info: Info,
        year: Year,
        from_week: FromWeek = 1,
        to_week: ToWeek = 53,
        disease: Disease = None,
    ) -> list[Annotated[CaseReport, strawberry.lazy(".health")]] | None:
        from .health import CaseReport

        return await CaseReport.fetch(info, [Filter("regionCode", "prefix", (self.code,))], year, from_week, to_week, disease)

    @strawberry.field(
        description=(
            "Registered residents whose address lies within this region, a page at a time, ordered by NIK. Everyone the "
            "registry lists there, the dead and the moved-away included, unless `status` is given." + SHUFFLED_NIK
        )
    )
    async def residents(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, 0 to 100.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
        status: Annotated[
            ResidentStatus | None,
            strawberry.argument(
                description="Only residents with this status as the registry holds it (e.g. `ALIVE` leaves out the dead and the moved-away); all when not given."
            ),
        ] = None,
    ) -> Connection[Annotated[Person, strawberry.lazy(".person")]] | None:
        from .person import Person

        where = [Filter("regionCode", "prefix", (self.code,))]
        if status is not None:
            where.append(Filter("status", "eq", status.value))
        return await paginate(
            info.context.loaders.sources,
            "Person",
            "nik",
            where,
            first=first,
            after=after,
            cursors=info.context.cursors,
            to_node=Person.from_record,
            order_salt=info.context.list_order_salt("Person", "nik"),
            fields=info.context.loaders.fields("Person"),
        )

    @strawberry.field(
        description=(
            "Registered residents within this region counted by sex and status, at the civil registry: "
            "the population statistics, for roles that may not list the residents themselves."
        )
    )
    async def resident_counts(self, info: Info) -> list[ResidentCount] | None:
        return await resident_counts(info, self.code)

    @strawberry.field(
        description="Citizens' reports about places within this region, a page at a time, in order of arrival (tracking number)."
    )
    async def feedback(
        self,
        info: Info,
        first: PageSize = 20,
        after: After = None,
        filter: Annotated[FeedbackFilter | None, strawberry.argument(description="Conditions; all must hold.")] = None,
    ) -> Connection[Feedback] | None:
        return await feedback_page(info, [Filter("regionCode", "prefix", (self.code,))], filter, first=first, after=after)
