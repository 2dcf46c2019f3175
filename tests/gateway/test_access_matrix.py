"""The authorization matrix, generated from the demo policy: every demo role x every
sensitive field x every way the gateway offers to reach it -> allowed, masked or refused.

The expected outcome of each cell is computed from the policy file itself (``Policy.decide``
along the path of the query), and the gateway's answer is compared with the same query
answered by a gateway without access control over the same sources: an allowed value must
equal it, a masked one must equal its mask, a refused one must be absent with a
``FORBIDDEN`` (or ``PURPOSE_REQUIRED``) error at the refused field.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type

from demo.access_config import demo_clients
from demo.regions import kecamatan_of
from demo.gateway_config import render_config
from gateway.policy import PUBLIC, Action, Policy, apply_mask
from resolvers import build_schema

from ..conftest import Backend, Gateway, open_gateway, serve_api

SCHEMA = build_schema()._schema


@dataclass(frozen=True)
class Subject:
    nik: str
    kk: str
    nisn: str
    npsn: str
    kecamatan: str
    participant: str
    participant_kecamatan: str


@dataclass(frozen=True)
class Entry:
    """A way to reach a type: a query template with ``%s`` where the type's selection goes."""

    name: str
    type_name: str
    template: str
    #: (parent type, field) steps from Query down to the object whose fields are selected.
    steps: tuple[tuple[str, str], ...]
    #: Response path of the object (lists of one element are indexed 0).
    path: tuple[str | int, ...]


ENTRIES = [
    Entry("person(nik)", "Person", "person(nik: $nik) { %s }", (("Query", "person"),), ("person",)),
    Entry("family(kk).members", "Person", "family(kk: $kk) { members { %s } }",
          (("Query", "family"), ("Family", "members")), ("family", "members", 0)),
    Entry("student(nisn).person", "Person", "student(nisn: $nisn) { person { %s } }",
          (("Query", "student"), ("Student", "person")), ("student", "person")),
    Entry("family(kk)", "Family", "family(kk: $kk) { %s }", (("Query", "family"),), ("family",)),
    Entry("person(nik).family", "Family", "person(nik: $nik) { family { %s } }",
          (("Query", "person"), ("Person", "family")), ("person", "family")),
    Entry("student(nisn)", "Student", "student(nisn: $nisn) { %s }", (("Query", "student"),), ("student",)),
    Entry("person(nik).student", "Student", "person(nik: $nik) { student { %s } }",
          (("Query", "person"), ("Person", "student")), ("person", "student")),
    Entry("person(nik).healthRecord", "HealthRecord", "person(nik: $nik) { healthRecord { %s } }",
          (("Query", "person"), ("Person", "healthRecord")), ("person", "healthRecord")),
    # Federation: another portal's router asking for our entities by key.
    Entry("_entities(Person)", "Person", "_entities(representations: $personRef) { ... on Person { %s } }",
          (("Query", "_entities"),), ("_entities", 0)),
    Entry("_entities(Family)", "Family", "_entities(representations: $familyRef) { ... on Family { %s } }",
          (("Query", "_entities"),), ("_entities", 0)),
    Entry("_entities(Student)", "Student", "_entities(representations: $studentRef) { ... on Student { %s } }",
          (("Query", "_entities"),), ("_entities", 0)),
    Entry("person(nik).healthInsurance", "HealthInsurance", "person(nik: $nik) { healthInsurance { %s } }",
          (("Query", "person"), ("Person", "healthInsurance")), ("person", "healthInsurance")),
    Entry("person(nik).programmes", "ProgrammeParticipation", "person(nik: $participant) { programmes { %s } }",
          (("Query", "person"), ("Person", "programmes")), ("person", "programmes", 0)),
]


def leaf_selection(type_name: str, field_name: str) -> str:
    field = SCHEMA.type_map[type_name].fields[field_name]  # type: ignore[union-attr]
    required = [a for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull) and arg.default_value is None]
    if required:
        return ""
    if isinstance(get_named_type(field.type), GraphQLObjectType):
        return f"{field_name} {{ __typename }}"
    return field_name


def sensitive_fields(policy: Policy, type_name: str) -> list[str]:
    gql_type = SCHEMA.type_map[type_name]
    return [name for name in gql_type.fields if policy.rule(type_name, name).sensitivity != PUBLIC]  # type: ignore[union-attr]


