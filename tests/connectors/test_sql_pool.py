"""Issue 10, pools: a SQL source holds its connections; steady load opens none after the first."""

from __future__ import annotations

import asyncio
import tomllib
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import Filter, SourceQuery
from core import ConfigError
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


# -- the connections the executor holds (connectors.sql_pool.HeldConnections) --------------------------------


def test_held_connections_keep_the_pools_limits(postgresql_backend: Backend) -> None:
    """pool_size idle at most, pool_size + max_overflow in use at most, a waiter is handed the next one."""

    asyncio.run(_limits(postgresql_backend))


async def _limits(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend, pool_size=2, max_overflow=1))
    opened: list[int] = []
    sa.event.listen(connector.engine.sync_engine, "connect", lambda *_: opened.append(1))
    held = connector._driver._connections  # type: ignore[union-attr]
    try:
        first, second, third = [await held.take() for _ in range(3)]  # two held, one overflow
        assert held.held == 3 and len(opened) == 3
        waiting = asyncio.ensure_future(held.take())
        await asyncio.sleep(0.05)
        assert not waiting.done(), "a fourth connection was opened beyond pool_size + max_overflow"
        held.release(first)
        assert await asyncio.wait_for(waiting, 1) is first  # handed straight on, nothing opened
        for fairy in (first, second, third):
            held.release(fairy)
        assert held.held == 2, "the overflow connection was kept idle instead of returned to the pool"
        assert connector.engine.pool.checkedout() in (2, 3)  # the overflow one is being returned
        await asyncio.sleep(0.05)
        assert connector.engine.pool.checkedout() == 2
        assert len(opened) == 3
    finally:
        await connector.aclose()
    assert connector.engine.pool.checkedout() == 0, "aclose left connections checked out"


def test_a_discarded_connection_makes_room_for_a_waiting_fetch(postgresql_backend: Backend) -> None:
    asyncio.run(_discard(postgresql_backend))


async def _discard(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend, pool_size=1))
    held = connector._driver._connections  # type: ignore[union-attr]
    try:
        only = await held.take()
        pid = only.driver_connection.get_server_pid()
        waiting = asyncio.ensure_future(held.take())
        await asyncio.sleep(0.05)
        await held.discard(only)  # invalidated: closed, its place handed to the waiter, which opens anew
        replacement = await asyncio.wait_for(waiting, 5)
        assert replacement.driver_connection.get_server_pid() != pid
        assert held.held == 1
        held.release(replacement)
    finally:
        await connector.aclose()


def test_waiting_for_a_connection_ends_at_pool_timeout(postgresql_backend: Backend) -> None:
    asyncio.run(_timeout(postgresql_backend))


async def _timeout(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend, pool_size=1, pool_timeout_s=0.2))
    held = connector._driver._connections  # type: ignore[union-attr]
    try:
        busy = await held.take()
        with pytest.raises(sa.exc.TimeoutError):
            await held.take()
        assert held.held == 1
        held.release(busy)
        assert await held.take() is busy
        held.release(busy)
    finally:
        await connector.aclose()


def test_a_connection_held_past_pool_recycle_is_replaced(postgresql_backend: Backend) -> None:
    asyncio.run(_recycle(postgresql_backend))


async def _recycle(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend, pool_size=1, pool_recycle_s=1))
    held = connector._driver._connections  # type: ignore[union-attr]
    try:
        first = await held.take()
        pid = first.driver_connection.get_server_pid()
        held.release(first)
        again = await held.take()
        assert again.driver_connection.get_server_pid() == pid  # young: the same connection
        held.release(again)
        await asyncio.sleep(1.2)
        fresh = await held.take()
        assert fresh.driver_connection.get_server_pid() != pid
        assert held.held == 1
        held.release(fresh)
    finally:
        await connector.aclose()


def test_a_fetch_cancelled_while_waiting_passes_its_connection_on(postgresql_backend: Backend) -> None:
    asyncio.run(_cancelled_waiter(postgresql_backend))


async def _cancelled_waiter(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend, pool_size=1))
    held = connector._driver._connections  # type: ignore[union-attr]
    try:
        only = await held.take()
        gives_up = asyncio.ensure_future(held.take())
        stays = asyncio.ensure_future(held.take())
        await asyncio.sleep(0.05)
        held.release(only)  # handed to the first waiter ...
        gives_up.cancel()  # ... which is cancelled before it runs: the connection must reach the second
        assert await asyncio.wait_for(stays, 1) is only
        held.release(only)
        assert held.held == 1
    finally:
        await connector.aclose()


def test_one_key_is_a_plain_comparison_and_answers_like_a_batch(postgresql_backend: Backend) -> None:
    """A single-key lookup skips the array parameter (``= $1``); it finds what the batch finds."""

    asyncio.run(_one_key(postgresql_backend))


async def _one_key(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend))
    await connector.start()
    try:
        niks = [r["nik"] for r in await connector.fetch(SourceQuery("Person", limit=5))]
        batch = await connector.fetch(SourceQuery("Person", where=(Filter("nik", "in", tuple(niks)),)))
        singles = [
            record
            for nik in niks
            for record in await connector.fetch(SourceQuery("Person", where=(Filter("nik", "in", (nik,)),)))
        ]
        assert [dict(r) for r in singles] == [dict(r) for r in batch] and len(batch) == 5
        sqls = [plan.sql for plan in connector._plans._plans.values()]
        assert sum("ANY" in sql for sql in sqls) == 1 and any("ANY" not in sql and "= $1" in sql for sql in sqls), sqls
        assert await connector.fetch(SourceQuery("Person", where=(Filter("nik", "in", ("3503999999999999",)),))) == []
    finally:
        await connector.aclose()


def test_closing_a_source_leaves_no_connection_checked_out(postgresql_backend: Backend) -> None:
    """A fetch running at close and a cancellation still being sent both give their connection back.

    Either would otherwise keep a connection checked out of a disposed engine until the garbage
    collector found it (SQLAlchemy then warns, at some later, unrelated moment).
    """

    asyncio.run(_close_while_busy(postgresql_backend))


async def _close_while_busy(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend, pool_size=2))
    driver = connector._driver
    assert driver is not None
    held = driver._connections
    pool = connector.engine.sync_engine.pool
    running = await held.take()  # a fetch still running when the source closes
    try:
        # An abandoned statement's cancellation, sent in the background, not yet under way at close:
        # it takes the other connection, and must have given it back when aclose returns.
        driver._cancel_in_background(driver._session_of(running.driver_connection))
        await driver.aclose()
        assert pool.checkedout() == 1  # only the running fetch's
    finally:
        held.release(running)  # the fetch ends after the close: its connection goes back, not idle
    for _ in range(100):
        if pool.checkedout() == 0:
            break
        await asyncio.sleep(0.01)
    assert pool.checkedout() == 0
    with pytest.raises(sa.exc.InvalidRequestError):
        await held.take()
    await connector.engine.dispose()
