"""Subscribers whose answers cannot differ share one resolution per event (issue 11's multiplexing).

Against a gateway on a real socket over the demo registry (the npm clients' module world): the
source round-trips an event costs are read from the gateway's own ``/metrics``
(``satudata_source_calls_total`` of the registry), and the audit log is read as an auditor would.
Several subscribers of one role and scope must cost what one costs, each still audited under its
own name; subscribers of different roles or row scopes must not share (each gets its own answer).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from .audit_reading import audit_records
from .test_subscriptions_npm_clients import (  # noqa: F401 (the module's gateway fixture)
    WATULIMO,
    World,
    change,
    headers_of,
    world,
)

PROTOCOL = "graphql-transport-ws"
DOCUMENT = "subscription($r: RegionCode!) { residentChanges(region: $r) { kind person { nik name } } }"
_CALLS = re.compile(r'^satudata_source_calls_total\{(?=[^}]*source="siak")(?=[^}]*outcome="ok")[^}]*\} ([0-9.e+]+)$', re.M)


def officer(world: World, subject: str) -> dict[str, str]:
    """A registry officer's token of its own subject (a client of its own), without a region attribute."""

    token = world.idp.token(role="registry_officer", sub=subject, kode_wilayah=None)
    return {"Authorization": f"Bearer {token}", "X-Satudata-Purpose": "administrasi-kependudukan"}


def health_officer(world: World, subject: str, region: str) -> dict[str, str]:
    """A health officer's token: the registry's residents only within ``region`` (a pushed row scope)."""

    token = world.idp.token(role="health_officer", sub=subject, kode_wilayah=region)
    return {"Authorization": f"Bearer {token}", "X-Satudata-Purpose": "pelayanan-kesehatan"}


async def registry_calls(world: World) -> float:
    """Round-trips to the registry so far, as the gateway's /metrics counts them."""

    async with httpx.AsyncClient() as client:
        text = (await client.get(world.url.rsplit("/graphql", 1)[0] + "/metrics")).text
    return sum(float(v) for v in _CALLS.findall(text))


async def receive(ws: ClientConnection, timeout_s: float = 15) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout_s))


async def subscriber(world: World, headers: dict[str, str], region: str = WATULIMO) -> ClientConnection:
    ws = await connect(world.url.replace("http://", "ws://"), subprotocols=[PROTOCOL])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": headers}))
    assert await receive(ws) == {"type": "connection_ack"}
    await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": DOCUMENT, "variables": {"r": region}}}))
    return ws


async def subscribers_at_the_feed(world: World, count: int, timeout_s: float = 15, *, exactly: bool = True) -> None:
    deadline = time.monotonic() + timeout_s
    while world.feed.subscriber_count("Person") != count if exactly else world.feed.subscriber_count("Person") < count:
        assert time.monotonic() < deadline, f"{world.feed.subscriber_count('Person')} of {count} subscribers at the feed"
        await asyncio.sleep(0.05)


async def one_event(world: World, sockets: list[ClientConnection], nik: str, desa: str) -> tuple[float, list[dict[str, Any]]]:
    """Publish one change of ``nik``; the registry round-trips it cost, and what each socket got."""

    await subscribers_at_the_feed(world, len(sockets), exactly=False)
    before = await registry_calls(world)
    await asyncio.to_thread(world.feed.publish_now, change(nik, "UPDATED", desa))
    messages = [await receive(ws) for ws in sockets]
    return await registry_calls(world) - before, messages


async def settled(world: World, before: float, expected: float, timeout_s: float = 10) -> float:
    """Registry round-trips since ``before`` once ``expected`` are done and a moment passed without more.

    For resolutions that announce nothing (a resident outside a subscriber's row scope), so no
    message tells when they are done.
    """

    deadline = time.monotonic() + timeout_s
    while await registry_calls(world) - before < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    return await registry_calls(world) - before


async def closed(world: World, sockets: list[ClientConnection]) -> None:
    for ws in sockets:
        await ws.close()
    await subscribers_at_the_feed(world, 0)


