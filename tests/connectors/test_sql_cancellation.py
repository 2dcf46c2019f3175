"""Issue 9, finding 14 (the connector half): an abandoned SQL statement stops at the source.

A statement whose caller gave up (the source's ``timeout_s``, the request's deadline) used to
run on: SQLite kept a core busy for seconds in aiosqlite's thread. Each test runs a real
statement that would take far longer than its timeout, gives up on it through
``ResilientConnector``, and looks at the source: SQLite's CPU use, PostgreSQL's
``pg_stat_activity``, MariaDB's process list.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from connectors import ResiliencePolicy, ResilientConnector, SourceQuery, SourceTimeout
from connectors.sql import SqlConnector

from ..conftest import PG_ADMIN, _create_pg, _drop_pg, service_missing
from ..support.sqlite import sqlite_file

#: Counting to 10^8 in a recursive CTE: many seconds of CPU unless SQLite is interrupted.
SQLITE_SLOW = (
    "CREATE VIEW slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
    "SELECT max(x) AS id FROM c"
)
ENTITIES = {
    "Slow": {"table": "slow", "key": "id", "fields": {"id": "id"}},
    "Fast": {"table": "fast", "key": "id", "fields": {"id": "id"}},
}


def connector(url: str, **policy: float) -> ResilientConnector:
    raw = {"kind": "sql", "agency": "TEST", "url": url, "entities": ENTITIES}
    return ResilientConnector(SqlConnector.from_settings("slowdb", raw), ResiliencePolicy(**{"retries": 0, **policy}))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / "slow.sqlite"
    with sqlite_file(path) as conn:
        conn.execute("CREATE TABLE fast (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO fast VALUES (7)")
        conn.execute(SQLITE_SLOW)
    return f"sqlite+aiosqlite:///{path}"


async def cpu_seconds_over(seconds: float) -> float:
    """CPU time the whole process (every thread) burns while this task sleeps ``seconds``."""

    started = time.process_time()
    await asyncio.sleep(seconds)
    return time.process_time() - started


async def test_finding_14_an_abandoned_sqlite_statement_is_interrupted(sqlite_url: str) -> None:
    source = connector(sqlite_url, timeout_s=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(SourceTimeout):
            await source.fetch(SourceQuery("Slow"))
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.2)  # the interrupt lands
        # Without the interrupt aiosqlite's thread keeps counting: ~1 s of CPU per second.
        burned = await cpu_seconds_over(1.0)
        assert burned < 0.25, f"the abandoned statement still ran: {burned:.2f} s of CPU in 1 s"
        # The source is fine and answers at once, on the same pool.
        assert await source.fetch(SourceQuery("Fast")) == [{"id": 7}]
    finally:
        await source.aclose()


async def test_finding_14_a_sqlite_statement_abandoned_at_the_requests_deadline_is_interrupted_and_not_counted(
    sqlite_url: str,
) -> None:
    from connectors import ConnectorRegistry, SourceTrace

    source = connector(sqlite_url, timeout_s=5.0, breaker_failures=1)
    registry = ConnectorRegistry([source])
    try:
        for _ in range(3):
            session = registry.session(SourceTrace(), deadline=asyncio.get_running_loop().time() + 0.3)
            with pytest.raises(SourceTimeout, match="request's deadline"):
                await session.fetch(SourceQuery("Slow"))
        assert source.breaker.failures == 0 and source.health().state == "up"
        await asyncio.sleep(0.2)
        burned = await cpu_seconds_over(1.0)
        assert burned < 0.25, f"abandoned statements still ran: {burned:.2f} s of CPU in 1 s"
    finally:
        await source.aclose()


@pytest.fixture
async def postgresql_url() -> object:
    import asyncpg

    name = f"satudata_test_cancel_{uuid.uuid4().hex[:8]}"
    try:
        await _create_pg(name)
    except (OSError, ConnectionError) as exc:
        service_missing("PostgreSQL", exc)
    conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", timeout=5)
    try:
        await conn.execute("CREATE TABLE fast (id integer PRIMARY KEY); INSERT INTO fast VALUES (7)")
        await conn.execute("CREATE VIEW slow AS SELECT 1 AS id FROM pg_sleep(60)")
    finally:
        await conn.close()
    yield name
    await _drop_pg(name)


async def active_slow_statements(database: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query ILIKE '%slow%'",
                database,
            )
        )
    finally:
        await conn.close()


async def test_finding_14_an_abandoned_postgresql_statement_is_cancelled(postgresql_url: str) -> None:
    source = connector(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{postgresql_url}", timeout_s=0.5)
    try:
        with pytest.raises(SourceTimeout):
            await source.fetch(SourceQuery("Slow"))
        deadline = time.monotonic() + 3.0
        while (running := await active_slow_statements(postgresql_url)) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert running == 0, "PostgreSQL still runs the statement the gateway gave up on"
        assert await source.fetch(SourceQuery("Fast")) == [{"id": 7}]
    finally:
        await source.aclose()


@pytest.fixture
async def mariadb_database() -> object:
    from ..conftest import _mariadb

    name = f"satudata_test_cancel_{uuid.uuid4().hex[:8]}"
    try:
        await _mariadb(f"CREATE DATABASE `{name}`")
    except Exception as exc:  # aiomysql wraps a refused connection in OperationalError
        if isinstance(exc, (OSError, ConnectionError)) or type(exc).__name__ == "OperationalError":
            service_missing("MariaDB", exc)
        raise
    await _mariadb(f"CREATE VIEW `{name}`.fast AS SELECT 7 AS id")  # DDL: no transaction left open
    await _mariadb(f"CREATE VIEW `{name}`.slow AS SELECT 1 AS id FROM (SELECT SLEEP(60) AS nap) AS s")
    yield name
    await _mariadb(f"DROP DATABASE IF EXISTS `{name}`")


async def running_mariadb_statements(database: str) -> int:
    import aiomysql

    from ..conftest import MARIADB

    conn = await aiomysql.connect(**MARIADB, connect_timeout=5)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT count(*) FROM information_schema.processlist WHERE db = %s AND command = 'Query' AND info LIKE %s",
                (database, "%slow%"),
            )
            (count,) = await cur.fetchone()
            return int(count)
    finally:
        conn.close()


async def test_finding_14_an_abandoned_mariadb_statement_is_killed(mariadb_database: str) -> None:
    source = connector(f"mysql+aiomysql://root@127.0.0.1:3306/{mariadb_database}?charset=utf8mb4", timeout_s=0.5)
    try:
        with pytest.raises(SourceTimeout):
            await source.fetch(SourceQuery("Slow"))
        deadline = time.monotonic() + 3.0
        while (running := await running_mariadb_statements(mariadb_database)) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert running == 0, "MariaDB still runs the statement the gateway gave up on"
        assert await source.fetch(SourceQuery("Fast")) == [{"id": 7}]
    finally:
        await source.aclose()
