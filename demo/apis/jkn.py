"""A neighbouring portal with a GraphQL API: the province's health-insurance (JKN) membership portal.

Unlike the regency's OPDs it is not wrapped table by table: it is an Apollo Federation v2
subgraph of its own, keyed like ours, that *extends* a person with their JKN (BPJS Kesehatan)
membership::

    type Person @key(fields: "nik") { nik: String!  jkn: JknMembership }

The gateway federates it in as a ``kind = "graphql"`` source: it reads the portal's
``_service { sdl }`` at start-up, checks the mapped fields exist, and asks ``_entities`` for a
batch of persons at once. Membership is generated deterministically per NIK (most residents are
members; PBI — premiums paid by the state — is the poorer households' segment). A membership ends
(NONAKTIF) with its holder's death in the registry, except the deaths BPJS was not told of
(``Dataset.agency_quirks["deceased_insured_active"]``, planted by ``demo.quirks``).
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL

from demo.dataset import Dataset

from demo.registry import P_STATUS, P_WILAYAH
from demo.regions import kecamatan_of

from .people import Residents, keyed_rng


@strawberry.enum(description="Whether the membership is paid up.")
class JknStatus(Enum):
    AKTIF = "AKTIF"
    NONAKTIF = "NONAKTIF"


@strawberry.enum(description="Who pays the premium.")
class JknSegment(Enum):
    PBI_APBN = "PBI_APBN"  # paid by the national budget
    PBI_APBD = "PBI_APBD"  # paid by the province or regency
    PPU = "PPU"  # employees: employer and employee
    PBPU = "PBPU"  # self-paying
    BP = "BP"  # not working (pensioners, veterans)


@strawberry.type(description="A JKN (BPJS Kesehatan) membership.")
class JknMembership:
    card_number: str = strawberry.field(description="The 13-digit JKN card number.")
    status: JknStatus = strawberry.field(description="Whether the membership is paid up.")
    segment: JknSegment = strawberry.field(description="Who pays the premium.")
    care_class: int | None = strawberry.field(description="Inpatient class (1-3); null for PBI members (class 3 by law).")
    primary_care: str | None = strawberry.field(description="The first-level health facility (FKTP) the member is registered with.")
    since: date = strawberry.field(description="Membership start date.")


@strawberry.federation.type(keys=["nik"], description="A person, as the JKN portal knows them: by NIK.")
class Person:
    nik: str = strawberry.field(description="The person's NIK.")
    jkn: JknMembership | None = strawberry.field(description="The person's JKN membership; null if not a member.")

    @classmethod
    def resolve_reference(cls, info: strawberry.Info, nik: str) -> Person | None:
        portal: JknPortal = info.context["portal"]
        portal.entity_calls += 1
        return portal.person(nik)


@strawberry.type
class Query:
    @strawberry.field(description="A member's record by NIK.")
    def member(self, info: strawberry.Info, nik: str) -> Person | None:
        return info.context["portal"].person(nik)


class JknPortal:
    """The portal's data: a membership for most living residents, fixed per NIK."""

    def __init__(self, ds: Dataset, seed: int) -> None:
        self.residents = Residents(ds)
        self.seed = seed
        self.entity_calls = 0
        #: NIKs of residents whose death BPJS was not told of (``demo.quirks``' ``deceased_insured_active``).
        self.untold_deaths = frozenset(q["nik"] for q in ds.agency_quirks.get("deceased_insured_active", ()))

    def counts(self) -> dict[str, int]:
        """What the service holds, for its start-up log line."""

        return {"residents": len(self.residents.rows)}

    def person(self, nik: str) -> Person | None:
        row = self.residents.row(nik)
        if row is None:
            return None
        rng = keyed_rng(self.seed, "jkn", nik)
        # A death BPJS was not told of (demo.quirks): the membership runs on as if alive.
        untold = nik in self.untold_deaths
        if rng.random() < 0.12 and not untold:
            return Person(nik=nik, jkn=None)
        segment = rng.choices(list(JknSegment), weights=[38, 12, 22, 20, 8])[0]
        pbi = segment in (JknSegment.PBI_APBN, JknSegment.PBI_APBD)
        since = date(rng.randint(2014, 2025), rng.randint(1, 12), rng.randint(1, 28))
        membership = JknMembership(
            card_number="000" + "".join(str(rng.randint(0, 9)) for _ in range(10)),
            status=JknStatus.NONAKTIF if self._lapsed(row, pbi, rng.random(), untold) else JknStatus.AKTIF,
            segment=segment,
            care_class=None if pbi else rng.choice([1, 2, 3]),
            # Members are registered with the puskesmas of their kecamatan.
            primary_care=f"Puskesmas {self.residents.names.get(kecamatan_of(str(row[P_WILAYAH])), 'Trenggalek')}",
            since=since,
        )
        return Person(nik=nik, jkn=membership)

    @staticmethod
    def _lapsed(row: tuple[Any, ...], pbi: bool, draw: float, untold: bool) -> bool:
        """Whether the membership is NONAKTIF: unpaid premiums (not for PBI), or ended by the holder's
        death, which the registry reports to BPJS (unless it was not told: ``untold``)."""

        if untold:
            return False
        return row[P_STATUS] == "MATI" or (not pbi and draw < 0.18)


SCHEMA = strawberry.federation.Schema(query=Query, types=[Person], federation_version="2.5")


def create_jkn_app(ds: Dataset, seed: int | None = None) -> Starlette:
    """The JKN portal as a Starlette app: ``POST /graphql`` (a federation subgraph) and ``GET /health``."""

    portal = JknPortal(ds, ds.seed if seed is None else seed)

    class PortalGraphQL(GraphQL):  # type: ignore[type-arg]
        async def get_context(self, request: Any, response: Any = None) -> dict[str, Any]:
            return {"portal": portal, "request": request}

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "jkn-portal"})

    app = Starlette(routes=[Route("/health", health), Route("/graphql", PortalGraphQL(SCHEMA, graphql_ide=None))])
    app.state.portal = app.state.data = portal
    return app
