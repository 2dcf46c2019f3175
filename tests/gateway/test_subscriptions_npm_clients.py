"""Subscriptions as the real npm clients speak them: ``graphql-ws`` (graphql-transport-ws) and
``graphql-sse`` (distinct connections), against a gateway on a real socket over the demo sources.

``node_subscriptions/client.mjs`` runs the clients (pinned in ``node_subscriptions/package-lock.json``;
``make test`` installs them with ``npm ci``) and prints what each operation got, line by line.
Change capture is not part of these tests: a test writes the record into its own copy of the
registry database, as the OPD's system would, and publishes the ``Change`` notice into the
gateway's feed itself; the subscriber must then receive the record as read live under its policy.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from connectors import Change, ChangeFeed, ChangeSubscription, LocalChangeFeed
from demo.access_config import demo_clients
from demo.gateway_config import render_config
from gateway import GatewaySettings, create_app
from gateway.server import server_config

from ..conftest import Backend
from ..support.server import free_port, serve_in_thread
from ..support.sqlite import sqlite_file
from .audit_reading import audit_records
from .access.test_auth import AUDIENCE, ISSUER, IdentityProvider

NODE_DIR = Path(__file__).parent / "node_subscriptions"
WATULIMO = "35.03.08"
RESIDENT = "subscription($region: RegionCode!, $kinds: [ResidentChangeKind!]) { residentChanges(region: $region, kinds: $kinds) { kind at person { nik name } } }"


def node_or_fail() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "graphql-ws").is_dir():
        reason = "node and tests/gateway/node_subscriptions/node_modules are needed (npm ci --prefix tests/gateway/node_subscriptions)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the graphql-ws and graphql-sse clients against the gateway", pytrace=False)
        pytest.skip(reason)
    return node


class ServerLoopFeed(LocalChangeFeed):
    """The embedded feed, publishable from the test's thread: notices are handed to the server's loop."""

    loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self, entity: str) -> ChangeSubscription:
        self.loop = asyncio.get_running_loop()
        return super().subscribe(entity)

    def publish_now(self, *changes: Change) -> None:
        """Publish ``changes`` on the server's loop in one go (no loop turn between them)."""

        assert self.loop is not None, "nobody subscribed yet"

        async def burst() -> None:
            for change in changes:
                await self.publish(change)

        done: Future[None] = asyncio.run_coroutine_threadsafe(burst(), self.loop)
        done.result(timeout=5)

    def wait_for_subscribers(self, count: int, entity: str = "Person", timeout_s: float = 15.0, *, exactly: bool = False) -> None:
        deadline = time.monotonic() + timeout_s
        while self.subscriber_count(entity) != count if exactly else self.subscriber_count(entity) < count:
            assert time.monotonic() < deadline, f"{self.subscriber_count(entity)} of {count} subscribers after {timeout_s} s"
            time.sleep(0.05)


_numbers = iter(range(1, 1_000_000))


def change(key: str, kind: str, region: str, entity: str = "Person") -> Change:
    n = next(_numbers)
    return Change(entity=entity, key=key, kind=kind, region=region, at=datetime.now(timezone.utc), source="siak", id=f"test:{n}")


@dataclass
class World:
    url: str
    feed: ServerLoopFeed
    registry_db: Path
    audit_db: Path
    npsn: str
    idp: IdentityProvider

    def born(self, nik: str, name: str, region: str) -> None:
        """A birth written into the registry, as SIAK would: a copy of a resident's row with a new NIK and name."""

        with sqlite_file(self.registry_db) as conn:
            row = list(conn.execute("SELECT * FROM penduduk LIMIT 1").fetchone())
            columns = [d[1] for d in conn.execute("PRAGMA table_info(penduduk)")]
            values = dict(zip(columns, row, strict=True))
            values.update(nik=nik, nama_lengkap=name, kode_wilayah=region, status_penduduk="HIDUP")
            conn.execute(
                f"INSERT INTO penduduk ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})", list(values.values())
            )

    def resident_in(self, kecamatan: str, *, outside: bool = False) -> tuple[str, str]:
        """(NIK, desa) of a resident inside (or outside) a kecamatan."""

        condition = "NOT LIKE" if outside else "LIKE"
        with sqlite_file(self.registry_db) as conn:
            nik, desa = conn.execute(
                f"SELECT nik, kode_wilayah FROM penduduk WHERE kode_wilayah {condition} ? ORDER BY nik LIMIT 1", (kecamatan + ".%",)
            ).fetchone()
        return nik, desa


