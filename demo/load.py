"""``load_dataset``: (re)create the OPD tables in real databases and bulk-load the rows.

Each dialect gets its fastest path that needs no extra dependency:

- PostgreSQL: ``COPY`` through asyncpg's ``copy_records_to_table`` on the raw connection;
- MariaDB/MySQL: ``executemany`` in chunks, which aiomysql rewrites into multi-row INSERTs;
- SQLite: ``executemany`` in chunks inside one transaction, journal and fsync off meanwhile.

Secondary indexes are created after the rows are in (cheaper than maintaining them row by row).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import islice

from sqlalchemy import Date, DateTime, MetaData, Table
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from .dataset import Dataset, Row
from .schema import education_metadata, registry_metadata

CHUNK = 5_000
#: MariaDB commits every this many rows, to keep the undo log of one transaction small.
MARIADB_COMMIT_EVERY = 200_000


async def load_dataset(ds: Dataset, *, registry_url: str, education_url: str) -> None:
    """Drop and re-create the Dispendukcapil and Dinas Pendidikan tables, then load ``ds`` into them.

    URLs are SQLAlchemy async URLs: ``sqlite+aiosqlite:///path``, ``postgresql+asyncpg://...``
    or ``mysql+aiomysql://...``. The two databases are loaded concurrently.
    """

    await asyncio.gather(
        _load(registry_url, registry_metadata, ds, Dataset.REGISTRY_TABLES),
        _load(education_url, education_metadata, ds, Dataset.EDUCATION_TABLES),
    )


async def _load(url: str, metadata: MetaData, ds: Dataset, tables: tuple[str, ...]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            dialect = conn.dialect.name
            if dialect == "sqlite":
                # Must precede the first write: the journal mode cannot change inside a transaction.
                await conn.exec_driver_sql("PRAGMA journal_mode=OFF")
                await conn.exec_driver_sql("PRAGMA synchronous=OFF")
            elif dialect == "mysql":
                await conn.exec_driver_sql("SET SESSION unique_checks=0, foreign_key_checks=0")
            await conn.run_sync(lambda sync: metadata.drop_all(sync, checkfirst=True))
            for name in tables:
                await conn.execute(CreateTable(metadata.tables[name]))
            await conn.commit()

            for name in tables:
                table = metadata.tables[name]
                if dialect == "postgresql":
                    await _copy_postgresql(conn, table, _rows(ds, table, dialect))
                else:
                    await _insert_many(conn, table, _rows(ds, table, dialect), dialect)
                await conn.commit()

            for name in tables:
                for index in sorted(metadata.tables[name].indexes, key=lambda i: i.name or ""):
                    await conn.execute(CreateIndex(index))
            if dialect == "postgresql":
                for name in tables:
                    await conn.exec_driver_sql(f"ANALYZE {name}")
            await conn.commit()
            if dialect == "sqlite":
                await conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
    finally:
        await engine.dispose()


def _rows(ds: Dataset, table: Table, dialect: str) -> Iterable[Row]:
    if dialect != "sqlite":
        return ds.rows(table.name)
    # Bind dates as text in the format SQLAlchemy itself writes to SQLite (and reads back).
    if table.name == "kehadiran":
        return ds.kehadiran(day_value=date.isoformat)
    return _sqlite_values(ds.rows(table.name), table)


def _sqlite_values(rows: Iterable[Row], table: Table) -> Iterator[Row]:
    dates = [i for i, c in enumerate(table.columns) if isinstance(c.type, Date) and not isinstance(c.type, DateTime)]
    stamps = [i for i, c in enumerate(table.columns) if isinstance(c.type, DateTime)]
    if not dates and not stamps:
        yield from rows
        return
    for row in rows:
        values = list(row)
        for i in dates:
            values[i] = values[i].isoformat()
        for i in stamps:
            values[i] = values[i].strftime("%Y-%m-%d %H:%M:%S.%f")
        yield tuple(values)


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


async def _insert_many(conn: AsyncConnection, table: Table, rows: Iterable[Row], dialect: str) -> None:
    marker = "?" if dialect == "sqlite" else "%s"
    columns = ", ".join(c.name for c in table.columns)
    sql = f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join(marker for _ in table.columns)})"
    since_commit = 0
    for chunk in _chunks(rows, CHUNK):
        await conn.exec_driver_sql(sql, chunk)  # type: ignore[arg-type]
        since_commit += len(chunk)
        if dialect == "mysql" and since_commit >= MARIADB_COMMIT_EVERY:
            await conn.commit()
            since_commit = 0


async def _copy_postgresql(conn: AsyncConnection, table: Table, rows: Iterable[Row]) -> None:
    raw = await conn.get_raw_connection()
    pg = raw.driver_connection
    assert pg is not None
    # COPY runs inside the transaction SQLAlchemy has open on this connection.
    await conn.exec_driver_sql("SELECT 1")
    await pg.copy_records_to_table(table.name, records=rows, columns=[c.name for c in table.columns])