async def test_subscribers_of_one_role_and_scope_cost_one_read_per_event_and_are_each_audited(world: World) -> None:
    nik, desa = world.resident_in(WATULIMO)
    alone = [await subscriber(world, officer(world, "petugas-sendiri"))]
    try:
        one, [message] = await one_event(world, alone, nik, desa)
    finally:
        await closed(world, alone)
    assert message["payload"]["data"]["residentChanges"]["person"]["nik"] == nik
    assert one >= 1, "a resident's event is read live from the registry"

    subjects = [f"petugas-{n}" for n in range(5)]
    sockets = [await subscriber(world, officer(world, s)) for s in subjects]
    seen = len(audit_records(world.audit_db))
    try:
        five, messages = await one_event(world, sockets, nik, desa)
    finally:
        await closed(world, sockets)
    assert [m["payload"] for m in messages] == [messages[0]["payload"]] * 5
    assert messages[0]["payload"]["data"]["residentChanges"]["person"]["nik"] == nik
    assert five == one, f"five subscribers of one group cost {five} registry round-trips, one alone {one}"

    # Each subscriber's look at the resident is on the record under its own name, none merged.
    records = [r for r in audit_records(world.audit_db)[seen:] if nik in r.persons]
    assert sorted(r.client_id.rsplit(":", 1)[-1] for r in records) == subjects
    assert all(r.role == "registry_officer" and r.purpose == "administrasi-kependudukan" for r in records)
    assert all({"Person.nik", "Person.name"} <= set(r.fields) for r in records)
    # One execution answered them all: its request id ties the five entries together.
    assert len({r.request_id for r in records}) == 1


async def test_different_roles_and_row_scopes_do_not_share_a_resolution(world: World) -> None:
    nik, desa = world.resident_in(WATULIMO)
    elsewhere, elsewhere_desa = world.resident_in(WATULIMO, outside=True)
    regency = "35.03"
    alone = [await subscriber(world, officer(world, "petugas-sendiri"), regency)]
    try:
        one, _ = await one_event(world, alone, nik, desa)
    finally:
        await closed(world, alone)

    # Four groups, two subscribers each: the cost follows the groups, not the sockets.
    groups = {
        "officer": [await subscriber(world, officer(world, f"petugas-{n}"), regency) for n in range(2)],
        "analyst": [await subscriber(world, headers_of("smart_center_analyst"), regency) for _ in range(2)],
        "watulimo": [await subscriber(world, health_officer(world, f"bidan-{n}", WATULIMO), regency) for n in range(2)],
        "elsewhere": [
            await subscriber(world, health_officer(world, f"bidan-lain-{n}", elsewhere_desa[:8]), regency) for n in range(2)
        ],
    }
    announced = [ws for name, sockets in groups.items() if name != "elsewhere" for ws in sockets]
    everyone = [ws for sockets in groups.values() for ws in sockets]
    try:
        await subscribers_at_the_feed(world, len(everyone))
        before = await registry_calls(world)
        _, messages = await one_event(world, announced, nik, desa)
        # The other area's health officers read the resident too (and find nothing in their scope).
        cost = await settled(world, before, 4 * one)
        # They were not told of the Watulimo resident: their first event is their own area's.
        await asyncio.to_thread(world.feed.publish_now, change(elsewhere, "UPDATED", elsewhere_desa))
        theirs = [await receive(ws) for ws in groups["elsewhere"]]
    finally:
        await closed(world, everyone)
    people = [m["payload"]["data"]["residentChanges"]["person"] for m in messages]
    full = {"nik": nik, "name": people[0]["name"]}
    assert people[0:2] == [full, full], "the registry officer reads the resident in full"
    # The analyst, who reads residents masked and their status withheld, is not told whose change it is: the
    # change's person is the resident whose status changed, a read of Person.status (resolvers.arguments.CHOSEN_BY).
    assert people[2] is None and people[3] is None, "the analyst may not follow a change to its resident"
    refused = [[e["path"][-1] for e in m["payload"].get("errors", []) if e["extensions"]["code"] == "FORBIDDEN"] for m in messages[2:4]]
    assert refused == [["person"], ["person"]], refused
    assert people[4:6] == [full, full], "a health officer of Watulimo reads its resident"
    assert [m["payload"]["data"]["residentChanges"]["person"]["nik"] for m in theirs] == [elsewhere, elsewhere]
    assert cost == 4 * one, f"four groups (eight subscribers) cost {cost} registry round-trips, one group {one}"


def test_an_event_carrying_state_of_its_own_subscription_is_not_shared() -> None:
    """An event that holds more than its declared fields (a subscriber's own record of what it was
    sent, updated by its ``admits``) must be resolved for that subscriber alone."""

    from dataclasses import dataclass
    from datetime import datetime, timezone

    from gateway.subscriptions.groups import event_fields

    @dataclass
    class Noticed:
        key: str
        at: datetime

    at = datetime(2026, 12, 7, tzinfo=timezone.utc)
    assert event_fields(Noticed("3503", at)) == event_fields(Noticed("3503", at)) is not None
    assert event_fields(Noticed("3503", at)) != event_fields(Noticed("3504", at))
    stateful = Noticed("3503", at)
    stateful.watch = set()  # type: ignore[attr-defined]
    assert event_fields(stateful) is None
