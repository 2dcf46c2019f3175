"""``SqlConnector``: any SQLite, PostgreSQL or MariaDB/MySQL source through SQLAlchemy async.

Each ``fetch`` is one statement on its own pooled connection (never a shared session:
concurrent loaders would collide under asyncpg), built from the declared mapping, with the
filters pushed into the WHERE clause so the source does the selecting.

A statement abandoned by its caller (the request's deadline, or the source's ``timeout_s``,
enforced by ``ResilientConnector`` cancelling the fetch) is stopped at the source, not left
to run: on PostgreSQL and MariaDB ``sql_drivers.DriverExecutor`` sends ``pg_cancel_backend`` /
``KILL QUERY`` from another pooled connection; SQLite runs in aiosqlite's thread, which knows
nothing of the cancelled task, so ``_sqlite_rows`` calls the ``sqlite3`` connection's
``interrupt()``.

No key reaches a log line: the engine hides bound parameters from its error messages, and
driver messages are redacted (``redact_numbers``) before they are logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core import ConfigError

from . import shuffle
from .base import Filter, Record, SourceInfo, SourceQuery
from .coalesce import Coalescer
from .errors import SourceBadResponse, SourceError, SourceTimeout, SourceUnavailable
from .mapping import EntityMapping, parse_entity_mapping
from .redaction import quiet_client_loggers, redact_numbers
from .settings import absolute_sqlite_url, resolve_env, source_info
from .sql_drivers import DriverExecutor, DriverFailure
from .sql_statements import Bound, Plan, PlanCache, bind, build, compile_plan, record_reader, selected, to_records

log = logging.getLogger("satudata.connectors.sql")

#: PostgreSQL allows 32,767 bind parameters per statement; batches above this are split.
MAX_KEYS_PER_STATEMENT = 10_000
#: The driver and pool errors a SQL source translates (``SqlConnector._translated``); any other propagates.
TRANSLATED_ERRORS = (DriverFailure, TimeoutError, OSError, sa_exc.SQLAlchemyError)
#: Of those, what says the source cannot be reached (any other SQLAlchemy error: it could not answer).
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, OSError)
#: Statements of one shape at the source at once before further lookups of it wait and merge
#: (``connectors.coalesce``), and the longest a lookup waits for one to return. At 20 concurrent
#: ``person(nik)`` requests one slot sends 0.8-1.0 statements per request, two 1.8, none 3.0.
STATEMENTS_IN_FLIGHT_PER_SHAPE = 1
LOOKUP_MAX_WAIT_S = 0.02


class SqlConnector:
    """Reads vocabulary entities from tables of one SQL database."""

    kind = "sql"

    def __init__(
        self,
        info: SourceInfo,
        engine: AsyncEngine,
        entities: Mapping[str, EntityMapping],
        *,
        timeout_s: float = 5.0,
        joins: Mapping[str, Join] | None = None,
    ) -> None:
        self.info = info
        self.engine = engine
        self.entities = dict(entities)
        self.timeout_s = timeout_s
        #: Entity -> the table joined to its own (``join = { table, on }``), for a grouping by a
        #: column that lives beside the entity's table (a pupil's class beside the attendance row).
        self.joins = dict(joins or {})
        self._tables: dict[str, sa.Table | sa.Subquery] = {}
        #: (entity, selected fields, table or join) -> the SELECT of those columns, before any condition.
        self._selects: dict[tuple[str, tuple[str, ...], str], sa.Select[Any]] = {}
        self._plans = PlanCache()
        # PostgreSQL takes a batch of keys as one array parameter: one plan for every batch size.
        self._arrays = engine.dialect.name == "postgresql"
        self._driver = DriverExecutor(engine) if DriverExecutor.supports(engine) else None
        #: A cancelled fetch returns at once: the driver executor stops the statement at the server
        #: in the background and drops the connection (``ResilientConnector`` then needs no task of
        #: its own per call to give up on it). SQLite's thread is interrupted, which may take a moment.
        self.cancels_promptly = self._driver is not None
        self._reflect_lock = asyncio.Lock()
        if engine.dialect.name == "sqlite" and not sa.event.contains(engine.sync_engine, "connect", _sqlite_functions):
            sa.event.listen(engine.sync_engine, "connect", _sqlite_functions)
        # Concurrent requests' lookups of one shape share a statement while one is in flight.
        self.coalescer = Coalescer(
            self._fetch_now,
            max_keys=MAX_KEYS_PER_STATEMENT,
            max_in_flight=STATEMENTS_IN_FLIGHT_PER_SHAPE,
            max_wait_s=LOOKUP_MAX_WAIT_S,
        )

    @classmethod
    def from_settings(cls, name: str, raw: Mapping[str, Any], *, base_dir: Path | None = None) -> SqlConnector:
        """Build from a ``[sources.NAME]`` table with ``kind = "sql"``."""

        url = resolve_env(f"sources.{name}.url", raw.get("url"))
        url = absolute_sqlite_url(url, base_dir)
        quiet_client_loggers()  # aiosqlite logs every statement with its parameters (keys)
        entities_raw = raw.get("entities") or {}
        entities = {
            entity: parse_entity_mapping(name, entity, spec, location_key="table", extra_keys=frozenset({"join"}))
            for entity, spec in entities_raw.items()
        }
        joins = {
            entity: _parse_join(f"sources.{name}.entities.{entity}.join", spec["join"])
            for entity, spec in entities_raw.items()
            if "join" in spec
        }
        pool = {} if url.startswith("sqlite") else _pool_settings(name, raw)
        try:
            # Every statement is one read: autocommit spares a BEGIN and a ROLLBACK round-trip
            # per fetch, and there is nothing to reset when a connection goes back to the pool.
            # hide_parameters: a driver error's text would otherwise carry the bound keys (NIKs) into the log.
            engine = create_async_engine(
                url,
                isolation_level="AUTOCOMMIT",
                skip_autocommit_rollback=True,
                pool_reset_on_return=None,
                hide_parameters=True,
                **pool,
            )
        except (sa_exc.ArgumentError, ImportError) as exc:
            raise ConfigError(f"sources.{name}.url is not a usable SQLAlchemy async URL: {exc}") from exc
        return cls(
            source_info(name, "sql", raw, tuple(entities)),
            engine,
            entities,
            timeout_s=float(raw.get("timeout_s", 5.0)),
            joins=joins,
        )

    async def start(self) -> None:
        """Check every mapped table and column now, so a typo fails at start-up.

        A source that is down at start-up is not a configuration error: it is checked
        again on first use and meanwhile answers ``SOURCE_UNAVAILABLE``.
        """

        try:
            for mapping in self.entities.values():
                await self._table(mapping)
        except SourceError as exc:
            log.warning("source %s not reachable at start-up: %s", self.info.name, exc.message)

    async def aclose(self) -> None:
        if self._driver is not None:
            await self._driver.aclose()
        await self.engine.dispose()

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        return await self.coalescer.fetch(query)

    async def _fetch_now(self, query: SourceQuery) -> Sequence[Record]:
        mapping = self.entities.get(query.entity)
        if mapping is None:
            raise ConfigError(f"source {self.info.name} does not serve {query.entity}")
        in_filters = [f for f in query.where if f.op == "in" and len(f.value) > MAX_KEYS_PER_STATEMENT]
        if in_filters:
            return await self._fetch_in_chunks(query, in_filters[0])
        bound = bind(query, mapping, arrays=self._arrays)
        if bound is None:
            return []  # a filter no row can meet (e.g. a code outside the source's code list)
        table = await self._table(mapping)
        join = self.joins.get(mapping.entity)
        if join is not None and not _reads_joined(query, mapping, join):
            table = self._tables[mapping.location]  # the join would only cost a lookup per row
        plan = self._plans.get(bound.shape, lambda: self._plan(query, bound, mapping, table))
        # The time limit is the caller's (ResilientConnector); a timer here would only add cost.
        if self._driver is not None:
            # ``_map_errors`` inlined: a generator-based context manager cost more than the rest of this path.
            try:
                rows = await self._driver.rows(plan, plan.positional(bound.params))
            except TRANSLATED_ERRORS as exc:
                error, cause = self._translated(exc)
                raise error from cause
            return plan.read(rows)  # type: ignore[misc]  # set in _plan
        with self._map_errors():
            if self.engine.dialect.name == "sqlite":
                rows = await _sqlite_rows(self.engine, plan.statement, bound.params)
            else:
                async with self.engine.connect() as conn:
                    rows = (await conn.execute(plan.statement, bound.params)).all()
        return to_records(query, mapping, rows)

    def _plan(self, query: SourceQuery, bound: Bound, mapping: EntityMapping, table: Any) -> Plan:
        base = None
        if query.group_by is None:  # a grouping selects its own columns (and may skip a join)
            names = selected(query, mapping)
            # By table too: a filter on a joined column reads the join even where the selection does not.
            key = (mapping.entity, names, table.name)
            base = self._selects.get(key)
            if base is None:
                base = self._selects[key] = sa.select(
                    *(table.c[mapping.fields[name].column].label(name) for name in names)
                )
        statement = build(query, bound, mapping, table, base, arrays=self._arrays)
        plan = compile_plan(statement, self.engine.dialect)
        return replace(plan, read=record_reader(query, mapping, plan.results))

    async def _fetch_in_chunks(self, query: SourceQuery, big: Filter) -> Sequence[Record]:
        keys = list(big.value)
        records: list[Record] = []
        for start in range(0, len(keys), MAX_KEYS_PER_STATEMENT):
            chunk = Filter(big.field, "in", tuple(keys[start : start + MAX_KEYS_PER_STATEMENT]))
            where = tuple(chunk if f is big else f for f in query.where)
            records.extend(await self._fetch_now(replace(query, where=where)))
        return records

    async def _table(self, mapping: EntityMapping) -> Any:
        """The entity's table (an ``sa.Table``), or with a ``join`` the two tables joined (an ``sa.Subquery``
        whose joined columns are named ``table.column``): statements read ``.c[column]`` from either."""

        join = self.joins.get(mapping.entity)
        cache_key = mapping.location if join is None else f"{mapping.entity}\x00join"
        table = self._tables.get(cache_key)
        if table is not None:
            return table
        async with self._reflect_lock:
            if cache_key in self._tables:
                return self._tables[cache_key]
            table = await self._reflected(mapping, mapping.location)
            joined = None if join is None else await self._reflected(mapping, join.table)
            columns = set(table.c.keys()) | ({f"{join.table}.{c}" for c in joined.c.keys()} if join and joined is not None else set())
            missing = sorted(f.column for f in mapping.fields.values() if f.column not in columns)
            if join is not None and joined is not None:
                missing += sorted(f"{join.table}.{r}" for _, r in join.on if r not in joined.c)
                missing += sorted(left for left, _ in join.on if left not in table.c)
            if missing:
                raise ConfigError(
                    f"sources.{self.info.name}.entities.{mapping.entity}: table {mapping.location!r} "
                    f"has no column(s) {missing}; columns are {sorted(columns)}"
                )
            if join is not None and joined is not None:
                self._tables[mapping.location] = table
                table = _joined_view(mapping, table, joined, join)
            self._tables[cache_key] = table
            return table

    async def _reflected(self, mapping: EntityMapping, location: str) -> sa.Table:
        with self._map_errors():
            async with asyncio.timeout(self.timeout_s):
                async with self.engine.connect() as conn:
                    table = await conn.run_sync(_reflect, location)
        if table is None:
            raise ConfigError(f"sources.{self.info.name}: table {location!r} (for {mapping.entity}) does not exist")
        return table

    @contextmanager
    def _map_errors(self) -> Iterator[None]:
        """Translate driver and pool errors into ``SourceError``s, once, here."""

        try:
            yield
        except TRANSLATED_ERRORS as exc:
            error, cause = self._translated(exc)
            raise error from cause

    def _translated(self, exc: BaseException) -> tuple[SourceError, BaseException]:
        """The ``SourceError`` one of ``TRANSLATED_ERRORS`` becomes (logged), and the error it is raised from."""

        name = self.info.name
        if isinstance(exc, DriverFailure):
            if exc.connection:
                log.warning("source %s unavailable: %s", name, _said(exc))
                return SourceUnavailable(f"Source '{name}' is unavailable.", source=name), exc.cause
            log.error("source %s rejected a statement: %s", name, _said(exc))
            return SourceBadResponse(f"Source '{name}' could not answer the query.", source=name), exc.cause
        if isinstance(exc, TimeoutError):
            return SourceTimeout(f"Source '{name}' did not answer within {self.timeout_s:g} s.", source=name), exc
        if isinstance(exc, _UNAVAILABLE) or (isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated):
            if isinstance(exc, _UNAVAILABLE):
                log.warning("source %s unavailable: %s", name, _said(exc))
            else:
                log.warning("source %s dropped its connection: %s", name, _said(exc))
            return SourceUnavailable(f"Source '{name}' is unavailable.", source=name), exc
        if isinstance(exc, sa_exc.DBAPIError):
            log.error("source %s rejected a statement: %s", name, _said(exc))
        else:
            log.error("source %s failed: %s", name, _said(exc))
        return SourceBadResponse(f"Source '{name}' could not answer the query.", source=name), exc


#: ``[sources.NAME]`` pool keys -> (SQLAlchemy ``create_engine`` argument, default, smallest allowed).
POOL_KEYS: dict[str, tuple[str, float, float]] = {
    # Connections held open for the gateway's life: enough for the requests in flight at once.
    "pool_size": ("pool_size", 20, 1),
    # Extra connections opened in a burst and closed again on return. 0 by default: under load an
    # overflow connection is opened and closed again and again (connect, TLS, a cold statement
    # cache each time), which costs more than waiting a moment for a held one.
    "max_overflow": ("max_overflow", 0, 0),
    # Replace a held connection after this long, before a firewall or the server drops it silently.
    "pool_recycle_s": ("pool_recycle", 1800, 1),
    # Longest a fetch waits for a held connection; the request's deadline usually ends it first.
    "pool_timeout_s": ("pool_timeout", 30, 0.1),
}


def _pool_settings(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's pool arguments from ``[sources.NAME]`` (numbers, checked, with defaults)."""

    out: dict[str, Any] = {}
    for key, (argument, default, least) in POOL_KEYS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < least:
            raise ConfigError(f"sources.{name}.{key} must be a number of at least {least:g}; got {value!r}")
        out[argument] = int(value) if argument in ("pool_size", "max_overflow") else float(value)
    return out


