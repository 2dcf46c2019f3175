"""Abuse limits on the real regency schema: tokens before parsing, depth, aliases, cost, introspection."""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import GraphQLSchema, get_introspection_query, parse
from graphql.language.parser import Parser

from core import ConfigError
from gateway.errors import format_error
from gateway.access.limits import (
    Budget,
    IntrospectionDisabled,
    QueryGuard,
    QueryLimits,
    QueryLimitsExtension,
    QueryTooCostly,
    QueryTooDeep,
    QueryTooLarge,
    TooManyAliases,
    count_tokens,
    introspection_allowed,
    measure,
)
from gateway.access.limits.analysis import ListSizes
from resolvers import GraphSchema, build_schema


@pytest.fixture(scope="module")
def graph() -> GraphSchema:
    return build_schema()


@pytest.fixture(scope="module")
def schema(graph: GraphSchema) -> GraphQLSchema:
    return graph._schema


def guard_for(schema: GraphQLSchema, config: dict[str, Any] | None = None, *, production: bool = False) -> QueryGuard:
    return QueryGuard(schema, QueryLimits.from_config(config), production=production)


def check(schema: GraphQLSchema, query: str, *, config: dict[str, Any] | None = None, role: str | None = "staff", **kw: Any) -> Any:
    guard = guard_for(schema, config, production=kw.pop("production", False))
    guard.check_source(query, role)
    return guard.check_document(parse(query), role, **kw)


def nested_regions(depth: int) -> str:
    """`region` plus `parent` fields down to a `name` leaf: `depth` levels in all."""
    return '{ region(code: "35.03") { ' + "parent { " * (depth - 2) + "name" + " }" * (depth - 1) + " }"


# depth ---------------------------------------------------------------------------------


def test_nesting_at_the_limit_passes_and_one_deeper_is_refused_with_both_numbers(schema: GraphQLSchema) -> None:
    config = {"max_depth": 8}
    assert check(schema, nested_regions(8), config=config).depth == 8

    with pytest.raises(QueryTooDeep) as refused:
        check(schema, nested_regions(9), config=config)
    assert refused.value.extensions() == {"code": "QUERY_TOO_DEEP", "limit": 8, "measured": 9}
    assert refused.value.message == "The query is 9 levels deep; the limit is 8."


def test_depth_counts_fields_inside_fragments_and_inline_fragments(schema: GraphQLSchema) -> None:
    query = """
    { region(code: "35.03") { ...Up } }
    fragment Up on Region { parent { ... on Region { parent { ...Upper } } } }
    fragment Upper on Region { parent { parent { name } } }
    """
    assert check(schema, query).depth == 6
    with pytest.raises(QueryTooDeep):
        check(schema, query, config={"max_depth": 5})


def test_fragment_cycle_is_measured_without_recursing_forever(schema: GraphQLSchema) -> None:
    document = parse("""
    { region(code: "35.03") { ...A } }
    fragment A on Region { parent { ...B } }
    fragment B on Region { children { ...A } }
    """)
    # Expanding A -> B -> A would never end; the cut cycle counts nothing.
    assert measure(document, schema).depth == 3


