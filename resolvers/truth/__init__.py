"""One truth across agencies (issue 12): where their records of the same person disagree.

Facts several agencies hold about one person (name, birth date, sex, desa, alive or dead, the
NIK itself) are compared live, by the rules of ``rules``, between the civil registry (the
authority for identity unless ``[discrepancies.authority]`` names another) and the other agencies' systems; nothing is
copied. ``Person.discrepancies`` compares one person; the ``discrepancies`` report and its
``discrepancyCounts`` walk the systems page by page (``report``).

Compared: Dapodik's pupils (name, birth date, sex, NIK, and the registry's deaths against active
enrolments; ``compare``), and the registry's deaths against every system that holds whether a
person is alive: the health office's patients, the JKN portal's memberships and Sepeda Keren's
enrolments (``holders``, declared per vocabulary entity). Those three hold no other fact of a
person beside the NIK they are asked by; a source that maps more of a person joins in ``holders``.

Both values of a discrepancy have the type of the record compared (``types.VALUE_TYPES``: a
pupil's, a patient's, a JKN membership's, an enrolment's), which the access policy classes as
that record's data; a walk compares, and counts, only the systems whose values the caller may
see (``report.Walk``), so each OPD's officer gets its own system's discrepancies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..context import Info
from .compare import PUPIL, RESIDENT, pupil_discrepancies, sides
from .holders import HOLDER_ENTITIES, HOLDERS, death_discrepancies
from .report import HOLDER_FACTS, PUPIL_FACTS, Report, discrepancy_counts, discrepancy_page
from .types import (
    VALUE_TYPES,
    Discrepancy,
    DiscrepancyComparison,
    DiscrepancyCount,
    DiscrepancyPage,
    DiscrepancyValue,
    Fact,
    StudentDiscrepancyValue,
    itemised,
    seen_by,
)

if TYPE_CHECKING:
    from ..person import Person


async def person_discrepancies(info: Info, person: Person) -> list[Discrepancy]:
    """Where the other systems' records of ``person`` disagree with the registry's.

    Only the records the caller may follow from the person are compared (``Person.student`` for
    Dapodik, ``Person.healthRecord`` for the health office, ...), and whose discrepancies' values
    it may see (``types.seen_by``, as the report asks): a discrepancy never shows a system the
    caller could not reach. As in the report, a fact whose value the caller has withheld is not
    itemised (``types.itemised``). A system that fails nulls this list, with its error.
    """

    found = await sides(info, PUPIL, RESIDENT, *HOLDER_ENTITIES)
    may = info.context.may_resolve
    if RESIDENT not in found:
        return []
    resident = {
        "nik": person.nik,
        "name": person.name,
        "birthDate": person.birth_date,
        "sex": person.sex,
        "status": person.status,
        "updatedAt": person.updated_at,
        "regionCode": person.region_code,
    }
    out: list[Discrepancy] = []
    if PUPIL in found and may("Person", "student") and may(*seen_by(StudentDiscrepancyValue)):
        pupil = await info.context.loaders.one(PUPIL, "nik").load(person.nik)
        if pupil is not None:
            shown = itemised(info, StudentDiscrepancyValue, PUPIL_FACTS)
            out += [d for d in pupil_discrepancies(pupil, resident, found) if d.fact in shown]
    if getattr(person.status, "value", person.status) != "DECEASED":
        return out  # the other systems hold only whether the person is alive: nothing to disagree with
    for holder in HOLDERS:
        compares = may("Person", holder.link) and may(*seen_by(holder.value)) and bool(itemised(info, holder.value, HOLDER_FACTS))
        if holder.entity in found and compares:
            record = await info.context.loaders.one(holder.entity, "nik").load(person.nik)
            out += death_discrepancies(resident, holder, record, found)
    return out


__all__ = [
    "Discrepancy",
    "DiscrepancyComparison",
    "DiscrepancyCount",
    "DiscrepancyPage",
    "DiscrepancyValue",
    "Fact",
    "Report",
    "VALUE_TYPES",
    "discrepancy_counts",
    "discrepancy_page",
    "person_discrepancies",
]
