"""Agency (OPD) and the sources it operates, from the gateway's configuration."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from connectors import Filter, Record

from .context import Info
from .entities import by_key
from .feedback import Feedback, FeedbackFilter, feedback_page
from .pagination import After, Connection, PageSize


@strawberry.federation.type(
    keys=["code"], description="A regional agency (Organisasi Perangkat Daerah, OPD) of the regency."
)
class Agency:
    code: str = strawberry.field(description="The gateway's code for the agency, e.g. `DISDUKCAPIL`.")
    name: str = strawberry.field(description="Formal name.")
    short_name: str | None = strawberry.field(description="Common short name, e.g. `Dispendukcapil`.")
    description: str | None = strawberry.field(description="What the agency is responsible for.")

    @classmethod
    def from_record(cls, r: Record) -> Agency:
        return cls(code=r["code"], name=r["name"], short_name=r.get("shortName"), description=r.get("description"))

    @strawberry.field(description="The systems this agency runs that the gateway reads live.")
    async def sources(self, info: Info) -> list[Source]:
        records = await info.context.loaders.many("Source", "agency").load(self.code)
        return [Source.from_record(r) for r in records]

    @strawberry.field(
        description="Citizens' reports disposed to this agency, a page at a time, in order of arrival (tracking number)."
    )
    async def feedback(
        self,
        info: Info,
        first: PageSize = 20,
        after: After = None,
        filter: Annotated[FeedbackFilter | None, strawberry.argument(description="Conditions; all must hold.")] = None,
    ) -> Connection[Feedback] | None:
        return await feedback_page(info, [Filter("agency", "eq", self.code)], filter, first=first, after=after)

    @classmethod
    async def resolve_reference(cls, info: Info, code: Any) -> Agency | None:
        """A federated router's reference to an agency (``{__typename: "Agency", code}``)."""

        return await by_key(code, None, lambda key: Agency.load(info, key))

    @staticmethod
    async def load(info: Info, code: str) -> Agency | None:
        record = await info.context.loaders.one("Agency", "code").load(code)
        return Agency.from_record(record) if record else None


@strawberry.type(description="A system an agency runs, read live by the gateway (never copied).")
class Source:
    name: str = strawberry.field(description="The source's name in the gateway's configuration.")
    kind: str = strawberry.field(description="How the gateway reaches it: `sql`, `rest`, `graphql`.")
    system: str | None = strawberry.field(description="The system behind it, e.g. SIAK or Dapodik.")
    description: str | None = strawberry.field(description="What the source holds.")
    entities: list[str] = strawberry.field(description="Vocabulary types this source answers for.")
    agency_code: strawberry.Private[str]

    @classmethod
    def from_record(cls, r: Record) -> Source:
        return cls(
            name=r["name"],
            kind=r["kind"],
            system=r.get("system"),
            description=r.get("description") or None,
            entities=list(r.get("entities") or ()),
            agency_code=r["agency"],
        )

    @strawberry.field(description="The agency that operates this source.")
    async def agency(self, info: Info) -> Agency | None:
        record = await info.context.loaders.one("Agency", "code").load(self.agency_code)
        return Agency.from_record(record) if record else None
