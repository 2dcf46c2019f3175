"""graphql-transport-ws's rules as its PROTOCOL.md states them, frame by frame with a plain WebSocket
client; and the subscription fields beside residentChanges (case reports, attendance)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..support.sqlite import sqlite_file
from .test_subscriptions_npm_clients import (  # noqa: F401 (the module's gateway fixture)
    CLIENTS,
    WATULIMO,
    World,
    change,
    headers_of,
    world,
)

PROTOCOL = "graphql-transport-ws"


def socket_url(world: World) -> str:
    return world.url.replace("http://", "ws://")


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection, timeout_s: float = 10) -> dict[str, Any]:
    import asyncio

    return json.loads(await asyncio.wait_for(ws.recv(), timeout_s))


async def closed_with(ws: ClientConnection, timeout_s: float = 10) -> tuple[int, str]:
    import asyncio

    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout_s)
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def initialised(world: World, role: str | None = "registry_officer") -> ClientConnection:
    ws = await connect(socket_url(world), subprotocols=[PROTOCOL])  # type: ignore[list-item]
    await send(ws, {"type": "connection_init", "payload": headers_of(role)})
    assert await receive(ws) == {"type": "connection_ack"}
    return ws


async def test_no_connection_init_in_time_closes_with_4408(world: World) -> None:
    async with connect(socket_url(world), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == PROTOCOL
        code, reason = await closed_with(ws)
    assert code == 4408 and "initialisation timeout" in reason


async def test_subscribe_before_the_ack_closes_with_4401(world: World) -> None:
    async with connect(socket_url(world), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        assert await closed_with(ws) == (4401, "Unauthorized")


async def test_a_second_connection_init_closes_with_4429(world: World) -> None:
    ws = await initialised(world)
    async with ws:
        await send(ws, {"type": "connection_init"})
        assert await closed_with(ws) == (4429, "Too many initialisation requests")


async def test_an_id_already_running_closes_with_4409(world: World) -> None:
    ws = await initialised(world)
    async with ws:
        subscribe = {"id": "same", "type": "subscribe",
                     "payload": {"query": "subscription { residentChanges(region: \"35.03.08\") { kind } }"}}
        await send(ws, subscribe)
        await send(ws, subscribe)
        assert await closed_with(ws) == (4409, "Subscriber for same already exists")


@pytest.mark.parametrize("frame", ["not json", json.dumps({"type": "hello"}), json.dumps([1, 2])])
async def test_a_message_outside_the_protocol_closes_with_4400(world: World, frame: str) -> None:
    ws = await initialised(world)
    async with ws:
        await ws.send(frame)
        code, reason = await closed_with(ws)
    assert code == 4400 and reason.startswith("Invalid message received")


async def test_a_credential_that_does_not_check_out_closes_with_4403(world: World) -> None:
    async with connect(socket_url(world), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "connection_init", "payload": {"headers": {"X-API-Key": "sd_demo_not_a_key"}}})
        code, reason = await closed_with(ws)
    assert code == 4403 and "API key" in reason


async def test_a_socket_without_the_subprotocol_is_refused_at_the_handshake(world: World) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(socket_url(world))
    assert refused.value.response.status_code == 403


async def test_a_page_of_another_site_may_not_open_a_socket(world: World) -> None:
    with pytest.raises(InvalidStatus):
        await connect(socket_url(world), subprotocols=[PROTOCOL], origin="https://evil.example")  # type: ignore[list-item,arg-type]


async def test_ping_is_answered_with_pong_and_a_document_that_does_not_validate_with_error(world: World) -> None:
    ws = await initialised(world)
    async with ws:
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}
        await send(ws, {"id": "v", "type": "subscribe", "payload": {"query": "subscription { noSuchField }"}})
        message = await receive(ws)
    assert message["type"] == "error" and message["id"] == "v"
    assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_complete_from_the_client_ends_the_subscription_at_the_feed(world: World) -> None:
    import asyncio

    ws = await initialised(world)
    async with ws:
        await send(ws, {"id": "c", "type": "subscribe",
                        "payload": {"query": "subscription { residentChanges(region: \"35.03.08\") { kind } }"}})
        for _ in range(100):
            if world.feed.subscriber_count("Person") == 1:
                break
            await asyncio.sleep(0.05)
        assert world.feed.subscriber_count("Person") == 1
        await send(ws, {"id": "c", "type": "complete"})
        for _ in range(100):
            if world.feed.subscriber_count("Person") == 0:
                break
            await asyncio.sleep(0.05)
        assert world.feed.subscriber_count("Person") == 0


async def wait_for(world: World, entity: str) -> None:
    import asyncio

    for _ in range(200):
        if world.feed.subscriber_count(entity) >= 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no subscriber of {entity}")


async def test_attendance_recorded_gives_the_days_totals_read_live(world: World) -> None:
    import asyncio

    education = str(world.registry_db).replace("dispendukcapil", "dinas-pendidikan")
    with sqlite_file(education) as conn:
        npsn, day, kode = conn.execute(
            "SELECT k.npsn, k.tanggal, s.kode_wilayah FROM kehadiran k JOIN sekolah s ON s.npsn = k.npsn LIMIT 1"
        ).fetchone()
        counts = dict(conn.execute("SELECT status, count(*) FROM kehadiran WHERE npsn = ? AND tanggal = ? GROUP BY status", (npsn, day)).fetchall())
    desa = f"{kode[:2]}.{kode[2:4]}.{kode[4:6]}.{kode[6:]}"
    ws = await initialised(world, "smart_center_analyst")
    async with ws:
        await send(ws, {"id": "a", "type": "subscribe", "payload": {
            "query": "subscription($r: RegionCode!) { attendanceRecorded(region: $r) { date school { npsn } totals { present sick permitted absent total } } }",
            "variables": {"r": desa[:8]}}})
        await wait_for(world, "AttendanceDay")
        await asyncio.to_thread(world.feed.publish_now, change(f"{npsn}:{date.fromisoformat(str(day)[:10])}", "RECORDED", desa, entity="AttendanceDay"))
        message = await receive(ws)
    event = message["payload"]["data"]["attendanceRecorded"]
    assert event["school"] == {"npsn": npsn} and event["date"] == str(day)[:10]
    assert event["totals"]["present"] == counts.get("H", 0) and event["totals"]["total"] == sum(counts.values())


async def test_case_reports_added_gives_the_line_read_live_from_the_health_office(world: World) -> None:
    import asyncio

    query = "query($c: RegionCode!) { region(code: $c) { caseReports(year: 2026, fromWeek: 1, toWeek: 5) { year week disease cases region { code } } } }"
    async with httpx.AsyncClient() as client:
        answer = (await client.post(world.url, json={"query": query, "variables": {"c": WATULIMO}})).json()
    line = answer["data"]["region"]["caseReports"][0]
    desa = line.pop("region")["code"]
    ws = await initialised(world, None)  # case reports are aggregates: public
    async with ws:
        await send(ws, {"id": "r", "type": "subscribe", "payload": {
            "query": "subscription($r: RegionCode!) { caseReportsAdded(region: $r) { report { year week disease cases } } }",
            "variables": {"r": WATULIMO}}})
        await wait_for(world, "CaseReport")
        key = f"{line['year']}:{line['week']}:{line['disease']}"
        await asyncio.to_thread(world.feed.publish_now, change(key, "ADDED", desa, entity="CaseReport"))
        message = await receive(ws)
    assert message["payload"] == {"data": {"caseReportsAdded": {"report": line}}}


async def test_a_subscription_deeper_than_the_limit_is_refused_before_its_stream_starts(world: World) -> None:
    nested = "nik " + "family { members { " * 10 + "nik" + " } }" * 10
    ws = await initialised(world)
    async with ws:
        await send(ws, {"id": "deep", "type": "subscribe", "payload": {
            "query": "subscription { residentChanges(region: \"35.03.08\") { person { %s } } }" % nested}})
        message = await receive(ws)
    assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert world.feed.subscriber_count("Person") == 0


async def test_a_subscribe_message_larger_than_a_post_body_may_be_ends_the_socket(world: World) -> None:
    ws = await initialised(world)
    async with ws:
        await send(ws, {"id": "big", "type": "subscribe", "payload": {"query": "{ __typename }", "extensions": {"pad": "x" * 2_000_000}}})
        code, _ = await closed_with(ws)
    assert code == 1009  # message too big


async def test_an_event_that_cannot_be_audited_is_withheld_and_ends_the_subscription(world: World, tmp_path: Any) -> None:
    import asyncio
    import tomllib
    import uuid

    import asyncpg

    from demo.gateway_config import render_config
    from gateway import GatewaySettings, create_app
    from gateway.server import server_config

    from ..conftest import PG_ADMIN, _create_pg, _drop_pg, service_missing
    from ..support.server import free_port, serve_in_thread
    from .test_subscriptions_npm_clients import ServerLoopFeed

    name = f"satudata_test_subaudit_{uuid.uuid4().hex[:8]}"
    try:
        await _create_pg(name)
    except (OSError, asyncpg.PostgresError) as exc:
        service_missing("PostgreSQL", exc)
    education = str(world.registry_db).replace("dispendukcapil", "dinas-pendidikan")
    config = tomllib.loads(render_config(registry_url=f"sqlite+aiosqlite:///{world.registry_db}",
                                         education_url=f"sqlite+aiosqlite:///{education}", samples={"npsn": world.npsn}, access=True))
    config["audit"] = {"url": PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}", "timeout_s": 2}
    config["ratelimit"] = {"requests_per_minute": 6000, "burst": 1000}
    settings = GatewaySettings.from_dict(config)
    feed = ServerLoopFeed()
    uvicorn_config = server_config(create_app(settings, changes=feed), settings, host="127.0.0.1", port=free_port(), log_level="critical")
    nik, desa = world.resident_in(WATULIMO)
    try:
        with serve_in_thread(uvicorn_config, name="subscriptions-audit-gateway", stop_timeout_s=20) as url:
            ws = await connect(url.replace("http://", "ws://") + "/graphql", subprotocols=[PROTOCOL])  # type: ignore[list-item]
            async with ws:
                await send(ws, {"type": "connection_init", "payload": headers_of("registry_officer")})
                assert (await receive(ws))["type"] == "connection_ack"
                await send(ws, {"id": "1", "type": "subscribe", "payload": {
                    "query": "subscription { residentChanges(region: \"35.03.08\") { kind person { nik name } } }"}})
                for _ in range(200):
                    if feed.subscriber_count("Person"):
                        break
                    await asyncio.sleep(0.05)
                await asyncio.to_thread(feed.publish_now, change(nik, "UPDATED", desa))
                first = await receive(ws)
                assert first["type"] == "next" and first["payload"]["data"]["residentChanges"]["person"]["nik"] == nik
                admin = await asyncpg.connect(PG_ADMIN)
                try:
                    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                    await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
                finally:
                    await admin.close()
                await asyncio.to_thread(feed.publish_now, change(nik, "DIED", desa))
                second = await receive(ws, timeout_s=20)
                assert second["type"] == "error" and second["payload"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
                assert nik not in json.dumps(second)
                for _ in range(100):
                    if not feed.subscriber_count("Person"):
                        break
                    await asyncio.sleep(0.05)
                assert feed.subscriber_count("Person") == 0
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        finally:
            await admin.close()
        await _drop_pg(name)


async def test_personal_data_needs_a_declared_purpose_as_for_a_query(world: World) -> None:
    ws = await connect(socket_url(world), subprotocols=[PROTOCOL])  # type: ignore[list-item]
    async with ws:
        await send(ws, {"type": "connection_init", "payload": {"X-API-Key": CLIENTS["registry_officer"].key}})
        assert await receive(ws) == {"type": "connection_ack"}
        await send(ws, {"id": "p", "type": "subscribe",
                        "payload": {"query": "subscription { residentChanges(region: \"35.03.08\") { kind } }"}})
        message = await receive(ws)
        assert await receive(ws) == {"id": "p", "type": "complete"}
    assert message["type"] == "next" and message["payload"]["errors"][0]["extensions"]["code"] == "PURPOSE_REQUIRED"
    assert world.feed.subscriber_count("Person") == 0
