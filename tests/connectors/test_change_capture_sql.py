"""SQL change capture: watermark polling finds inserts and updates with the right kinds, and a
restarted capture resumes from its stored position without losing or repeating a change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.changes import Change, LocalChangeFeed
from connectors.changes.capture import ChangeCapture
from connectors.changes.positions import PositionStore
from connectors.changes.sql_poll import SqlChangePoller
from demo.changes import RegistrySimulator
from demo.schema import penduduk

from ..conftest import _create_pg, _drop_pg, service_missing
from .change_registry import DESA, Clock, make_registry, resident, resident_capture


def drain(subscription: object) -> list[Change]:
    queue = subscription._queue  # type: ignore[attr-defined]
    out = []
    while not queue.empty():
        item = queue.get_nowait()
        if item is not None:
            out.append(item)
    return out


async def capture_for(url: str, state: Path, **options: object) -> tuple[ChangeCapture, LocalChangeFeed]:
    settings = resident_capture(url, **options)  # type: ignore[arg-type]
    feed = LocalChangeFeed(max_queue=1000)
    capture = ChangeCapture(
        feed, {"siak": SqlChangePoller(settings)}, PositionStore(f"sqlite+aiosqlite:///{state}"),
        intervals={"siak": settings.interval_s}, batch_sizes={"siak": settings.batch},
    )
    return capture, feed


@pytest.fixture
async def sqlite_registry(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'siak.sqlite'}"
    await make_registry(url)
    return url


@pytest.fixture
async def postgresql_registry() -> object:
    name = f"satudata_test_changes_{uuid.uuid4().hex[:8]}"
    try:
        await _create_pg(name)
    except (OSError, Exception) as exc:  # noqa: BLE001 - any failure to reach the server
        service_missing("PostgreSQL", exc)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await make_registry(url)
        yield url
    finally:
        await _drop_pg(name)


async def simulate(url: str, start: datetime, events: list[str]) -> list[object]:
    simulator = RegistrySimulator(url, seed=7, clock=Clock(start))
    try:
        return [await simulator.step(e) for e in events]
    finally:
        await simulator.aclose()


async def check_kinds_and_resume(url: str, state: Path) -> None:
    capture, feed = await capture_for(url, state)
    subscription = feed.subscribe("Person")
    try:
        assert await capture.poll_once("siak") == 0  # the first poll only takes the table's newest row as position
        done = await simulate(url, datetime(2026, 12, 7, 8, 0), ["birth", "death", "move", "correction"])
        assert await capture.poll_once("siak") == 5
        got = [(c.kind, c.key, c.region) for c in drain(subscription)]
        birth, death, move, correction = done
        assert got == [
            ("BORN", birth.nik, birth.region),  # type: ignore[attr-defined]
            ("DIED", death.nik, death.region),  # type: ignore[attr-defined]
            ("MOVED_OUT", move.nik, move.old_region),  # type: ignore[attr-defined]
            ("MOVED_IN", move.nik, move.region),  # type: ignore[attr-defined]
            ("UPDATED", correction.nik, correction.region),  # type: ignore[attr-defined]
        ]
        assert move.old_region != move.region  # type: ignore[attr-defined]
        assert await capture.poll_once("siak") == 0  # nothing twice
    finally:
        await capture.aclose()

    # Changes while no capture runs, then a new capture on the same position store: exactly those.
    later = await simulate(url, datetime(2026, 12, 7, 9, 0), ["correction", "death", "birth"])
    capture, feed = await capture_for(url, state)
    subscription = feed.subscribe("Person")
    try:
        assert await capture.poll_once("siak") == 3
        assert [(c.kind, c.key) for c in drain(subscription)] == [
            ("UPDATED", later[0].nik), ("DIED", later[1].nik), ("BORN", later[2].nik),  # type: ignore[attr-defined]
        ]
    finally:
        await capture.aclose()


async def test_polling_finds_each_kind_and_resumes_after_restart_sqlite(sqlite_registry: str, tmp_path: Path) -> None:
    await check_kinds_and_resume(sqlite_registry, tmp_path / "state.sqlite")


async def test_polling_finds_each_kind_and_resumes_after_restart_postgresql(
    postgresql_registry: str, tmp_path: Path
) -> None:
    await check_kinds_and_resume(postgresql_registry, tmp_path / "state.sqlite")


async def test_rows_sharing_one_timestamp_are_each_published_once_across_small_batches(
    sqlite_registry: str, tmp_path: Path
) -> None:
    capture, feed = await capture_for(sqlite_registry, tmp_path / "state.sqlite", batch=2)
    subscription = feed.subscribe("Person")
    try:
        await capture.poll_once("siak")
        tied = datetime(2026, 12, 7, 10, 0, 0)
        engine = create_async_engine(sqlite_registry)
        try:
            async with engine.begin() as conn:  # one transaction touches five rows at the same second
                niks = sorted((await conn.execute(penduduk.select().limit(5))).scalars())
                await conn.execute(update(penduduk).where(penduduk.c.nik.in_(niks)).values(tgl_update=tied))
        finally:
            await engine.dispose()
        assert await capture.poll_once("siak") == 5
        assert sorted(c.key for c in drain(subscription)) == niks
        assert await capture.poll_once("siak") == 0
    finally:
        await capture.aclose()


async def test_without_an_events_table_the_rows_own_columns_tell_the_kind(sqlite_registry: str, tmp_path: Path) -> None:
    capture, feed = await capture_for(sqlite_registry, tmp_path / "state.sqlite", events=False)
    subscription = feed.subscribe("Person")
    try:
        await capture.poll_once("siak")
        now = datetime(2026, 12, 7, 11, 0, 0)
        engine = create_async_engine(sqlite_registry)
        try:
            async with engine.begin() as conn:
                await conn.execute(penduduk.insert(), [
                    resident("3503015512260001", DESA[3], born=now.date() - timedelta(days=3), updated=now),
                    resident("3503011501800001", DESA[3], born=now.date().replace(year=1980), updated=now),
                    resident("3503011601800001", DESA[4], born=now.date().replace(year=1980), status="MATI",
                             updated=now + timedelta(seconds=1)),
                    resident("3503011701800001", DESA[4], born=now.date().replace(year=1980), status="PINDAH",
                             updated=now + timedelta(seconds=2)),
                ])
        finally:
            await engine.dispose()
        assert await capture.poll_once("siak") == 4
        assert [(c.kind, c.key, c.region) for c in drain(subscription)] == [
            ("UPDATED", "3503011501800001", DESA[3]),  # same second: ordered by key
            ("BORN", "3503015512260001", DESA[3]),
            ("DIED", "3503011601800001", DESA[4]),
            ("MOVED_OUT", "3503011701800001", DESA[4]),
        ]
    finally:
        await capture.aclose()


async def test_a_change_id_is_the_same_on_a_second_reader(sqlite_registry: str, tmp_path: Path) -> None:
    """Two replicas polling the same rows from the same position name each change alike (broker dedupe)."""

    settings = resident_capture(sqlite_registry)
    first, second = SqlChangePoller(settings), SqlChangePoller(settings)
    try:
        _, position = await first.poll(None)
        await simulate(sqlite_registry, datetime(2026, 12, 7, 12, 0), ["move", "birth"])
        a, _ = await first.poll(position)
        b, _ = await second.poll(position)
        assert [c.id for c in a] == [c.id for c in b]
        assert len({c.id for c in a}) == 3  # the move's two notices differ
        assert all(c.at.tzinfo is not None for c in a)
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_failing_source_turns_down_and_back_up(sqlite_registry: str, tmp_path: Path) -> None:
    capture, feed = await capture_for(sqlite_registry, tmp_path / "state.sqlite")
    seen: list[str] = []
    capture.status_observers.append(lambda s: seen.append(s.state))
    broken = SqlChangePoller(resident_capture(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'nothing.sqlite'}"))
    good = capture.pollers["siak"]
    capture.pollers["siak"] = broken
    capture.start()
    try:
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == ["down"]
        assert capture.status()[0].error  # the exception's class, never a row
        capture.pollers["siak"] = good
        for _ in range(50):
            if seen[-1] == "up":
                break
            await asyncio.sleep(0.05)
        assert seen == ["down", "up"]
    finally:
        await broken.aclose()
        await capture.aclose()


async def test_listen_notify_wakes_the_poll_at_once_postgresql(postgresql_registry: str, tmp_path: Path) -> None:
    """The OPD's trigger (docs/sql/notify_trigger.sql) notifies; the capture, whose poll interval is
    a minute, publishes the change within a second of the commit."""

    import asyncpg

    from connectors.changes.notify import PgNotifyListener, asyncpg_dsn

    trigger = (Path(__file__).resolve().parents[2] / "docs" / "sql" / "notify_trigger.sql").read_text()
    connection = await asyncpg.connect(asyncpg_dsn(postgresql_registry))
    try:
        await connection.execute(trigger)
    finally:
        await connection.close()
    capture, feed = await capture_for(postgresql_registry, tmp_path / "state.sqlite", kind="notify")
    capture.intervals["siak"] = 60.0
    capture.renew_s = 60.0
    await capture.poll_once("siak")  # the starting position
    listener = PgNotifyListener(postgresql_registry, "satudata_changes", lambda: capture.wake("siak"))
    subscription = feed.subscribe("Person")
    capture.start()
    listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        await asyncio.sleep(0.3)  # the poll the listener asks for on connecting has run
        notices = listener.notices
        (birth,) = await simulate(postgresql_registry, datetime.now(), ["birth"])
        change = await asyncio.wait_for(subscription.__anext__(), 1.5)
        assert (change.kind, change.key) == ("BORN", birth.nik)  # type: ignore[attr-defined]
        assert listener.notices > notices
    finally:
        await listener.aclose()
        await capture.aclose()
