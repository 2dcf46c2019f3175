"""``resolvers.projection``: what a document reads of each entity, erring towards more, never less."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType, parse

from resolvers import build_schema
from resolvers.execution import DECLARED_READS, prepare
from resolvers.person import PERSON_READS
from resolvers.projection import READ_ALL, Projection, projection

SCHEMA = build_schema()


def person_fields(text: str) -> frozenset[str] | None:
    return projection(SCHEMA._schema, parse(text), DECLARED_READS).of("Person")


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
def test_a_field_that_reads_the_whole_record_reads_every_field(text: str) -> None:
    assert person_fields(text) is None


def test_every_person_field_of_the_schema_is_declared() -> None:
    """A new field on Person must say what it reads (or ``EVERY_FIELD``), not be guessed at."""

    person = SCHEMA._schema.get_type("Person")
    assert isinstance(person, GraphQLObjectType)
    assert set(person.fields) == set(PERSON_READS.fields)


def test_every_declared_read_is_a_field_the_registry_maps() -> None:
    """A read naming a field no source maps would select nothing and leave its GraphQL field null."""

    import tomllib

    from demo.gateway_config import render_config

    config = tomllib.loads(render_config(registry_url="sqlite+aiosqlite:///r.sqlite", education_url="sqlite+aiosqlite:///e.sqlite"))
    mapped = set(config["sources"]["siak"]["entities"]["Person"]["fields"])
    declared = {name for reads in PERSON_READS.fields.values() if reads is not None for name in reads}
    assert declared | set(PERSON_READS.always) <= mapped


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
