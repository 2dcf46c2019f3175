"""REST change capture: conditional polling of the Dinkes SKDR list (ETag), and the signed webhook."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx
import pytest

from connectors.changes import LocalChangeFeed
from connectors.changes.rest_poll import RestChangePoller
from connectors.changes.settings import CaptureSettings
from connectors.changes.webhook import NONCE, SIGNATURE, TIMESTAMP, WebhookReceiver, sign
from core import ConfigError

SECRET = "a-webhook-secret-of-the-dinkes-office"


def skdr_capture(facility: str, from_week: int) -> CaptureSettings:
    settings = CaptureSettings.from_source("dinkes", {"kind": "rest", "base_url": "http://dinkes", "changes": {
        "kind": "poll", "entity": "CaseReport", "path": "/api/v1/skdr/laporan-mingguan", "records": "data",
        "key": ["kode_faskes", "kode_wilayah", "kode_penyakit", "minggu_epid"], "change": "minggu_epid",
        "region": "kode_wilayah", "region_transform": "region_code_digits",
        "params": {"tahun": "2026", "kode_faskes": facility, "minggu_mulai": str(from_week), "per_page": "100"},
    }})
    assert settings is not None
    return settings


async def test_rest_polling_asks_with_the_etag_and_publishes_only_new_reports(dataset: Any) -> None:
    from demo.apis import create_dinkes_app

    app = create_dinkes_app(dataset)
    data = app.state.data
    facility = data.skdr[-1]["kode_faskes"]
    latest = max((r for r in data.skdr if r["kode_faskes"] == facility), key=lambda r: r["minggu_epid"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dinkes") as client:
        poller = RestChangePoller(skdr_capture(facility, latest["minggu_epid"]), client=client)
        changes, position = await poller.poll(None)
        assert changes == [] and position is not None and json.loads(position)["etag"]
        assert poller.last_status == 200

        changes, unchanged = await poller.poll(position)
        assert (changes, unchanged, poller.last_status) == ([], position, 304)  # nothing new: no body sent

        new_report = dict(latest, minggu_epid=latest["minggu_epid"] + 1, kode_penyakit="A", jumlah_kasus=3)
        data.skdr.append(new_report)
        changes, after = await poller.poll(position)
        assert poller.last_status == 200
        assert [(c.entity, c.kind, c.key, c.region) for c in changes] == [(
            "CaseReport", "ADDED",
            f"{facility}:{new_report['kode_wilayah']}:A:{new_report['minggu_epid']}",
            ".".join((new_report["kode_wilayah"][:2], new_report["kode_wilayah"][2:4],
                      new_report["kode_wilayah"][4:6], new_report["kode_wilayah"][6:])),
        )]
        again, _ = await poller.poll(after)
        assert again == [] and poller.last_status == 304
        await poller.aclose()


def webhook_settings(tolerance_s: float = 300) -> CaptureSettings:
    settings = CaptureSettings.from_source("dinkes", {"kind": "rest", "base_url": "http://dinkes", "changes": {
        "kind": "webhook", "entity": "CaseReport", "key": "id", "region": "kode_wilayah",
        "region_transform": "region_code_digits", "secret": SECRET, "tolerance_s": tolerance_s,
    }})
    assert settings is not None
    return settings


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None, nonce: str | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    nonce = nonce or secrets.token_hex(16)
    return {TIMESTAMP: timestamp, NONCE: nonce, SIGNATURE: sign(secret, timestamp, nonce, body)}


BODY = json.dumps({"events": [
    {"id": "skdr-2026-49-1", "key": "P3503010101:3503012001:A:49", "kind": "ADDED", "region": "3503012001",
     "at": "2026-12-07T08:00:00+07:00", "jumlah_kasus": 4},
]}).encode()


async def test_a_signed_delivery_is_published_once_and_a_replay_is_refused() -> None:
    feed = LocalChangeFeed()
    receiver = WebhookReceiver(webhook_settings(), feed)
    subscription = feed.subscribe("CaseReport")
    headers = signed(BODY)
    answer = await receiver.receive(BODY, headers)
    assert (answer.status, dict(answer.body)) == (200, {"accepted": 1, "duplicates": 0})
    change = await subscription.__anext__()
    assert (change.key, change.kind, change.region, change.id) == (
        "P3503010101:3503012001:A:49", "ADDED", "35.03.01.2001", "dinkes/skdr-2026-49-1")

    replay = await receiver.receive(BODY, headers)  # the same request again: the same nonce
    assert replay.status == 401 and "nonce" in replay.body["reason"]
    retry = await receiver.receive(BODY, signed(BODY))  # the sender's retry, freshly signed
    assert (retry.status, dict(retry.body)) == (200, {"accepted": 0, "duplicates": 1})
    assert feed.subscriber_count("CaseReport") == 1
    assert subscription._queue.empty()  # type: ignore[attr-defined]  # nothing published twice


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (lambda: signed(BODY, secret="another-secret-entirely"), "signature"),
        (lambda: signed(BODY + b" "), "signature"),  # a body changed after signing
        (lambda: signed(BODY, at=time.time() - 301), "timestamp"),
        (lambda: {k: v for k, v in signed(BODY).items() if k != NONCE}, "missing"),
        (lambda: signed(BODY, nonce="short"), "nonce"),
    ],
    ids=["wrong-secret", "changed-body", "old-timestamp", "no-nonce", "short-nonce"],
)
async def test_a_delivery_that_fails_a_check_is_refused_with_401_and_publishes_nothing(headers: Any, reason: str) -> None:
    feed = LocalChangeFeed()
    receiver = WebhookReceiver(webhook_settings(), feed)
    subscription = feed.subscribe("CaseReport")
    answer = await receiver.receive(BODY, headers())
    assert answer.status == 401 and reason in answer.body["reason"]
    assert subscription._queue.empty()  # type: ignore[attr-defined]


def test_a_webhook_needs_a_secret_of_some_length() -> None:
    with pytest.raises(ConfigError, match="too short"):
        CaptureSettings.from_source("dinkes", {"kind": "rest", "base_url": "http://x", "changes": {
            "kind": "webhook", "entity": "CaseReport", "key": "id", "region": "r", "secret": "short"}})
    with pytest.raises(ConfigError, match="kind"):
        CaptureSettings.from_source("siak", {"kind": "sql", "url": "sqlite+aiosqlite:///x", "changes": {
            "kind": "webhook", "entity": "Person", "key": "nik", "region": "r"}})
