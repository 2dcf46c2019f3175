"""A dead, slow or refusing source costs only the fields it feeds (issue 13).

Every field that asks a source for anything beyond its parent's record is nullable, so its
failure stops there instead of nulling its parent (a region's name and schools for one health-
office error). ``resolvers.provenance`` declares where each resolver field's value comes from;
the walk below holds the schema to it, and a dead source and a refused field show it end to end.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLNonNull, GraphQLObjectType

from resolvers import schema
from resolvers.provenance import FROM_CONFIG, NO_SOURCE, PROTOCOL_FIXED, SOURCE_FED

from .conftest import Backend, open_gateway
from .support.sqlite import sqlite_file

DEAD = "http://127.0.0.1:9"  # loopback port 9 refuses at once


@dataclass(frozen=True)
class Declared:
    """The tables of ``resolvers.provenance`` (a toy schema brings its own)."""

    source_fed: dict[str, str]
    no_source: frozenset[str] = frozenset()
    from_config: dict[str, str] = field(default_factory=dict)
    fixed: frozenset[str] = frozenset()


DECLARED = Declared(SOURCE_FED, NO_SOURCE, FROM_CONFIG, PROTOCOL_FIXED)


def resolver_fields(built: Any) -> Iterable[tuple[str, bool, bool]]:
    """(``Type.field``, whether it is non-null, whether its resolver takes ``info``) for every
    object-type field with a resolver of its own."""

    for name, gql_type in built._schema.type_map.items():
        if name.startswith("__") or not isinstance(gql_type, GraphQLObjectType):
            continue
        definition = built.get_type_by_name(name)
        for f in getattr(definition, "fields", ()):
            graphql_name = built.config.name_converter.get_graphql_name(f)
            if graphql_name not in gql_type.fields:
                continue
            resolver = f.base_resolver
            if resolver is not None or name == "Query":
                takes_info = resolver is None or resolver.info_parameter is not None
                yield f"{name}.{graphql_name}", isinstance(gql_type.fields[graphql_name].type, GraphQLNonNull), takes_info


def violations(built: Any, declared: Declared) -> list[str]:
    """What breaks the rule: undeclared resolver fields, non-null source-fed ones, a "no source"
    resolver that could reach one, stale declarations."""

    tables = (
        ("SOURCE_FED", declared.source_fed),
        ("NO_SOURCE", declared.no_source),
        ("FROM_CONFIG", declared.from_config),
        ("PROTOCOL_FIXED", declared.fixed),
    )
    found: list[str] = []
    seen: set[str] = set()
    for path, non_null, takes_info in resolver_fields(built):
        seen.add(path)
        places = [table for table, names in tables if path in names]
        if len(places) != 1:
            found.append(f"{path}: declare it in exactly one of {', '.join(t for t, _ in tables)} (now {places or 'none'})")
        elif places == ["SOURCE_FED"] and non_null:
            found.append(f"{path}: fed by a source call of its own ({declared.source_fed[path]}), so it must be nullable")
        elif places == ["NO_SOURCE"] and takes_info:
            found.append(f"{path}: declared NO_SOURCE, yet its resolver takes info (the way to a source)")
    found += [f"{path}: declared but not in the schema" for _, names in tables for path in names if path not in seen]
    return found


def test_every_source_fed_field_is_nullable_and_every_resolver_field_is_declared() -> None:
    assert violations(schema, DECLARED) == []


@strawberry.type
class Thing:
    name: str

    @strawberry.field
    async def others(self, info: strawberry.Info) -> list[str]:
        return []

    @strawberry.field
    async def undeclared(self) -> str:
        return ""


@strawberry.type
class _Query:
    @strawberry.field
    async def thing(self) -> Thing | None:
        return None


def test_the_walk_catches_a_new_non_null_source_field_and_an_undeclared_one() -> None:
    """The check is not vacuous: a field added without a declaration, or declared but non-null, fails it."""

    built = strawberry.Schema(query=_Query)
    assert violations(built, Declared({"Query.thing": "Thing", "Thing.others": "Other"})) == [
        "Thing.others: fed by a source call of its own (Other), so it must be nullable",
        "Thing.undeclared: declare it in exactly one of SOURCE_FED, NO_SOURCE, FROM_CONFIG, PROTOCOL_FIXED (now none)",
    ]
    # Declaring a resolver that takes info as asking no source is caught too.
    assert violations(built, Declared({"Query.thing": "Thing"}, frozenset({"Thing.others", "Thing.undeclared"}))) == [
        "Thing.others: declared NO_SOURCE, yet its resolver takes info (the way to a source)",
    ]


def test_declared_entities_are_entities_the_demo_configures() -> None:
    from demo.gateway_config import render_config

    config = tomllib.loads(
        render_config(registry_url="sqlite+aiosqlite:///r", education_url="sqlite+aiosqlite:///e", dinkes_url=DEAD,
                      sepeda_keren_url=DEAD, lapor_url=DEAD, jkn_url=DEAD)
    )
    configured = {entity for source in config["sources"].values() for entity in source.get("entities", {})}
    assert set(SOURCE_FED.values()) - configured == set()
    # What FROM_CONFIG reads is the gateway's own catalogue of agencies and systems, never a source.
    from connectors.registry import _catalog

    catalogue = set(_catalog([], []).info.entities)
    assert set(FROM_CONFIG.values()) <= catalogue and not catalogue & configured


async def test_a_dead_health_office_nulls_only_its_fields_of_a_region(sqlite_backend: Backend) -> None:
    from demo.gateway_config import render_config

    config = tomllib.loads(
        render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, dinkes_url=DEAD)
    )
    config["sources"]["dinkes"].update(retries=0, breaker_failures=100)
    query = """{ region(code: "35.03") { name children { code } schools(level: SMA) { npsn }
                 healthFacilities { code } caseReports(year: 2026, toWeek: 2) { cases } } }"""
    async for gateway in open_gateway(config):
        answer = await gateway.query(query)
        region = answer["data"]["region"]
        # The registry's and Dapodik's answers survive the health office.
        assert region["name"] == "KABUPATEN TRENGGALEK" and len(region["children"]) == 14 and region["schools"]
        assert region["healthFacilities"] is None and region["caseReports"] is None
        assert sorted(tuple(e["path"]) for e in answer["errors"]) == [("region", "caseReports"), ("region", "healthFacilities")]
        assert {e["extensions"]["code"] for e in answer["errors"]} == {"SOURCE_UNAVAILABLE"}
        assert {e["extensions"]["source"] for e in answer["errors"]} == {"dinkes"}


async def test_a_refused_field_costs_only_itself(sqlite_backend: Backend, tmp_path: Path) -> None:
    """Anonymous callers may see a school but not its pupils: ``students`` is null, the school is not."""

    from demo.gateway_config import render_config

    config = tomllib.loads(
        render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, access=True)
    )
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    with sqlite_file(sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        (npsn,) = conn.execute("SELECT npsn FROM peserta_didik GROUP BY npsn ORDER BY npsn LIMIT 1").fetchone()
    async for gateway in open_gateway(config):
        answer = await gateway.query(
            "query($npsn: NPSN!) { school(npsn: $npsn) { npsn name students { nisn } } schools(first: 1) { totalCount } }",
            {"npsn": npsn},
        )
        school = answer["data"]["school"]
        assert school["npsn"] == npsn and school["name"] and school["students"] is None
        assert answer["data"]["schools"]["totalCount"] > 0
        (error,) = answer["errors"]
        assert error["path"] == ["school", "students"] and error["extensions"]["code"] == "FORBIDDEN"
