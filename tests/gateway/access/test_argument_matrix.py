"""The argument matrix: every demo role x every argument of every field of the schema (keys,
filters, search terms, page arguments, ``_entities`` representations) -> allowed, or refused with
``FORBIDDEN`` and ``extensions.argument`` before any source is asked.

The schema is walked, so an argument added without an expectation in
``access_expectations.ARGUMENTS`` fails ``test_every_argument_of_the_schema_has_an_expectation``.
Expectations come from that table ("arguments follow reads"), never from ``resolvers.arguments``.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, get_named_type

from resolvers import build_schema

from ..access_expectations import ARGUMENTS, REFUSED, REPRESENTATIONS, ROLES, World, argument_allowed, outcome, variant
from ..access_expectations import FULL

SCHEMA = build_schema()._schema


def schema_arguments() -> dict[str, tuple[str, str, str]]:
    """``Type.field(argument[.inputField])`` -> (type, field, top-level argument) for every argument."""

    found: dict[str, tuple[str, str, str]] = {}
    for type_name, gql_type in SCHEMA.type_map.items():
        if type_name.startswith("__") or not isinstance(gql_type, GraphQLObjectType):
            continue
        if gql_type is SCHEMA.subscription_type:
            continue  # asked over a subscription transport: tests/gateway/test_subscriptions_npm_clients.py
        for field_name, field_def in gql_type.fields.items():
            for arg_name, arg in field_def.args.items():
                named = get_named_type(arg.type)
                if isinstance(named, GraphQLInputObjectType):
                    for inner in named.fields:
                        found[f"{type_name}.{field_name}({arg_name}.{inner})"] = (type_name, field_name, arg_name)
                else:
                    found[f"{type_name}.{field_name}({arg_name})"] = (type_name, field_name, arg_name)
    return found


def test_every_argument_of_the_schema_has_an_expectation() -> None:
    walked = set(schema_arguments()) - {"Query._entities(representations)"}
    assert walked - set(ARGUMENTS) == set(), f"arguments without an expectation: {sorted(walked - set(ARGUMENTS))}"
    assert set(ARGUMENTS) - walked == set(), f"expectations of arguments the schema lost: {sorted(set(ARGUMENTS) - walked)}"
    members = {t.name for t in SCHEMA.type_map["_Entity"].types}  # type: ignore[union-attr]
    assert members == set(REPRESENTATIONS), members


@pytest.fixture(scope="module")
def keys(world: World) -> dict[str, str]:
    inside = world.subjects.inside
    facility = world.reference.ask("anonymous", '{ region(code: "35.03.08") { healthFacilities { code } } }')
    return {
        "NIK": inside["nik"][0], "KK": inside["kk"][0], "NISN": inside["nisn"][0], "NPSN": world.subjects.npsn,
        "RegionCode": inside["desa"][0], "facility": facility.data["region"]["healthFacilities"][0]["code"],
        "programme": inside["programme"][0],
    }


#: How to reach an object of each parent type, for an argument of one of its fields.
PARENTS = {
    "Query": "%s",
    "Region": 'region(code: "35.03.08") { %s }',
    "School": "school(npsn: $npsn) { %s }",
    "Agency": 'agency(code: "DINKES") { %s }',
    "HealthFacility": "healthFacility(code: $facility) { %s }",
    "Programme": "programme(code: $programme) { %s }",
}
PARENT_PATH = {"Query": (), "Region": ("region",), "School": ("school",), "Agency": ("agency",),
               "HealthFacility": ("healthFacility",), "Programme": ("programme",)}
#: Arguments a field needs besides the one under test (all public reads).
REQUIRED = {
    "caseReports": {"year": "2026", "fromWeek": "44", "toWeek": "45"},
    "attendance": {"from": '"2026-11-02"', "to": '"2026-11-06"'},
}


def literal(type_name: str, field_name: str, arg_name: str, keys: dict[str, str]) -> str:
    """A valid value for the argument (or input field) ``arg_name`` in GraphQL syntax."""

    arg = SCHEMA.type_map[type_name].fields[field_name].args.get(arg_name)  # type: ignore[union-attr]
    named = get_named_type(arg.type) if arg is not None else None
    if named is None:
        raise KeyError(arg_name)
    return _value(named.name, arg_name, field_name, keys)


def _value(type_name: str, name: str, field_name: str, keys: dict[str, str]) -> str:
    named = SCHEMA.type_map[type_name]
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    if type_name in ("NIK", "KK", "NISN", "NPSN", "RegionCode"):
        return f'"{keys[type_name]}"'
    if type_name == "Int":
        return {"first": "2", "grade": "1", "year": "2026", "fromWeek": "44", "toWeek": "45"}.get(name, "1")
    if type_name == "Date":
        return '"2026-11-02"'
    if name == "code":
        return f'"{ {"healthFacility": keys["facility"], "programme": keys["programme"], "agency": "DINKES"}.get(field_name, "x")}"'
    return {"after": '"x"', "nameContains": '"A"', "disease": '"A"', "agency": '"DINKES"'}.get(name, '"A"')


def argument_query(argument: str, type_name: str, field_name: str, arg_name: str, keys: dict[str, str]) -> tuple[str, str]:
    """(the query giving only ``argument`` and what the field requires, the same query without the field)."""

    inner = argument.split("(")[1].rstrip(")")
    args = dict(REQUIRED.get(field_name, {}))
    if "." in inner:
        input_field = inner.split(".")[1]
        input_type = get_named_type(SCHEMA.type_map[type_name].fields[field_name].args[arg_name].type)  # type: ignore[union-attr]
        value = _value(get_named_type(input_type.fields[input_field].type).name, input_field, field_name, keys)  # type: ignore[union-attr]
        args[arg_name] = f"{{{input_field}: {value}}}"
    else:
        args[arg_name] = literal(type_name, field_name, arg_name, keys)
    call = f"{field_name}({', '.join(f'{k}: {v}' for k, v in args.items())}) {{ __typename }}"
    parent = PARENTS[type_name]
    variables = "($npsn: NPSN!)" if "$npsn" in parent else "($facility: String!)" if "$facility" in parent else (
        "($programme: String!)" if "$programme" in parent else "")
    baseline = f"query{variables} {{ {parent % '__typename'} }}" if type_name != "Query" else "{ __typename }"
    return f"query{variables} {{ {parent % call} }}", baseline


def check(role: str, argument: str, answer: Any, baseline: Any, field_path: tuple[str, ...], refused_field: bool, arg_name: str) -> list[str]:
    where = f"{role} {argument}"
    forbidden = [e for e in answer.errors if (e.get("extensions") or {}).get("code") == "FORBIDDEN"]
    if refused_field:
        return [] if any(tuple(e["path"]) == field_path for e in forbidden) else [f"{where}: field not refused: {answer.body}"]
    allowed = argument_allowed(role, argument) if argument in ARGUMENTS else True
    if allowed:
        return [f"{where}: refused: {forbidden}"] if forbidden else []
    problems = []
    if not any(tuple(e["path"]) == field_path and e["extensions"].get("argument") == arg_name for e in forbidden):
        problems.append(f"{where}: expected FORBIDDEN with argument {arg_name!r} at {field_path}, got {answer.errors}")
    if answer.sources() != baseline.sources():
        problems.append(f"{where}: sources asked although refused: {answer.sources()} vs {baseline.sources()} without the field")
    return problems


@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_every_argument(world: World, keys: dict[str, str], role: str) -> None:
    problems = argument_problems(world, keys, role)
    assert not problems, "\n".join(problems)


def test_argument_matrix_catches_a_mask_turned_into_a_grant(world: World, keys: dict[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With the analyst granted personal data in a copy of the policy, its name search passes the
    gateway and the matrix reports it."""

    def grant(config: dict[str, Any]) -> None:
        config["policy"]["roles"]["smart_center_analyst"]["grant"] = ["personal"]
        config["policy"]["roles"]["smart_center_analyst"]["mask"] = ["children"]

    with variant(world, grant, tmp_path) as broken:
        problems = argument_problems(broken, keys, "smart_center_analyst")
    assert any("Query.persons(filter.nameContains): refused" in p or "persons(filter.nameContains)" in p for p in problems), problems
    assert any("_entities(Person)" in p for p in problems), problems


