"""The other agencies' records that say a person is alive: declared per vocabulary entity, compared with the registry's deaths.

The health office's patients, the JKN portal's memberships and Sepeda Keren's participants are
held by NIK and hold one fact of a person beside it: whether they are alive. A patient record
says so outright (``deceased``); a JKN membership stays ``ACTIVE`` only for the living; an
enrolment is ``ACTIVE`` while its class runs. None of them holds a name, birth date, sex or desa
(the demo's services as they are; a system that maps such a field joins by a line in ``HOLDERS``).

They cannot be listed (each answers only by NIK), so the comparison walks the authority's side:
the registry's deaths (``status = DECEASED``, pushed to the source, in NIK order), a chunk at a
time, each chunk looked up in every holder in one batched call (one call per NIK where the
system has no batch, as Sepeda Keren). A living resident whom another system records as dead
(a death the registry was not told of) is therefore not found: that would need every resident
asked of every system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors import Record, SourceReader

from .compare import RESIDENT, Catalogue, Side, fetch_in
from .types import (
    Discrepancy,
    DiscrepancyValue,
    Fact,
    HealthInsuranceDiscrepancyValue,
    HealthRecordDiscrepancyValue,
    ProgrammeParticipationDiscrepancyValue,
)

#: The report's segment of these comparisons (after the pupils', ``compare.PUPILS``).
DEATHS = 1


@dataclass(frozen=True)
class Holder:
    """A vocabulary entity holding a person's record by NIK, and what in it says they are alive.

    The record is *active* (its holder treats the person as alive) when ``field`` holds one of
    ``active`` (for a list field, any item does): a patient not ``deceased``, a membership
    ``ACTIVE``, an enrolment ``ACTIVE``. Any other value says nothing (a lapsed membership may be
    unpaid premiums, not a death).
    """

    entity: str
    #: The ``Person`` field a caller follows to this record: a person's discrepancies compare it
    #: only for a caller the policy lets follow it (a discrepancy never shows a system the caller could not reach).
    link: str
    #: The type of both values of a discrepancy about this record, classed by the policy as the
    #: record's data: the report lists the comparison only to a caller who may see it (``types.seen_by``).
    value: type[DiscrepancyValue]
    field: str
    active: tuple[Any, ...]

    def is_active(self, record: Record) -> bool:
        value = record.get(self.field)
        values = value if isinstance(value, list | tuple) else (value,)
        return any(_code(v) in self.active for v in values)


#: Every holder compared, in the order a resident's items are listed.
HOLDERS: tuple[Holder, ...] = (
    Holder("Patient", link="healthRecord", value=HealthRecordDiscrepancyValue, field="deceased", active=(False,)),
    Holder("HealthInsurance", link="healthInsurance", value=HealthInsuranceDiscrepancyValue, field="status", active=("ACTIVE",)),
    Holder(
        "ProgrammeParticipant", link="programmes", value=ProgrammeParticipationDiscrepancyValue, field="enrolmentStatus",
        active=("ACTIVE",),
    ),
)
HOLDER_ENTITIES: tuple[str, ...] = tuple(h.entity for h in HOLDERS)


async def holder_records(reader: SourceReader, holder: Holder, niks: Sequence[str]) -> dict[str, Record]:
    """``holder``'s records of ``niks`` by NIK (one batched call, or one per NIK where the system has no batch)."""

    return {str(r["nik"]): r for r in await fetch_in(reader, holder.entity, "nik", niks)}


def death_discrepancies(resident: Record, holder: Holder, record: Record | None, found: Catalogue) -> list[Discrepancy]:
    """``ALIVE``, if ``resident`` is dead in the registry while ``holder``'s ``record`` of them is active."""

    if record is None or _code(resident.get("status")) != "DECEASED" or not holder.is_active(record):
        return []
    registry_side, other_side = found[RESIDENT], found[holder.entity]
    authority = found.authority_of(Fact.ALIVE)
    nik = str(resident["nik"])
    # Both sides are the holder's kind of value: the registry's death is shown to whoever may see the record.
    registry = _alive_value(holder, registry_side, resident, alive=False, updated=resident.get("updatedAt"), authority=authority)
    other = _alive_value(holder, other_side, record, alive=True, updated=record.get("updatedAt"), authority=authority)
    values = [registry, other] if registry.authoritative or not other.authoritative else [other, registry]
    return [
        Discrepancy(
            fact=Fact.ALIVE,
            values=values,
            authority=authority,
            subject=nik,
            person_nik=nik,
            region_code=resident.get("regionCode"),
            agency_code=other_side.agency,
            position=f"{DEATHS}:{nik}:{HOLDER_ENTITIES.index(holder.entity)}",
        )
    ]


def _alive_value(holder: Holder, side: Side, record: Record, *, alive: bool, updated: Any, authority: str | None) -> DiscrepancyValue:
    return holder.value(
        source=side.source,
        system=side.system,
        authoritative=authority == side.source,
        present=True,
        record=record.get("nik"),
        updated_at=updated,
        name=None,
        birth_date=None,
        sex=None,
        alive=alive,
        nik=None,
        region_code=None,
        agency_code=side.agency,
        subject=record.get("nik"),
    )


def _code(value: Any) -> Any:
    return getattr(value, "value", value)


__all__ = ["HOLDERS", "HOLDER_ENTITIES", "Holder", "death_discrepancies", "holder_records"]
