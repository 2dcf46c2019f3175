"""``load_dataset``: (re)create the OPD tables in real databases and bulk-load the rows.

Each dialect gets its fastest path that needs no extra dependency:

- PostgreSQL: ``COPY`` through asyncpg's ``copy_records_to_table`` on the raw connection;
- MariaDB/MySQL: ``executemany`` in chunks, which aiomysql rewrites into multi-row INSERTs;
  attendance (~95% of all rows) as multi-row INSERTs written out directly (see
  :func:`_attendance_inserts`);
- SQLite: ``executemany`` in chunks inside one transaction, journal and fsync off meanwhile.

While the driver inserts one chunk, the next is generated (SQLite works in aiosqlite's
thread, MariaDB on the server), and secondary indexes are built after the rows are in.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, MetaData, Table
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from . import progress
from .dataset import Dataset, Row
from .schema import education_metadata, registry_metadata

CHUNK = 5_000
#: MariaDB commits every this many rows, to keep the undo log of one transaction small.
MARIADB_COMMIT_EVERY = 200_000

#: (SQL, executemany parameters or ``None``, number of rows) for :func:`_execute_pipelined`.
Statement = tuple[str, "list[Row] | None", int]


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
    lane = Path(engine.url.database or url).stem  # the progress line's name for this database
    progress.step(lane, "creating tables")
    if engine.url.get_backend_name() == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        create_private_file(Path(engine.url.database or ""))
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
                progress.step(lane, name, total=ds.count(name))
                if dialect == "postgresql":
                    await _copy_postgresql(conn, table, progress.counted(lane, ds.rows(name)))
                elif dialect == "mysql" and name == "kehadiran":
                    await _execute_pipelined(conn, _attendance_inserts(ds), commit_every=MARIADB_COMMIT_EVERY, lane=lane)
                else:
                    commit_every = MARIADB_COMMIT_EVERY if dialect == "mysql" else 0
                    await _execute_pipelined(conn, _inserts(ds, table, dialect), commit_every=commit_every, lane=lane)
                await conn.commit()

            progress.step(lane, "indexes")
            for name in tables:
                for index in sorted(metadata.tables[name].indexes, key=lambda i: i.name or ""):
                    await conn.execute(CreateIndex(index))
            await conn.commit()
            if dialect == "sqlite":
                await conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
            progress.end(lane)
        if dialect == "postgresql":
            # Statistics for the planner, and the visibility map that lets a count be answered
            # from an index alone; VACUUM cannot run inside a transaction.
            async with engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                for name in tables:
                    await autocommit.exec_driver_sql(f"VACUUM ANALYZE {name}")
    finally:
        await engine.dispose()


def create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only (0600), or narrow it to that.

    The demo databases hold synthetic personal data, and a real OPD's must be kept so:
    SQLite would create the file under the umask (usually 0644), and its journal copies
    the file's mode. The gateway has ``gateway.private_files`` for the same job; the demo
    generator does not import the gateway.
    """

    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


async def _execute_pipelined(
    conn: AsyncConnection, statements: Iterable[Statement], *, commit_every: int = 0, lane: str = ""
) -> None:
    """Run the statements in order, preparing each while the driver still runs the one before;
    each chunk's rows count as done in progress ``lane``."""

    pending: asyncio.Future[Any] | None = None
    since_commit = 0
    try:
        for sql, params, rows in statements:  # advancing the iterator builds the next chunk
            if pending is not None:
                await pending
                pending = None
            if commit_every and since_commit >= commit_every:
                await conn.commit()
                since_commit = 0
            pending = asyncio.ensure_future(conn.exec_driver_sql(sql, params))
            await asyncio.sleep(0)  # let it reach the driver before the next chunk is built
            since_commit += rows
            progress.advance(lane, rows)
    finally:
        if pending is not None:
            await pending


def _inserts(ds: Dataset, table: Table, dialect: str) -> Iterator[Statement]:
    marker = "?" if dialect == "sqlite" else "%s"
    columns = ", ".join(c.name for c in table.columns)
    sql = f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join(marker for _ in table.columns)})"
    for chunk in _chunks(_rows(ds, table, dialect), CHUNK):
        yield sql, chunk, len(chunk)


def _attendance_inserts(ds: Dataset) -> Iterator[Statement]:
    """Multi-row INSERTs with the values written out: at 12 million rows, escaping one value
    at a time (what aiomysql's ``executemany`` does) costs more than the server's work.

    Safe without escaping because every value is generated: digits, an ISO date, one letter;
    the check below fails loudly should anything else ever reach it.
    """

    prefix = "INSERT INTO kehadiran (npsn, tanggal, nisn, status) VALUES "
    for chunk in _chunks(ds.kehadiran(day_value=date.isoformat), 4 * CHUNK):
        values = ",".join([f"('{npsn}','{day}','{nisn}','{status}')" for npsn, day, nisn, status in chunk])
        if values.count("'") != 8 * len(chunk) or "\\" in values or "%" in values:
            raise ValueError("attendance values must be plain digits, dates and status letters")
        yield prefix + values, None, len(chunk)


def _rows(ds: Dataset, table: Table, dialect: str) -> Iterable[Row]:
    if dialect != "sqlite":
        return ds.rows(table.name)
    # Bind dates as text in the format SQLAlchemy itself writes to SQLite (and reads back).
    if table.name == "kehadiran":
        return ds.kehadiran(day_value=date.isoformat)
    return _sqlite_values(ds.rows(table.name), table)


def _sqlite_values(rows: Iterable[Row], table: Table) -> Iterator[Row]:
    dates = [i for i, c in enumerate(table.columns) if isinstance(c.type, Date)]
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


async def _copy_postgresql(conn: AsyncConnection, table: Table, rows: Iterable[Row]) -> None:
    raw = await conn.get_raw_connection()
    pg = raw.driver_connection
    assert pg is not None
    # Open SQLAlchemy's transaction first, so COPY runs (and commits or rolls back) inside it.
    await conn.exec_driver_sql("SELECT 1")
    await pg.copy_records_to_table(table.name, records=rows, columns=[c.name for c in table.columns])
