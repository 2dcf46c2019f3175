"""The access matrix: every demo role x every non-public field x every entry point -> full,
masked or refused.

Expectations come from ``access_expectations`` (a table written from the demo policy, and masks
written here, not the gateway's) and from the same query answered by a gateway without access
control over the same sources. Every cell sees a value: its reference answer must hold at least
one non-null, non-empty value of the field, or the cell fails (a matrix of empty cells proves
nothing). Keys are residents of Watulimo, the officers' area, and pupils of the school operator's
school; an item outside a scoped role's rows must be absent (lists) or null (links).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLNonNull, get_named_type, is_leaf_type

from connectors import shuffled_position
from resolvers import build_schema
from resolvers.cursors import CursorSeal

from ..access_expectations import (
    FULL,
    LEAVES,
    LINKS,
    MASKED,
    PERSON_TYPES,
    PUBLIC_LEAVES,
    PUBLIC_LINKS,
    REFUSED,
    REPRESENTATIONS,
    ROLES,
    ROW_SCOPES,
    SESSION_CURSOR_KEY,
    Answer,
    World,
    argument_allowed,
    expected_leaf,
    in_region,
    outcome,
    variant,
)

SCHEMA = build_schema()._schema
STAR = "*"
#: Response levels of connections, not fields of the vocabulary.
PLUMBING = {STAR, "nodes", "edges", "node"}


@dataclass(frozen=True)
class Listing:
    """How a list entry's elements are ordered for a role that does not read their key in full:
    shuffled (``GraphContext.list_order_salt``) with the salt the session's cursor key gives ``salt``."""

    #: ``Type.key`` whose outcome for the role decides, and whose name the salt is made of.
    salt: str
    #: The whole list as the reference answers it: ``%s`` for the selection, ``_k`` the element's
    #: key, and for a paged list ``$after`` and ``pageInfo``.
    complete: str
    #: Path to the list's elements in that answer; from an element to the entry's item.
    elements: tuple[str | int, ...]
    inner: tuple[str | int, ...] = ()
    #: A paged list: where its ``pageInfo`` is, and the entry's page size.
    page_info: tuple[str, ...] | None = None
    size: int | None = None


@dataclass(frozen=True)
class Entry:
    """A way to reach objects of ``type_name``: a query template with ``%s`` for the selection."""

    name: str
    type_name: str
    template: str
    #: Which list of ``Subjects.inside`` the key ``$k`` comes from, and its GraphQL type.
    key: str
    key_type: str
    #: Response path to the objects whose field is selected (``*``: every element).
    items: tuple[str | int, ...]
    #: ``Type.field`` of each field on the way, with the arguments (``ARGUMENTS`` keys) given to it.
    steps: tuple[tuple[str, tuple[str, ...]], ...]
    #: A list a row scope shortens (root lists, connections, lists by key) rather than a link it nulls.
    drops: bool = False
    #: What the reference is asked besides the field to tell whether the item is in a scope.
    witness: str = ""
    #: For ``_entities``: the representation's ``__typename``.
    representation: str = ""
    #: For a list whose order a masked key would decide: how it is shuffled (``Listing``).
    listing: Listing | None = None


def E(name: str, type_name: str, template: str, key: str, key_type: str, items: tuple[str | int, ...],
      steps: tuple[tuple[str, tuple[str, ...]], ...], **kw: Any) -> Entry:
    witness = {"Person": "_w: region { code }", "Family": "_w: region { code }", "Student": "_w: school { npsn }"}
    return Entry(name, type_name, template, key, key_type, items, steps, witness=kw.pop("witness", witness.get(type_name, "")), **kw)


