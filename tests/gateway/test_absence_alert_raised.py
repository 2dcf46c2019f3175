"""``absenceAlertRaised`` end to end (issue 12): attendance written into the education database as
Dapodik records it (the pupils' ``kehadiran`` rows and the day's line in its daily register, by
``demo.changes.AttendanceSimulator``), noticed by the configured change capture, detected with
``absenceAlerts``' own method, and delivered over GraphQL over SSE by a real gateway with the demo
policy, to the Smart Center analyst.

One gateway, one subscription, in order: a normal day raises nothing; an outbreak in two classes
(the same pupils off three school days running) raises one alert per class within a few seconds, each the alert the
same role's ``absenceAlerts`` query answers for that day; the outbreak's day recorded again
raises no second alert, and the day after it, still an outbreak, raises its own.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import tomllib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.access_config import demo_clients
from demo.changes import AttendanceSimulator, RecordedDay, ensure_attendance_register
from demo.gateway_config import EDUCATION_CHANGES, render_config
from gateway import GatewaySettings, create_app
from gateway.server import server_config

from ..conftest import _create_pg, _drop_pg, _mariadb, service_missing
from ..support.server import free_port, serve_in_thread
from ..support.sqlite import sqlite_file

#: Every leaf of an alert, and its school: what the event and the query are compared on.
ALERT = (
    "date rombel count threshold dayFactor expected method statuses samePupils baseline { mean sd days } school { npsn name }"
)
SUBSCRIPTION = f"subscription($r: RegionCode!) {{ absenceAlertRaised(region: $r) {{ {ALERT} }} }}"
QUERY = f"query($d: Date!, $r: RegionCode) {{ absenceAlerts(from: $d, to: $d, region: $r) {{ {ALERT} }} }}"
#: Time from the write to the event: the poll interval below, the detection, the delivery.
WITHIN_S = 5.0


def _serve(sqlite_backend: Any, tmp_path: Path, signals: dict[str, Any] | None = None) -> Any:
    """The demo gateway capturing Dapodik's register every 0.3 s (with ``[signals.absence]`` = ``signals``),
    its education database a copy of the suite's; yields (url, analyst's headers, education URL, NPSN, two classes)."""

    education_file = tmp_path / "dinas-pendidikan.sqlite"
    shutil.copy(sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///"), education_file)
    education = f"sqlite+aiosqlite:///{education_file}"
    asyncio.run(ensure_attendance_register(education))
    with sqlite_file(education_file) as conn:
        # The school with the largest classes: an outbreak there is unmistakable, a normal day is not one.
        npsn, first, second = _two_largest_classes(conn)
    raw = tomllib.loads(render_config(
        registry_url=sqlite_backend.registry_url, education_url=education, samples={"npsn": npsn}, access=True,
    ))
    capture = tomllib.loads(EDUCATION_CHANGES)["sources"]["dapodik"]["changes"]
    raw["sources"]["dapodik"]["changes"] = {**capture, "interval_s": 0.3}
    raw["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    if signals is not None:
        raw["signals"] = {"absence": signals}
    analyst = next(c for c in demo_clients(npsn) if c.role == "smart_center_analyst")
    headers = {"X-API-Key": analyst.key, "X-Satudata-Purpose": analyst.purpose}
    settings = GatewaySettings.from_dict(raw, base_dir=tmp_path)
    app = create_app(settings)
    uvicorn_config = server_config(app, settings, host="127.0.0.1", port=free_port(), log_level="warning")
    with serve_in_thread(uvicorn_config, name="absence-alert-gateway") as url:
        yield url, headers, education, npsn, (first, second)


def test_recorded_attendance_raises_each_alert_once_live(sqlite_backend: Any, tmp_path: Path) -> None:
    for url, headers, education, npsn, classes in _serve(sqlite_backend, tmp_path):
        asyncio.run(_alerts_arrive(url, headers, education, npsn, classes))


def test_live_alerts_use_the_configured_method(sqlite_backend: Any, tmp_path: Path) -> None:
    """``[signals.absence]`` holds for the subscription as for the query: with ``min_count = 10`` two
    days of 8 sick (a pupil or so more falling ill on their own) raise nothing, live or asked; two days of
    11 then raise the alert (the same 8 were off all four days: the cluster test holds)."""

    for url, headers, education, npsn, classes in _serve(sqlite_backend, tmp_path, {"min_count": 10}):
        asyncio.run(_configured_alert_arrives(url, headers, education, npsn, classes[0]))


@asynccontextmanager
async def _subscribed(
    url: str, headers: dict[str, str], education: str, npsn: str, seed: int
) -> AsyncIterator[tuple[httpx.AsyncClient, AttendanceSimulator, str, AsyncIterator[dict[str, Any]]]]:
    """A client subscribed to ``absenceAlertRaised`` in the kecamatan of ``npsn``'s school, and a
    simulator recording that school's days: (client, simulator, kecamatan, events)."""

    simulator = AttendanceSimulator(education, seed=seed)
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        school = (await _ask(client, url, "query($n: NPSN!) { school(npsn: $n) { region { code } } }", {"n": npsn}))["school"]
        kecamatan = ".".join(school["region"]["code"].split(".")[:3])
        body = {"query": SUBSCRIPTION, "variables": {"r": kecamatan}}
        try:
            async with client.stream("POST", f"{url}/graphql", json=body, headers={"Accept": "text/event-stream"}) as stream:
                assert stream.status_code == 200, await stream.aread()
                events = _events(stream)
                await asyncio.sleep(0.5)  # subscribed, and the capture's first poll has set its position
                yield client, simulator, kecamatan, events
        finally:
            await simulator.aclose()


