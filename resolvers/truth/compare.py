"""Pupils in Dapodik against residents in the registry: the comparisons, one chunk at a time.

Everything here asks by vocabulary entity (``Student``, ``Person``, ``School``, ``Source``);
which system answers, and which agency runs it, comes from the gateway's catalogue of sources.
A chunk of pupils costs one batched lookup of their NIKs in the registry, one of the names of
those without a NIK, and one of the schools of those the registry does not know.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors import Filter, Record, SourceQuery, SourceReader

from ..context import Info
from ..enums import Sex, enum_or_none
from .rules import names_differ, values_differ
from .types import FACT_ORDER, Discrepancy, DiscrepancyValue, Fact, StudentDiscrepancyValue

#: Without ``[discrepancies.authority]`` in the config, the authority for every fact is the system
#: answering this entity: the civil registry holds a resident's identity (name, birth date, sex,
#: desa, death, the NIK itself). Dapodik is the authority for enrolment (school, grade, class),
#: which no other agency records, so it is not compared; "dead but enrolled" is the registry's
#: death against Dapodik's active enrolment.
DEFAULT_AUTHORITY = "Person"

#: The record each side of a pupil's discrepancy is read from.
PUPIL, RESIDENT = "Student", "Person"
#: The report's segment of the pupils' comparisons (``report``: segments are walked in order).
PUPILS = 0


@dataclass(frozen=True)
class Side:
    """The system answering one vocabulary entity."""

    source: str
    system: str | None
    agency: str


@dataclass(frozen=True)
class Catalogue:
    """What the gateway's configuration says about the systems a comparison reads."""

    #: Entity -> the system answering it (entities no system serves are absent).
    sides: Mapping[str, Side]
    #: Fact -> the source name configured as its authority (``[discrepancies.authority]``).
    authority: Mapping[Fact, str]

    def __contains__(self, entity: str) -> bool:
        return entity in self.sides

    def __getitem__(self, entity: str) -> Side:
        return self.sides[entity]

    def authority_of(self, fact: Fact) -> str | None:
        """The source name of the fact's authority: configured, else the system answering ``Person``."""

        configured = self.authority.get(fact)
        if configured is not None:
            return configured
        default = self.sides.get(DEFAULT_AUTHORITY)
        return default.source if default is not None else None


async def sides(info: Info, *entities: str) -> Catalogue:
    """The systems answering ``entities`` and each fact's authority, from the gateway's catalogue."""

    # The catalogue is the gateway's own configuration, held in memory: asking it costs no system a call.
    reader = info.context.loaders.sources
    catalogue = await reader.fetch(SourceQuery("Source"))
    found: dict[str, Side] = {}
    for r in catalogue:
        for entity in r.get("entities") or ():
            if entity in (*entities, DEFAULT_AUTHORITY) and entity not in found:
                found[entity] = Side(str(r["name"]), r.get("system"), str(r.get("agency") or ""))
    authority = {Fact[r["fact"]]: str(r["source"]) for r in await reader.fetch(SourceQuery("Authority")) if r.get("fact") in Fact.__members__}
    return Catalogue(found, authority)


async def fetch_in(reader: SourceReader, entity: str, field: str, values: Sequence[Any]) -> Sequence[Record]:
    """Records of ``entity`` whose ``field`` is one of ``values`` (one source call; none for no values)."""

    if not values:
        return []
    return await reader.fetch(SourceQuery(entity, where=(Filter(field, "in", tuple(values)),)))


async def compare_pupils(info: Info, pupils: Sequence[Record], found: Catalogue) -> list[Discrepancy]:
    """Every discrepancy between ``pupils`` (Dapodik records) and the registry, in record then fact order.

    A pupil without a NIK is a discrepancy whoever they are; who they are in the registry is
    looked up only for the items a page shows (``match_nameless``), since finding a resident by
    name is a search the registry may not have an index for.
    """

    reader = info.context.loaders.sources
    residents = {r["nik"]: r for r in await fetch_in(reader, RESIDENT, "nik", sorted({p["nik"] for p in pupils if p.get("nik")}))}
    unknown = [p for p in pupils if residents.get(p.get("nik") or "") is None]
    schools = {s["npsn"]: s for s in await fetch_in(reader, "School", "npsn", sorted({p["school"] for p in unknown if p.get("school")}))}
    out: list[Discrepancy] = []
    for pupil in pupils:
        school = schools.get(pupil.get("school") or "")
        resident = residents.get(pupil.get("nik") or "")
        out.extend(pupil_discrepancies(pupil, resident, found, school_region=school.get("regionCode") if school else None))
    return out