ROOT_PERSON = ("Query.person", ("Query.person(nik)",))
ROOT_FAMILY = ("Query.family", ("Query.family(kk)",))
ROOT_STUDENT = ("Query.student", ("Query.student(nisn)",))
ROOT_SCHOOL = ("Query.school", ("Query.school(npsn)",))
ROOT_REGION = ("Query.region", ("Query.region(code)",))
ROOT_PROGRAMME = ("Query.programme", ("Query.programme(code)",))
PERSONS = ("Query.persons", ("Query.persons(first)", "Query.persons(filter.region)"))
FEEDBACK = ("Query.feedback", ("Query.feedback(first)", "Query.feedback(filter.region)"))
PARTICIPANTS = ("Programme.participants", ("Programme.participants(first)",))

def PERSONS_LISTING_OF(*inner: str) -> Listing:  # noqa: N802 - read as a constant with an argument
    return Listing("Person.nik", "persons(first: 100, after: $after, filter: {region: $k}) { pageInfo { hasNextPage endCursor } "
                   "nodes { _k: nik %s } }" % ("%s" if not inner else f"{inner[0]} {{ %s }}"), ("persons", "nodes", STAR),
                   inner=inner, page_info=("persons", "pageInfo"), size=20)


PERSONS_LISTING = PERSONS_LISTING_OF()
MEMBERS_LISTING = Listing("Person.nik", "family(kk: $k) { members { _k: nik %s } }", ("family", "members", STAR))


def participants_listing(inner: tuple[str, ...] = ()) -> Listing:
    # A participation's key is its person's NIK: shuffled as persons are.
    selection = "%s" if not inner else f"{inner[0]} {{ %s }}"
    return Listing("Person.nik", "programme(code: $k) { participants(first: 100, after: $after) { pageInfo { hasNextPage endCursor } "
                   f"nodes {{ _k: person {{ nik }} {selection} }} }} }}", ("programme", "participants", "nodes", STAR),
                   inner=inner, page_info=("programme", "participants", "pageInfo"), size=100)


