"""Issue 9, findings 6 and 14: the cost estimate cannot be walked around, and follows the data.

- Finding 6: arguments are costed at the values the executor coerces them to (``first: 100.0``
  sent as a variable runs as 100), and ``_entities`` is costed per representation and bounded
  by ``[limits] max_representations``.
- Finding 14: lists without a size argument are assumed as long as the demo data makes them
  (``demo/gateway_config.py``'s ``[limits.list_sizes]``), so the 30-alias regency attendance
  query is refused before any source is asked, and its 3-alias variant never runs unguarded.

The end-to-end tests run the real app (``create_app`` over the demo config and the SQLite demo
databases) through httpx's ASGI transport and read the sources' call counters in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import re
import tomllib
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema, parse

from demo.access_config import EXAMPLE_ROLES
from demo.education import SCHOOL_COUNTS
from demo.gateway_config import render_config
from demo.school_calendar import school_days
from gateway import GatewaySettings, create_app
from gateway.access.limits import ListSize, QueryGuard, QueryLimits, TooManyRepresentations, measure
from resolvers import build_schema

from ...conftest import Backend, gateway_config
from ...support.sqlite import sqlite_file

README = Path(__file__).resolve().parents[3] / "README.md"
ATTENDANCE_FIELDS = "date present sick permitted absent total"


def regency_attendance(aliases: int, *, first_day: date = date(2026, 7, 13), last_day: date = date(2026, 11, 27)) -> str:
    """Finding 14's query: the regency's schools' attendance, once per alias, each window a day
    later than the one before so that no two aliases merge."""

    fields = []
    for i in range(aliases):
        start, end = first_day + timedelta(days=i), last_day + timedelta(days=i)
        fields.append(
            f'a{i}: region(code: "35.03") {{ schools {{ npsn attendance(from: "{start}", to: "{end}") {{ {ATTENDANCE_FIELDS} }} }} }}'
        )
    return "{ " + "\n".join(fields) + " }"


def demo_config_text(**urls: str) -> dict[str, Any]:
    return tomllib.loads(render_config(registry_url="sqlite+aiosqlite:///r", education_url="sqlite+aiosqlite:///e", **urls))


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema()._schema


@pytest.fixture(scope="module")
def demo_limits() -> QueryLimits:
    return QueryLimits.from_config(demo_config_text().get("limits"))


class App:
    def __init__(self, client: httpx.AsyncClient, guard: QueryGuard) -> None:
        self.client = client
        self.guard = guard

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        # The ASGI transport enforces no timeout: a query that should have been refused and runs
        # instead must fail the test, not hang it.
        return await asyncio.wait_for(self.client.post("/graphql", json={"query": query, "variables": variables}), 60)

    async def source_calls(self) -> float:
        metrics = (await self.client.get("/metrics")).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("satudata_source_calls_total{"))


async def open_app(config: dict[str, Any]) -> AsyncIterator[App]:
    app = create_app(GatewaySettings.from_dict(config))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway.test", timeout=60, headers={"accept": "application/graphql-response+json"}
        ) as client:
            yield App(client, app.state.guard)


@pytest.fixture
async def demo_app(sqlite_backend: Backend) -> AsyncIterator[App]:
    """The real app with the demo config as `satudata demo` writes it: its own [limits] table."""

    async for app in open_app(gateway_config(sqlite_backend)):
        yield app


def refusal(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 400, body
    assert "data" not in body, body
    (error,) = body["errors"]
    return error


# finding 6: coerced arguments ------------------------------------------------------------


def test_finding_6_first_as_float_is_costed_at_its_coerced_value(schema: GraphQLSchema) -> None:
    query = parse("query($n: Int) { schools(first: $n) { nodes { npsn } } }")
    as_int = measure(query, schema, variables={"n": 100}).cost
    assert as_int == 2 + 100
    assert measure(query, schema, variables={"n": 100.0}).cost == as_int
    # Literals are coerced the same way, and a left-out variable takes the schema's default (20).
    assert measure(parse("{ schools(first: 100) { nodes { npsn } } }"), schema).cost == as_int
    assert measure(query, schema).cost == 2 + 20


async def test_finding_6_first_as_float_is_refused_by_the_cost_limit_before_any_source_is_asked(sqlite_backend: Backend) -> None:
    config = gateway_config(sqlite_backend)
    config.setdefault("limits", {})["max_cost"] = 50  # 20 schools (the default page) fit, 100 do not
    async for app in open_app(config):
        query = "query($n: Int) { schools(first: $n) { nodes { npsn } } }"
        before = await app.source_calls()
        error = refusal(await app.post(query, {"n": 100.0}))
        assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "limit": 50, "measured": 102}
        assert await app.source_calls() == before
        # The same query with a page that fits runs.
        answer = (await app.post(query, {"n": 20.0})).json()
        assert "errors" not in answer and len(answer["data"]["schools"]["nodes"]) == 20


# finding 6: _entities ----------------------------------------------------------------------


def test_finding_6_entities_are_costed_per_representation_and_typename(schema: GraphQLSchema) -> None:
    query = parse("""query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Person { nik name family { kk } }
        ... on School { npsn }
    } }""")
    people = [{"__typename": "Person", "nik": f"35030{i:011d}"} for i in range(10)]
    schools = [{"__typename": "School", "npsn": f"2052{i:04d}"} for i in range(5)]
    found = measure(query, schema, variables={"r": people + schools + [{"__typename": "Nope"}, "a string"]})
    # _entities 1 + 10 persons x (nik, name, family{kk}) + 5 schools x npsn + 2 nulls.
    assert found.cost == 1 + 10 * 4 + 5 * 1 + 2
    assert found.representations == 17
    many = measure(query, schema, variables={"r": people * 1800})
    assert (many.cost, many.representations) == (1 + 18_000 * 4, 18_000)
    # Named fragments apply by their type condition too; __typename counts for every item.
    spread = parse("""query($r: [_Any!]!) { _entities(representations: $r) { __typename ...P ...S } }
        fragment P on Person { nik name } fragment S on School { npsn name level }""")
    assert measure(spread, schema, variables={"r": people + schools}).cost == 1 + 10 * (1 + 2) + 5 * (1 + 3)


def test_finding_6_representations_are_counted_in_literals_and_across_fields(schema: GraphQLSchema) -> None:
    reps = ", ".join(f'{{__typename: "Person", nik: "35030{i:011d}"}}' for i in range(60))
    query = f"{{ a: _entities(representations: [{reps}]) {{ __typename }} b: _entities(representations: [{reps}]) {{ __typename }} }}"
    guard = QueryGuard(schema, QueryLimits.from_config(None), production=False)
    with pytest.raises(TooManyRepresentations) as refused:
        guard.check_document(parse(query), "staff")
    assert refused.value.extensions() == {"code": "TOO_MANY_REPRESENTATIONS", "limit": 100, "measured": 120, "argument": "representations"}
    # A role that federates may be given more ([limits.roles.ROLE] max_representations).
    router = QueryGuard(schema, QueryLimits.from_config({"roles": {"router": {"max_representations": 500}}}), production=False)
    assert router.check_document(parse(query), "router").representations == 120


async def test_finding_6_too_many_representations_are_refused_before_any_source_is_asked(demo_app: App, sqlite_backend: Backend) -> None:
    with sqlite_file(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        niks = [row[0] for row in conn.execute("SELECT nik FROM penduduk ORDER BY nik LIMIT 101")]
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { nik } } }"
    representations = [{"__typename": "Person", "nik": nik} for nik in niks]

    before = await demo_app.source_calls()
    error = refusal(await demo_app.post(query, {"r": representations}))
    assert error["extensions"] == {"code": "TOO_MANY_REPRESENTATIONS", "limit": 100, "measured": 101, "argument": "representations"}
    assert "Send them in batches" in error["message"]
    assert await demo_app.source_calls() == before

    answer = (await demo_app.post(query, {"r": representations[:100]})).json()
    assert "errors" not in answer, answer["errors"]
    assert [e["nik"] for e in answer["data"]["_entities"]] == niks[:100]


# finding 14: sizes that follow the data ----------------------------------------------------


def test_finding_14_attendance_is_costed_from_its_window(schema: GraphQLSchema, demo_limits: QueryLimits) -> None:
    def cost(start: str, end: str) -> int:
        query = f'{{ school(npsn: "20528643") {{ attendance(from: "{start}", to: "{end}") {{ date }} }} }}'
        return measure(parse(query), schema, sizes=demo_limits.sizes).cost

    assert cost("2026-11-23", "2026-11-27") == 1 + 1 + 5  # five days asked, one row each at most
    assert cost("2026-11-02", "2026-11-27") == 1 + 1 + 26
    assert cost("2026-11-27", "2026-11-23") == 1 + 1  # refused by the resolver: nothing
    assert cost("2026-01-01", "2026-12-31") == 1 + 1 + 98  # no more than the term's school days
    # Variables count as their coerced dates.
    query = parse('query($f: Date!, $t: Date!) { school(npsn: "20528643") { attendance(from: $f, to: $t) { date } } }')
    assert measure(query, schema, variables={"f": "2026-11-23", "t": "2026-11-27"}, sizes=demo_limits.sizes).cost == 7


def test_finding_14_every_unbounded_list_has_a_size_measured_from_the_demo_data(schema: GraphQLSchema) -> None:
    from graphql import GraphQLList, GraphQLObjectType, get_named_type, get_nullable_type, is_leaf_type

    from demo.apis.faskes import facilities
    from demo.regions import load_regions

    sizes = QueryLimits.from_config(demo_config_text().get("limits")).sizes.fields
    unbounded = {
        f"{t.name}.{name}"
        for t in schema.type_map.values()
        if isinstance(t, GraphQLObjectType) and not t.name.startswith("__") and not t.name.endswith("Connection")
        for name, f in t.fields.items()
        if isinstance(get_nullable_type(f.type), GraphQLList) and not is_leaf_type(get_named_type(f.type))
    } - {"Query._entities"}  # costed per representation
    assert unbounded - set(sizes) == set(), "a list without a size argument would be assumed 10 long"

    # The numbers that do not depend on the scale, checked against the generator itself.
    regions = load_regions()
    children: dict[str | None, int] = {}
    for region in regions:
        children[region.parent_code] = children.get(region.parent_code, 0) + 1
    assert sizes["Region.children"] == max(n for parent, n in children.items() if parent is not None)
    assert sizes["Region.schools"] == sum(SCHOOL_COUNTS.values())  # the regency's schools at scale 1.0
    assert sizes["HealthFacility.coverage"] == max(len(f.wilayah_kerja) for f in facilities())
    assert sizes["Region.healthFacilities"] == sum(1 for f in facilities() if f.wilayah_kerja)
    attendance = sizes["School.attendance"]
    assert isinstance(attendance, ListSize)
    assert attendance.most == len(school_days(date(2026, 7, 13), date(2026, 11, 27)))  # the demo term


@pytest.mark.parametrize(
    ("size", "complaint"),
    [
        ({"each": 1, "from": "from"}, 'limits.list_sizes."School.attendance".to is required'),
        ({"each": 1, "from": "from", "to": "to", "per": 2}, 'limits.list_sizes."School.attendance".per is not a key of'),
        ({"each": -1, "from": "from", "to": "to"}, ".each must be a number of at least 0"),
        ("ten", "must be a number of at least 0"),
    ],
)
def test_a_wrong_list_size_names_the_key(size: Any, complaint: str) -> None:
    from core import ConfigError

    with pytest.raises(ConfigError) as refused:
        QueryLimits.from_config({"list_sizes": {"School.attendance": size}})
    assert complaint in refused.value.message and 'limits.list_sizes."School.attendance"' in refused.value.message


async def test_finding_14_thirty_regency_attendance_aliases_are_refused_before_any_source_is_asked(demo_app: App) -> None:
    before = await demo_app.source_calls()
    error = refusal(await demo_app.post(regency_attendance(30)))
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["limit"] == 100_000
    # 30 x the regency's 805 schools x 98 school days x 6 values, near enough.
    assert error["extensions"]["measured"] > 30 * 805 * 98 * 6
    assert await demo_app.source_calls() == before
    # So is a window of a single day per alias: 30 x 805 schools is no small answer either.
    one_day = regency_attendance(30, last_day=date(2026, 7, 13))
    assert refusal(await demo_app.post(one_day))["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert await demo_app.source_calls() == before


async def test_finding_14_three_regency_attendance_aliases_never_run_unguarded(demo_app: App) -> None:
    # Over the term, three aliases are refused outright.
    before = await demo_app.source_calls()
    error = refusal(await demo_app.post(regency_attendance(3)))
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert await demo_app.source_calls() == before
    # Over three days, they fit the budget but are heavy: they wait for a heavy-query slot.
    short = regency_attendance(3, first_day=date(2026, 11, 16), last_day=date(2026, 11, 18))
    found = demo_app.guard.check_document(parse(short), None)
    assert found.cost <= 100_000 and demo_app.guard.gate.is_heavy(found.cost)
    gate = demo_app.guard.gate
    async with gate.admit(10**9, deadline=None), gate.admit(10**9, deadline=None):  # both slots taken
        waiting = asyncio.create_task(demo_app.post(short))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if gate.waiting:
                break
        assert gate.waiting == 1 and not waiting.done()
        assert await demo_app.source_calls() == before  # nothing of it ran while it waited
    answer = (await waiting).json()
    assert "errors" not in answer, answer["errors"]
    assert len(answer["data"]["a0"]["schools"]) > 0


# ordinary queries stay within the limits -------------------------------------------------

#: Sample keys for the examples' variables (their values do not change the estimate).
SAMPLES = {"nik": "3503080809160001", "npsn": "20528643", "nisn": "0012345678", "first": 5,
           "participant": "3503080809160001", "participant_kecamatan": "35.03.08", "kk": "3503080809160001"}


def demo_examples() -> list[tuple[str, str, dict[str, Any]]]:
    text = render_config(
        registry_url="sqlite+aiosqlite:///r", education_url="sqlite+aiosqlite:///e", dinkes_url="http://dinkes",
        sepeda_keren_url="http://sepeda-keren", lapor_url="http://lapor", jkn_url="http://jkn", samples=SAMPLES,
    )
    return [(e["title"], e["query"], json.loads(e.get("variables", "{}"))) for e in tomllib.loads(text)["graphiql"]["examples"]]


def readme_queries() -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


#: The deep query of the benchmark and tests/test_batching.py: 50 schools, their pupils, families.
FIFTY_SCHOOLS_DEEP = """query($first: Int) { schools(first: $first) { totalCount
  edges { node { npsn students { nisn person { nik family { kk members { nik name } } } } } } } }"""


def test_demo_examples_readme_queries_and_the_fifty_school_page_pass_the_guard(schema: GraphQLSchema) -> None:
    config = demo_config_text()
    guard = QueryGuard(schema, QueryLimits.from_config(config.get("limits")), production=True)
    examples = demo_examples()
    assert len(examples) >= 10
    for title, query, variables in examples:
        role = EXAMPLE_ROLES.get(title)  # None: the example is for anonymous visitors
        found = guard.check_document(parse(query), role, variables=variables)
        assert found.cost <= guard.limits.budget(role).max_cost, title
    queries = readme_queries()
    assert len(queries) >= 5
    for query in queries:
        guard.check_document(parse(query), "registry_officer", variables={"nik": SAMPLES["nik"]})
    # The fifty-school deep query fits (it is heavy, and waits for a slot).
    deep = guard.check_document(parse(FIFTY_SCHOOLS_DEEP), None, variables={"first": 50})
    assert guard.gate.is_heavy(deep.cost) and deep.cost <= guard.limits.default.max_cost