async def test_fragment_cycle_is_refused_by_validation_before_the_limits(graph: GraphSchema, schema: GraphQLSchema) -> None:
    limited = executable(graph, guard_for(schema, {"max_depth": 1}))
    result = await limited.execute('{ region(code: "35.03") { ...A } } fragment A on Region { parent { ...A } }')
    [error] = result.errors or []
    assert format_error(error, request_id="t")["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "Cannot spread fragment 'A' within itself" in error.message


# aliases -------------------------------------------------------------------------------


def test_alias_bomb_is_refused(schema: GraphQLSchema) -> None:
    fields = " ".join(f"a{i}: __typename" for i in range(31))
    with pytest.raises(TooManyAliases) as refused:
        check(schema, "{ " + fields + " }")
    assert refused.value.extensions() == {"code": "TOO_MANY_ALIASES", "limit": 30, "measured": 31}
    assert "31 aliases" in refused.value.message and "limit is 30" in refused.value.message


def test_aliases_count_again_for_each_spread_of_their_fragment(schema: GraphQLSchema) -> None:
    query = "{ x: __typename ...F ...F } fragment F on Query { a: __typename b: __typename }"
    # x itself, and a and b once per spread.
    assert check(schema, query).aliases == 5


def test_exponential_fragment_spreads_are_measured_in_linear_time(schema: GraphQLSchema) -> None:
    # F0 spreads F1 twice, F1 spreads F2 twice, ...: 2**40 expansions if walked naively.
    chain = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    query = "{ ...F0 }\n" + chain + "\nfragment F40 on Query { a: __typename }"
    started = time.perf_counter()
    with pytest.raises(TooManyAliases) as refused:
        check(schema, query)
    assert time.perf_counter() - started < 0.5
    assert refused.value.measured == 2**40


# tokens --------------------------------------------------------------------------------


def test_a_megabyte_of_tokens_is_refused_fast_without_parsing(schema: GraphQLSchema, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(self: Parser) -> None:
        raise AssertionError("the document was handed to the parser")

    monkeypatch.setattr(Parser, "parse_document", no_parsing)
    query = "{ " + "a " * 524_288 + "}"
    assert len(query) > 1_000_000
    started = time.perf_counter()
    with pytest.raises(QueryTooLarge) as refused:
        guard_for(schema).check_source(query, "staff")
    assert time.perf_counter() - started < 0.25
    assert refused.value.extensions() == {"code": "QUERY_TOO_LARGE", "limit": 3000, "measured": 3001}
    assert refused.value.message == "The document has at least 3001 tokens; the limit is 3000. It was not parsed."


def test_comments_count_as_tokens(schema: GraphQLSchema) -> None:
    padded = "# padding\n" * 100 + "{ __typename }"
    assert count_tokens(padded, stop_after=1000) == 103
    with pytest.raises(QueryTooLarge):
        check(schema, padded, config={"max_tokens": 99})


def test_a_document_at_the_token_limit_passes(schema: GraphQLSchema) -> None:
    query = "{ a: __typename b: __typename }"  # { a : __typename b : __typename }
    assert count_tokens(query, stop_after=100) == 8
    check(schema, query, config={"max_tokens": 8})
    with pytest.raises(QueryTooLarge):
        check(schema, query, config={"max_tokens": 7})


def test_token_count_stops_at_a_lexical_error_and_leaves_it_to_the_parser() -> None:
    assert count_tokens('{ a "unterminated', stop_after=100) == 2


# cost ----------------------------------------------------------------------------------


def cost(schema: GraphQLSchema, query: str, sizes: ListSizes = ListSizes(), **kw: Any) -> int:
    return measure(parse(query), schema, sizes=sizes, **kw).cost


def test_a_leaf_costs_one_and_an_object_one_plus_its_fields(schema: GraphQLSchema) -> None:
    assert cost(schema, '{ person(nik: "3503080809160001") { name birthDate family { kk } } }') == 1 + 2 + 2


def test_connection_page_multiplies_its_edges_and_nodes_but_not_its_page_info(schema: GraphQLSchema) -> None:
    query = "{ schools(first: 10) { totalCount pageInfo { hasNextPage } edges { cursor node { name } } } }"
    # schools + totalCount + pageInfo{1} + edges: 1 + 10 * (cursor + node{name})
    assert cost(schema, query) == 1 + 1 + 2 + 1 + 10 * (1 + 2)


def test_page_size_comes_from_variables_then_their_defaults_then_the_schema(schema: GraphQLSchema) -> None:
    query = "query ($n: Int = 7) { schools(first: $n) { nodes { name } } }"
    assert cost(schema, query) == 2 + 7
    assert cost(schema, query, variables={"n": 50}) == 2 + 50
    # Variable without a default and not sent, or no argument at all: the schema's `first: Int = 20`.
    assert cost(schema, "query ($n: Int) { schools(first: $n) { nodes { name } } }") == 2 + 20
    assert cost(schema, "{ persons { nodes { name } } }") == 2 + 20


def test_nested_connections_and_plain_lists_multiply(schema: GraphQLSchema) -> None:
    query = """{ schools(first: 10) { edges { node { students { name } } } }
                 region(code: "35.03") { residents(first: 5) { nodes { name } } } }"""
    sizes = ListSizes(fields={"School.students": 30})
    schools = 1 + 1 + 10 * (1 + 1 + 30 * 1)
    region = 1 + 1 + 1 + 5 * 1
    assert cost(schema, query, sizes) == schools + region
    # A list without a size argument and without a configured size is assumed to be `default` long.
    assert cost(schema, query, ListSizes(default=4)) == 1 + 1 + 10 * (1 + 1 + 4) + region


def test_introspection_is_costed_with_list_sizes_taken_from_the_schema(schema: GraphQLSchema) -> None:
    assert cost(schema, "{ __schema { types { name } } }") == 1 + 1 + len(schema.type_map)
    assert cost(schema, '{ __type(name: "Person") { name } }') == 2


def test_the_full_introspection_query_fits_the_default_budget(schema: GraphQLSchema) -> None:
    found = check(schema, get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True))
    # GraphiQL's own introspection query nests `ofType` two levels deeper than graphql-core's.
    assert found.depth + 2 <= Budget().max_depth
    assert found.cost <= Budget().max_cost


def test_a_costly_query_is_refused_with_its_estimate(schema: GraphQLSchema) -> None:
    query = "{ persons(first: 100) { nodes { name family { members { name } } } } }"
    with pytest.raises(QueryTooCostly) as refused:
        check(schema, query, config={"max_cost": 500, "list_sizes": {"Family.members": 5}})
    measured = 1 + 1 + 100 * (1 + 1 + 1 + 5 * 1)
    assert refused.value.extensions() == {"code": "QUERY_TOO_COSTLY", "limit": 500, "measured": measured}
    assert f"estimated cost is {measured}; the limit is 500" in refused.value.message


# per-role budgets ----------------------------------------------------------------------


def test_each_role_gets_its_own_budget_and_inherits_the_rest_from_the_defaults(schema: GraphQLSchema) -> None:
    config = {"max_cost": 500, "max_depth": 6, "roles": {"anonymous": {"max_cost": 50}, "analyst": {"max_cost": 100_000}}}
    limits = QueryLimits.from_config(config)
    assert limits.budget("anonymous") == Budget(max_depth=6, max_aliases=30, max_tokens=3000, max_cost=50)
    assert limits.budget("stranger") == limits.budget(None) == Budget(max_depth=6, max_cost=500)

    query = "{ schools(first: 100) { nodes { name } } }"  # costs 102
    with pytest.raises(QueryTooCostly):
        check(schema, query, config=config, role="anonymous")
    assert check(schema, query, config=config, role="staff").cost == 102
    assert check(schema, "{ persons(first: 100) { nodes { family { members { name } } } } }", config=config, role="analyst")


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"max_dept": 3}, 'limits.max_dept is not a key of [limits]; did you mean "max_depth"?'),
        ({"max_depth": True}, "limits.max_depth must be a whole number"),
        ({"max_cost": -1}, "limits.max_cost must be a whole number"),
        ({"roles": {"anonymous": {"rate": 3}}}, "limits.roles.anonymous.rate is not a key of [limits.roles.anonymous]"),
        ({"roles": {"anonymous": 3}}, "limits.roles.anonymous must be a table, not the number 3"),
        ({"list_sizes": {"students": 3}}, 'limits.list_sizes.students must be named "Type.field", e.g. "School.students"'),
    ],
)
def test_wrong_limits_config_names_the_key(config: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError) as refused:
        QueryLimits.from_config(config)
    assert complaint in refused.value.message