ENTRIES = [
    # Person
    E("person(nik)", "Person", "person(nik: $k) { %s }", "nik", "NIK!", ("person",), (ROOT_PERSON,)),
    E("persons", "Person", "persons(first: 20, filter: {region: $k}) { nodes { %s } }", "desa", "RegionCode!",
      ("persons", "nodes", STAR), (PERSONS,), drops=True, listing=PERSONS_LISTING),
    E("region.residents", "Person", "region(code: $k) { residents(first: 20) { edges { node { %s } } } }", "desa",
      "RegionCode!", ("region", "residents", "edges", STAR, "node"),
      (ROOT_REGION, ("Region.residents", ("Region.residents(first)",))), drops=True,
      listing=Listing("Person.nik", "region(code: $k) { residents(first: 100, after: $after) { pageInfo { hasNextPage endCursor } "
                      "edges { node { _k: nik %s } } } }", ("region", "residents", "edges", STAR, "node"),
                      page_info=("region", "residents", "pageInfo"), size=20)),
    E("family.members", "Person", "family(kk: $k) { members { %s } }", "kk", "KK!", ("family", "members", STAR),
      (ROOT_FAMILY, ("Family.members", ())), drops=True, listing=MEMBERS_LISTING),
    E("family.head", "Person", "family(kk: $k) { head { %s } }", "kk", "KK!", ("family", "head"),
      (ROOT_FAMILY, ("Family.head", ()))),
    E("student.person", "Person", "student(nisn: $k) { person { %s } }", "nisn", "NISN!", ("student", "person"),
      (ROOT_STUDENT, ("Student.person", ()))),
    E("school.students.person", "Person", "school(npsn: $k) { students { person { %s } } }", "npsn", "NPSN!",
      ("school", "students", STAR, "person"), (ROOT_SCHOOL, ("School.students", ()), ("Student.person", ())),
      listing=Listing("Student.nisn", "school(npsn: $k) { students { _k: nisn person { %s } } }", ("school", "students", STAR),
                      inner=("person",))),
    E("programme.facilitator", "Person", "programme(code: $k) { facilitator { %s } }", "programme", "String!",
      ("programme", "facilitator"), (ROOT_PROGRAMME, ("Programme.facilitator", ()))),
    E("programme.participants.person", "Person",
      "programme(code: $k) { participants(first: 100) { nodes { person { %s } } } }", "programme", "String!",
      ("programme", "participants", "nodes", STAR, "person"),
      (ROOT_PROGRAMME, PARTICIPANTS, ("ProgrammeParticipation.person", ())), drops=True,
      listing=participants_listing(inner=("person",))),
    E("feedback.reporter", "Person", "feedback(first: 40, filter: {region: $k}) { nodes { reporter { %s } } }", "desa",
      "RegionCode!", ("feedback", "nodes", STAR, "reporter"), (FEEDBACK, ("Feedback.reporter", ()))),
    E("_entities(Person)", "Person", "_entities(representations: $k) { ... on Person { %s } }", "nik", "[_Any!]!",
      ("_entities", STAR), (("Query._entities", ()),), representation="Person"),
    # Family
    E("family(kk)", "Family", "family(kk: $k) { %s }", "kk", "KK!", ("family",), (ROOT_FAMILY,)),
    E("person.family", "Family", "person(nik: $k) { family { %s } }", "nik", "NIK!", ("person", "family"),
      (ROOT_PERSON, ("Person.family", ()))),
    E("_entities(Family)", "Family", "_entities(representations: $k) { ... on Family { %s } }", "kk", "[_Any!]!",
      ("_entities", STAR), (("Query._entities", ()),), representation="Family"),
    # Student
    E("student(nisn)", "Student", "student(nisn: $k) { %s }", "nisn", "NISN!", ("student",), (ROOT_STUDENT,)),
    E("students", "Student", "students(first: 100, filter: {school: $k}) { nodes { %s } }", "npsn", "NPSN!",
      ("students", "nodes", STAR), (("Query.students", ("Query.students(first)", "Query.students(filter.school)")),),
      drops=True,
      listing=Listing("Student.nisn", "students(first: 100, after: $after, filter: {school: $k}) { pageInfo { hasNextPage endCursor } "
                      "nodes { _k: nisn %s } }", ("students", "nodes", STAR), page_info=("students", "pageInfo"), size=100)),
    E("school.students", "Student", "school(npsn: $k) { students { %s } }", "npsn", "NPSN!", ("school", "students", STAR),
      (ROOT_SCHOOL, ("School.students", ())), drops=True,
      listing=Listing("Student.nisn", "school(npsn: $k) { students { _k: nisn %s } }", ("school", "students", STAR))),
    E("person.student", "Student", "person(nik: $k) { student { %s } }", "pupil_nik", "NIK!", ("person", "student"),
      (ROOT_PERSON, ("Person.student", ()))),
    E("_entities(Student)", "Student", "_entities(representations: $k) { ... on Student { %s } }", "nisn", "[_Any!]!",
      ("_entities", STAR), (("Query._entities", ()),), representation="Student"),
    # Health
    E("person.healthRecord", "HealthRecord", "person(nik: $k) { healthRecord { %s } }", "patient_nik", "NIK!",
      ("person", "healthRecord"), (ROOT_PERSON, ("Person.healthRecord", ()))),
    E("persons.healthRecord", "HealthRecord", "persons(first: 20, filter: {region: $k}) { nodes { healthRecord { %s } } }",
      "desa", "RegionCode!", ("persons", "nodes", STAR, "healthRecord"), (PERSONS, ("Person.healthRecord", ())),
      listing=PERSONS_LISTING_OF("healthRecord")),
    E("person.healthInsurance", "HealthInsurance", "person(nik: $k) { healthInsurance { %s } }", "insured_nik", "NIK!",
      ("person", "healthInsurance"), (ROOT_PERSON, ("Person.healthInsurance", ()))),
    E("family.members.healthInsurance", "HealthInsurance", "family(kk: $k) { members { healthInsurance { %s } } }",
      "kk", "KK!", ("family", "members", STAR, "healthInsurance"),
      (ROOT_FAMILY, ("Family.members", ()), ("Person.healthInsurance", ())),
      listing=Listing("Person.nik", "family(kk: $k) { members { _k: nik healthInsurance { %s } } }", ("family", "members", STAR),
                      inner=("healthInsurance",))),
    # Programme places
    E("person.programmes", "ProgrammeParticipation", "person(nik: $k) { programmes { %s } }", "participant_nik", "NIK!",
      ("person", "programmes", STAR), (ROOT_PERSON, ("Person.programmes", ()))),
    E("programme.participants", "ProgrammeParticipation", "programme(code: $k) { participants(first: 100) { nodes { %s } } }",
      "programme", "String!", ("programme", "participants", "nodes", STAR), (ROOT_PROGRAMME, PARTICIPANTS), drops=True,
      witness="_w: person { region { code } }", listing=participants_listing()),
    E("person.programmes.attendance", "SessionAttendance", "person(nik: $k) { programmes { attendance { %s } } }",
      "participant_nik", "NIK!", ("person", "programmes", STAR, "attendance", STAR),
      (ROOT_PERSON, ("Person.programmes", ()), ("ProgrammeParticipation.attendance", ()))),
    # Citizens' reports
    E("feedback", "Feedback", "feedback(first: 40, filter: {region: $k}) { nodes { %s } }", "desa", "RegionCode!",
      ("feedback", "nodes", STAR), (FEEDBACK,)),
    E("region.feedback", "Feedback", "region(code: $k) { feedback(first: 40) { nodes { %s } } }", "desa", "RegionCode!",
      ("region", "feedback", "nodes", STAR), (ROOT_REGION, ("Region.feedback", ("Region.feedback(first)",)))),
]