def _said(exc: BaseException) -> str:
    """What a driver error says, for the log: its class and first line, long numbers blanked."""

    first_line = str(exc).split("\n", 1)[0]
    return redact_numbers(f"{type(exc).__name__}: {first_line}", limit=300)


def _sqlite_functions(dbapi_connection: Any, _record: Any) -> None:
    """What SQLite lacks of the SQL ``connectors.sql_statements`` writes: ``md5`` (a shuffled list's order)."""

    dbapi_connection.create_function("md5", 1, shuffle.sqlite_md5, deterministic=True)


async def _sqlite_rows(engine: AsyncEngine, statement: Any, params: Mapping[str, Any]) -> Sequence[Any]:
    """The rows of ``statement`` on SQLite, stopped at the source if the awaiting task is cancelled.

    aiosqlite runs each statement in its connection's thread, which knows nothing of the
    cancelled task: the statement runs to its end (seconds of CPU for a big join), and
    SQLAlchemy's clean-up after the cancellation (invalidating the connection, closing it)
    waits behind it, so the cancelled task cannot even get to an ``except``. The statement
    therefore runs in a task of its own behind ``asyncio.shield``: the caller's cancellation
    arrives here at once, and ``sqlite3.Connection.interrupt()`` (the one call SQLite allows
    from another thread) ends the statement with "interrupted".
    """

    handle: list[Any] = []

    async def run() -> Sequence[Any]:
        async with engine.connect() as conn:
            handle.append(_sqlite3_of(conn))
            return (await conn.execute(statement, params)).all()

    task = asyncio.ensure_future(run())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if handle and handle[0] is not None:
            handle[0].interrupt()
        task.cancel()  # not yet executing: never start
        task.add_done_callback(_retrieve)
        raise


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _sqlite3_of(conn: AsyncConnection) -> Any:
    """The ``sqlite3.Connection`` under ``conn`` when it is an aiosqlite one, else ``None``.

    ``_conn`` is aiosqlite's own attribute (SQLAlchemy's aiosqlite dialect reads it too);
    ``tests/connectors/test_sql_cancellation.py`` fails if a release renames it.
    """

    if conn.dialect.name != "sqlite" or conn.sync_connection is None:
        return None
    try:
        driver = conn.sync_connection.connection.driver_connection
    except sa_exc.SQLAlchemyError:  # already closed or invalidated: nothing left to stop
        return None
    return getattr(driver, "_conn", None)


