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