def non_public_fields(type_name: str) -> list[str]:
    """The fields of ``type_name`` the table classes, leaves and links alike."""

    return [f for f in SCHEMA.type_map[type_name].fields if f"{type_name}.{f}" in LEAVES or f"{type_name}.{f}" in LINKS]  # type: ignore[union-attr]


def is_leaf(type_name: str, field_name: str) -> bool:
    return is_leaf_type(get_named_type(SCHEMA.type_map[type_name].fields[field_name].type))  # type: ignore[union-attr]


def selection(type_name: str, field_name: str) -> str:
    return field_name if is_leaf(type_name, field_name) else f"{field_name} {{ __typename }}"


def every(data: Any, path: tuple[str | int, ...]) -> list[Any]:
    """The values at ``path``; ``*`` stands for every element of a list (a null list: none)."""

    if not path:
        return [data]
    if data is None:
        return [None]
    step, rest = path[0], path[1:]
    if step == STAR:
        return [v for item in (data if isinstance(data, list) else []) for v in every(item, rest)]
    return every(data.get(step) if isinstance(data, dict) else None, rest)


def has_value(value: Any) -> bool:
    return value is not None and value != [] and value != ""


def variables_of(entry: Entry, key: str) -> dict[str, Any]:
    if entry.representation:
        name = REPRESENTATIONS[entry.representation].split(".")[1]
        return {"k": [{"__typename": entry.representation, name: key}]}
    return {"k": key}


#: Root fields whose type is non-null: a refusal there nulls the whole answer, so a query holding
#: one of them asks nothing else.
NON_NULL_ROOTS = {name for name, f in SCHEMA.query_type.fields.items() if isinstance(f.type, GraphQLNonNull)}  # type: ignore[union-attr]
#: Cells asked in one request (each under an alias of its own).
GROUP = 12


