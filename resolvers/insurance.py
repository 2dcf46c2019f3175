"""HealthInsurance: a person's JKN (BPJS Kesehatan) membership, from the province's portal.

The portal is a neighbouring government system federated in by key: the vocabulary asks
for a ``HealthInsurance`` by NIK and whichever source the config routes it to answers (in
the demo, a GraphQL federation subgraph asked through ``_entities``).
"""

from __future__ import annotations

from datetime import date
from enum import Enum

import strawberry

from connectors import Record

from .context import Info
from .enums import enum_or_none


@strawberry.enum(description="Whether the JKN membership is paid up.")
class InsuranceStatus(Enum):
    ACTIVE = strawberry.enum_value("ACTIVE", description="Premiums paid; the member is covered.")
    INACTIVE = strawberry.enum_value("INACTIVE", description="Premiums in arrears; cover suspended.")


@strawberry.enum(description="Who pays the JKN premium (segmen peserta).")
class InsuranceSegment(Enum):
    PBI_NATIONAL = strawberry.enum_value("PBI_NATIONAL", description="Premium assistance from the national budget (PBI APBN).")
    PBI_REGIONAL = strawberry.enum_value("PBI_REGIONAL", description="Premium assistance from the province or regency (PBI APBD).")
    EMPLOYEE = strawberry.enum_value("EMPLOYEE", description="Wage earners, paid with their employer (PPU).")
    SELF_PAYING = strawberry.enum_value("SELF_PAYING", description="Self-paying workers and others (PBPU).")
    NOT_WORKING = strawberry.enum_value("NOT_WORKING", description="Not working: pensioners, veterans (BP).")


@strawberry.type(
    description=(
        "A person's national health insurance (JKN, BPJS Kesehatan) membership, from the province's portal. "
        "Personal data; the segment tells whether the state pays the premium (a household's poverty status)."
    )
)
class HealthInsurance:
    card_number: str | None = strawberry.field(description="The 13-digit JKN card number.")
    status: InsuranceStatus | None = strawberry.field(description="Whether the membership is paid up.")
    segment: InsuranceSegment | None = strawberry.field(description="Who pays the premium.")
    care_class: int | None = strawberry.field(description="Inpatient care class (1-3); null for premium-assisted members.")
    primary_care: str | None = strawberry.field(description="The first-level facility (FKTP) the member is registered with.")
    member_since: date | None = strawberry.field(description="When the membership started.")
    nik: strawberry.Private[str]

    @property
    def data_subject(self) -> str | None:
        """The NIK of the member (read by the gateway's audit)."""

        return self.nik

    @classmethod
    def from_record(cls, r: Record) -> HealthInsurance:
        return cls(
            card_number=r.get("cardNumber"),
            status=enum_or_none(InsuranceStatus, r.get("status")),
            segment=enum_or_none(InsuranceSegment, r.get("segment")),
            care_class=r.get("careClass"),
            primary_care=r.get("primaryCare"),
            member_since=r.get("memberSince"),
            nik=r["nik"],
        )

    @staticmethod
    async def of_person(info: Info, nik: str) -> HealthInsurance | None:
        record = await info.context.loaders.one("HealthInsurance", "nik").load(nik)
        if record is None or record.get("cardNumber") is None:
            return None  # not a member (or unknown to the portal)
        return HealthInsurance.from_record(record)
