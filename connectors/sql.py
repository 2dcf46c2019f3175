"""``SqlConnector``: any SQLite, PostgreSQL or MariaDB/MySQL source through SQLAlchemy async.

Each ``fetch`` is one statement on its own pooled connection (never a shared session:
concurrent loaders would collide under asyncpg), built from the declared mapping, with the
filters pushed into the WHERE clause so the source does the selecting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .base import Filter, Record, SourceInfo, SourceQuery
from .errors import ConfigError, SourceBadResponse, SourceError, SourceTimeout, SourceUnavailable
from .mapping import NO_MATCH, EntityMapping, parse_entity_mapping
from .settings import resolve_env, source_info

log = logging.getLogger("satudata.connectors.sql")

#: PostgreSQL allows 32,767 bind parameters per statement; batches above this are split.
MAX_KEYS_PER_STATEMENT = 10_000


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
    ) -> None:
        self.info = info
        self.engine = engine
        self.entities = dict(entities)
        self.timeout_s = timeout_s
        self._tables: dict[str, sa.Table] = {}
        self._selects: dict[str, sa.Select[Any]] = {}
        self._reflect_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, name: str, raw: Mapping[str, Any], *, base_dir: Path | None = None) -> SqlConnector:
        """Build from a ``[sources.NAME]`` table with ``kind = "sql"``."""

        url = resolve_env(f"sources.{name}.url", raw.get("url"))
        url = _absolute_sqlite_url(url, base_dir)
        entities_raw = raw.get("entities") or {}
        entities = {
            entity: parse_entity_mapping(name, entity, spec, location_key="table")
            for entity, spec in entities_raw.items()
        }
        pool = {} if url.startswith("sqlite") else {"pool_size": int(raw.get("pool_size", 10))}
        try:
            # Every statement is one read: autocommit spares a BEGIN and a ROLLBACK round-trip
            # per fetch, and there is nothing to reset when a connection goes back to the pool.
            engine = create_async_engine(
                url, isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True, pool_reset_on_return=None, **pool
            )
        except (sa_exc.ArgumentError, ImportError) as exc:
            raise ConfigError(f"sources.{name}.url is not a usable SQLAlchemy async URL: {exc}") from exc
        return cls(
            source_info(name, "sql", raw, tuple(entities)),
            engine,
            entities,
            timeout_s=float(raw.get("timeout_s", 5.0)),
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
        await self.engine.dispose()

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        mapping = self.entities.get(query.entity)
        if mapping is None:
            raise ConfigError(f"source {self.info.name} does not serve {query.entity}")
        in_filters = [f for f in query.where if f.op == "in" and len(f.value) > MAX_KEYS_PER_STATEMENT]
        if in_filters:
            return await self._fetch_in_chunks(query, in_filters[0])
        table = await self._table(mapping)
        base = self._selects.get(mapping.entity)
        if base is None:
            # Labelling every column costs more than a primary-key lookup itself; do it once.
            base = self._selects[mapping.entity] = sa.select(
                *(table.c[f.column].label(name) for name, f in mapping.fields.items())
            )
        statement = _build_statement(query, mapping, table, base)
        if statement is None:
            return []
        # The time limit is the caller's (ResilientConnector); a timer here would only add cost.
        with self._map_errors():
            async with self.engine.connect() as conn:
                rows = (await conn.execute(statement)).all()
        return _to_records(query, mapping, rows)

    async def _fetch_in_chunks(self, query: SourceQuery, big: Filter) -> Sequence[Record]:
        keys = list(big.value)
        records: list[Record] = []
        for start in range(0, len(keys), MAX_KEYS_PER_STATEMENT):
            chunk = Filter(big.field, "in", tuple(keys[start : start + MAX_KEYS_PER_STATEMENT]))
            where = tuple(chunk if f is big else f for f in query.where)
            records.extend(await self.fetch(_replace_where(query, where)))
        return records

    async def _table(self, mapping: EntityMapping) -> sa.Table:
        table = self._tables.get(mapping.location)
        if table is not None:
            return table
        async with self._reflect_lock:
            if mapping.location in self._tables:
                return self._tables[mapping.location]
            with self._map_errors():
                async with asyncio.timeout(self.timeout_s):
                    async with self.engine.connect() as conn:
                        table = await conn.run_sync(_reflect, mapping.location)
            if table is None:
                raise ConfigError(
                    f"sources.{self.info.name}: table {mapping.location!r} (for {mapping.entity}) does not exist"
                )
            missing = sorted(f.column for f in mapping.fields.values() if f.column not in table.c)
            if missing:
                raise ConfigError(
                    f"sources.{self.info.name}.entities.{mapping.entity}: table {mapping.location!r} "
                    f"has no column(s) {missing}; columns are {sorted(table.c.keys())}"
                )
            self._tables[mapping.location] = table
            return table

    @contextmanager
    def _map_errors(self) -> Iterator[None]:
        """Translate driver and pool errors into ``SourceError``s, once, here."""

        name = self.info.name
        try:
            yield
        except TimeoutError as exc:
            raise SourceTimeout(f"Source '{name}' did not answer within {self.timeout_s:g} s.", source=name) from exc
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, OSError) as exc:
            log.warning("source %s unavailable: %r", name, exc)
            raise SourceUnavailable(f"Source '{name}' is unavailable.", source=name) from exc
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated:
                log.warning("source %s dropped its connection: %r", name, exc)
                raise SourceUnavailable(f"Source '{name}' is unavailable.", source=name) from exc
            log.error("source %s rejected a statement: %r", name, exc)
            raise SourceBadResponse(f"Source '{name}' could not answer the query.", source=name) from exc
        except sa_exc.SQLAlchemyError as exc:
            log.error("source %s failed: %r", name, exc)
            raise SourceBadResponse(f"Source '{name}' could not answer the query.", source=name) from exc


def _reflect(sync_conn: sa.Connection, location: str) -> sa.Table | None:
    schema, _, name = location.rpartition(".")
    inspector = sa.inspect(sync_conn)
    if not inspector.has_table(name, schema=schema or None):
        return None
    return sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=sync_conn)


def _replace_where(query: SourceQuery, where: tuple[Filter, ...]) -> SourceQuery:
    return SourceQuery(
        entity=query.entity,
        where=where,
        order_by=query.order_by,
        after=query.after,
        limit=query.limit,
        group_by=query.group_by,
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _condition(f: Filter, mapping: EntityMapping, table: sa.Table) -> sa.ColumnElement[bool]:
    field = mapping.field(f.field)
    column = table.c[field.column]
    if f.op == "eq":
        value = field.to_source(f.value)
        return sa.false() if value is NO_MATCH else column == value
    if f.op == "in":
        values = [v for v in (field.to_source(v) for v in f.value) if v is not NO_MATCH]
        return column.in_(values) if values else sa.false()
    if f.op == "prefix":
        prefixes = [str(field.to_source(p)) for p in f.value]
        return sa.or_(*(column.like(_escape_like(p) + "%", escape="\\") for p in prefixes)) if prefixes else sa.false()
    if f.op == "contains":
        needle = "%" + _escape_like(str(f.value).lower()) + "%"
        return sa.func.lower(column).like(needle, escape="\\")
    if f.op == "gte":
        return column >= field.to_source(f.value)
    if f.op == "lte":
        return column <= field.to_source(f.value)
    raise ValueError(f"unknown filter op {f.op!r}")


def _build_statement(
    query: SourceQuery, mapping: EntityMapping, table: sa.Table, base: sa.Select[Any]
) -> sa.Select[Any] | None:
    conditions = [_condition(f, mapping, table) for f in query.where]
    if query.group_by is not None:
        group_columns = [table.c[mapping.field(name).column].label(name) for name in query.group_by]
        statement = sa.select(*group_columns, sa.func.count().label("count")).select_from(table)
        if group_columns:
            statement = statement.group_by(*group_columns)
        return statement.where(*conditions)
    statement = base.where(*conditions)
    key_column = table.c[mapping.field(mapping.key).column]
    if query.after is not None:
        statement = statement.where(key_column > mapping.field(mapping.key).to_source(query.after))
    order = [table.c[mapping.field(name).column] for name in query.order_by] or [key_column]
    statement = statement.order_by(*order)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    return statement


def _to_records(query: SourceQuery, mapping: EntityMapping, rows: Sequence[Sequence[Any]]) -> list[Record]:
    names = list(query.group_by) if query.group_by is not None else list(mapping.fields)
    # Most fields are plain columns: convert only those with a code list or transform.
    converters = [
        (i, mapping.fields[name].to_vocabulary)
        for i, name in enumerate(names)
        if mapping.fields[name].values is not None or mapping.fields[name].transform is not None
    ]
    if query.group_by is not None:
        names.append("count")
    records: list[Record] = []
    for row in rows:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i])
        records.append(dict(zip(names, values)))
    if query.group_by is not None:
        for record in records:
            record["count"] = int(record["count"])  # type: ignore[index]
    return records


def _absolute_sqlite_url(url: str, base_dir: Path | None) -> str:
    # A config file that says sqlite+aiosqlite:///dispendukcapil.sqlite means the file
    # beside the config, not beside wherever the gateway happened to be started.
    prefix = "sqlite+aiosqlite:///"
    if base_dir is None or not url.startswith(prefix):
        return url
    path = url[len(prefix) :]
    if not path or path.startswith("/") or path.startswith(":memory:"):
        return url
    return prefix + str((base_dir / path).resolve())


__all__ = ["SqlConnector", "MAX_KEYS_PER_STATEMENT"]