# introspection -------------------------------------------------------------------------


def test_introspection_is_off_only_for_anonymous_clients_in_production() -> None:
    assert not introspection_allowed(None, production=True)
    assert not introspection_allowed("anonymous", production=True)
    assert introspection_allowed("staff", production=True)
    assert introspection_allowed(None, production=False)


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        '{ x: __type(name: "Person") { name } }',
        '{ agencies { name } } fragment Peek on Query { __type(name: "Person") { name } }',
    ],
)
def test_anonymous_introspection_in_production_is_refused_anywhere_in_the_document(schema: GraphQLSchema, query: str) -> None:
    with pytest.raises(IntrospectionDisabled) as refused:
        check(schema, query, role=None, production=True)
    assert refused.value.extensions() == {"code": "INTROSPECTION_DISABLED"}
    check(schema, query, role="staff", production=True)
    check(schema, query, role=None, production=False)


def test_typename_stays_allowed_for_anonymous_clients_in_production(schema: GraphQLSchema) -> None:
    check(schema, "{ __typename agencies { __typename } }", role=None, production=True)


# inside strawberry ---------------------------------------------------------------------


class Context:
    def __init__(self, role: str | None) -> None:
        self.role = role


def executable(graph: GraphSchema, guard: QueryGuard) -> GraphSchema:
    limited = build_schema()
    limited.extensions = [*graph.extensions, lambda: QueryLimitsExtension(guard)]
    return limited


@pytest.mark.parametrize(
    ("query", "extensions"),
    [
        ("{ " + "__typename " * 40 + "}", {"code": "QUERY_TOO_LARGE", "limit": 30, "measured": 31}),
        (nested_regions(7), {"code": "QUERY_TOO_DEEP", "limit": 5, "measured": 7}),
        ("{ a: __typename b: __typename c: __typename }", {"code": "TOO_MANY_ALIASES", "limit": 2, "measured": 3}),
        ("{ schools(first: 100) { nodes { npsn } } }", {"code": "QUERY_TOO_COSTLY", "limit": 50, "measured": 102}),
        ("{ __schema { queryType { name } } }", {"code": "INTROSPECTION_DISABLED"}),
    ],
)
async def test_refusals_reach_the_client_as_pre_execution_errors_with_their_code(
    graph: GraphSchema, schema: GraphQLSchema, query: str, extensions: dict[str, Any]
) -> None:
    config = {"max_tokens": 30, "max_depth": 5, "max_aliases": 2, "max_cost": 50}
    limited = executable(graph, guard_for(schema, config, production=True))
    result = await limited.execute(query, context_value=Context(None))
    assert result.data is None
    [error] = result.errors or []
    assert format_error(error, request_id="t")["extensions"] == extensions


async def test_a_query_within_budget_runs(graph: GraphSchema, schema: GraphQLSchema) -> None:
    limited = executable(graph, guard_for(schema, {"max_aliases": 2}, production=True))
    result = await limited.execute("{ a: __typename b: __typename }", context_value=Context(None))
    assert result.errors is None
    assert result.data == {"a": "Query", "b": "Query"}