async def _configured_alert_arrives(url: str, headers: dict[str, str], education: str, npsn: str, rombel: str) -> None:
    async with _subscribed(url, headers, education, npsn, seed=13) as (client, simulator, kecamatan, events):
        below = [await simulator.record(npsn, sick={rombel: 8}) for _ in range(2)]
        assert await _alerts_of(client, url, below[1].day, kecamatan) == []
        above = [await simulator.record(npsn, sick={rombel: 11}) for _ in range(2)]
        event = await _next(events)
        assert (event["date"], event["rombel"], event["count"]) == (above[1].day.isoformat(), rombel, 11)
        assert event["threshold"] >= 10


async def _alerts_arrive(url: str, headers: dict[str, str], education: str, npsn: str, classes: tuple[str, str]) -> None:
    async with _subscribed(url, headers, education, npsn, seed=12) as (client, simulator, kecamatan, events):
        normal = await simulator.record(npsn)
        assert max(normal.sick.values(), default=0) < 4, normal  # below any limit (min_count 4)
        assert await _alerts_of(client, url, normal.day, kecamatan) == []

        outbreak = {c: 9 for c in classes}
        days = [await simulator.record(npsn, sick=outbreak) for _ in range(3)]
        written = time.monotonic()
        raised = [await _next(events), await _next(events)]
        assert time.monotonic() - written < WITHIN_S
        # Only the outbreak's third day alerts (two days above the limit, the same pupils off three days
        # running): nothing came of the normal day nor of the outbreak's first two, whose notices came before.
        assert {(a["date"], a["rombel"]) for a in raised} == {(days[2].day.isoformat(), c) for c in classes}
        assert all(a["school"]["npsn"] == npsn and a["count"] >= 9 and a["samePupils"] >= 9 for a in raised)
        # The same alerts as the same role's query of that day: the one detection.
        assert _by_class(raised) == _by_class(await _alerts_of(client, url, days[2].day, kecamatan))

        again = await simulator.record(npsn, day=days[2].day, sick=outbreak)  # a corrected entry
        after = await simulator.record(npsn, sick={classes[0]: 9})
        written = time.monotonic()
        event = await _next(events)
        assert time.monotonic() - written < WITHIN_S
        # The day recorded again raised no second alert: the next event is the day after's.
        assert (event["date"], event["rombel"]) == (after.day.isoformat(), classes[0]), (again, event)
        assert _by_class([event]) == _by_class(await _alerts_of(client, url, after.day, kecamatan))
        assert _days(normal, *days, after) == sorted(_days(normal, *days, after))


def _two_largest_classes(conn: Any) -> tuple[str, str, str]:
    rows = conn.execute(
        "SELECT npsn, nama_rombel, count(*) FROM peserta_didik GROUP BY npsn, nama_rombel "
        "ORDER BY count(*) DESC, npsn, nama_rombel"
    ).fetchall()
    by_school: dict[str, list[str]] = {}
    for npsn, rombel, n in rows:
        if n >= 12:
            by_school.setdefault(npsn, []).append(rombel)
    npsn, classes = next((s, c) for s, c in sorted(by_school.items()) if len(c) >= 2)
    return npsn, classes[0], classes[1]