async def match_nameless(info: Info, items: Sequence[Discrepancy], found: Catalogue) -> list[Discrepancy]:
    """``items`` with each pupil without a NIK matched to the one resident with exactly their name,
    birth date and sex (one registry call for the lot); the others as they are."""

    nameless = {d.position: d.pupil for d in items if d.pupil is not None and not d.pupil.get("nik")}
    names = sorted({p["name"] for p in nameless.values() if p and p.get("name")})
    by_name: dict[str, list[Record]] = defaultdict(list)
    for r in await fetch_in(info.context.loaders.sources, RESIDENT, "name", names):
        by_name[r["name"]].append(r)
    out: list[Discrepancy] = []
    for d in items:
        pupil = nameless.get(d.position)
        if pupil is None:
            out.append(d)
            continue
        matches = [r for r in by_name.get(pupil.get("name") or "", ()) if _same_person(pupil, r)]
        resident = matches[0] if len(matches) == 1 else None
        (matched,) = pupil_discrepancies(pupil, resident, found, school_region=d.region_code)
        out.append(matched)
    return out


def _same_person(pupil: Record, resident: Record) -> bool:
    """A resident who is the pupil without a NIK: exactly the same name, birth date and sex."""

    return all(
        pupil.get(f) is not None and resident.get(f) is not None and not values_differ(_code(pupil.get(f)), _code(resident.get(f)))
        for f in ("name", "birthDate", "sex")
    )


def pupil_discrepancies(
    pupil: Record, resident: Record | None, found: Catalogue, *, school_region: str | None = None
) -> list[Discrepancy]:
    """What ``pupil`` (a Dapodik record) and ``resident`` (the registry's, or ``None``) disagree on.

    ``resident`` is the holder of the pupil's NIK or, for a pupil without one, the resident the
    caller matched by name, birth date and sex.
    """

    pupil_side, resident_side = found[PUPIL], found[RESIDENT]
    nik = pupil.get("nik")
    facts: list[Fact] = []
    if not nik or resident is None:
        facts.append(Fact.NIK)
    else:
        if names_differ(resident.get("name"), pupil.get("name")):
            facts.append(Fact.NAME)
        if values_differ(resident.get("birthDate"), pupil.get("birthDate")):
            facts.append(Fact.BIRTH_DATE)
        if values_differ(_code(resident.get("sex")), _code(pupil.get("sex"))):
            facts.append(Fact.SEX)
        if _code(resident.get("status")) == "DECEASED":
            facts.append(Fact.ALIVE)
    subject = (resident or {}).get("nik") or nik
    # A pupil without a NIK is counted at the school whether or not a resident matches them, so a
    # report's filters and counts do not depend on the search by name.
    region = (resident or {}).get("regionCode") if nik else None
    region = region or school_region
    out = []
    for fact in sorted(facts, key=FACT_ORDER.index):
        authority = found.authority_of(fact)
        registry = _value(fact, resident_side, resident, key="nik", subject=subject, authoritative=authority == resident_side.source)
        school = _value(fact, pupil_side, pupil, key="nisn", subject=subject, authoritative=authority == pupil_side.source)
        values = [registry, school] if registry.authoritative or not school.authoritative else [school, registry]
        out.append(
            Discrepancy(
                fact=fact,
                values=values,
                authority=authority,
                subject=subject,
                person_nik=(resident or {}).get("nik"),
                region_code=region,
                agency_code=pupil_side.agency,
                position=f"{PUPILS}:{pupil['nisn']}:{FACT_ORDER.index(fact)}",
                pupil=pupil if not nik else None,
            )
        )
    return out


def _code(value: Any) -> Any:
    return getattr(value, "value", value)


def _value(fact: Fact, side: Side, record: Record | None, *, key: str, subject: str | None, authoritative: bool) -> DiscrepancyValue:
    r: Record = record or {}
    present = record is not None
    # Both sides of a pupil's discrepancy are children's data: the registry's too is shown to whoever may see the pupil.
    return StudentDiscrepancyValue(
        source=side.source,
        system=side.system,
        authoritative=authoritative,
        present=present,
        record=r.get(key),
        updated_at=r.get("updatedAt"),
        name=r.get("name") if fact is Fact.NAME else None,
        birth_date=r.get("birthDate") if fact is Fact.BIRTH_DATE else None,
        sex=enum_or_none(Sex, _code(r.get("sex"))) if fact is Fact.SEX else None,
        alive=(_code(r.get("status")) != "DECEASED" if key == "nik" else True) if fact is Fact.ALIVE and present else None,
        nik=r.get("nik") if fact is Fact.NIK else None,
        region_code=r.get("regionCode") if fact is Fact.REGION else None,
        agency_code=side.agency,
        subject=subject,
    )