def ask_cells(gateway: Any, role: str, asks: list[tuple[Entry, str, str]]) -> list[Answer]:
    """Answers to (entry, selection, key) for ``role``: cells under a nullable root field share a
    request, each under an alias (``c3: person(nik: $k3) {...}``); each answer is cut back to what
    the cell alone would have got (its data under the root field's name, its errors' paths too)."""

    alone = [i for i, (entry, _, _) in enumerate(asks) if root_of(entry) in NON_NULL_ROOTS]
    shared = [i for i in range(len(asks)) if i not in set(alone)]
    batches = [[i] for i in alone] + [shared[n:n + GROUP] for n in range(0, len(shared), GROUP)]
    queries = []
    for batch in batches:
        declarations, fields, variables = [], [], {}
        for i in batch:
            entry, body, key = asks[i]
            declarations.append(f"$k{i}: {entry.key_type}")
            fields.append(f"c{i}: " + (entry.template % body).replace("$k", f"$k{i}"))
            variables[f"k{i}"] = variables_of(entry, key)["k"]
        queries.append((f"query({', '.join(declarations)}) {{ {' '.join(fields)} }}", variables))
    answers: list[Answer | None] = [None] * len(asks)
    for batch, answer in zip(batches, gateway.ask_many(role, queries)):
        for i in batch:
            alias, root = f"c{i}", root_of(asks[i][0])
            data = None if answer.data is None else {root: answer.data.get(alias)}
            errors = [{**e, "path": [root, *e["path"][1:]]} if e.get("path") and e["path"][0] == alias else e
                      for e in answer.errors if not e.get("path") or e["path"][0] == alias]
            answers[i] = Answer(answer.status, {"data": data, **({"errors": errors} if errors else {})})
    return [a for a in answers if a is not None]


def root_of(entry: Entry) -> str:
    return entry.template.split("(", 1)[0].strip()


def strip(path: list[Any]) -> tuple[str, ...]:
    return tuple(p for p in path if isinstance(p, str) and p not in PLUMBING)


def step_refused(role: str, entry: Entry, step: tuple[str, tuple[str, ...]]) -> bool:
    name, arguments = step
    if outcome(role, name) == REFUSED or not all(argument_allowed(role, a) for a in arguments):
        return True
    if name == "Query._entities":
        return outcome(role, REPRESENTATIONS[entry.representation]) != FULL
    return False


#: Types a region-scoped role sees only for persons of its area (the roles' row scopes, restated).
REGION_SCOPED = {role: set(scopes) for role, scopes in ROW_SCOPES.items() if role != "school_operator"}


def visible(role: str, world: World, type_name: str, witness: Any) -> bool:
    """Whether an item of ``type_name`` whose witness (region or school) is ``witness`` is in the role's rows."""

    if role in REGION_SCOPED and type_name in REGION_SCOPED[role] and isinstance(witness, dict):
        code = (witness.get("region") or {}).get("code") if "region" in witness else witness.get("code")
        return in_region(code)
    if role == "school_operator" and type_name == "Student" and isinstance(witness, dict):
        return witness.get("npsn") == world.subjects.npsn
    return True


@dataclass
class Cell:
    entry: Entry
    field_name: str
    key: str
    reference_items: list[Any] = field(default_factory=list)
    #: A listing entry's whole list from the reference, its elements with their keys (``_k``).
    complete: list[Any] = field(default_factory=list)


#: Cells the demo data holds no value for, and why; each is covered through another entry.
NEVER_HELD = {
    "family.head.student": "heads of families are adults, never pupils (person.student covers the link)",
    "programme.facilitator.student": "facilitators are adults",
    "feedback.reporter.student": "reporters are adults",
    "student.person.programmes": "Sepeda Keren takes adults, not pupils (person.programmes covers the link)",
    "school.students.person.programmes": "Sepeda Keren takes adults, not pupils",
    # The subjects are ordinary residents, whose records agree: tests/test_discrepancies_access.py asks
    # about the planted discrepancies, role by role.
    **{f"{e.name}.discrepancies": "no discrepancy among the subjects" for e in ENTRIES if e.type_name == "Person"},
}


