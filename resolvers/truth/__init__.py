"""One truth across agencies (issue 12): where their records of the same person disagree.

Facts several agencies hold about one person (name, birth date, sex, desa, alive or dead, the
NIK itself) are compared live, by the rules of ``rules``, between the civil registry (the
authority for identity unless ``[discrepancies.authority]`` names another) and the other agencies' systems; nothing is
copied. ``Person.discrepancies`` compares one person; the ``discrepancies`` report and its
``discrepancyCounts`` walk the other system's records page by page (``report``).

Compared today: Dapodik's pupils (name, birth date, sex, NIK, and the registry's deaths against
active enrolments). The health office's patients, Sepeda Keren's participants and the JKN
portal hold none of these facts beyond the NIK they are asked by (they are looked up by it),
so nothing of theirs can disagree yet; a source that maps more of a person joins here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..context import Info
from .compare import PUPIL, RESIDENT, pupil_discrepancies, sides
from .report import Report, discrepancy_counts, discrepancy_page
from .types import Discrepancy, DiscrepancyCount, DiscrepancyValue, Fact

if TYPE_CHECKING:
    from ..person import Person


async def person_discrepancies(info: Info, person: Person) -> list[Discrepancy]:
    """Where the other systems' records of ``person`` disagree with the registry's.

    Only the records the caller may follow from the person are compared (``Person.student``
    for Dapodik): a discrepancy never shows a system the caller could not reach.
    """

    if not info.context.may_resolve("Person", "student"):
        return []
    found = await sides(info, PUPIL, RESIDENT)
    if PUPIL not in found or RESIDENT not in found:
        return []
    pupil = await info.context.loaders.one(PUPIL, "nik").load(person.nik)
    if pupil is None:
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
    return pupil_discrepancies(pupil, resident, found)


__all__ = [
    "Discrepancy",
    "DiscrepancyCount",
    "DiscrepancyValue",
    "Fact",
    "Report",
    "discrepancy_counts",
    "discrepancy_page",
    "person_discrepancies",
]