@dataclass(frozen=True, slots=True)
class Join:
    """``join = { table = "peserta_didik", on = { nisn = "nisn" } }``: a table joined to an entity's own.

    A LEFT JOIN on columns that identify one row of ``table`` (its key), so each row of the
    entity's table stays one row; a statement that reads none of ``table``'s columns (no filter,
    grouping or listed field maps one) is made without it, since not every database drops an
    unused join (SQLite does not). Fields map its columns as ``"table.column"``.
    """

    table: str
    #: (column of the entity's table, column of ``table``) pairs, all of which must be equal.
    on: tuple[tuple[str, str], ...]


def _parse_join(where: str, raw: Any) -> Join:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("table"), str) or not raw["table"]:
        raise ConfigError(f"{where} must be {{ table = ..., on = {{ column = joined_column }} }}")
    on = raw.get("on")
    if not isinstance(on, Mapping) or not on or not all(isinstance(k, str) and isinstance(v, str) for k, v in on.items()):
        raise ConfigError(f"{where}.on must map columns of the entity's table to columns of {raw['table']!r}")
    unknown = set(raw) - {"table", "on"}
    if unknown:
        raise ConfigError(f"{where} has unknown keys: {', '.join(sorted(unknown))}; known: on, table")
    return Join(table=raw["table"], on=tuple(on.items()))


