"""What each argument of the schema tests: the vocabulary field it matches rows against.

An argument is a way to read: ``person(nik: X)`` answers "is there a resident with NIK X?",
``persons(filter: {nameContains: "SIT"})`` "which residents' names contain SIT?". The gateway's
access policy therefore treats every argument as a read of the field it tests (``reads``) and
allows it only where the caller's role may read that field in full. This module states, once,
which field that is; it knows nothing of roles.

Each argument of the schema is in exactly one of these tables (a test walks the schema):

``MATCHES``
    the argument is compared with a field's value: a key, a filter, a search term. Names are
    ``Type.field(argument)``, or ``Type.field(argument.inputField)`` inside a filter object.
``TRAVERSES``
    the argument narrows a list the way following a link would (``persons(filter: {region})``
    lists the residents of a region, as ``Region.residents`` does); it needs what the link needs.
``SHAPES``
    the argument shapes the answer without testing any record (page size, cursors, windows).

``CHOSEN_BY`` does the same for a list or link that no argument narrows but that is chosen by a
field of what it leads to all the same: an alert's pupils are its class's (``rombel``), so the list
tells each pupil's ``Student.className`` as ``students(className: "4B")`` would; a resident's change
leads to a resident whose status changed (born, died, moved away), so it tells ``Person.status``.
Each is a read of that field.

``REPRESENTATION_KEYS`` does the same for federation's ``_entities``: each representation
names a type and tests its key field.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``Type.field(argument[.inputField])`` -> ``Type.field`` whose values the argument is compared with.
MATCHES: dict[str, str] = {
    "Query.person(nik)": "Person.nik",
    "Query.family(kk)": "Family.kk",
    "Query.student(nisn)": "Student.nisn",
    "Query.school(npsn)": "School.npsn",
    "Query.region(code)": "Region.code",
    "Query.healthFacility(code)": "HealthFacility.code",
    "Query.agency(code)": "Agency.code",
    "Query.programme(code)": "Programme.code",
    "Query.persons(filter.nameContains)": "Person.name",
    "Query.persons(filter.status)": "Person.status",
    "Query.persons(filter.sex)": "Person.sex",
    "Region.residents(status)": "Person.status",
    # Choosing deaths or moves among a desa's changes tests what the change says of the resident.
    "Subscription.residentChanges(kinds)": "ResidentChange.kind",
    "Query.students(filter.grade)": "Student.grade",
    "Query.students(filter.nameContains)": "Student.name",
    "School.students(grade)": "Student.grade",
    "Query.schools(filter.region)": "School.region",
    "Query.schools(filter.level)": "School.level",
    "Query.schools(filter.ownership)": "School.ownership",
    "Query.schools(filter.nameContains)": "School.name",
    "Region.schools(level)": "School.level",
    "Query.programmes(filter.year)": "Programme.year",
    "Query.programmes(filter.region)": "Programme.region",
    # The report narrowed by what the discrepancy itself says: its fact, the agency whose records
    # disagree, where it is counted (all public fields of a discrepancy).
    **{
        f"Query.{field}({name})": target
        for field in ("discrepancies", "discrepancyCounts")
        for name, target in (("fact", "Discrepancy.fact"), ("agency", "DiscrepancyValue.agency"), ("region", "Discrepancy.region"))
    },
    **{
        f"{parent}.feedback(filter.{name})": f"Feedback.{target}"
        for parent in ("Query", "Region", "Agency")
        for name, target in (
            ("status", "status"),
            ("kind", "kind"),
            ("category", "category"),
            ("region", "region"),
            ("agency", "agency"),
            ("submittedFrom", "submittedAt"),
            ("submittedTo", "submittedAt"),
        )
    },
    **{
        f"{parent}.caseReports({name})": f"CaseReport.{target}"
        for parent in ("Region", "HealthFacility")
        for name, target in (("year", "year"), ("fromWeek", "week"), ("toWeek", "week"), ("disease", "disease"))
    },
}

#: ``Type.field(argument[.inputField])`` -> the link (``Type.field``) whose list the argument gives.
TRAVERSES: dict[str, str] = {
    "Query.persons(filter.region)": "Region.residents",
    "Query.students(filter.school)": "School.students",
    # A subscription to a region's changes lists what the region's own links would list.
    "Subscription.residentChanges(region)": "Region.residents",
    "Subscription.caseReportsAdded(region)": "Region.caseReports",
    "Subscription.attendanceRecorded(region)": "Region.schools",
    # Absence alerts at the schools of a region: the schools the region's own link lists.
    "Query.absenceAlerts(region)": "Region.schools",
    "Subscription.absenceAlertRaised(region)": "Region.schools",
}

#: Arguments that test no record: page size, cursor, a time window.
SHAPES: frozenset[str] = frozenset(
    {
        *(
            f"{field}({name})"
            for field in (
                "Query.persons",
                "Query.schools",
                "Query.students",
                "Query.programmes",
                "Query.feedback",
                "Region.residents",
                "Region.feedback",
                "Agency.feedback",
                "Programme.participants",
                "Query.discrepancies",
            )
            for name in ("first", "after")
        ),
        "School.attendance(from)",
        "School.attendance(to)",
        "Query.absenceAlerts(from)",
        "Query.absenceAlerts(to)",
    }
)

#: ``Type.field`` of a list or link chosen by a field of what it leads to -> (the parent's field that holds
#: the value it is chosen by, the ``Type.field`` it tests). Read in full, like a ``MATCHES`` argument: a
#: role that has the field withheld would read it off the parent for every item it is shown.
CHOSEN_BY: dict[str, tuple[str, str]] = {
    # The class's pupils counted that day: their class is the alert's `rombel` (and their attendance
    # that day, which the vocabulary gives no role pupil by pupil, the alert's `statuses`).
    "AbsenceAlert.pupils": ("rombel", "Student.className"),
    # The resident whose status a change changed: with the desa's residentCounts read before and after,
    # the count that rose tells the withheld kind, status and sex of the (masked) resident shown.
    "ResidentChange.person": ("kind", "Person.status"),
}

#: ``__typename`` of an ``_entities`` representation -> the key field it is looked up by.
REPRESENTATION_KEYS: dict[str, str] = {
    "Person": "Person.nik",
    "Family": "Family.kk",
    "Student": "Student.nisn",
    "School": "School.npsn",
    "Region": "Region.code",
    "Agency": "Agency.code",
}

#: The ``_entities`` argument, checked per representation with ``REPRESENTATION_KEYS``.
REPRESENTATIONS = "Query._entities(representations)"


def representation_typename(representation: object) -> str | None:
    """The type a representation names; ``None`` unless it is an object with a string ``__typename``.

    A representation is any JSON value a router sends: a list or an object as ``__typename``
    names nothing (and would not even hash as a key).
    """

    typename = representation.get("__typename") if isinstance(representation, dict) else None
    return typename if isinstance(typename, str) else None


def representation_key(representation: object) -> tuple[str, str] | None:
    """(``Type.field`` the representation is looked up by, its key value), for keyed types only."""

    key_field = REPRESENTATION_KEYS.get(representation_typename(representation) or "")
    if key_field is None:
        return None
    value = representation.get(key_field.split(".", 1)[1])  # type: ignore[union-attr]
    return key_field, value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class ArgumentRead:
    """One argument given in a request, as a read of a field."""

    #: The argument's name as the client wrote it (``filter``, ``nik``, ``representations``).
    argument: str
    #: ``Type.field`` the argument reads.
    reads: str
    #: True for ``MATCHES`` (needs the field in full), False for ``TRAVERSES`` (needs the link).
    matches: bool


def argument_reads(type_name: str, field_name: str, args: dict[str, object]) -> list[ArgumentRead]:
    """The reads that ``args`` (as the executor coerced them) of ``Type.field`` make; ``None`` values read nothing.

    ``_entities`` representations are not included: see ``REPRESENTATION_KEYS``.
    """

    reads: list[ArgumentRead] = []
    where = f"{type_name}.{field_name}"
    for name, value in args.items():
        if value is None:
            continue
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                if inner_value is not None:
                    _add(reads, name, f"{where}({name}.{inner})")
        else:
            _add(reads, name, f"{where}({name})")
    return reads


def chosen_by(type_name: str, field_name: str) -> ArgumentRead | None:
    """The read a list chosen by a field of its items makes (``CHOSEN_BY``), whatever its arguments;
    ``argument`` is then the parent's field that holds the value."""

    chosen = CHOSEN_BY.get(f"{type_name}.{field_name}")
    return ArgumentRead(chosen[0], chosen[1], True) if chosen is not None else None


def _add(reads: list[ArgumentRead], argument: str, key: str) -> None:
    target = MATCHES.get(key)
    if target is not None:
        reads.append(ArgumentRead(argument, target, True))
        return
    target = TRAVERSES.get(key)
    if target is not None:
        reads.append(ArgumentRead(argument, target, False))


def fields_with_reads() -> set[str]:
    """``Type.field`` names that have an argument reading a field (the gateway guards these)."""

    return {key.split("(")[0] for key in (*MATCHES, *TRAVERSES)} | {REPRESENTATIONS.split("(")[0]} | set(CHOSEN_BY)
