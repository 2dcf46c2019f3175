"""The row-scope matrix: every scoped demo role x every type its row scope covers x every entry
point that reaches it (root field, nested join, connection or list, ``_entities``), each with a
key inside the role's area and one outside it.

Inside, the guarded gateway answers exactly what the unguarded reference answers. Outside, the
object is exactly as absent as an unknown one: a lookup or link is null (a root lookup's whole
answer equals that of a key no source knows), a list lacks the item and its ``totalCount`` counts
only what is listed. Citizens' reports (``Feedback``) stay listed outside the area with their
public fields, and their ``body``, ``reporter`` and ``location`` are refused.

What is in a scope is read from the reference (the region of a person's or family's address,
the region of the person a record is about, a pupil's school) and decided by
``access_expectations.ROW_SCOPES``, a statement of the demo policy written by hand; nothing here
asks the gateway's own code. Every cell holds a value: its inside key shows at least one object
in scope, its outside key at least one object out of it, or the cell fails.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import get_named_type, is_leaf_type

from resolvers import build_schema

from ..access_expectations import (
    FIELD_SCOPES,
    FULL,
    REFUSED,
    ROW_SCOPES,
    ELSEWHERE,
    SCOPED_ROLES,
    WATULIMO,
    Answer,
    World,
    in_region,
    outcome,
    variant,
)

SCHEMA = build_schema()._schema
STAR = "*"
#: Keys no source knows, of each key type, for the "exactly like unknown" comparison.
UNKNOWN = {"nik": "3503080101019999", "kk": "3503080101019999", "nisn": "0099999999"}


# -- entry points ---------------------------------------------------------------------------------

#: What the reference is asked beside a scoped object to place it: the region (of the object,
#: or of the person it is about) or the pupil's school.
WITNESS = {
    "Person": "_w: region { code }",
    "Family": "_w: region { code }",
    "Student": "_w: school { npsn }",
    "ProgrammeParticipation": "_w: person { region { code } }",  # the subject's address
    "Feedback": "_w: region { code }",
}


@dataclass(frozen=True)
class Entry:
    """One way to reach objects of ``type_name``.

    ``template`` is a query body with ``$k`` for the key, ``SEL`` for the selection of the scoped
    type and ``WIT`` where the reference is asked the witness; ``items`` is the response path to
    the objects that carry the witness (``*``: each element of a list) and ``inner`` the path from
    such an object to the scoped object (empty: the object itself).
    """

    name: str
    type_name: str
    kind: str  # "root", "nested", "list", "entities"
    template: str
    keys: str  # which subjects' list the keys come from
    key_type: str
    items: tuple[str, ...]
    #: The type whose witness places the item (the person a record is about, or the item itself).
    witness_type: str
    inner: tuple[str, ...] = ()
    #: Whether an item outside the scope leaves its list (else it is null where it stood).
    drops: bool = False
    #: Path from an item to the object the witness is asked of (an edge's node).
    witness_at: tuple[str, ...] = ()
    #: Scoped objects on the way (a family whose members are listed): (path, type), each asked its
    #: witness where the template says ``W:Type``.
    outer: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def representation(self) -> str:
        return {"Person": "nik", "Family": "kk", "Student": "nisn"}[self.witness_type] if self.kind == "entities" else ""


PERSON_ENTRIES = [
    Entry("person(nik)", "Person", "root", "person(nik: $k) { WIT SEL }", "nik", "NIK!", ("person",), "Person"),
    Entry("programme.facilitator", "Person", "nested", "programme(code: $k) { facilitator { WIT SEL } }", "programme",
          "String!", ("programme", "facilitator"), "Person"),
    Entry("family.members", "Person", "nested", "family(kk: $k) { W:Family members { WIT SEL } }", "kk", "KK!",
          ("family", "members", STAR), "Person", drops=True, outer=((("family",), "Family"),)),
    Entry("persons", "Person", "list", "persons(first: 20, filter: {region: $k}) { totalCount nodes { WIT SEL } }",
          "desa", "RegionCode!", ("persons", "nodes", STAR), "Person", drops=True),
    Entry("region.residents", "Person", "list",
          "region(code: $k) { residents(first: 20) { totalCount edges { node { WIT SEL } } } }", "desa", "RegionCode!",
          ("region", "residents", "edges", STAR), "Person", ("node",), drops=True, witness_at=("node",)),
    Entry("_entities(Person)", "Person", "entities", "_entities(representations: $k) { ... on Person { WIT SEL } }",
          "nik", "[_Any!]!", ("_entities", STAR), "Person"),
]
FAMILY_ENTRIES = [
    Entry("family(kk)", "Family", "root", "family(kk: $k) { WIT SEL }", "kk", "KK!", ("family",), "Family"),
    # No list of families exists; a family is reached from a person (its head or a member).
    Entry("person.family", "Family", "nested", "person(nik: $k) { W:Person family { WIT SEL } }", "nik", "NIK!",
          ("person", "family"), "Family", outer=((("person",), "Person"),)),
    Entry("_entities(Family)", "Family", "entities", "_entities(representations: $k) { ... on Family { WIT SEL } }",
          "kk", "[_Any!]!", ("_entities", STAR), "Family"),
]


def about_a_person(type_name: str, link: str, keys: str) -> list[Entry]:
    """A type whose objects hang off one person (a patient's record, an insurance membership):
    reached from a person by key, from a list of persons, and from a federated person."""

    return [
        Entry(f"person.{link}", type_name, "nested", f"person(nik: $k) {{ WIT {link} {{ SEL }} }}", keys, "NIK!",
              ("person",), "Person", (link,)),
        Entry(f"persons.{link}", type_name, "list",
              f"persons(first: 20, filter: {{region: $k}}) {{ totalCount nodes {{ WIT {link} {{ SEL }} }} }}", "desa",
              "RegionCode!", ("persons", "nodes", STAR), "Person", (link,), drops=True),
        Entry(f"_entities(Person).{link}", type_name, "entities",
              f"_entities(representations: $k) {{ ... on Person {{ WIT {link} {{ SEL }} }} }}", keys, "[_Any!]!",
              ("_entities", STAR), "Person", (link,)),
    ]


HEALTH_RECORD_ENTRIES = about_a_person("HealthRecord", "healthRecord", "patient_nik")
INSURANCE_ENTRIES = [
    *about_a_person("HealthInsurance", "healthInsurance", "insured_nik"),
    Entry("family.members.healthInsurance", "HealthInsurance", "nested",
          "family(kk: $k) { W:Family members { WIT healthInsurance { SEL } } }", "kk", "KK!", ("family", "members", STAR),
          "Person", ("healthInsurance",), drops=True, outer=((("family",), "Family"),)),
]
PARTICIPATION_ENTRIES = [
    Entry("person.programmes", "ProgrammeParticipation", "nested", "person(nik: $k) { WIT programmes { SEL } }",
          "participant_nik", "NIK!", ("person",), "Person", ("programmes",)),
    Entry("programme.participants", "ProgrammeParticipation", "list",
          "programme(code: $k) { participants(first: 100) { totalCount nodes { WIT SEL } } }", "programme", "String!",
          ("programme", "participants", "nodes", STAR), "ProgrammeParticipation", drops=True),
    # Finding 4: a kecamatan's classes, and through them who takes part.
    Entry("programmes.participants", "ProgrammeParticipation", "list",
          "programmes(first: 20, filter: {region: $k}) { nodes { participants(first: 100) { totalCount nodes { WIT SEL } } } }",
          "kecamatan", "RegionCode!", ("programmes", "nodes", STAR, "participants", "nodes", STAR),
          "ProgrammeParticipation", drops=True),
    Entry("_entities(Person).programmes", "ProgrammeParticipation", "entities",
          "_entities(representations: $k) { ... on Person { WIT programmes { SEL } } }", "participant_nik", "[_Any!]!",
          ("_entities", STAR), "Person", ("programmes",)),
]
ATTENDANCE_ENTRIES = [
    Entry("person.programmes.attendance", "SessionAttendance", "nested",
          "person(nik: $k) { WIT programmes { attendance { SEL } } }", "participant_nik", "NIK!", ("person",), "Person",
          ("programmes",)),
    Entry("programme.participants.attendance", "SessionAttendance", "list",
          "programme(code: $k) { participants(first: 100) { totalCount nodes { WIT attendance { SEL } } } }",
          "programme", "String!", ("programme", "participants", "nodes", STAR), "ProgrammeParticipation", ("attendance",),
          drops=True),
    Entry("_entities(Person).programmes.attendance", "SessionAttendance", "entities",
          "_entities(representations: $k) { ... on Person { WIT programmes { attendance { SEL } } } }",
          "participant_nik", "[_Any!]!", ("_entities", STAR), "Person", ("programmes",)),
]
STUDENT_ENTRIES = [
    Entry("student(nisn)", "Student", "root", "student(nisn: $k) { WIT SEL }", "nisn", "NISN!", ("student",), "Student"),
    Entry("school.students", "Student", "nested", "school(npsn: $k) { students { WIT SEL } }", "npsn", "NPSN!",
          ("school", "students", STAR), "Student", drops=True),
    Entry("students", "Student", "list", "students(first: 100, filter: {school: $k}) { totalCount nodes { WIT SEL } }",
          "npsn", "NPSN!", ("students", "nodes", STAR), "Student", drops=True),
    Entry("_entities(Student)", "Student", "entities", "_entities(representations: $k) { ... on Student { WIT SEL } }",
          "nisn", "[_Any!]!", ("_entities", STAR), "Student"),
]
FEEDBACK_ENTRIES = [
    # Reports have no lookup by key and no _entities type: the list, and a region's list.
    Entry("feedback", "Feedback", "list", "feedback(first: 40, filter: {region: $k}) { totalCount nodes { WIT SEL } }",
          "desa", "RegionCode!", ("feedback", "nodes", STAR), "Feedback"),
    Entry("region.feedback", "Feedback", "nested", "region(code: $k) { feedback(first: 40) { nodes { WIT SEL } } }",
          "desa", "RegionCode!", ("region", "feedback", "nodes", STAR), "Feedback"),
]

ENTRIES_BY_TYPE = {
    "Person": PERSON_ENTRIES, "Family": FAMILY_ENTRIES, "HealthRecord": HEALTH_RECORD_ENTRIES,
    "HealthInsurance": INSURANCE_ENTRIES, "ProgrammeParticipation": PARTICIPATION_ENTRIES,
    "SessionAttendance": ATTENDANCE_ENTRIES, "Student": STUDENT_ENTRIES, "Feedback": FEEDBACK_ENTRIES,
}


def scoped_types(role: str) -> list[str]:
    return [*ROW_SCOPES.get(role, {}), *FIELD_SCOPES.get(role, {})]


def cells_of(role: str) -> list[Entry]:
    """The role's entries, but ``_entities`` where the role may not federate at all (the school
    operator: ``Query._entities`` is personal data, which it may not see)."""

    return [entry for type_name in scoped_types(role) for entry in ENTRIES_BY_TYPE[type_name]
            if entry.kind != "entities" or outcome(role, "Query._entities") != REFUSED]


# -- what the role should get ---------------------------------------------------------------------


def selection(role: str, type_name: str) -> str:
    """The leaves of ``type_name`` the role reads in full (a scoped role masks nothing), and for
    reports also their reporter."""

    fields = SCHEMA.type_map[type_name].fields  # type: ignore[union-attr]
    leaves = [f for f, d in fields.items() if is_leaf_type(get_named_type(d.type)) and outcome(role, f"{type_name}.{f}") == FULL]
    if type_name == "Feedback":  # its body and location are among the leaves
        leaves.append("reporter { nik name _rw: region { code } }")
    return " ".join(leaves)


def guarded_selection(role: str, type_name: str) -> str:
    return selection(role, type_name).replace("_rw: region { code }", "")


def query_of(entry: Entry, key_type: str, body: str) -> str:
    return f"query($k: {key_type}) {{ {body} }}"


def reference_query(role: str, entry: Entry) -> str:
    body = re.sub(r"W:(\w+)", lambda m: WITNESS[m.group(1)], entry.template.replace("WIT", WITNESS[entry.witness_type]))
    return query_of(entry, entry.key_type, body.replace("SEL", selection(role, entry.type_name)))


def guarded_query(role: str, entry: Entry) -> str:
    body = re.sub(r"W:(\w+)", "", entry.template.replace("WIT", ""))
    return query_of(entry, entry.key_type, body.replace("SEL", guarded_selection(role, entry.type_name)))


def variables(entry: Entry, key: str) -> dict[str, Any]:
    return {"k": [{"__typename": entry.witness_type, entry.representation: key}]} if entry.kind == "entities" else {"k": key}


Scope = Callable[[str, dict[str, Any] | None], bool]


def scope_of(role: str, world: World) -> Scope:
    """Whether an object whose witness is ``witness`` is in ``role``'s rows: its region (or its
    subject's) within the officers' Watulimo, a pupil's school the operator's."""

    def placed(type_name: str, witness: dict[str, Any] | None) -> bool:
        if witness is None:
            return False
        if "npsn" in witness:
            return witness["npsn"] == world.subjects.npsn
        code = (witness.get("region") or {}).get("code") if "region" in witness else witness.get("code")
        return in_region(code, WATULIMO)

    return placed


def at(data: Any, path: tuple[str, ...]) -> list[tuple[Any, Any, Any]]:
    """(container, index or key, value) of each object at ``path`` (``*``: every list element)."""

    return [(c, k, v) for c, k, v, _ in along(data, path)]


def along(data: Any, path: tuple[str, ...]) -> list[tuple[Any, Any, Any, dict[int, Any]]]:
    """As ``at``, with the objects passed on the way: steps taken -> object there."""

    found: list[tuple[Any, Any, Any, dict[int, Any]]] = []

    def walk(node: Any, depth: int, parent: Any, key: Any, chain: dict[int, Any]) -> None:
        chain = {**chain, depth: node}
        if depth == len(path):
            found.append((parent, key, node, chain))
            return
        if node is None:
            return
        step = path[depth]
        if step == STAR:
            for i, item in enumerate(node if isinstance(node, list) else []):
                walk(item, depth + 1, node, i, chain)
        elif isinstance(node, dict) and step in node:
            walk(node[step], depth + 1, node, step, chain)

    walk(data, 0, None, None, {})
    return found


def has_value(obj: Any) -> bool:
    if isinstance(obj, dict):
        return any(has_value(v) for k, v in obj.items() if not k.startswith("_"))
    if isinstance(obj, list):
        return any(has_value(v) for v in obj)
    return obj is not None and obj != ""


def strip_witness(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_witness(v) for k, v in node.items() if k not in ("_w", "_rw")}
    if isinstance(node, list):
        return [strip_witness(v) for v in node]
    return node


@dataclass
class Expected:
    data: Any
    #: Response paths where FORBIDDEN is expected (report fields outside the area).
    forbidden: set[tuple[Any, ...]]
    inside: int
    outside: int


def expected(role: str, entry: Entry, reference: Answer, placed: Scope) -> Expected:
    """The reference's answer as ``role`` should get it: out-of-scope objects absent or null,
    ``totalCount`` counting what stays, report fields outside the area refused."""

    data = copy.deepcopy(reference.data)
    forbidden: set[tuple[Any, ...]] = set()
    inside = outside = 0
    if entry.type_name == "Feedback":
        for container, index, item in at(data, entry.items):
            if item is None:
                continue
            path = path_of(entry.items, container, index, data)
            if placed("Feedback", item.get("_w")):
                inside += has_value(item.get("body"))
                reporter = item.get("reporter")
                if reporter is not None and not placed("Person", {"region": reporter.get("_rw")}):
                    item["reporter"] = None  # a reporter living elsewhere is outside the Person scope
            else:
                outside += has_value(item.get("body"))
                for name in sorted(FIELD_SCOPES[role]["Feedback"]):
                    item[name] = None
                    forbidden.add((*path, name))
        return Expected(strip_witness(data), forbidden, inside, outside)
    dropped: dict[int, tuple[dict[str, Any], int]] = {}
    outer = [(len(path), type_name) for path, type_name in entry.outer if type_name in ROW_SCOPES.get(role, {})]
    nulled: list[tuple[Any, Any]] = []
    for container, index, item, chain in reversed(along(data, entry.items)):
        if item is None:
            continue
        target = at(item, entry.inner)
        holds = any(has_value(t) for _, _, t in target)
        witness = next((w for _, _, w in at(item, entry.witness_at)), None) or {}
        away = [depth for depth, type_name in outer if not placed(type_name, (chain[depth] or {}).get("_w"))]
        if not away and placed(entry.witness_type, witness.get("_w")):
            inside += holds
            continue
        outside += holds
        if away:  # an object on the way is outside the scope: it is null, and this with it
            depth = away[0]
            parents = along(data, entry.items[:depth])
            nulled += [(c, k) for c, k, v, _ in parents if v is chain[depth]]
            continue
        if entry.drops and isinstance(container, list):
            del container[index]
            dropped.setdefault(id(container), (_connection_of(data, container), 0))
            conn, n = dropped[id(container)]
            dropped[id(container)] = (conn, n + 1)
        else:
            container[index] = None
    for conn, n in dropped.values():
        if conn is not None and "totalCount" in conn:
            conn["totalCount"] = _count_after(conn, n)
    for container, key in nulled:
        container[key] = None
    return Expected(strip_witness(data), forbidden, inside, outside)


def _connection_of(data: Any, items: list[Any]) -> dict[str, Any] | None:
    """The connection object whose ``nodes`` (or edges) list is ``items``."""

    def walk(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if node.get("nodes") is items or node.get("edges") is items:
                return node
            for v in node.values():
                found = walk(v)
                if found is not None:
                    return found
        elif isinstance(node, list):
            for v in node:
                found = walk(v)
                if found is not None:
                    return found
        return None

    return walk(data)


def _count_after(conn: dict[str, Any], removed: int) -> int:
    listed = len(conn.get("nodes", conn.get("edges")) or [])
    total = conn["totalCount"]
    if total == listed + removed:  # the whole list is on this page
        return total - removed
    if listed == 0:  # every item of the page is outside: the entries' keys make lists wholly outside
        return 0
    raise AssertionError(f"a page mixing items in and out of scope, with more pages: pick other keys ({conn})")


def path_of(items: tuple[str, ...], container: Any, index: Any, data: Any) -> tuple[Any, ...]:
    """The response path of the element ``index`` of ``container`` reached through ``items``."""

    def walk(node: Any, rest: tuple[str, ...], path: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if not rest:
            return None
        step = rest[0]
        if step == STAR:
            for i, item in enumerate(node if isinstance(node, list) else []):
                if node is container and i == index:
                    return (*path, i) if len(rest) == 1 else walk(item, rest[1:], (*path, i))
                found = walk(item, rest[1:], (*path, i))
                if found is not None:
                    return found
            return None
        return walk(node.get(step) if isinstance(node, dict) else None, rest[1:], (*path, step))

    found = walk(data, items, ())
    assert found is not None, (items, index)
    return found


# -- keys -----------------------------------------------------------------------------------------


def candidates(world: World, entry: Entry, inside: bool) -> list[str]:
    """Keys to try, likeliest first: residents (schools, classes) of Watulimo for a key inside."""

    s = world.subjects
    if entry.keys == "kecamatan":
        here, there = [WATULIMO], [ELSEWHERE]
    elif entry.keys == "npsn":
        here, there = [s.npsn], [s.other_npsn]  # the school operator's school, and another
    else:
        here, there = s.inside[entry.keys], s.outside[entry.keys]
    return here + there if inside else there + here


@dataclass
class Cell:
    role: str
    entry: Entry
    key: str
    inside: bool
    want: Expected


def find_cells(world: World, role: str) -> list[Cell]:
    """For each entry of ``role``: a key showing an object in scope and one showing an object out
    of it (asked of the reference), with the answer the role should get for each."""

    placed = scope_of(role, world)
    cells: list[Cell] = []
    missing: list[str] = []
    for entry in cells_of(role):
        query = reference_query(role, entry)
        for inside in (True, False):
            found = None
            pool = candidates(world, entry, inside)
            # A few keys at a time: the first ones usually hold a value.
            for chunk in (pool[n:n + 3] for n in range(0, len(pool), 3)):
                answers = world.reference.ask_many("anonymous", [(query, variables(entry, k)) for k in chunk])
                for key, answer in zip(chunk, answers):
                    assert not answer.errors, (entry.name, answer.errors)
                    want = expected(role, entry, answer, placed)
                    if (want.inside if inside else want.outside) > 0:
                        found = Cell(role, entry, key, inside, want)
                        break
                if found is not None:
                    break
            if found is None:
                missing.append(f"{entry.name} ({'inside' if inside else 'outside'})")
            else:
                cells.append(found)
    assert not missing, f"{role}: no key shows a value for {missing}: the demo data changed"
    return cells


def check(cell: Cell, answer: Answer, unknown: Answer | None) -> list[str]:
    where = f"{cell.role} {cell.entry.name} {'inside' if cell.inside else 'outside'} ({cell.key})"
    if answer.status != 200:
        return [f"{where}: HTTP {answer.status} {answer.body}"]
    problems = []
    forbidden = {tuple(e.get("path") or ()) for e in answer.errors if (e.get("extensions") or {}).get("code") == "FORBIDDEN"}
    others = [e for e in answer.errors if (e.get("extensions") or {}).get("code") != "FORBIDDEN"]
    if others or forbidden != cell.want.forbidden:
        problems.append(f"{where}: errors {answer.errors}, expected FORBIDDEN exactly at {sorted(cell.want.forbidden)}")
    if answer.data != cell.want.data:
        problems.append(f"{where}:\n  got      {answer.data}\n  expected {cell.want.data}")
    if unknown is not None and not cell.inside and answer.body != unknown.body:
        problems.append(f"{where}: differs from an unknown key's answer:\n  {answer.body}\n  {unknown.body}")
    return problems


def run_cells(world: World, cells: list[Cell]) -> list[str]:
    problems: list[str] = []
    for role in dict.fromkeys(c.role for c in cells):
        mine = [c for c in cells if c.role == role]
        queries = [(guarded_query(role, c.entry), variables(c.entry, c.key)) for c in mine]
        roots = [c for c in mine if c.entry.kind in ("root", "entities") and not c.inside]
        queries += [(guarded_query(role, c.entry), variables(c.entry, UNKNOWN[c.entry.representation or c.entry.keys]))
                    for c in roots]
        answers = world.guarded.ask_many(role, queries)
        unknown = dict(zip((id(c) for c in roots), answers[len(mine):]))
        for cell, answer in zip(mine, answers):
            problems += check(cell, answer, unknown.get(id(cell)))
    return problems


@pytest.fixture(scope="module")
def cells(world: World) -> dict[str, list[Cell]]:
    return {role: find_cells(world, role) for role in SCOPED_ROLES}


@pytest.mark.parametrize("role", SCOPED_ROLES)
def test_every_scoped_role_every_scoped_type_every_entry_point(world: World, cells: dict[str, list[Cell]], role: str) -> None:
    problems = run_cells(world, cells[role])
    assert not problems, f"{len(problems)} of {len(cells[role])} cells wrong:\n" + "\n".join(problems)


def test_the_matrix_covers_every_row_scope_of_the_demo_policy() -> None:
    """Each scoped type of each scoped role has a root or nested entry, a list where one exists,
    and ``_entities`` where its type (or the person it hangs off) is a federation entity."""

    assert set(SCOPED_ROLES) == set(ROW_SCOPES)
    no_list = {"Family"}  # the schema lists families nowhere; a family is reached from a person
    not_federated = {"Feedback"}  # no lookup by key, no _entities type
    for role in SCOPED_ROLES:
        for type_name in scoped_types(role):
            kinds = {e.kind for e in ENTRIES_BY_TYPE[type_name]}
            assert kinds & {"root", "nested"}, (role, type_name)
            assert "list" in kinds or type_name in no_list, (role, type_name)
            assert "entities" in kinds or type_name in not_federated, (role, type_name)
            federates = outcome(role, "Query._entities") != REFUSED
            assert any(e.kind == "entities" for e in cells_of(role) if e.type_name == type_name) == (
                federates and type_name not in not_federated), (role, type_name)


def _without_scoping_attribute(config: dict[str, Any]) -> None:
    for client in config["clients"]:
        client.pop("region", None)
        client.pop("school", None)


def blind_cells(world: World, cells: dict[str, list[Cell]]) -> list[Cell]:
    """Each cell's inside key, expected as if nothing were in the role's rows."""

    nothing: Scope = lambda type_name, witness: False  # noqa: E731
    blind = []
    for role in SCOPED_ROLES:
        for cell in cells[role]:
            if cell.inside:
                reference = world.reference.ask("anonymous", reference_query(role, cell.entry), variables(cell.entry, cell.key))
                blind.append(Cell(role, cell.entry, cell.key, False, expected(role, cell.entry, reference, nothing)))
    return blind


def test_a_scoped_role_without_its_scoping_attribute_sees_no_rows(world: World, cells: dict[str, list[Cell]],
                                                                   tmp_path: Path) -> None:
    """Fails closed, end to end: the same clients without ``region`` / ``school`` get, for every
    key that shows their rows in scope, what an out-of-scope key gives."""

    with variant(world, _without_scoping_attribute, tmp_path) as unscoped:
        assert all(not c.get("region") and not c.get("school") for c in unscoped.config["clients"])
        problems = run_cells(unscoped, blind_cells(world, cells))
    assert not problems, "\n".join(problems)


def test_fail_closed_check_catches_a_scope_that_fails_open(world: World, cells: dict[str, list[Cell]], tmp_path: Path) -> None:
    """The check above against a gateway that lets the health officer without an attribute see
    everything (its row scope gone, as a fail-open scope would behave) reports it."""

    def fails_open(config: dict[str, Any]) -> None:
        _without_scoping_attribute(config)
        del config["policy"]["roles"]["health_officer"]["row_scope"]

    with variant(world, fails_open, tmp_path) as broken:
        problems = run_cells(broken, [c for c in blind_cells(world, cells) if c.role == "health_officer"])
    assert any("health_officer person(nik) outside" in p for p in problems), problems


# -- the matrix bites -----------------------------------------------------------------------------


def _participants_unscoped(config: dict[str, Any]) -> None:
    # Both: a class lists whoever is on its attendance lists, and those are scoped too.
    del config["policy"]["roles"]["programme_facilitator"]["row_scope"]["ProgrammeParticipant"]
    del config["policy"]["roles"]["programme_facilitator"]["row_scope"]["ProgrammeAttendance"]


def _report_bodies_unscoped(config: dict[str, Any]) -> None:
    del config["policy"]["roles"]["health_officer"]["row_scope"]["Feedback"]


def _officer_scoped_to_the_regency(config: dict[str, Any]) -> None:
    for client in config["clients"]:
        if client["role"] == "health_officer":
            client["region"] = "35.03"


@pytest.mark.parametrize(
    "change,role,caught",
    [
        (_participants_unscoped, "programme_facilitator", "programme.participants outside"),
        (_report_bodies_unscoped, "health_officer", "feedback outside"),
        (_officer_scoped_to_the_regency, "health_officer", "person(nik) outside"),
    ],
    ids=["participants-unscoped", "report-bodies-unscoped", "scope-widened"],
)
def test_row_scope_matrix_catches_a_scope_broken_on_purpose(world: World, cells: dict[str, list[Cell]], tmp_path: Path,
                                                            change, role: str, caught: str) -> None:  # type: ignore[no-untyped-def]
    with variant(world, change, tmp_path) as broken:
        problems = run_cells(broken, cells[role])
    assert any(caught in p for p in problems), problems
