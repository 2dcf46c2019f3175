"""Real failures between the gateway and a real database, injected by a TCP proxy.

The registry (SIAK) runs on the machine's PostgreSQL behind ``FaultProxy``; the education
office's database is reached directly. Each test breaks the registry and checks that only
its fields are lost, within the deadline, and that the gateway recovers by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from ..conftest import Backend, Gateway, gateway_config, open_gateway
from ..support.faultproxy import FaultProxy, delay

QUERY = """query($nik: NIK!, $nisn: NISN!) {
  person(nik: $nik) { nik name family { kk } }
  student(nisn: $nisn) { nisn name school { name } }
}"""


@pytest.fixture
async def keys(postgresql_backend: Backend) -> dict[str, str]:
    engine = create_async_engine(postgresql_backend.education_url)
    async with engine.connect() as conn:
        nisn, nik = (await conn.execute(sa.text("SELECT nisn, nik FROM peserta_didik WHERE nik IS NOT NULL ORDER BY nisn LIMIT 1"))).one()
    await engine.dispose()
    return {"nik": nik, "nisn": nisn}


@pytest.fixture
async def proxied(postgresql_backend: Backend) -> AsyncIterator[tuple[FaultProxy, Gateway]]:
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        config = gateway_config(postgresql_backend)
        config["gateway"]["request_timeout_s"] = 1.5
        config["sources"]["siak"].update(
            url=proxy.url_for(postgresql_backend.registry_url), timeout_s=10, retries=1, backoff_s=0.01,
            breaker_failures=2, breaker_reset_s=1.0,
        )
        async for gateway in open_gateway(config):
            yield proxy, gateway


def assert_only_registry_lost(answer: dict[str, Any], code: str) -> None:
    assert answer["data"]["person"] is None
    assert answer["data"]["student"]["school"]["name"]
    (error,) = answer["errors"]
    assert error["path"] == ["person"] and error["extensions"] == {"code": code, "source": "siak"}


async def test_dropped_database_connections_are_replaced_without_a_restart(
    proxied: tuple[FaultProxy, Gateway], keys: dict[str, str]
) -> None:
    proxy, gateway = proxied
    assert "errors" not in await gateway.query(QUERY, keys)
    assert proxy.drop_connections() >= 1
    answer = await gateway.query(QUERY, keys)
    assert "errors" not in answer, answer
    assert answer["data"]["person"]["nik"] == keys["nik"]


async def test_dead_registry_costs_only_its_fields_and_the_breaker_spares_it(
    proxied: tuple[FaultProxy, Gateway], keys: dict[str, str]
) -> None:
    proxy, gateway = proxied
    await gateway.query(QUERY, keys)
    proxy.set_mode("refuse")
    proxy.drop_connections()
    for _ in range(2):
        assert_only_registry_lost(await gateway.query(QUERY, keys), "SOURCE_UNAVAILABLE")

    # Open: the dead source is not called, and answers come at once.
    attempts = proxy.connections
    started = time.monotonic()
    for _ in range(5):
        answer = await gateway.query(QUERY, keys)
        assert_only_registry_lost(answer, "SOURCE_UNAVAILABLE")
        assert "circuit open" in answer["errors"][0]["message"]
    assert proxy.connections == attempts and time.monotonic() - started < 1.0
    ready = (await gateway.client.get("/readyz")).json()
    assert {s["name"]: s["state"] for s in ready["sources"]} == {"siak": "down", "dapodik": "up"}

    # The source comes back; after the reset interval one probe finds it and closes the breaker.
    proxy.set_mode("pass")
    await asyncio.sleep(1.05)
    answer = await gateway.query(QUERY, keys)
    assert "errors" not in answer, answer
    ready = (await gateway.client.get("/readyz")).json()
    assert ready["status"] == "ok"


async def test_slow_registry_answers_within_the_request_deadline(
    proxied: tuple[FaultProxy, Gateway], keys: dict[str, str]
) -> None:
    proxy, gateway = proxied
    await gateway.query(QUERY, keys)
    proxy.set_mode(delay(10))
    started = time.monotonic()
    answer = await gateway.query(QUERY, keys)
    elapsed = time.monotonic() - started
    assert_only_registry_lost(answer, "SOURCE_TIMEOUT")
    assert elapsed < 1.5 + 0.1, f"answered after {elapsed:.3f} s"
    proxy.set_mode("pass")