#: Links whose items are each decided by their own class, not the link's: a role that may follow the
#: link gets the items of the systems it may see (a person's discrepancies: tests/test_discrepancies_access.py
#: holds each role to them, system by system). Here only the link's refusal is checked.
DECIDED_PER_ITEM = {"Person.discrepancies"}


def reference_cells(world: World) -> list[Cell]:
    """Each (entry, field) with a key whose reference answer holds a value of the field."""

    def keys(entry: Entry) -> list[str]:
        # Lists of a school: the school operator's own school.
        return [world.subjects.npsn] if entry.key == "npsn" else world.subjects.inside[entry.key]

    pending = [(entry, field_name) for entry in ENTRIES for field_name in non_public_fields(entry.type_name)]
    cells: list[Cell] = []
    for attempt in range(max(len(v) for v in world.subjects.inside.values())):
        tries = [(e, f) for e, f in pending if attempt < len(keys(e))]
        asks = [(e, f"{selection(e.type_name, f)} {e.witness}", keys(e)[attempt]) for e, f in tries]
        for (entry, field_name), answer in zip(tries, ask_cells(world.reference, "anonymous", asks)):
            assert not answer.errors, (entry.name, answer.errors)
            items = every(answer.data, entry.items)
            if any(has_value(i.get(field_name)) for i in items if i is not None):
                cells.append(Cell(entry, field_name, keys(entry)[attempt], items))
                pending.remove((entry, field_name))
    missing = [f"{e.name}.{f}" for e, f in pending if f"{e.name}.{f}" not in NEVER_HELD]
    assert not missing, f"cells without any reference value (pick other subjects): {missing}"
    for cell in cells:
        if cell.entry.listing is not None:
            cell.complete = complete_list(world, cell)
    return cells


def complete_list(world: World, cell: Cell) -> list[Any]:
    """A listing cell's whole list from the reference (every page), each element with its key."""

    entry, listing = cell.entry, cell.entry.listing
    assert listing is not None
    body = listing.complete % f"{selection(entry.type_name, cell.field_name)} {entry.witness}"
    paged = "$after" in body
    query = f"query($k: {entry.key_type}{', $after: String' if paged else ''}) {{ {body} }}"
    elements: list[Any] = []
    after = None
    while True:
        answer = world.reference.ask("anonymous", query, {"k": cell.key, **({"after": after} if paged else {})})
        assert not answer.errors, (entry.name, answer.errors)
        elements += every(answer.data, listing.elements)
        if listing.page_info is None:
            return elements
        (info,) = every(answer.data, listing.page_info)
        if not info["hasNextPage"]:
            return elements
        after = info["endCursor"]


def shuffled_items(listing: Listing, elements: list[Any]) -> list[Any]:
    """The entry's items in the order a role that does not read ``listing.salt`` in full gets them."""

    salt = CursorSeal.from_text(SESSION_CURSOR_KEY).order_salt(listing.salt)

    def key(element: dict[str, Any]) -> str:
        k = element["_k"]
        return k["nik"] if isinstance(k, dict) else k

    ordered = sorted(elements, key=lambda e: (shuffled_position(salt, key(e)), key(e)))
    return [every(e, listing.inner)[0] for e in ordered]


@pytest.fixture(scope="module")
def cells(world: World) -> list[Cell]:
    return reference_cells(world)


