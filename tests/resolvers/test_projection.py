"""``resolvers.projection``: what a document reads of each entity, erring towards more, never less."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType, parse

from resolvers import build_schema
from resolvers.execution import DECLARED_READS, prepare
from resolvers.person import FAMILY_READS, PERSON_READS
from resolvers.projection import READ_ALL, Projection, TypeReads, projection
from resolvers.school import STUDENT_READS

SCHEMA = build_schema()


def person_fields(text: str) -> frozenset[str] | None:
    return projection(SCHEMA._schema, parse(text), DECLARED_READS).of("Person")


def student_fields(text: str) -> frozenset[str] | None:
    return projection(SCHEMA._schema, parse(text), DECLARED_READS).of("Student")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Query A of the bench: the person, their card, its members' names.
        ('{ person(nik: "3503120101010001") { family { kk members { nik name } } } }', {"nik", "kk", "name"}),
        ("{ persons(first: 5) { nodes { __typename } } }", {"nik"}),
        ("{ persons(first: 5) { nodes { birthYear region { code } } } }", {"nik", "birthDate", "regionCode"}),
        ("{ persons(first: 5) { nodes { healthFacility { code } student { nisn } } } }", {"nik", "regionCode"}),
        # Aliases and fragments count, also a fragment the operation does not spread.
        ("{ persons(first: 5) { nodes { n: name ...F } } } fragment F on Person { sex }", {"nik", "name", "sex"}),
        ("{ agencies { code } } fragment Unused on Person { religion }", {"nik", "religion"}),
        # Through a union (federation's _entities) and an inline fragment.
        ('{ _entities(representations: []) { ... on Person { occupation } } }', {"nik", "occupation"}),
        # Where a person is reached from another type.
        ('{ school(npsn: "20500000") { students { person { status updatedAt } } } }', {"nik", "status", "updatedAt"}),
        # No person at all: the key only (an existence check reads no more).
        ("{ agencies { code name } }", {"nik"}),
    ],
)
def test_a_document_reads_what_its_person_fields_declare(text: str, expected: set[str]) -> None:
    assert person_fields(text) == frozenset(expected)


@pytest.mark.parametrize(
    "text",
    [
        # A person's discrepancies compare every fact of the record.
        '{ person(nik: "3503120101010001") { name discrepancies { fact } } }',
        '{ persons(first: 1) { nodes { nik } } } fragment D on Person { discrepancies { fact } }',
    ],
)
def test_a_field_that_reads_whole_records_reads_every_field_of_every_entity(text: str) -> None:
    """A person's discrepancies compare the registry's record with the school's: both are read whole."""

    assert projection(SCHEMA._schema, parse(text), DECLARED_READS) is READ_ALL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Query C of the bench: fifty schools' pupils, each one's person and family.
        ("{ schools(first: 50) { totalCount edges { node { npsn students { nisn person { nik family { kk members "
         "{ nik name } } } } } } } }", {"nisn", "nik", "school"}),
        ('{ student(nisn: "0012345678") { name birthYear school { npsn } } }', {"nisn", "nik", "name", "birthDate", "school"}),
        ("{ students(first: 5) { nodes { grade className } } }", {"nisn", "nik", "grade", "className"}),
        # School.students filters the records by grade itself: read even where no grade is shown.
        ('{ school(npsn: "20500000") { students(grade: 3) { nisn } } }', {"nisn", "nik", "grade"}),
    ],
)
def test_a_document_reads_what_its_student_fields_declare(text: str, expected: set[str]) -> None:
    # School.students loads by school: the split field joins the fields (loaders add it, and the
    # source adds it itself in any case).
    got = student_fields(text)
    assert got is not None and got | {"school"} == frozenset(expected) | {"school"}


@pytest.mark.parametrize("reads", DECLARED_READS, ids=lambda r: r.type_name)
def test_every_field_of_a_declared_type_is_declared(reads: TypeReads) -> None:
    """A new field on the type must say what it reads (or ``EVERY_FIELD``), not be guessed at."""

    gql_type = SCHEMA._schema.get_type(reads.type_name)
    assert isinstance(gql_type, GraphQLObjectType)
    assert set(gql_type.fields) == set(reads.fields)


@pytest.mark.parametrize(("reads", "source"), [(PERSON_READS, "siak"), (FAMILY_READS, "siak"), (STUDENT_READS, "dapodik")])
def test_every_declared_read_is_a_field_the_demo_source_maps(reads: TypeReads, source: str) -> None:
    """A read naming a field no source maps would select nothing and leave its GraphQL field null."""

    import tomllib

    from demo.gateway_config import render_config

    config = tomllib.loads(render_config(registry_url="sqlite+aiosqlite:///r.sqlite", education_url="sqlite+aiosqlite:///e.sqlite"))
    mapped = set(config["sources"][source]["entities"][reads.entity]["fields"])
    declared = {name for fields in reads.fields.values() if fields is not None for name in fields}
    assert declared | set(reads.always) <= mapped


def test_an_invalid_document_reads_everything() -> None:
    assert prepare(SCHEMA, "{ persons { nope } }").projection is READ_ALL
    assert prepare(SCHEMA, "{ persons(first: 1) { nodes { name } } }").projection.of("Person") == {"nik", "name"}


def test_widening_adds_a_role_s_scope_fields_to_the_entities_narrowed_only() -> None:
    narrow = Projection({"Person": frozenset({"nik", "name"})})
    scope = frozenset({("Person", "regionCode"), ("Patient", "nik")})
    widened = narrow.widened(scope)
    assert widened.of("Person") == {"nik", "name", "regionCode"}
    assert widened.of("Patient") is None  # not narrowed: every field already
    assert narrow.widened(scope) is widened  # remembered per role
    assert narrow.widened(frozenset({("Person", "name")})) is narrow  # nothing to add
    assert READ_ALL.widened(scope) is READ_ALL


def test_a_family_card_reads_its_key_and_head_and_what_is_selected() -> None:
    text = '{ family(kk: "3503120101010001") { kk members { nik } region { code } } }'
    assert projection(SCHEMA._schema, parse(text), DECLARED_READS).of("Family") == {"kk", "headNik", "regionCode"}
