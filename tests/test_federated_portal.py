"""A neighbouring portal's GraphQL federation subgraph, federated in by key.

The demo JKN portal (``demo.apis.jkn``) extends ``Person`` by NIK with a health-insurance
membership. The gateway reads its ``_service { sdl }``, maps its fields, and fetches
entities through ``_entities`` — one call for a whole family — and it fails and recovers
like any other source, costing only its own field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from demo.gateway_config import render_config

from .conftest import Backend, open_gateway, serve_api
from .support.faultproxy import FaultProxy

ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) {
  ... on Person { nik jkn { cardNumber status segment careClass primaryCare since } } } }"""
QUERY = """query($kk: KK!) { family(kk: $kk) { members { nik name healthInsurance {
  cardNumber status segment careClass primaryCare memberSince } } } }"""
STATUS = {"AKTIF": "ACTIVE", "NONAKTIF": "INACTIVE"}
SEGMENT = {"PBI_APBN": "PBI_NATIONAL", "PBI_APBD": "PBI_REGIONAL", "PPU": "EMPLOYEE", "PBPU": "SELF_PAYING", "BP": "NOT_WORKING"}


@pytest.fixture(scope="module")
def jkn_portal(dataset) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from demo.apis import create_jkn_app

    yield from serve_api(create_jkn_app(dataset), "JKN")


def config_for(backend: Backend, jkn_url: str, **jkn: Any) -> dict[str, Any]:
    config = tomllib.loads(render_config(registry_url=backend.registry_url, education_url=backend.education_url, jkn_url=jkn_url))
    config["sources"]["jkn_portal"].update(jkn)
    return config


def family_with_members(dataset) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    from collections import defaultdict

    families: dict[str, list[str]] = defaultdict(list)
    for row in dataset.penduduk:
        families[row[1]].append(row[0])
    kk, niks = next((kk, niks) for kk, niks in sorted(families.items()) if len(niks) >= 4)
    return kk, sorted(niks)


async def test_portal_fields_equal_the_portals_own_answers_in_one_call(sqlite_backend: Backend, jkn_portal: str, dataset) -> None:  # type: ignore[no-untyped-def]
    kk, niks = family_with_members(dataset)
    own = httpx.post(f"{jkn_portal}/graphql", json={"query": ENTITIES, "variables": {"r": [{"__typename": "Person", "nik": n} for n in niks]}}).json()
    expected = {}
    for entity in own["data"]["_entities"]:
        m = entity["jkn"]
        expected[entity["nik"]] = None if m is None else {
            "cardNumber": m["cardNumber"], "status": STATUS[m["status"]], "segment": SEGMENT[m["segment"]],
            "careClass": m["careClass"], "primaryCare": m["primaryCare"], "memberSince": m["since"],
        }
    async for gateway in open_gateway(config_for(sqlite_backend, jkn_portal)):
        answer = await gateway.query(QUERY, {"kk": kk}, trace=True)
    assert "errors" not in answer, answer
    got = {m["nik"]: m["healthInsurance"] for m in answer["data"]["family"]["members"]}
    assert got == expected
    assert any(v is not None for v in got.values())
    # The whole family in one _entities request, not one per member.
    assert answer["extensions"]["sources"]["jkn_portal"]["calls"] == 1


async def test_a_mapping_the_portals_schema_does_not_have_stops_start_up(sqlite_backend: Backend, jkn_portal: str) -> None:
    from core import ConfigError

    config = config_for(sqlite_backend, jkn_portal)
    config["sources"]["jkn_portal"]["entities"]["HealthInsurance"]["fields"]["careClass"] = "jkn.kelasRawat"
    with pytest.raises(ConfigError, match="kelasRawat"):
        async for _ in open_gateway(config):
            pass


async def test_a_dead_portal_costs_only_its_field_and_the_gateway_recovers(sqlite_backend: Backend, jkn_portal: str, dataset) -> None:  # type: ignore[no-untyped-def]
    kk, niks = family_with_members(dataset)
    port = int(jkn_portal.rsplit(":", 1)[1])
    async with FaultProxy("127.0.0.1", port) as proxy:
        config = config_for(sqlite_backend, proxy.url_for(jkn_portal), retries=0, breaker_failures=1, breaker_reset_s=0.2)
        async for gateway in open_gateway(config):
            proxy.set_mode("refuse")
            proxy.drop_connections()  # the pooled keep-alive connection dies with the portal
            answer = await gateway.query(QUERY, {"kk": kk})
            members = answer["data"]["family"]["members"]
            assert sorted(m["nik"] for m in members) == niks and all(m["name"] for m in members)
            assert all(m["healthInsurance"] is None for m in members)
            errors = answer["errors"]
            assert {e["extensions"]["code"] for e in errors} == {"SOURCE_UNAVAILABLE"}
            assert {e["extensions"]["source"] for e in errors} == {"jkn_portal"}
            assert all(e["path"][-1] == "healthInsurance" for e in errors)
            proxy.set_mode("pass")
            import asyncio

            await asyncio.sleep(0.3)  # the breaker lets a probe through
            answer = await gateway.query(QUERY, {"kk": kk})
            assert "errors" not in answer, answer