def _reads_joined(query: SourceQuery, mapping: EntityMapping, join: Join) -> bool:
    """Whether ``query`` reads a column of the joined table: a listing reads the fields it selects."""

    listed = selected(query, mapping) if query.group_by is None else query.group_by
    names = {*listed, *(f.field for f in query.where), *query.order_by}
    return any(mapping.field(name).column.startswith(join.table + ".") for name in names)


def _joined_view(mapping: EntityMapping, table: sa.Table, joined: sa.Table, join: Join) -> sa.Subquery:
    """The entity's table LEFT JOINed to ``joined``, as one selectable with the mapped columns."""

    wanted = [f.column.split(".", 1)[1] for f in mapping.fields.values() if f.column.startswith(join.table + ".")]
    condition = sa.and_(*(table.c[left] == joined.c[right] for left, right in join.on))
    columns = [*table.c, *(joined.c[c].label(f"{join.table}.{c}") for c in dict.fromkeys(wanted))]
    return sa.select(*columns).select_from(table.outerjoin(joined, condition)).subquery(f"{table.name}_{join.table}")


def _reflect(sync_conn: sa.Connection, location: str) -> sa.Table | None:
    schema, _, name = location.rpartition(".")
    inspector = sa.inspect(sync_conn)
    if not inspector.has_table(name, schema=schema or None):
        return None
    return sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=sync_conn)


__all__ = ["SqlConnector", "MAX_KEYS_PER_STATEMENT"]
