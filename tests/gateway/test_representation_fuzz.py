"""Any JSON as an ``_entities`` representation, from any role: a typed answer, never a crash.

A federated router sends representations as JSON values of its choosing; the cost estimate, the
argument rules, the lookup budget and the entity resolvers all read them before the sources do.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo.access_config import demo_clients
from demo.gateway_config import render_config

from ..conftest import Backend, Gateway, open_gateway

CLIENTS = {c.role: c for c in demo_clients("placeholder")}
ROLES = [None, "registry_officer", "smart_center_analyst", "health_officer"]
TYPENAMES = st.sampled_from(["Person", "Family", "Student", "School", "Region", "Agency", "person", "Query", ""])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
REPRESENTATION = st.one_of(
    JSON,
    st.fixed_dictionaries({"__typename": st.one_of(TYPENAMES, JSON)}, optional={"nik": JSON, "kk": JSON, "npsn": JSON, "code": JSON, "extra": JSON}),
)


@pytest.fixture
async def gateway(sqlite_backend: Backend, tmp_path: Any) -> AsyncIterator[Gateway]:
    config = tomllib.loads(render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, access=True))
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    config.pop("ratelimit", None)
    async for g in open_gateway(config):
        yield g


@settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "60")),
    derandomize=os.environ.get("CI") == "true",
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(role=st.sampled_from(ROLES), representations=st.lists(REPRESENTATION, min_size=1, max_size=5))
async def test_any_json_representation_gets_a_typed_answer(gateway: Gateway, role: str | None, representations: list[Any]) -> None:
    headers = {}
    if role is not None:
        headers = {"X-API-Key": CLIENTS[role].key, "X-Satudata-Purpose": CLIENTS[role].purpose}
    query = "query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Person { nik } ... on School { npsn } } }"
    response = await gateway.client.post("/graphql", json={"query": query, "variables": {"r": representations}}, headers=headers)
    assert response.status_code in (200, 400), response.text
    body = response.json()
    codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
    assert "INTERNAL_SERVER_ERROR" not in codes, (representations, body)
    assert codes <= {"BAD_USER_INPUT", "FORBIDDEN", "PURPOSE_REQUIRED", "GRAPHQL_VALIDATION_FAILED", "LOOKUP_BUDGET_EXCEEDED"}, body
    if body.get("data") and body["data"].get("_entities") is not None:
        assert len(body["data"]["_entities"]) == len(representations)
