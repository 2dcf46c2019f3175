"""Run a compiled plan straight on the pooled driver connection (asyncpg, aiomysql).

SQLAlchemy builds and compiles the statement (once per shape, see ``sql_statements``) and
owns the pool; its per-execution machinery (execution context, result objects, greenlet
hops) costs several times what asyncpg needs to send the query and read the rows, so the
hot path skips it. SQLite keeps SQLAlchemy's own execution: it is the embedded default,
not where latency matters.

SQLAlchemy's pool opens, counts and closes the connections; the executor keeps the ones it has
checked out and hands them from fetch to fetch itself (``sql_pool.HeldConnections``: the pool's
check-out and return cost two greenlet hops per statement). Any connection that fails, or is
abandoned mid-statement, is invalidated so that the pool replaces it instead of handing a
broken connection to the next request. A connection
failure also retires every connection opened before it (as SQLAlchemy does on a
disconnect): when a database restarts or a network path drops, the rest of the pool is
dead too, and trying each one in turn would keep the source's circuit breaker open.

A statement whose caller gave up (the task was cancelled: the source's timeout or the
request's deadline) is stopped at the server, not just abandoned: closing the connection
does not stop it (PostgreSQL notices a closed client only when it next writes, so a long
aggregate or a lock wait runs on), and invalidating the connection also drops the cancel
request asyncpg would send. So the executor sends one itself, from another pooled
connection, in the background: ``pg_cancel_backend(pid)`` on PostgreSQL, ``KILL QUERY id``
on MariaDB/MySQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from .sql_pool import HeldConnections
from .sql_statements import Plan

Rows = Sequence[Sequence[Any]]

log = logging.getLogger("satudata.connectors.sql")


class DriverFailure(Exception):
    """A driver error, classified: ``connection`` says whether the source itself is unreachable."""

    def __init__(self, cause: BaseException, *, connection: bool) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause
        self.connection = connection


class DriverRunner(Protocol):
    """Runs ``plan`` with positional parameters on a driver connection and returns its rows."""

    def __call__(self, driver_connection: Any, plan: Plan, params: list[Any]) -> Awaitable[Rows]: ...


async def _asyncpg(connection: Any, plan: Plan, params: list[Any]) -> Rows:
    # asyncpg keeps its own prepared-statement cache per connection, keyed by SQL text.
    return await connection.fetch(plan.sql, *params)


async def _aiomysql(connection: Any, plan: Plan, params: list[Any]) -> Rows:
    async with connection.cursor() as cursor:
        await cursor.execute(plan.sql, params)
        return await cursor.fetchall()


def _asyncpg_is_connection_error(exc: BaseException) -> bool:
    import asyncpg

    if isinstance(exc, asyncpg.PostgresError):
        # Class 08 (connection exception) and 57 (operator intervention: shutdown, ...).
        return str(getattr(exc, "sqlstate", "") or "")[:2] in ("08", "57")
    return True  # InterfaceError, OSError, a protocol error mid-stream: the connection is gone


def _aiomysql_is_connection_error(exc: BaseException) -> bool:
    import pymysql

    if isinstance(exc, (pymysql.err.ProgrammingError, pymysql.err.DataError, pymysql.err.IntegrityError, pymysql.err.NotSupportedError)):
        return False
    if isinstance(exc, pymysql.err.InternalError):
        return False
    return True  # OperationalError (gone away, lost, refused), InterfaceError, OSError, ...


def _asyncpg_session(connection: Any) -> int:
    return int(connection.get_server_pid())


async def _asyncpg_cancel(connection: Any, session: int) -> None:
    await connection.fetchval("SELECT pg_cancel_backend($1)", session)


def _aiomysql_session(connection: Any) -> int:
    return int(connection.thread_id())


async def _aiomysql_cancel(connection: Any, session: int) -> None:
    async with connection.cursor() as cursor:
        await cursor.execute(f"KILL QUERY {int(session)}")


#: SQLAlchemy driver name -> (runner, "is this a connection failure?", the server's id of a
#: connection's session, "stop that session's statement" run on another connection).
DRIVERS: dict[
    str,
    tuple[DriverRunner, Callable[[BaseException], bool], Callable[[Any], int], Callable[[Any, int], Awaitable[None]]],
] = {
    "asyncpg": (_asyncpg, _asyncpg_is_connection_error, _asyncpg_session, _asyncpg_cancel),
    "aiomysql": (_aiomysql, _aiomysql_is_connection_error, _aiomysql_session, _aiomysql_cancel),
}


class DriverExecutor:
    """Executes plans for one engine whose driver is in ``DRIVERS``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._run, self._is_connection_error, self._session_of, self._cancel = DRIVERS[engine.dialect.driver]
        self._cancelling: set[asyncio.Task[None]] = set()
        self._connections = HeldConnections(engine)
        # Bumped on every connection failure; a pooled connection opened in an earlier
        # generation is replaced at its next checkout.
        self._generation = 0

    @staticmethod
    def supports(engine: AsyncEngine) -> bool:
        return engine.dialect.driver in DRIVERS

    async def rows(self, plan: Plan, params: list[Any]) -> Rows:
        """The rows of ``plan``; raises ``DriverFailure`` for every driver or pool error."""

        fairy = await self._checkout()
        healthy = False
        try:
            rows = await self._run(fairy.driver_connection, plan, params)
            healthy = True
            return rows
        except (asyncio.CancelledError, TimeoutError):
            # Abandoned mid-statement: stop it at the server; the connection is invalidated below.
            self._cancel_in_background(self._session_of(fairy.driver_connection))
            raise
        except Exception as exc:
            connection = self._is_connection_error(exc)
            if connection:
                self._generation += 1
            healthy = not connection
            raise DriverFailure(exc, connection=connection) from exc
        finally:
            if healthy:
                self._connections.release(fairy)
            else:
                # A connection whose state we cannot trust never serves another statement.
                await self._connections.discard(fairy)

    async def aclose(self) -> None:
        """Give the held connections back to the pool (before the engine is disposed).

        Cancellations still being sent finish first (each is bounded by the pool timeout), so
        none of them takes a connection from an engine that is being disposed.
        """

        if self._cancelling:
            await asyncio.wait(tuple(self._cancelling), timeout=self._connections.timeout_s)
        await self._connections.close()

    def _cancel_in_background(self, session: int) -> None:
        task = asyncio.ensure_future(self._cancel_statement(session))
        self._cancelling.add(task)  # a reference, so the task is not collected half-way
        task.add_done_callback(self._cancelling.discard)

    async def _cancel_statement(self, session: int) -> None:
        """Ask the server, over another pooled connection, to stop ``session``'s statement. Never raises."""

        try:
            fairy = await self._connections.take()
            try:
                await self._cancel(fairy.driver_connection, session)
            except BaseException:
                await self._connections.discard(fairy)
                raise
            self._connections.release(fairy)
        except Exception as exc:  # the server may be gone: then so is the statement
            log.info("could not cancel an abandoned statement (session %s): %s", session, type(exc).__name__)

    async def _checkout(self) -> Any:
        """A held connection opened since the last connection failure."""

        while True:
            try:
                fairy = await self._connections.take()
            except sa_exc.TimeoutError as exc:  # every connection busy: the source is slow, not gone
                raise DriverFailure(exc, connection=True) from exc
            except Exception as exc:  # no connection: refused, reset, auth
                self._generation += 1
                raise DriverFailure(exc, connection=True) from exc
            # ``info`` lives as long as the DBAPI connection: SQLAlchemy clears it on replacement.
            born = fairy.info.setdefault(GENERATION, self._generation)
            if born >= self._generation:
                return fairy
            await self._connections.discard(fairy)  # opened before a failure: assume it shares the failure


GENERATION = "satudata.pool_generation"