def at(data: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if data is None:
            return None
        if isinstance(step, int):
            if not isinstance(data, list) or len(data) <= step:
                return None
        data = data[step]
    return data


@pytest.fixture(scope="module")
def subject(sqlite_backend: Backend, sepeda_keren_api: str) -> Subject:
    import sqlite3

    from demo.api_config import sample_participant

    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    education = sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(education) as conn:
        conn.execute("ATTACH DATABASE ? AS siak", (registry,))
        nik, kk, nisn, npsn, region = conn.execute(
            """SELECT p.nik, p.no_kk, pd.nisn, pd.npsn, p.kode_wilayah FROM peserta_didik pd
               JOIN siak.penduduk p ON p.nik = pd.nik
               WHERE (SELECT count(*) FROM siak.penduduk m WHERE m.no_kk = p.no_kk) >= 3
               ORDER BY pd.nisn LIMIT 1"""
        ).fetchone()
    participant = sample_participant(sepeda_keren_api)
    assert participant is not None
    with sqlite3.connect(registry) as conn:
        (participant_region,) = conn.execute("SELECT kode_wilayah FROM penduduk WHERE nik = ?", (participant,)).fetchone()
    return Subject(nik, kk, nisn, npsn, kecamatan_of(region), participant, kecamatan_of(participant_region))





def access_config(backend: Backend, urls: dict[str, str], subject: Subject, audit: Path, *, access: bool) -> dict[str, Any]:
    config = tomllib.loads(
        render_config(
            registry_url=backend.registry_url,
            education_url=backend.education_url,
            dinkes_url=urls["dinkes"],
            sepeda_keren_url=urls["sepeda"],
            lapor_url=urls["lapor"],
            jkn_url=urls["jkn"],
            samples={"npsn": subject.npsn},
            access=access,
        )
    )
    if access:
        config["audit"] = {"path": str(audit)}
        config.pop("ratelimit", None)
        for client in config["clients"]:
            if "region" in client:
                client["region"] = subject.kecamatan  # the subject lives in the officers' area
    return config


@pytest.fixture(scope="module")
def jkn_portal(dataset) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from demo.apis import create_jkn_app

    yield from serve_api(create_jkn_app(dataset), "JKN")


@pytest.fixture(scope="module")
def urls(dinkes_api: str, sepeda_keren_api: str, lapor_api: str, jkn_portal: str) -> dict[str, str]:
    return {"dinkes": dinkes_api, "sepeda": sepeda_keren_api, "lapor": lapor_api, "jkn": jkn_portal}


@pytest.fixture
async def gateways(sqlite_backend: Backend, urls: dict[str, str], subject: Subject, tmp_path: Path) -> AsyncIterator[tuple[Gateway, Gateway, Policy]]:
    guarded_config = access_config(sqlite_backend, urls, subject, tmp_path / "audit.sqlite", access=True)
    open_config = access_config(sqlite_backend, urls, subject, tmp_path / "unused.sqlite", access=False)
    policy = Policy.from_config(guarded_config["policy"])
    async for guarded in open_gateway(guarded_config):
        async for reference in open_gateway(open_config):
            yield guarded, reference, policy


ROLES = [("anonymous", None, None)] + [(c.role, c.key, c.purpose) for c in demo_clients("any")]


async def ask(gateway: Gateway, query: str, variables: dict[str, Any], key: str | None, purpose: str | None) -> dict[str, Any]:
    headers = {}
    if key:
        headers["X-API-Key"] = key
    if purpose:
        headers["X-Satudata-Purpose"] = purpose
    response = await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    return response.json()


VARIABLES = "($nik: NIK!, $kk: KK!, $nisn: NISN!, $participant: NIK!)"


@pytest.mark.parametrize("role,key,purpose", ROLES, ids=[r[0] for r in ROLES])
async def test_every_sensitive_field_through_every_entry(gateways, subject: Subject, role: str, key: str | None, purpose: str | None) -> None:  # type: ignore[no-untyped-def]
    guarded, reference, policy = gateways
    the_role = policy.role(role)
    variables = {
        "nik": subject.nik, "kk": subject.kk, "nisn": subject.nisn, "participant": subject.participant,
        "personRef": [{"__typename": "Person", "nik": subject.nik}],
        "familyRef": [{"__typename": "Family", "kk": subject.kk}],
        "studentRef": [{"__typename": "Student", "nisn": subject.nisn}],
    }
    checked = 0
    for entry in ENTRIES:
        for field_name in sensitive_fields(policy, entry.type_name):
            selection = leaf_selection(entry.type_name, field_name)
            if not selection:
                continue
            query = f"query{VARIABLES} {{ {entry.template % selection} }}".replace("$nik: NIK!, $kk", "$nik: NIK!, $kk")
            query = _only_used(query)
            used = {k: v for k, v in variables.items() if f"${k}" in query.split("{", 1)[1]}
            expected_raw = at((await ask(reference, query, used, None, None))["data"], (*entry.path, field_name))
            answer = await ask(guarded, query, used, key, purpose)
            steps = (*entry.steps, (entry.type_name, field_name))
            decisions = [policy.decide(the_role, purpose, t, f) for t, f in steps]
            refused = next((i for i, d in enumerate(decisions) if d.action is Action.REFUSE), None)
            where = f"{role} {entry.name}.{field_name}"
            home = subject.participant_kecamatan if "$participant" in entry.template else subject.kecamatan
            person_scoped = any(s.entity == "Person" for s in the_role.row_scope)
            # The first step that yields a Person: a row scope on Person nulls it there.
            scope_step = next((i for i, (_, f) in enumerate(steps) if f in ("person", "members")), None)
            out_of_scope = person_scoped and home != subject.kecamatan and scope_step is not None
            if out_of_scope and refused is not None and refused <= scope_step:  # type: ignore[operator]
                out_of_scope = False  # refused before the scoped lookup is even made
            if out_of_scope:
                assert "errors" not in answer, f"{where}: {answer}"
                assert at(answer["data"], (*entry.path, field_name)) is None, f"{where}: a person outside the row scope: {answer}"
            elif refused is not None:
                codes = {e["extensions"]["code"] for e in answer.get("errors", [])}
                assert codes & {"FORBIDDEN", "PURPOSE_REQUIRED"}, f"{where}: expected refusal, got {answer}"
                assert at(answer.get("data"), (*entry.path, field_name)) is None, f"{where}: refused value leaked: {answer}"
            elif expected_raw is not None:
                value = at(answer["data"], (*entry.path, field_name))
                leaf = decisions[-1]
                is_object = isinstance(expected_raw, dict) or (isinstance(expected_raw, list) and expected_raw and isinstance(expected_raw[0], dict))
                if leaf.action is Action.MASK and not is_object:
                    assert value == _masked(leaf.mask, entry.type_name, field_name, expected_raw), f"{where}: {value!r} vs {expected_raw!r}"
                    assert value != expected_raw or expected_raw in (None, [], ""), f"{where}: not masked"
                else:
                    assert value == expected_raw, f"{where}: {value!r} != {expected_raw!r}"
            checked += 1
    assert checked > 40, checked


def _masked(mask: Any, type_name: str, field_name: str, raw: Any) -> Any:
    from datetime import date

    field = SCHEMA.type_map[type_name].fields[field_name]  # type: ignore[union-attr]
    if get_named_type(field.type).name == "Date" and isinstance(raw, str):
        return apply_mask(mask, date.fromisoformat(raw))
    return apply_mask(mask, raw)


def _only_used(query: str) -> str:
    """Drop variable definitions the body does not use (GraphQL refuses unused variables)."""

    head, body = query.split("{", 1)
    names = ["nik", "kk", "nisn", "participant", "personRef", "familyRef", "studentRef"]
    types = {"nik": "NIK!", "kk": "KK!", "nisn": "NISN!", "participant": "NIK!",
             "personRef": "[_Any!]!", "familyRef": "[_Any!]!", "studentRef": "[_Any!]!"}
    used = [n for n in names if f"${n}" in body]
    return f"query({', '.join(f'${n}: {types[n]}' for n in used)}) {{{body}"


def test_matrix_covers_every_sensitive_type_of_the_policy() -> None:
    """A type given a class in the demo policy but reached by no entry would escape the matrix."""

    config = tomllib.loads(render_config(registry_url="sqlite+aiosqlite:///x", education_url="sqlite+aiosqlite:///y", access=True))
    policy = Policy.from_config(config["policy"])
    covered = {e.type_name for e in ENTRIES + LIST_ENTRIES}
    entry_fields = {f"{t}.{f}" for e in ENTRIES + LIST_ENTRIES for t, f in e.steps}
    for key in policy.fields:
        type_name, field_name = key.split(".")
        # Either its type's fields are enumerated by an entry, or it is itself a step of one.
        # (SessionAttendance is only reached through ProgrammeParticipation.attendance.)
        assert type_name in covered | {"SessionAttendance"} or key in entry_fields or key == "Query._entities", key


# -- lists: connections and list joins ----------------------------------------------------------

STAR = "*"

LIST_ENTRIES = [
    Entry("persons", "Person", "persons(first: 4, filter: {region: $kec}) { edges { node { %s } } }",
          (("Query", "persons"),), ("persons", "edges", STAR, "node")),
    Entry("region.residents", "Person", "region(code: $kec) { residents(first: 4) { edges { node { %s } } } }",
          (("Query", "region"), ("Region", "residents")), ("region", "residents", "edges", STAR, "node")),
    Entry("school.students.person", "Person", "school(npsn: $npsn) { students { person { %s } } }",
          (("Query", "school"), ("School", "students"), ("Student", "person")), ("school", "students", STAR, "person")),
    Entry("students", "Student", "students(first: 4, filter: {school: $npsn}) { edges { node { %s } } }",
          (("Query", "students"),), ("students", "edges", STAR, "node")),
    Entry("school.students", "Student", "school(npsn: $npsn) { students { %s } }",
          (("Query", "school"), ("School", "students")), ("school", "students", STAR)),
    Entry("programme.participants", "ProgrammeParticipation",
          "programme(code: $programme) { participants(first: 4) { edges { node { %s } } } }",
          (("Query", "programme"), ("Programme", "participants")), ("programme", "participants", "edges", STAR, "node")),
    Entry("programme.facilitator", "Person", "programme(code: $programme) { facilitator { %s } }",
          (("Query", "programme"), ("Programme", "facilitator")), ("programme", "facilitator")),
    Entry("feedback.reporter", "Person", "feedback(first: 6, filter: {region: $kec}) { edges { node { reporter { %s } } } }",
          (("Query", "feedback"), ("Feedback", "reporter")), ("feedback", "edges", STAR, "node", "reporter")),
    Entry("feedback", "Feedback", "feedback(first: 6, filter: {region: $kec}) { edges { node { %s } } }",
          (("Query", "feedback"),), ("feedback", "edges", STAR, "node")),
]
LIST_TYPES = {"kec": "RegionCode!", "npsn": "NPSN!", "programme": "String!"}


def every(data: Any, path: tuple[str | int, ...]) -> list[Any]:
    """The values at ``path`` in ``data``, ``*`` standing for every element of a list."""

    if not path:
        return [data]
    if data is None:
        return []
    step, rest = path[0], path[1:]
    if step == STAR:
        return [v for item in (data if isinstance(data, list) else []) for v in every(item, rest)]
    if isinstance(data, dict) and step in data:
        return every(data[step], rest)
    return []


def hashable(value: Any) -> Any:
    return repr(value)


@pytest.mark.parametrize("role,key,purpose", ROLES, ids=[r[0] for r in ROLES])
async def test_every_sensitive_field_through_every_list(gateways, subject: Subject, role: str, key: str | None, purpose: str | None) -> None:  # type: ignore[no-untyped-def]
    from collections import Counter

    guarded, reference, policy = gateways
    the_role = policy.role(role)
    found = await ask(reference, "query($n: NIK!) { person(nik: $n) { programmes { programme { code } } } }",
                      {"n": subject.participant}, None, None)
    variables = {"kec": subject.kecamatan, "npsn": subject.npsn,
                 "programme": found["data"]["person"]["programmes"][0]["programme"]["code"]}
    scoped = bool(the_role.row_scope)
    checked = 0
    for entry in LIST_ENTRIES:
        for field_name in sensitive_fields(policy, entry.type_name):
            selection = leaf_selection(entry.type_name, field_name)
            if not selection:
                continue
            body = entry.template % selection
            used = {k: v for k, v in variables.items() if f"${k}" in body}
            query = f"query({', '.join(f'${k}: {LIST_TYPES[k]}' for k in used)}) {{ {body} }}"
            raw = every((await ask(reference, query, used, None, None))["data"], (*entry.path, field_name))
            answer = await ask(guarded, query, used, key, purpose)
            got = every(answer.get("data"), (*entry.path, field_name))
            steps = (*entry.steps, (entry.type_name, field_name))
            decisions = [policy.decide(the_role, purpose, t, f) for t, f in steps]
            where = f"{role} {entry.name}.{field_name}"
            if any(d.action is Action.REFUSE for d in decisions):
                assert all(v is None for v in got), f"{where}: refused values leaked: {got}"
                refusal = {e["extensions"]["code"] for e in answer.get("errors", [])} & {"FORBIDDEN", "PURPOSE_REQUIRED"}
                # A row-scoped role may get no row at all to refuse a field of.
                reached = any(p is not None for p in every(answer.get("data"), entry.path))
                assert refusal or (scoped and not reached), f"{where}: expected a refusal, got {answer}"
            else:
                leaf = decisions[-1]
                is_object = any(isinstance(v, dict) for v in raw)
                expected = [_masked(leaf.mask, entry.type_name, field_name, v) for v in raw] if (
                    leaf.action is Action.MASK and not is_object) else raw
                if scoped:
                    # Row scope may drop rows; whatever comes back must be what the source holds.
                    shown = Counter(hashable(v) for v in got if v is not None)
                    assert shown <= Counter(hashable(v) for v in expected), f"{where}: {got} not within {expected}"
                else:
                    assert got == expected, f"{where}: {got!r} != {expected!r}"
            checked += 1
    assert checked > 30, checked
