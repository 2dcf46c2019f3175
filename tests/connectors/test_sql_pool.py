"""Issue 10, pools: a SQL source holds its connections; steady load opens none after the first."""

from __future__ import annotations

import asyncio
import tomllib
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import ConfigError, Filter, SourceQuery
from connectors.sql import SqlConnector
from demo.gateway_config import render_config

from ..conftest import Backend


def _siak(backend: Backend, **pool: Any) -> dict[str, Any]:
    config = tomllib.loads(render_config(registry_url=backend.registry_url, education_url=backend.education_url))
    return {**config["sources"]["siak"], **pool}


@pytest.mark.parametrize("backend_name", ["postgresql", "mariadb"])
def test_twenty_concurrent_clients_open_no_connection_after_the_pool_is_full(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    backend: Backend = request.getfixturevalue(f"{backend_name}_backend")  # session fixtures load outside a loop
    asyncio.run(_steady_load(backend))


async def _steady_load(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend, pool_size=8))
    opened: list[int] = []
    sa.event.listen(connector.engine.sync_engine, "connect", lambda *_: opened.append(1))
    await connector.start()
    try:
        niks = [r["nik"] for r in await connector.fetch(SourceQuery("Person", limit=400))]
        gate = asyncio.Semaphore(20)

        async def one(nik: str) -> None:
            async with gate:
                (record,) = await connector.fetch(SourceQuery("Person", where=(Filter("nik", "in", (nik,)),)))
                assert record["nik"] == nik

        await asyncio.gather(*(one(n) for n in niks[:100]))  # warm: the pool fills up to pool_size
        warm = len(opened)
        assert warm <= 8
        await asyncio.gather(*(one(n) for n in niks[100:400]))  # steady load at 20 concurrent callers
        assert len(opened) == warm, f"{len(opened) - warm} connection(s) opened under steady load"
    finally:
        await connector.aclose()


@pytest.mark.parametrize(
    "key,value", [("pool_size", 0), ("max_overflow", -1), ("pool_recycle_s", "often"), ("pool_timeout_s", True)]
)
def test_a_wrong_pool_setting_names_its_key(sqlite_backend: Backend, key: str, value: object) -> None:
    raw = _siak(sqlite_backend) | {"url": "postgresql+asyncpg://postgres@127.0.0.1:5432/none", key: value}
    with pytest.raises(ConfigError, match=f"sources.siak.{key}"):
        SqlConnector.from_settings("siak", raw)