def check_cell(role: str, world: World, cell: Cell, answer: Answer) -> list[str]:
    """What is wrong with ``answer`` to ``cell``'s query for ``role`` (empty: nothing)."""

    entry, field_name = cell.entry, cell.field_name
    where = f"{role} {entry.name}.{field_name}"
    name = f"{entry.type_name}.{field_name}"
    if answer.status != 200:
        return [f"{where}: HTTP {answer.status} {answer.body}"]
    problems: list[str] = []
    error_paths = {strip(e.get("path") or []) for e in answer.errors if (e.get("extensions") or {}).get("code") == "FORBIDDEN"}
    withheld_paths = {strip(e.get("path") or []) for e in answer.errors if (e.get("extensions") or {}).get("code") == "WITHHELD"}
    other = answer.codes() - {"FORBIDDEN", "WITHHELD"}
    if other:
        problems.append(f"{where}: unexpected errors {answer.errors}")
    names = [p for p in entry.items if p not in PLUMBING]
    got = every(answer.data, entry.items) if answer.data is not None else []
    values = [g.get(field_name) if isinstance(g, dict) else None for g in got]
    refused_at = next((i for i, step in enumerate(entry.steps) if step_refused(role, entry, step)), None)
    if refused_at is not None:
        if any(has_value(v) for v in values):
            problems.append(f"{where}: refused at {entry.steps[refused_at][0]}, yet values came: {values}")
        if tuple(names[: refused_at + 1]) not in error_paths:
            problems.append(f"{where}: expected FORBIDDEN at {names[: refused_at + 1]}, got {answer.errors}")
        return problems
    reference_items = cell.reference_items
    shuffled = entry.listing is not None and outcome(role, entry.listing.salt) != FULL
    if shuffled:
        # Listed in the order a masked key gets (shuffled at the source, after the row scope): the
        # page is the first of the whole list so ordered, not of the reference's page.
        assert entry.listing is not None
        reference_items = shuffled_items(entry.listing, cell.complete)
    expected_items = [i for i in reference_items if i is not None and visible(role, world, entry.type_name, i.get("_w"))]
    if shuffled and entry.listing is not None and entry.listing.size is not None:
        expected_items = expected_items[: entry.listing.size]
        reference_items = reference_items[: entry.listing.size]
    if entry.drops:
        if len(got) != len(expected_items):
            return [f"{where}: {len(got)} items where the role's rows hold {len(expected_items)}: {got}"]
        pairs = list(zip(got, expected_items))
    else:
        pairs = []
        for g, r in zip(got, reference_items):
            if r is None:
                if g is not None:
                    problems.append(f"{where}: {g} where the source has nothing")
            elif visible(role, world, entry.type_name, r.get("_w")):
                pairs.append((g, r))
            elif g is not None:
                problems.append(f"{where}: an item outside the role's rows came: {g}")
    leaf = is_leaf(entry.type_name, field_name)
    how = outcome(role, name)
    if how != REFUSED and name in DECIDED_PER_ITEM:
        return problems  # which of the reference's items the role gets: see DECIDED_PER_ITEM
    for g, r in pairs:
        raw = r.get(field_name)
        value = g.get(field_name) if isinstance(g, dict) else None
        if how == REFUSED:
            if value is not None:
                problems.append(f"{where}: refused field came: {value!r}")
            if has_value(raw) and tuple([*names, field_name]) not in error_paths:
                problems.append(f"{where}: expected FORBIDDEN at {[*names, field_name]}, got {answer.errors}")
            continue
        expected = expected_leaf(role, name, raw) if leaf else raw
        if value != expected:
            problems.append(f"{where}: {value!r}, expected {expected!r} ({how}; source has {raw!r})")
        if how == MASKED and leaf and has_value(raw) and value == raw and expected != raw:  # a year is its own year mask
            problems.append(f"{where}: not masked: {value!r}")
        if how == MASKED and leaf and has_value(raw) and expected is None and tuple([*names, field_name]) not in withheld_paths:
            problems.append(f"{where}: withheld without a WITHHELD error at {[*names, field_name]}: {answer.errors}")
    return problems


@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_every_field_every_entry(world: World, cells: list[Cell], role: str) -> None:
    problems = matrix_problems(world, cells, role)
    assert not problems, f"{len(problems)} of {len(cells)} cells wrong:\n" + "\n".join(problems)


def matrix_problems(world: World, cells: list[Cell], role: str) -> list[str]:
    answers = ask_cells(world.guarded, role, [(c.entry, selection(c.entry.type_name, c.field_name), c.key) for c in cells])
    return [p for cell, answer in zip(cells, answers) for p in check_cell(role, world, cell, answer)]