@pytest.fixture(scope="module")
def world(sqlite_backend: Backend, dinkes_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("subscriptions")
    folder.chmod(0o700)
    registry = folder / "dispendukcapil.sqlite"
    education = folder / "dinas-pendidikan.sqlite"
    # Our own copy of the OPD databases: these tests write into the registry.
    shutil.copy(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///"), registry)
    shutil.copy(sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///"), education)
    with sqlite_file(education) as conn:
        (npsn,) = conn.execute("SELECT npsn FROM sekolah ORDER BY npsn LIMIT 1").fetchone()
    idp = IdentityProvider()
    (folder / "jwks.json").write_text(json.dumps(idp.jwks()))
    config = tomllib.loads(
        render_config(
            registry_url=f"sqlite+aiosqlite:///{registry}", education_url=f"sqlite+aiosqlite:///{education}",
            dinkes_url=dinkes_api, samples={"npsn": npsn}, access=True,
        )
    )
    config["audit"] = {"path": str(folder / "audit.sqlite")}
    config["ratelimit"] = {"requests_per_minute": 6000, "burst": 1000}
    config["subscriptions"] = {"max_per_client": 3, "init_timeout_s": 1.5}
    config["auth"] = {"jwt": {"jwks_file": str(folder / "jwks.json"), "issuer": ISSUER, "audience": AUDIENCE,
                              "role_claim": "role", "attribute_claims": {"region": "kode_wilayah"}}}
    settings = GatewaySettings.from_dict(config)
    feed = ServerLoopFeed(max_queue=3)
    app = create_app(settings, changes=feed)
    uvicorn_config = server_config(app, settings, host="127.0.0.1", port=free_port(), log_level="warning")
    with serve_in_thread(uvicorn_config, name="subscriptions-gateway", stop_timeout_s=20) as url:
        yield World(f"{url}/graphql", feed, registry, folder / "audit.sqlite", npsn, idp)


CLIENTS = {c.role: c for c in demo_clients("20512345")}


def headers_of(role: str | None) -> dict[str, str]:
    if role is None:
        return {}
    client = CLIENTS[role]
    return {"X-API-Key": client.key, "X-Satudata-Purpose": client.purpose}


class Client:
    """client.mjs in a subprocess; its lines are read as they come."""

    def __init__(self, node: str, url: str, transport: str, query: str, *, variables: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, count: int = 1, events: int = 1, timeout_s: float = 20) -> None:
        command = [node, "client.mjs", "--transport", transport, "--url", url, "--query", query,
                   "--headers", json.dumps(headers or {}), "--count", str(count), "--events", str(events),
                   "--timeout", str(timeout_s)]
        if variables is not None:
            command += ["--variables", json.dumps(variables)]
        self.process = subprocess.Popen(command, cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next_line(self, predicate: Any = lambda line: True, timeout_s: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no such line within {timeout_s} s; saw {self.seen}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            assert "timeout" not in line, f"the client timed out; saw {self.seen}"
            if predicate(line):
                return line

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        _, stderr = self.process.communicate(timeout=10)
        self._reader.join(timeout=5)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def subscribed(world: World, node: str, transport: str, query: str, variables: dict[str, Any] | None,
               headers: dict[str, str], *, count: int = 1, events: int = 1, entity: str = "Person") -> Client:
    world.feed.wait_for_subscribers(0, entity, exactly=True)  # the previous test's subscriptions have ended
    client = Client(node, world.url, transport, query, variables=variables, headers=headers, count=count, events=events)
    try:
        world.feed.wait_for_subscribers(count, entity)
    except AssertionError as exc:
        client.close()
        raise AssertionError(f"{exc}; the client saw {client.seen + list(client.lines.queue)}") from None
    return client


def error_codes(line: dict[str, Any]) -> set[str]:
    error = line.get("error")
    if isinstance(error, list):
        return {e["extensions"]["code"] for e in error}
    payload = line.get("next") or {}
    return {e["extensions"]["code"] for e in payload.get("errors", [])}


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_a_birth_written_at_the_source_reaches_the_subscriber_read_live_and_audited(world: World, transport: str) -> None:
    node = node_or_fail()
    nik = "3503089901250001" if transport == "ws" else "3503089901250002"
    desa = world.resident_in(WATULIMO)[1]
    with subscribed(world, node, transport, RESIDENT, {"region": WATULIMO}, headers_of("registry_officer")) as client:
        world.born(nik, f"Bayi Baru {transport.upper()}", desa)
        world.feed.publish_now(change(nik, "BORN", desa))
        line = client.next_line(lambda l: "next" in l or "error" in l)
    event = line["next"]["data"]["residentChanges"]
    assert event["kind"] == "BORN" and event["person"] == {"nik": nik, "name": f"Bayi Baru {transport.upper()}"}
    assert "errors" not in line["next"]
    records = [r for r in audit_records(world.audit_db) if nik in r.persons]
    assert len(records) == 1
    assert records[0].client_id == "api-key:dukcapil-petugas" and {"Person.nik", "Person.name"} <= set(records[0].fields)


def test_a_masked_role_is_not_told_whose_change_it_is(world: World) -> None:
    """The analyst reads residents masked and their status withheld: a change's person is the resident whose
    status changed, so following it reads Person.status (resolvers.arguments.CHOSEN_BY). The event comes, with
    its time; its person is refused, the refusal on the record and the resident named in no entry."""

    node = node_or_fail()
    nik, desa = world.resident_in(WATULIMO)
    mark = len(audit_records(world.audit_db))
    with subscribed(world, node, "ws", RESIDENT, {"region": WATULIMO}, headers_of("smart_center_analyst")) as client:
        world.feed.publish_now(change(nik, "UPDATED", desa))
        line = client.next_line(lambda l: "next" in l or "error" in l)
    assert line["next"]["data"]["residentChanges"]["person"] is None
    assert [e["extensions"]["code"] for e in line["next"]["errors"] if e["path"][-1] == "person"] == ["FORBIDDEN"]
    records = audit_records(world.audit_db)[mark:]
    assert not any(nik in r.persons for r in records)
    assert any(r.role == "smart_center_analyst" and "ResidentChange.person" in r.refused for r in records)


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_anonymous_callers_are_refused_resident_changes(world: World, transport: str) -> None:
    node = node_or_fail()
    with Client(node, world.url, transport, RESIDENT, variables={"region": WATULIMO}) as client:
        # Refused when the subscription is made: its one result (as the reference servers send it), then complete.
        line = client.next_line(lambda l: "error" in l or "next" in l)
        client.next_line(lambda l: "complete" in l)
    assert error_codes(line) == {"FORBIDDEN"} and line["next"].get("data") is None
    assert world.feed.subscriber_count("Person") == 0
    refusal = audit_records(world.audit_db)[-1]
    assert refusal.client_id == "anonymous" and refusal.refused == ("Subscription.residentChanges",)


def test_the_kinds_filter_passes_only_the_kinds_asked_for(world: World) -> None:
    node = node_or_fail()
    nik, desa = world.resident_in(WATULIMO)
    variables = {"region": WATULIMO, "kinds": ["DIED"]}
    with subscribed(world, node, "ws", RESIDENT, variables, headers_of("registry_officer")) as client:
        world.feed.publish_now(change(nik, "UPDATED", desa), change(nik, "MOVED_OUT", desa), change(nik, "DIED", desa))
        line = client.next_line(lambda l: "next" in l or "error" in l)
    assert line["next"]["data"]["residentChanges"]["kind"] == "DIED"


def test_the_region_filter_takes_a_kecamatan_with_its_desa_and_nothing_else(world: World) -> None:
    node = node_or_fail()
    outside, outside_desa = world.resident_in(WATULIMO, outside=True)
    inside, inside_desa = world.resident_in(WATULIMO)
    assert inside_desa.startswith(WATULIMO + ".") and not outside_desa.startswith(WATULIMO + ".")
    with subscribed(world, node, "ws", RESIDENT, {"region": WATULIMO}, headers_of("registry_officer")) as client:
        world.feed.publish_now(change(outside, "UPDATED", outside_desa), change(inside, "UPDATED", inside_desa))
        line = client.next_line(lambda l: "next" in l or "error" in l)
    assert line["next"]["data"]["residentChanges"]["person"]["nik"] == inside


def test_a_row_scoped_role_is_not_told_of_residents_outside_its_area(world: World) -> None:
    node = node_or_fail()
    outside, outside_desa = world.resident_in(WATULIMO, outside=True)
    inside, inside_desa = world.resident_in(WATULIMO)
    token = world.idp.token(role="health_officer", kode_wilayah=WATULIMO)
    headers = {"Authorization": f"Bearer {token}", "X-Satudata-Purpose": "pelayanan-kesehatan"}
    with subscribed(world, node, "ws", RESIDENT, {"region": "35.03"}, headers) as client:
        world.feed.publish_now(change(outside, "UPDATED", outside_desa), change(inside, "UPDATED", inside_desa))
        line = client.next_line(lambda l: "next" in l or "error" in l)
    assert line["next"]["data"]["residentChanges"]["person"]["nik"] == inside


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_a_subscription_ends_when_its_bearer_token_expires(world: World, transport: str) -> None:
    node = node_or_fail()
    token = world.idp.token(role="registry_officer", exp=int(time.time()) + 3)
    headers = {"Authorization": f"Bearer {token}", "X-Satudata-Purpose": "administrasi-kependudukan"}
    started = time.monotonic()
    with subscribed(world, node, transport, RESIDENT, {"region": WATULIMO}, headers) as client:
        if transport == "ws":
            line = client.next_line(lambda l: "closed" in l or "error" in l)
            closed = line.get("closed") or line.get("error")
            assert closed["code"] == 4403 and "expired" in closed["reason"]
        else:
            line = client.next_line(lambda l: "next" in l)
            assert error_codes(line) == {"UNAUTHENTICATED"} and line["next"]["errors"][0]["extensions"]["reason"] == "EXPIRED"
            client.next_line(lambda l: "complete" in l)
    assert 1.5 < time.monotonic() - started < 15


def test_a_subscriber_that_falls_behind_is_ended_with_a_clear_code(world: World) -> None:
    node = node_or_fail()
    nik, desa = world.resident_in(WATULIMO)
    with subscribed(world, node, "ws", RESIDENT, {"region": WATULIMO}, headers_of("registry_officer"), events=50) as client:
        # More notices at once than the subscription's queue holds (max_queue = 3).
        world.feed.publish_now(*(change(nik, "UPDATED", desa) for _ in range(10)))
        line = client.next_line(lambda l: "error" in l)
    assert error_codes(line) == {"SUBSCRIBER_TOO_SLOW"}
    assert sum("next" in l for l in client.seen) <= 3


def test_subscriptions_per_client_are_capped(world: World) -> None:
    node = node_or_fail()
    headers = headers_of("registry_officer")
    with Client(node, world.url, "ws", RESIDENT, variables={"region": WATULIMO}, headers=headers, count=4) as client:
        line = client.next_line(lambda l: "error" in l)
        assert error_codes(line) == {"TOO_MANY_SUBSCRIPTIONS"}
        world.feed.wait_for_subscribers(3)
    assert sum("error" in l for l in client.seen) == 1


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_queries_run_over_the_subscription_transports_too(world: World, transport: str) -> None:
    node = node_or_fail()
    with Client(node, world.url, transport, "{ agencies { code } }") as client:
        line = client.next_line(lambda l: "next" in l or "error" in l)
        client.next_line(lambda l: "complete" in l)
    assert {a["code"] for a in line["next"]["data"]["agencies"]} == {"DISDUKCAPIL", "DINDIKPORA", "DINKES"}


def test_source_status_is_for_operators_only(world: World) -> None:
    node = node_or_fail()
    query = "subscription { sourceStatus { source state breaker consecutiveFailures } }"
    with Client(node, world.url, "ws", query, headers=headers_of("smart_center_analyst")) as client:
        assert error_codes(client.next_line(lambda l: "error" in l)) == {"FORBIDDEN"}
    with subscribed(world, node, "ws", query, None, headers_of("registry_officer"), entity="SourceStatus") as client:
        world.feed.publish_now(change("siak", "DOWN", "", entity="SourceStatus"))
        line = client.next_line(lambda l: "next" in l or "error" in l)
    # The breaker is read live: the source is in fact fine, which the event says beside the notice's state.
    assert line["next"]["data"]["sourceStatus"] == {"source": "siak", "state": "DOWN", "breaker": "CLOSED", "consecutiveFailures": 0}
