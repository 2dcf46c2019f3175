"""A list read in a shuffled order without a narrowing filter is a scan of its source: heavy, and
costed as long as the whole list (``gateway.access.limits.scans``).

A role that sees NIKs masked gets ``persons`` shuffled (``md5(salt || NIK)``), which the source
computes and sorts for every row the filter lets through: the regency's 750,000 residents per page,
where a kecamatan's or a desa's are a few thousand. The estimate records such reads for every role
alike (the cached measure of a document serves every role), and the guard counts them for the
caller whose lists are shuffled, by the rule ``RequestContext.list_order_salt`` follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType, GraphQLSchema, get_named_type, parse

from gateway import GatewaySettings, create_app
from gateway.access.limits import HeavyQueryGate, QueryGuard, QueryLimits, QueryLimitsExtension, QueryTooCostly, measure
from gateway.access.limits.analysis import ListSizes
from gateway.access.limits.scans import DESA_PARTS, NARROW_REGION_PARTS, region_level
from gateway.prepared import PreparedDocuments
from resolvers import GraphSchema, build_schema

from ...conftest import Backend, Gateway
from .test_access import config_for, post, sample  # noqa: F401  (the sample fixture)

PERSONS = "{ persons(first: 5) { nodes { nik name } } }"
SIZES = ListSizes(fields={"Query.persons": 750_000, "Query.students": 120_980, "Region.residents": 750_000})


@functools.cache
def graph() -> GraphSchema:
    return build_schema()


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return graph()._schema


def scans(schema: GraphQLSchema, query: str, variables: dict[str, Any] | None = None) -> dict[str, float]:
    """``Type.field`` -> how many times the query reads it as a scan (when shuffled)."""

    found = measure(parse(query), schema, variables=variables, sizes=SIZES)
    return {s.field: s.times for s in found.scans}


# the estimate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (PERSONS, {"Query.persons": 1}),
        ('{ persons(filter: {region: "35.03"}) { totalCount } }', {"Query.persons": 1}),  # the regency: all of it
        ('{ persons(filter: {region: "35.03.08", sex: FEMALE}) { totalCount } }', {}),  # a kecamatan
        ('{ persons(filter: {region: "35.03.08.2011"}) { totalCount } }', {}),  # a desa
        ('{ persons(filter: {status: ALIVE, nameContains: "sri"}) { totalCount } }', {"Query.persons": 1}),
        ("{ a: persons { totalCount } b: persons(first: 0) { totalCount } }", {"Query.persons": 2}),  # read per alias, any page
        ("{ students(first: 3) { totalCount } }", {"Query.students": 1}),
        ("{ students(filter: {grade: 3}) { totalCount } }", {"Query.students": 1}),
        ('{ students(filter: {school: "20512345"}) { totalCount } }', {}),
        ('{ region(code: "35.03") { residents { totalCount } } }', {"Region.residents": 1}),
        ('{ region(code: "35.03.08") { residents { totalCount } } }', {}),
        ('{ region(code: "35.03") { children { residents { totalCount } } } }', {}),  # each kecamatan
        ('{ region(code: "35") { children { residents { totalCount } } } }', {"Region.residents": 10}),  # each regency
        ('{ person(nik: "3503084107900001") { region { residents { totalCount } } } }', {}),  # the person's desa
        (
            '{ person(nik: "3503084107900001") { region { parent { parent { residents { totalCount } } } } } }',
            {"Region.residents": 1},  # desa -> kecamatan -> the regency
        ),
        ("{ schools(first: 50) { nodes { region { residents { totalCount } } } } }", {}),
        (
            '{ _entities(representations: [{__typename: "Region", code: "35.03.08"}, {__typename: "Region", code: "35.03.09"}])'
            " { ... on Region { residents { totalCount } } } }",
            {"Region.residents": 2},  # a representation's level is not read: broad
        ),
        # The same fragment counts by the region it is spread on.
        (
            'fragment R on Region { residents { totalCount } } { region(code: "35.03.08") { ...R parent { ...R } } }',
            {"Region.residents": 1},
        ),
        ('{ family(kk: "3503080101090001") { members { nik } } }', {}),  # under one parent
        ('{ school(npsn: "20512345") { students { nisn } } }', {}),
    ],
)
def test_a_list_without_a_narrowing_filter_is_recorded_as_a_scan(schema: GraphQLSchema, query: str, expected: dict[str, float]) -> None:
    assert scans(schema, query) == expected


def test_a_scan_records_its_key_and_the_whole_lists_length(schema: GraphQLSchema) -> None:
    found = measure(parse("{ persons { totalCount } students { totalCount } }"), schema, sizes=SIZES)
    assert {(s.field, s.key, s.rows) for s in found.scans} == {
        ("Query.persons", "Person.nik", 750_000),
        ("Query.students", "Student.nisn", 120_980),
    }
    bare = measure(parse("{ persons { totalCount } }"), schema)
    assert [(s.field, s.rows) for s in bare.scans] == [("Query.persons", None)]  # not configured


def test_the_narrowing_filters_variables_are_part_of_what_the_estimate_read(schema: GraphQLSchema) -> None:
    query = "query($r: RegionCode, $c: RegionCode!) { persons(filter: {region: $r}) { totalCount } region(code: $c) { residents { totalCount } } }"
    narrow = measure(parse(query), schema, variables={"r": "35.03.08", "c": "35.03.08.2011"})
    broad = measure(parse(query), schema, variables={"r": "35.03", "c": "35.03"})
    assert not narrow.scans and {s.field for s in broad.scans} == {"Query.persons", "Region.residents"}
    assert {"r", "c"} <= narrow.reads
    # A region's code is read only where a scan depends on it: other documents keep one estimate for every code.
    assert "c" not in measure(parse("query($c: RegionCode!) { region(code: $c) { name } }"), schema, variables={"c": "35.03"}).reads


def test_every_region_field_gives_the_level_its_description_names(schema: GraphQLSchema) -> None:
    """A new field giving a region must be placed (``scans.region_level``): a desa unless said otherwise."""

    structural = {"Query.region", "Region.parent", "Region.children"}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            qualified = f"{type_.name}.{name}"
            if getattr(get_named_type(field.type), "name", None) != "Region" or qualified in structural:
                continue
            level = region_level(qualified, {}, None)
            description = (field.description or "").lower()
            assert level is not None and level >= NARROW_REGION_PARTS, qualified
            assert ("desa" in description) if level == DESA_PARTS else ("kecamatan" in description), (qualified, level, description)


# the guard --------------------------------------------------------------------------------


def guard(config: dict[str, Any] | None = None) -> QueryGuard:
    return QueryGuard(graph()._schema, QueryLimits.from_config(config), production=False)


def test_a_scan_counts_only_for_a_caller_whose_list_is_shuffled() -> None:
    g = guard({"list_sizes": {"Query.persons": 750_000}, "max_cost": 10_000_000})
    document = parse(PERSONS)
    plain = g.check_document(document, "staff")
    full = g.check_document(document, "staff", shuffles=lambda key: False)
    shuffled = g.check_document(document, "staff", shuffles=lambda key: key == "Person.nik")
    assert plain.cost == full.cost < g.limits.heavy_cost and not full.scanned
    assert shuffled.cost == full.cost + 750_000 and shuffled.scanned == ("Query.persons",)
    assert g.gate.is_heavy(shuffled.cost) and not g.gate.is_heavy(full.cost)
    # Another key shuffled does not make this list a scan.
    assert g.check_document(document, "staff", shuffles=lambda key: key == "Student.nisn").cost == full.cost


def test_a_scan_of_unknown_length_still_makes_the_query_heavy() -> None:
    g = guard({"heavy_cost": 3000})
    found = g.check_document(parse(PERSONS), "staff", shuffles=lambda key: True)
    base = g.check_document(parse(PERSONS), "staff")
    assert found.cost == base.cost + 3000 and g.gate.is_heavy(found.cost)


def test_a_scan_under_a_list_of_no_items_costs_nothing() -> None:
    query = parse('{ region(code: "35") { children { residents { totalCount } } } }')
    none = guard({"list_sizes": {"Region.children": 0}}).check_document(query, "staff", shuffles=lambda key: True)
    g = guard({"list_sizes": {"Region.children": 2, "Region.residents": 5000}})
    two = g.check_document(query, "staff", shuffles=lambda key: True)
    assert not none.scanned and none.cost < 10
    assert two.scanned == ("Region.residents",) and two.cost == g.check_document(query, "staff").cost + 2 * 5000


def test_a_scan_over_the_roles_budget_is_refused_with_what_to_narrow() -> None:
    g = guard({"list_sizes": {"Query.persons": 750_000}, "roles": {"analyst": {"max_cost": 100_000}}})
    with pytest.raises(QueryTooCostly) as refused:
        g.check_document(parse(PERSONS), "analyst", shuffles=lambda key: True)
    assert refused.value.measured > 750_000 and refused.value.limit == 100_000
    assert "`Query.persons`" in refused.value.message and "kecamatan" in refused.value.message
    # The kecamatan's list fits, and the same list for a role reading NIKs in full.
    g.check_document(parse('{ persons(filter: {region: "35.03.08"}) { nodes { nik } } }'), "analyst", shuffles=lambda key: True)
    g.check_document(parse(PERSONS), "analyst", shuffles=lambda key: False)


def test_a_cached_estimate_serves_both_kinds_of_caller() -> None:
    g = guard({"list_sizes": {"Query.persons": 750_000}, "max_cost": 10_000_000})
    entry = PreparedDocuments(graph()).prepare(PERSONS, 20)
    shuffled = g.check_prepared(entry, "analyst", shuffles=lambda key: True)
    full = g.check_prepared(entry, "officer", shuffles=lambda key: False)
    again = g.check_prepared(entry, "analyst", shuffles=lambda key: True)
    assert len(entry.measures) == 1  # one estimate, counted per caller
    assert shuffled.cost == again.cost == full.cost + 750_000
    assert next(iter(entry.measures.values())).cost == full.cost  # the cached one holds no caller's scan


def test_a_cached_estimate_is_not_reused_for_a_broader_filter() -> None:
    g = guard({"max_cost": 10_000_000})
    entry = PreparedDocuments(graph()).prepare("query($r: RegionCode) { persons(filter: {region: $r}) { totalCount } }", 20)
    kecamatan = g.check_prepared(entry, "analyst", variables={"r": "35.03.08"}, shuffles=lambda key: True)
    regency = g.check_prepared(entry, "analyst", variables={"r": "35.03"}, shuffles=lambda key: True)
    unfiltered = g.check_prepared(entry, "analyst", variables={}, shuffles=lambda key: True)
    assert not kecamatan.scanned and regency.scanned == unfiltered.scanned == ("Query.persons",)
    assert len(entry.measures) == 3


class ShufflingContext:
    """A context of a schema served without the gateway that shuffles lists (``RequestContext.shuffles``)."""

    def __init__(self, shuffled: frozenset[str]) -> None:
        self.role = "analyst"
        self.shuffled = shuffled

    def shuffles(self, name: str) -> bool:
        return name in self.shuffled


async def test_the_strawberry_extension_asks_the_context_which_lists_are_shuffled() -> None:
    g = guard({"list_sizes": {"Query.persons": 750_000}, "max_cost": 100_000})
    limited = build_schema()
    limited.extensions = [*graph().extensions, lambda: QueryLimitsExtension(g)]
    query = "{ persons(first: 0) { pageInfo { hasNextPage } } }"
    refused = await limited.execute(query, context_value=ShufflingContext(frozenset({"Person.nik"})))
    assert refused.data is None and [e.original_error.code for e in refused.errors or []] == ["QUERY_TOO_COSTLY"]  # type: ignore[union-attr]
    # Key order: no scan, so the query gets past the guard (and fails later, for want of the gateway's loaders).
    passed = await limited.execute(query, context_value=ShufflingContext(frozenset()))
    assert passed.data == {"persons": None} and [e.path for e in passed.errors or []] == [["persons"]]


# end to end: the heavy-query gate -----------------------------------------------------------


@pytest.fixture
async def gated(sqlite_backend: Backend, sample: dict[str, Any], tmp_path: Path) -> AsyncIterator[tuple[Gateway, HeavyQueryGate]]:  # noqa: F811
    async with _gated(sqlite_backend, sample, tmp_path) as opened:
        yield opened


@contextlib.asynccontextmanager
async def _gated(
    backend: Backend, sample: dict[str, Any], tmp_path: Path, *, request_timeout_s: float = 1.0, **gateway: Any  # noqa: F811
) -> AsyncIterator[tuple[Gateway, HeavyQueryGate]]:
    """A gateway with one heavy-query slot, whose requests wait for it ``request_timeout_s`` at most
    (short, so that a refusal for want of a slot comes soon)."""

    config = config_for(backend, {"path": str(tmp_path / "audit.sqlite")}, kecamatan=sample["kecamatan"], npsn=sample["npsn"], **gateway)
    config["gateway"]["request_timeout_s"] = request_timeout_s
    config["limits"]["heavy_concurrency"] = 1  # the demo's other limits, its list sizes among them
    app = create_app(GatewaySettings.from_dict(config))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=30) as client:
            yield Gateway(client), app.state.guard.gate


async def _while_the_slot_is_held(gate: HeavyQueryGate, gateway: Gateway, query: str, role: str) -> tuple[int, dict[str, Any]]:
    async with gate.admit(10**9, deadline=None):  # another heavy query holds the only slot
        status, body, _ = await asyncio.wait_for(post(gateway, query, role=role), 30)
    assert gate.running == 0 and gate.waiting == 0
    return status, body


async def test_a_masked_roles_regency_wide_list_waits_for_a_heavy_slot(gated, sample: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    gateway, gate = gated
    status, body = await _while_the_slot_is_held(gate, gateway, PERSONS, "smart_center_analyst")
    assert status == 503, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GATEWAY_BUSY"] and "data" not in body
    # A region's residents are the same scan when the region is the regency.
    status, body = await _while_the_slot_is_held(
        gate, gateway, '{ region(code: "35.03") { residents(first: 5) { nodes { nik } } } }', "smart_center_analyst"
    )
    assert status == 503 and [e["extensions"]["code"] for e in body["errors"]] == ["GATEWAY_BUSY"], body
    # With the slot free it runs, shuffled and masked.
    status, body, _ = await post(gateway, PERSONS, role="smart_center_analyst")
    assert status == 200 and "errors" not in body and len(body["data"]["persons"]["nodes"]) == 5, body


async def test_narrowed_or_unshuffled_lists_do_not_wait(gated, sample: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    gateway, gate = gated
    kecamatan = f'{{ persons(first: 5, filter: {{region: "{sample["kecamatan"]}"}}) {{ nodes {{ nik name }} }} }}'
    desa = f'{{ region(code: "{sample["desa"]}") {{ residents(first: 5) {{ nodes {{ nik }} }} }} }}'
    for query, role in [(PERSONS, "registry_officer"), (kecamatan, "smart_center_analyst"), (desa, "smart_center_analyst")]:
        status, body = await _while_the_slot_is_held(gate, gateway, query, role)
        assert status == 200 and "errors" not in body, (role, query, body)


async def test_shuffled_lists_for_every_caller_make_the_officers_list_heavy(sqlite_backend: Backend, sample: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    """``[gateway] shuffled_lists`` shuffles a list for the officer too: the same rule decides its cost."""

    async with _gated(sqlite_backend, sample, tmp_path, shuffled_lists=["Person.nik"]) as (gateway, gate):
        status, body = await _while_the_slot_is_held(gate, gateway, PERSONS, "registry_officer")
        assert status == 503 and [e["extensions"]["code"] for e in body["errors"]] == ["GATEWAY_BUSY"], body
