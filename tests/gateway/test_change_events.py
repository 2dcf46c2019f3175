"""``gateway.events``: change capture built from the config, its webhook route, and the NATS switch."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connectors import LocalChangeFeed
from connectors.changes import JetStream, sign
from demo.changes import RegistrySimulator
from gateway.events import ChangeEvents

from ..conftest import service_missing
from ..connectors.change_registry import make_registry

SECRET = "the-dinkes-office-webhook-secret"


def config(registry: str, **events: Any) -> dict[str, Any]:
    return {
        "events": events,
        "sources": {
            "siak": {"kind": "sql", "agency": "DISDUKCAPIL", "url": registry, "changes": {
                "kind": "poll", "entity": "Person", "table": "penduduk", "key": "nik", "change": "tgl_update",
                "region": "kode_wilayah", "interval_s": 0.1, "status_column": "status_penduduk",
                "died_values": ["MATI"],
                "events": {"table": "mutasi", "key": "nik", "at_column": "tgl_mutasi", "from_column": "dari_wilayah",
                           "to_column": "ke_wilayah", "kind_column": "jenis", "kinds": {"LAHIR": "BORN"}},
            }},
            "dinkes": {"kind": "rest", "agency": "DINKES", "base_url": "http://dinkes.invalid", "changes": {
                "kind": "webhook", "entity": "CaseReport", "key": "id", "region": "kode_wilayah",
                "region_transform": "region_code_digits", "secret": SECRET,
            }},
        },
    }


async def test_config_builds_sql_polling_and_a_webhook_route(tmp_path: Path) -> None:
    registry = f"sqlite+aiosqlite:///{tmp_path / 'siak.sqlite'}"
    await make_registry(registry)
    events = ChangeEvents.from_settings(config(registry), base_dir=tmp_path)
    assert events.feed is None  # no nats_url: the gateway's embedded feed
    feed = LocalChangeFeed()
    people, reports = feed.subscribe("Person"), feed.subscribe("CaseReport")
    await events.start(feed)
    simulator = RegistrySimulator(registry, seed=5)
    app = Starlette(routes=events.routes())
    try:
        await asyncio.sleep(0.3)  # the first poll takes the starting position
        death = await simulator.step("death")
        change = await asyncio.wait_for(people.__anext__(), 2)
        assert (change.kind, change.key, change.source) == ("DIED", death.nik, "siak")
        assert (tmp_path / "changes.sqlite").is_file()  # the position, beside the config

        body = json.dumps({"id": "w49-1", "key": "k1", "region": "3503012001", "at": "2026-12-07T08:00:00"}).encode()
        stamp, nonce = str(int(time.time())), secrets.token_hex(16)
        headers = {"X-Satudata-Timestamp": stamp, "X-Satudata-Nonce": nonce,
                   "X-Satudata-Signature": sign(SECRET, stamp, nonce, body)}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            ok = await client.post("/changes/dinkes", content=body, headers=headers)
            assert (ok.status_code, ok.json()) == (200, {"accepted": 1, "duplicates": 0})
            report = await asyncio.wait_for(reports.__anext__(), 1)
            assert (report.kind, report.region) == ("ADDED", "35.03.01.2001")
            forged = await client.post("/changes/dinkes", content=body + b" ", headers={**headers, "X-Satudata-Nonce": secrets.token_hex(16)})
            assert forged.status_code == 401
            unknown = await client.post("/changes/siak", content=body, headers=headers)
            assert unknown.status_code == 404
    finally:
        await simulator.aclose()
        await events.aclose()
        await feed.aclose()


async def test_with_nats_url_the_feed_is_shared_through_jetstream(tmp_path: Path) -> None:
    stream = f"SATUDATA_TEST_{uuid.uuid4().hex[:10].upper()}"
    probe = JetStream("nats://127.0.0.1:4222", stream=stream)
    try:
        await asyncio.wait_for(probe.connect(), 5)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        await probe.aclose()
        service_missing("NATS JetStream", exc)
    registry = f"sqlite+aiosqlite:///{tmp_path / 'siak.sqlite'}"
    await make_registry(registry)
    events = ChangeEvents.from_settings(
        config(registry, nats_url="nats://127.0.0.1:4222", stream=stream, lease_ttl_s=2.0, renew_s=0.2),
        base_dir=tmp_path,
    )
    simulator = RegistrySimulator(registry, seed=6)
    try:
        assert events.feed is not None
        people = events.feed.subscribe("Person")
        await events.start(events.feed)
        await asyncio.sleep(0.5)
        birth = await simulator.step("birth")
        change = await asyncio.wait_for(people.__anext__(), 2)
        assert (change.kind, change.key) == ("BORN", birth.nik)
        assert not (tmp_path / "changes.sqlite").exists()  # positions live in the JetStream bucket
    finally:
        await simulator.aclose()
        await events.aclose()
        await probe.delete_all()
        await probe.aclose()


def test_a_webhook_source_without_a_secret_is_refused_at_start(tmp_path: Path) -> None:
    from core import ConfigError

    raw = config("sqlite+aiosqlite:///x")
    del raw["sources"]["dinkes"]["changes"]["secret"]
    with pytest.raises(ConfigError, match="secret"):
        ChangeEvents.from_settings(raw, base_dir=tmp_path)


RESIDENT_CHANGES = """subscription($region: RegionCode!) {
  residentChanges(region: $region) { kind person { nik name region { code } } }
}"""


def test_a_birth_written_into_the_registry_reaches_a_subscriber_through_the_gateway(
    sqlite_backend: Any, tmp_path: Path
) -> None:
    """The whole path as `satudata serve` runs it: the registry's own write, the configured poller,
    the gateway's feed, residentChanges over GraphQL over SSE, and the person read live."""

    import shutil
    import tomllib

    from demo.changes import ensure_mutation_table
    from demo.gateway_config import render_config
    from gateway import GatewaySettings, create_app
    from gateway.server import server_config

    from ..support.server import free_port, serve_in_thread

    registry_file = tmp_path / "dispendukcapil.sqlite"
    shutil.copy(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///"), registry_file)
    registry = f"sqlite+aiosqlite:///{registry_file}"
    asyncio.run(ensure_mutation_table(registry))
    raw = tomllib.loads(render_config(registry_url=registry, education_url=sqlite_backend.education_url))
    raw["sources"]["siak"]["changes"] = config(registry)["sources"]["siak"]["changes"]
    settings = GatewaySettings.from_dict(raw, base_dir=tmp_path)
    app = create_app(settings)
    uvicorn_config = server_config(app, settings, host="127.0.0.1", port=free_port(), log_level="warning")
    with serve_in_thread(uvicorn_config, name="change-capture-gateway") as url:
        asyncio.run(_birth_arrives(url, registry))
    assert (tmp_path / "changes.sqlite").exists()  # the poller's position, beside the config


async def _birth_arrives(url: str, registry: str) -> None:
    simulator = RegistrySimulator(registry, seed=11)
    try:
        # The desa of the birth decides the subscription's region: draw it first, on a copy.
        async with httpx.AsyncClient(timeout=20) as client:
            await asyncio.sleep(0.5)  # the poller's first round sets its position at the newest row
            birth = await simulator.step("birth")
            kecamatan = ".".join(birth.region.split(".")[:3])
            body = {"query": RESIDENT_CHANGES, "variables": {"region": kecamatan}}
            headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
            async with client.stream("POST", f"{url}/graphql", json=body, headers=headers) as stream:
                assert stream.status_code == 200
                lines = stream.aiter_lines()
                await asyncio.sleep(0.3)  # subscribed; the next birth in this kecamatan is the one we wait for
                second = await _birth_in(simulator, kecamatan)
                started = time.monotonic()
                async with asyncio.timeout(10):
                    async for line in lines:
                        if not line.startswith("data:"):
                            continue
                        event = json.loads(line.removeprefix("data:"))
                        assert "errors" not in event, event
                        change = event["data"]["residentChanges"]
                        if change["person"]["nik"] == second.nik:
                            break
                assert change["kind"] == "BORN"
                assert change["person"]["region"]["code"] == second.region
                assert time.monotonic() - started < 5
    finally:
        await simulator.aclose()


async def _birth_in(simulator: RegistrySimulator, kecamatan: str) -> Any:
    for _ in range(200):
        birth = await simulator.step("birth")
        if birth.region.startswith(kecamatan + "."):
            return birth
    raise AssertionError(f"no birth in {kecamatan} in 200 tries")


def test_the_demo_config_captures_the_registrys_changes_and_preloads_the_live_example(tmp_path: Path) -> None:
    import tomllib

    from demo.access_config import EXAMPLE_ROLES
    from demo.gateway_config import RESIDENT_CHANGES_EXAMPLE, render_config

    plain = tomllib.loads(render_config(registry_url="sqlite+aiosqlite:///r.sqlite", education_url="sqlite+aiosqlite:///e.sqlite"))
    assert "changes" not in plain["sources"]["siak"]  # tests and the benchmark poll nothing
    raw = tomllib.loads(
        render_config(registry_url="sqlite+aiosqlite:///r.sqlite", education_url="sqlite+aiosqlite:///e.sqlite", changes=True)
    )
    events = ChangeEvents.from_settings(raw, base_dir=tmp_path)
    capture = events.captures["siak"]  # Dapodik's register too: tests/gateway/test_absence_alert_raised.py
    assert (capture.entity, capture.kind) == ("Person", "poll")
    # The registry file is the one beside the config, as the source's connector reads it, not one
    # that SQLite would create empty in whatever folder the gateway was started from.
    assert capture.url == f"sqlite+aiosqlite:///{(tmp_path / 'r.sqlite').resolve()}"
    title = RESIDENT_CHANGES_EXAMPLE[0]
    assert title in [e["title"] for e in raw["graphiql"]["examples"]]
    assert EXAMPLE_ROLES[title] == "registry_officer"
