"""The discrepancy report walks its sources whole, for every caller: a heavy query (``scans.WALKS``).

``discrepancies`` and ``discrepancyCounts`` read Dapodik's pupils and the registry's deaths chunk
by chunk whatever the order (key order for an officer, shuffled for a masked reader), and their
``fact``, ``agency`` and ``region`` select among the items compared, not what is read: at scale
1.0 the whole report takes about 6 s and the counts 3.4 s. So both take a heavy-query slot for
every role, and wait (or get ``GATEWAY_BUSY``) while the slots are taken; a cheap query does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema, parse

from gateway.access.limits import QueryTooCostly
from gateway.access.limits.scans import WALKS
from gateway.prepared import PreparedDocuments

from ...conftest import Backend
from .test_access import post, sample  # noqa: F401  (the sample fixture)
from .test_shuffled_scans import _gated, _while_the_slot_is_held, graph, guard, scans, schema  # noqa: F401

COUNTS = "{ discrepancyCounts { fact count } }"
PAGE = "{ discrepancies(first: 5) { nodes { fact } } }"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (COUNTS, {"Query.discrepancyCounts": 1}),
        (PAGE, {"Query.discrepancies": 1}),
        # A desa, a fact, an agency: they choose among the items, the walk reads the same.
        ('{ discrepancies(first: 1, region: "35.03.08.2011", fact: ALIVE, agency: "DINKES") { totalCount } }',
         {"Query.discrepancies": 1}),
        ('{ discrepancyCounts(region: "35.03.08.2011") { count } }', {"Query.discrepancyCounts": 1}),
        # One person's discrepancies are looked up by NIK: no walk.
        ('{ person(nik: "3503010101010001") { discrepancies { fact } } }', {}),
    ],
)
def test_the_report_is_recorded_as_a_walk_whatever_its_arguments(schema: GraphQLSchema, query: str, expected: dict[str, float]) -> None:  # noqa: F811
    assert scans(schema, query) == expected


def test_a_walk_makes_the_query_heavy_for_every_caller() -> None:
    g = guard({"heavy_cost": 3000})
    assert {"Query.discrepancies", "Query.discrepancyCounts"} <= WALKS
    for query in (COUNTS, PAGE):
        document = parse(query)
        for shuffles in (None, lambda key: False, lambda key: True):
            found = g.check_document(document, "staff", shuffles=shuffles)
            assert g.gate.is_heavy(found.cost) and found.scanned, (query, shuffles)
    # A cached estimate of the document serves every caller the same way.
    entry = PreparedDocuments(graph()).prepare(COUNTS, 20)
    assert g.check_prepared(entry, "a", shuffles=lambda key: False).cost == g.check_prepared(entry, "b", shuffles=lambda key: True).cost
    assert len(entry.measures) == 1


def test_a_walk_over_the_roles_budget_says_what_it_is() -> None:
    g = guard({"heavy_cost": 3000, "roles": {"small": {"max_cost": 2000}}})
    with pytest.raises(QueryTooCostly) as refused:
        g.check_document(parse(COUNTS), "small")
    assert "`Query.discrepancyCounts` walks its sources whole" in refused.value.message
    assert "shuffled" not in refused.value.message


@pytest.mark.parametrize("role", ["registry_officer", "school_operator", "smart_center_analyst"])
async def test_the_report_waits_for_a_heavy_slot_for_every_role(  # type: ignore[no-untyped-def]
    sqlite_backend: Backend, sample: dict[str, Any], tmp_path: Path, role: str  # noqa: F811
) -> None:
    async with _gated(sqlite_backend, sample, tmp_path) as (gateway, gate):
        for query in (COUNTS, PAGE):
            status, body = await _while_the_slot_is_held(gate, gateway, query, role)
            assert status == 503 and [e["extensions"]["code"] for e in body["errors"]] == ["GATEWAY_BUSY"], (query, body)
            assert "data" not in body
        # A cheap query answers while the slot is held.
        status, body = await _while_the_slot_is_held(gate, gateway, '{ region(code: "35.03") { name } }', role)
        assert status == 200 and body["data"]["region"]["name"], body
    # With the slot free, the report runs: on a gateway whose deadline is the walk's, not the one second
    # above (a masked role's walk reads its chunks shuffled, and CI's machine is slower and busy: the
    # analyst's counts ran out of that second there once, as SOURCE_TIMEOUT).
    async with _gated(sqlite_backend, sample, tmp_path, request_timeout_s=30) as (gateway, gate):
        status, body, _ = await post(gateway, COUNTS, role=role)
        assert status == 200 and "errors" not in body and isinstance(body["data"]["discrepancyCounts"], list), body
