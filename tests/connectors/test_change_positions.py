"""``PositionStore`` is created on first use, and first use may come from every source at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.changes.positions import PositionStore


async def test_every_source_asking_at_once_on_a_new_store_gets_its_position(tmp_path: Path) -> None:
    """The demo's six sources start their capture together: each looked for the table, found none,
    and created it, and all but one failed with "table satudata_change_positions already exists"
    (a warning and a retry at every start)."""

    store = PositionStore(f"sqlite+aiosqlite:///{tmp_path / 'changes.sqlite'}")
    try:
        sources = [f"source{n}" for n in range(8)]
        assert await asyncio.gather(*(store.get(s) for s in sources)) == [None] * len(sources)
        await asyncio.gather(*(store.put(s, f"position of {s}") for s in sources))
        assert await asyncio.gather(*(store.get(s) for s in sources)) == [f"position of {s}" for s in sources]
    finally:
        await store.aclose()


async def test_a_store_opened_twice_on_one_database_shares_the_table(tmp_path: Path) -> None:
    """Two replicas (two stores) on one database, each creating the table on first use."""

    url = f"sqlite+aiosqlite:///{tmp_path / 'changes.sqlite'}"
    first, second = PositionStore(url), PositionStore(url)
    try:
        await asyncio.gather(first.put("siak", "a"), second.put("dapodik", "b"))
        assert (await second.get("siak"), await first.get("dapodik")) == ("a", "b")
    finally:
        await first.aclose()
        await second.aclose()