def test_matrix_reaches_every_classed_type_and_every_entry_point() -> None:
    """A classed type no entry reaches, or an entry point to persons no entry uses, escapes the matrix."""

    reached = {e.type_name for e in ENTRIES}
    classed = {name.split(".")[0] for name in LEAVES}
    assert classed <= reached, classed - reached
    used = {step for e in ENTRIES for step, _ in e.steps}
    # The discrepancy report walks Dapodik for each request: tests/test_discrepancies_access.py holds it
    # to the policy (roles, masks on both sides, the audit) instead of a cell per field here.
    report = {"Query.discrepancies", "Query.discrepancyCounts"}
    entry_points = {name for name in LINKS if name.split(".")[0] not in PERSON_TYPES} - {"Query.students"} - report
    # Query.students is reached through its connection entry under its own name.
    assert entry_points - used - {"Query.student"} <= set(), entry_points - used


def test_table_classes_every_field_of_every_person_type() -> None:
    """Each field of a type about a person is in the table (classed, or said to be public): a
    field added to the schema without a decision fails here, not silently as public."""

    undecided = [
        f"{t}.{f}" for t in PERSON_TYPES for f in SCHEMA.type_map[t].fields  # type: ignore[union-attr]
        if f"{t}.{f}" not in LEAVES and f"{t}.{f}" not in LINKS and f"{t}.{f}" not in PUBLIC_LEAVES | PUBLIC_LINKS
    ]
    assert not undecided, undecided


def test_link_classes_follow_the_derivation_rule() -> None:
    """The table's link classes (from person types, without an entry of their own in the policy)
    are the strictest of the parent's class and the leaves of what they lead to; this checks the
    table itself against the schema, so a hand-made slip in it is caught."""

    from ..access_expectations import STRICTNESS

    explicit = {"Person.student", "Person.healthFacility", "Person.healthRecord", "Person.healthInsurance",
                "Person.programmes", "Feedback.reporter", "Person.region", "Person.discrepancies"}
    parent_class = {"Person": "personal", "Family": "personal", "Student": "children", "HealthRecord": "health",
                    "HealthInsurance": "personal", "ProgrammeParticipation": "disability", "SessionAttendance": "disability",
                    "Feedback": "public"}
    for type_name in PERSON_TYPES:
        for field_name, field_def in SCHEMA.type_map[type_name].fields.items():  # type: ignore[union-attr]
            name = f"{type_name}.{field_name}"
            target = get_named_type(field_def.type)
            if is_leaf_type(target) or name in explicit:
                continue
            classes = {parent_class[type_name]} | {LEAVES[n][0] for n in LEAVES if n.split(".")[0] == target.name}
            derived = max(classes, key=STRICTNESS.index)
            assert LINKS.get(name, "public") == derived, (name, derived)


# -- the matrix bites: the same cells against a gateway whose policy was broken on purpose ---------


def _break_nik_mask(config: dict[str, Any]) -> None:
    config["policy"]["fields"]["Person.nik"] = {"class": "personal", "mask": "hide"}


def _mask_becomes_grant(config: dict[str, Any]) -> None:
    role = config["policy"]["roles"]["smart_center_analyst"]
    role["grant"], role["mask"] = ["personal"], ["children"]


@pytest.mark.parametrize(
    "change,role,caught",
    [
        (_break_nik_mask, "smart_center_analyst", ".nik: None, expected '3503**"),
        (_mask_becomes_grant, "smart_center_analyst", ".name"),
    ],
    ids=["nik-mask-changed", "mask-turned-into-grant"],
)
def test_matrix_catches_a_policy_broken_on_purpose(world: World, tmp_path: Path, cells: list[Cell], change, role: str, caught: str) -> None:  # type: ignore[no-untyped-def]
    with variant(world, change, tmp_path) as broken:
        problems = matrix_problems(broken, cells, role)
    assert any(caught in p for p in problems), problems