async def _events(stream: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in stream.aiter_lines():
        if line.startswith("data:") and line.removeprefix("data:").strip():
            yield json.loads(line.removeprefix("data:"))


async def _next(events: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    async with asyncio.timeout(WITHIN_S + 5):
        event = await anext(events)
    assert "errors" not in event, event
    return event["data"]["absenceAlertRaised"]


async def _ask(client: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = (await client.post(f"{url}/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in answer, answer
    return answer["data"]


async def _alerts_of(client: httpx.AsyncClient, url: str, day: date, region: str) -> list[dict[str, Any]]:
    return (await _ask(client, url, QUERY, {"d": day.isoformat(), "r": region}))["absenceAlerts"]


def _by_class(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["rombel"]: a for a in alerts}


def _days(*recorded: RecordedDay) -> list[date]:
    return [r.day for r in recorded]


def test_the_demo_config_captures_dapodiks_register_and_preloads_the_live_example(tmp_path: Path) -> None:
    """``satudata demo``'s config: Dapodik's daily register is polled for ``AttendanceDay`` notices
    (its file beside the config), and GraphiQL shows ``absenceAlertRaised`` beside ``absenceAlerts``,
    sent as the Smart Center analyst, as the discrepancy examples are sent with their roles."""

    from demo.access_config import EXAMPLE_ROLES
    from demo.gateway_config import ALERT_EXAMPLE, ALERT_RAISED_EXAMPLE, DISCREPANCY_EXAMPLES
    from gateway.events import ChangeEvents

    raw = tomllib.loads(render_config(
        registry_url="sqlite+aiosqlite:///r.sqlite", education_url="sqlite+aiosqlite:///e.sqlite",
        dinkes_url="http://127.0.0.1:9", samples={"npsn": "20500001"}, access=True, changes=True,
    ))
    capture = ChangeEvents.from_settings(raw, base_dir=tmp_path).captures["dapodik"]
    assert (capture.entity, capture.kind, capture.default_kind) == ("AttendanceDay", "poll", "RECORDED")
    assert capture.url == f"sqlite+aiosqlite:///{(tmp_path / 'e.sqlite').resolve()}"
    examples = {e["title"]: e for e in raw["graphiql"]["examples"]}
    roles = {c["role"]: c for c in raw["clients"]}
    for title, role in [(ALERT_EXAMPLE[0], "smart_center_analyst"), (ALERT_RAISED_EXAMPLE[0], "smart_center_analyst"),
                        *((e[0], EXAMPLE_ROLES[e[0]]) for e in DISCREPANCY_EXAMPLES)]:
        assert title in examples, title
        assert EXAMPLE_ROLES[title] == role and role in roles
        purpose = json.loads(examples[title]["headers"])["X-Satudata-Purpose"]
        assert purpose == next(c.purpose for c in demo_clients("20500001") if c.role == role)
    assert "absenceAlertRaised" in examples[ALERT_RAISED_EXAMPLE[0]]["query"]
    titles = list(examples)
    assert titles.index(ALERT_RAISED_EXAMPLE[0]) == titles.index(ALERT_EXAMPLE[0]) + 1


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
async def register_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An education database holding only Dapodik's daily register (empty), on each dialect."""

    name = f"satudata_test_register_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'register.sqlite'}"
    elif request.param == "postgresql":
        try:
            await _create_pg(name)
        except (OSError, ConnectionError) as exc:
            service_missing("PostgreSQL", exc)
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    else:
        try:
            await _mariadb(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        except (OSError, ConnectionError) as exc:
            service_missing("MariaDB", exc)
        url = f"mysql+aiomysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    try:
        await ensure_attendance_register(url)
        yield url
    finally:
        if request.param == "postgresql":
            await _drop_pg(name)
        elif request.param == "mariadb":
            await _mariadb(f"DROP DATABASE IF EXISTS `{name}`")


async def test_the_register_is_captured_day_by_day_from_its_first_line(register_url: str) -> None:
    """The capture ``satudata demo`` configures, on each dialect: a register still empty when capture
    starts announces its first line; a school's day is keyed ``{npsn}:{YYYY-MM-DD}`` in its desa (dotted);
    lines of one change time come in key order, none skipped or repeated across batches."""

    from sqlalchemy.ext.asyncio import create_async_engine

    from connectors.changes import CaptureSettings
    from connectors.changes.sql_poll import SqlChangePoller
    from demo.changes import rekap_kehadiran

    changes = {**tomllib.loads(EDUCATION_CHANGES)["sources"]["dapodik"]["changes"], "batch": 2}
    settings = CaptureSettings.from_source("dapodik", {"kind": "sql", "url": register_url, "changes": changes})
    assert settings is not None
    poller = SqlChangePoller(settings)
    engine = create_async_engine(register_url)
    at = datetime(2026, 12, 1, 7, 30, 0)
    lines = [  # written in this order; the same change time for the first three
        ("20500002", date(2026, 12, 1), at), ("20500001", date(2026, 12, 2), at), ("20500001", date(2026, 12, 1), at),
        ("20500001", date(2026, 12, 3), at + timedelta(seconds=1)),
    ]
    try:
        changes_so_far, position = await poller.poll(None)
        assert changes_so_far == [] and position is not None
        async with engine.begin() as conn:
            for npsn, day, when in lines:
                await conn.execute(rekap_kehadiran.insert().values(npsn=npsn, tanggal=day, kode_wilayah="3503082011", last_update=when))
        seen = []
        for _ in range(4):
            found, position = await poller.poll(position)
            seen.append([c.key for c in found])
        assert seen == [["20500001:2026-12-01", "20500001:2026-12-02"], ["20500002:2026-12-01", "20500001:2026-12-03"], [], []]
        again = SqlChangePoller(settings)  # a restart from the stored position
        try:
            assert (await again.poll(position))[0] == []
        finally:
            await again.aclose()
        async with engine.begin() as conn:
            await conn.execute(rekap_kehadiran.update().where(rekap_kehadiran.c.npsn == "20500002").values(last_update=at + timedelta(seconds=5)))
        (change,), _ = await poller.poll(position)  # the day recorded again: announced again
        assert (change.entity, change.key, change.kind, change.region) == ("AttendanceDay", "20500002:2026-12-01", "RECORDED", "35.03.08.2011")
        assert change.at.replace(tzinfo=None) == at + timedelta(seconds=5) and change.at.utcoffset() == timedelta(hours=7)
    finally:
        await poller.aclose()
        await engine.dispose()
