"""``PositionStore``: where each source's change capture stopped, kept durably.

A position is an opaque short text per source (a watermark ``(timestamp, key)``, an ETag ...)
written after the changes up to it were published, so a restarted gateway resumes there: no
change is missed, and none before it is published again. It is the only thing change capture
stores; no record values are kept.

The table lives in the gateway's own state database: a SQLite file by default
(``changes.sqlite`` beside the config), or PostgreSQL (``[events] positions_url``) when several
replicas must share it. It is created on first use.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, MetaData, String, Table, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_metadata = MetaData()
POSITIONS = Table(
    "satudata_change_positions",
    _metadata,
    Column("source", String(200), primary_key=True),
    Column("position", String(2000), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class PositionStore:
    """Read and write one position per source (``get``, ``put``); ``aclose`` when done."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._opening: asyncio.Lock | None = None

    async def _ready(self) -> AsyncEngine:
        if self._engine is not None:
            return self._engine
        # Every source's capture starts at once and asks first: one of them opens the store.
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._engine is None:
                engine = create_async_engine(self.url)
                try:
                    await _create_table(engine)
                except BaseException:
                    await engine.dispose()
                    raise
                self._engine = engine
        return self._engine

    async def get(self, source: str) -> str | None:
        """The stored position of ``source``, or ``None`` when it has none yet."""

        engine = await self._ready()
        async with engine.connect() as conn:
            row = (await conn.execute(select(POSITIONS.c.position).where(POSITIONS.c.source == source))).first()
        return None if row is None else str(row[0])

    async def put(self, source: str, position: str) -> None:
        """Replace ``source``'s position (an update, else an insert, in one transaction)."""

        engine = await self._ready()
        now = datetime.now(timezone.utc)
        async with engine.begin() as conn:
            updated = await conn.execute(
                POSITIONS.update().where(POSITIONS.c.source == source).values(position=position, updated_at=now)
            )
            if updated.rowcount == 0:
                await conn.execute(POSITIONS.insert().values(source=source, position=position, updated_at=now))

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


async def _create_table(engine: AsyncEngine) -> None:
    """Create the table unless it exists. Another process (a replica sharing the database) may
    create it between the check and the ``CREATE``; the second look then finds it."""

    for attempt in (1, 2):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda sync: _metadata.create_all(sync, checkfirst=True))
            return
        except DBAPIError:
            if attempt == 2:
                raise
