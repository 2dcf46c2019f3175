"""Round-trips depend on a query's depth, not on its list sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .conftest import Backend, Gateway, gateway_config, open_gateway

NESTED = """
query($first: Int) {
  schools(first: $first) {
    edges { node {
      npsn
      students { nisn person { nik family { kk members { nik name } } } }
    } }
  }
}
"""


@pytest.fixture
async def gateway(backend: Backend) -> AsyncIterator[Gateway]:
    """The gateway with a generous request deadline: these tests count round-trips, and the
    50-school query reads ~12,000 rows, which a loaded CI machine may take seconds to serve."""

    config = gateway_config(backend)
    config["gateway"]["request_timeout_s"] = 60
    async for gateway in open_gateway(config):
        yield gateway


async def _calls(gateway: Gateway, first: int) -> tuple[int, dict]:  # type: ignore[type-arg]
    answer = await gateway.query(NESTED, {"first": first}, trace=True)
    assert "errors" not in answer, answer.get("errors")
    sources = answer["extensions"]["sources"]
    return sum(s["calls"] for s in sources.values()), answer


async def test_fifty_schools_deep_costs_the_same_round_trips_as_five(gateway: Gateway) -> None:
    calls_50, answer = await _calls(gateway, 50)
    calls_5, _ = await _calls(gateway, 5)
    schools = answer["data"]["schools"]["edges"]
    assert len(schools) == 50
    pupils = sum(len(s["node"]["students"]) for s in schools)
    members = sum(
        len(p["person"]["family"]["members"])
        for s in schools
        for p in s["node"]["students"]
        if p["person"] and p["person"]["family"]
    )
    assert pupils > 500 and members > pupils
    assert calls_50 <= 6
    assert calls_50 == calls_5


async def test_trace_reports_calls_rows_and_time_per_source(gateway: Gateway) -> None:
    _, answer = await _calls(gateway, 5)
    sources = answer["extensions"]["sources"]
    assert set(sources) == {"siak", "dapodik"}
    assert sources["dapodik"]["calls"] == 2  # schools page, then their pupils
    assert sources["siak"]["calls"] == 3  # persons, families, members
    assert all(s["rows"] > 0 and s["ms"] > 0 for s in sources.values())


async def test_no_trace_without_the_header(gateway: Gateway) -> None:
    answer = await gateway.query(NESTED, {"first": 1})
    assert "extensions" not in answer