def argument_problems(world: World, keys: dict[str, str], role: str) -> list[str]:
    problems: list[str] = []
    for argument, (type_name, field_name, arg_name) in schema_arguments().items():
        if argument == "Query._entities(representations)":
            continue
        query, baseline_query = argument_query(argument, type_name, field_name, arg_name, keys)
        variables = {"npsn": keys["NPSN"], "facility": keys["facility"], "programme": keys["programme"]}
        used = {k: v for k, v in variables.items() if f"${k}" in query}
        answer = world.guarded.ask(role, query, used, trace=True)
        baseline = world.guarded.ask(role, baseline_query, used, trace=True)
        assert answer.status == 200, (argument, answer.body)
        refused_field = outcome(role, f"{type_name}.{field_name}") == REFUSED
        problems += check(role, argument, answer, baseline, (*PARENT_PATH[type_name], field_name), refused_field, arg_name)
    # _entities: each representation tests its type's key.
    for typename, key_field in REPRESENTATIONS.items():
        key_name = key_field.split(".")[1]
        value = {"Person": keys["NIK"], "Family": keys["KK"], "Student": keys["NISN"], "School": keys["NPSN"],
                 "Region": keys["RegionCode"], "Agency": "DINKES"}[typename]
        answer = world.guarded.ask(role, "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
                                   {"r": [{"__typename": typename, key_name: value}]}, trace=True)
        refused_field = outcome(role, "Query._entities") == REFUSED
        where = f"{role} _entities({typename})"
        forbidden = [e for e in answer.errors if (e.get("extensions") or {}).get("code") == "FORBIDDEN"]
        if refused_field or outcome(role, key_field) == FULL:
            if bool(forbidden) != refused_field:
                problems.append(f"{where}: {'expected' if refused_field else 'unexpected'} refusal: {answer.errors}")
        else:
            if not any(e["extensions"].get("argument") == "representations" for e in forbidden):
                problems.append(f"{where}: expected FORBIDDEN at representations, got {answer.errors}")
            if answer.sources():
                problems.append(f"{where}: sources asked although refused: {answer.sources()}")
            if answer.data and any(answer.data.get("_entities") or []):
                problems.append(f"{where}: entities came: {answer.data}")
    return problems


def test_the_analyst_counts_and_browses_but_does_not_look_people_up() -> None:
    """The issue's examples, read from the table: the analyst may browse by region, school and
    programme, and may not look persons up or search them by what it sees masked."""

    analyst = "smart_center_analyst"
    for argument in ("Query.person(nik)", "Query.family(kk)", "Query.student(nisn)", "Query.persons(filter.nameContains)",
                     "Query.persons(filter.sex)", "Query.persons(filter.status)", "Query.students(filter.grade)",
                     "Query.students(filter.nameContains)", "School.students(grade)"):
        assert not argument_allowed(analyst, argument), argument
    for argument in ("Query.persons(filter.region)", "Query.students(filter.school)", "Query.school(npsn)",
                     "Query.region(code)", "Query.programmes(filter.region)", "Query.feedback(filter.category)"):
        assert argument_allowed(analyst, argument), argument
    assert all(outcome(analyst, REPRESENTATIONS[t]) != FULL for t in ("Person", "Family", "Student"))
