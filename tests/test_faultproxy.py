"""The fault proxy itself, against a real HTTP server (Starlette on uvicorn) and the machine's PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from .conftest import service_missing
from .support.faultproxy import (
    FaultProxy,
    Mode,
    ThreadedFaultProxy,
    blackhole,
    cut_after,
    delay,
    garbage_bytes,
    garbage_http_json,
    parse_fault,
    passthrough,
    refuse,
    start_in_thread,
)
from .support.server import serve_in_thread

PG = ("127.0.0.1", 5432)
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROWS = {"ok": True, "rows": [{"id": i, "nama": f"Desa {i}"} for i in range(30)]}
BIG = b"x" * 200_000


def _app():  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def data(request):  # type: ignore[no-untyped-def]
        return JSONResponse(ROWS)

    async def big(request):  # type: ignore[no-untyped-def]
        return Response(BIG, media_type="application/octet-stream")

    return Starlette(routes=[Route("/data", data), Route("/big", big)])


@pytest.fixture(scope="module")
def http_upstream() -> Iterator[str]:
    """A real HTTP API: Starlette on uvicorn in a thread, on a free port."""

    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app(), log_level="warning", access_log=False, lifespan="off", ws="none", http="h11")
    try:
        with serve_in_thread(config, name="upstream-http", sockets=[sock], start_timeout_s=10) as url:
            yield url
    finally:
        sock.close()


@pytest.fixture(scope="module")
def postgres() -> tuple[str, int]:
    try:
        socket.create_connection(PG, timeout=2).close()
    except OSError as exc:
        service_missing("PostgreSQL", exc)
    return PG


def _hostport(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    assert parsed.host and parsed.port
    return parsed.host, parsed.port


@pytest.fixture
async def proxy(http_upstream: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(*_hostport(http_upstream)) as p:
        yield p
        assert p.errors == []


async def eventually(predicate, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def _client(proxy: FaultProxy | ThreadedFaultProxy, upstream: str, **kw) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(base_url=proxy.url_for(upstream), **kw)


# -- pass ------------------------------------------------------------------------------------


async def test_pass_forwards_and_counts(proxy: FaultProxy, http_upstream: str) -> None:
    assert proxy.address == ("127.0.0.1", proxy.port) and proxy.mode == passthrough()
    async with _client(proxy, http_upstream) as client:
        first = await client.get("/data")
        second = await client.get("/big")
        assert first.status_code == 200 and first.json() == ROWS
        assert second.content == BIG
        assert proxy.connections == 1 and proxy.active == 1  # one keep-alive connection carried both
        assert proxy.bytes_up > 60 and proxy.bytes_down > len(BIG)
    await eventually(lambda: proxy.active == 0)


# -- refuse / reset --------------------------------------------------------------------------


async def test_refuse_is_prompt_and_reversible(proxy: FaultProxy, http_upstream: str) -> None:
    port = proxy.port
    proxy.set_mode("refuse")
    started = time.monotonic()
    async with _client(proxy, http_upstream) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/data", timeout=5)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*proxy.address)
    assert time.monotonic() - started < 1.0
    assert proxy.connections == 0

    proxy.set_mode(passthrough())  # listens again, on the same port
    assert proxy.port == port
    async with _client(proxy, http_upstream) as client:
        assert (await client.get("/data")).json() == ROWS


async def test_refuse_leaves_open_connections_until_dropped(proxy: FaultProxy, http_upstream: str) -> None:
    async with _client(proxy, http_upstream) as client:
        await client.get("/data")
        proxy.set_mode(refuse())
        assert (await client.get("/data")).json() == ROWS  # the pooled connection still works
        assert proxy.drop_connections() == 1
        with pytest.raises(httpx.ConnectError):  # the pool reconnects, and that is refused
            await client.get("/data", timeout=5)


async def test_reset_gives_prompt_connection_error(proxy: FaultProxy, http_upstream: str) -> None:
    proxy.set_mode("reset")
    started = time.monotonic()
    async with _client(proxy, http_upstream) as client:
        with pytest.raises(httpx.TransportError):
            await client.get("/data", timeout=5)
    assert time.monotonic() - started < 1.0
    assert proxy.connections == 1 and proxy.active == 0


async def test_upstream_down_resets_the_client() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    async with FaultProxy("127.0.0.1", dead_port) as p:
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.TransportError):
                await client.get(f"http://127.0.0.1:{p.port}/", timeout=5)
        assert p.upstream_errors == 1


# -- delay -----------------------------------------------------------------------------------


async def test_delay_times_out_short_clients_and_serves_patient_ones(proxy: FaultProxy, http_upstream: str) -> None:
    proxy.set_mode(delay(1.0))
    async with _client(proxy, http_upstream) as client:
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            await client.get("/data", timeout=0.5)
        assert time.monotonic() - started < 0.9
        started = time.monotonic()
        response = await client.get("/data", timeout=10)
        elapsed = time.monotonic() - started
    assert response.json() == ROWS
    assert 1.0 <= elapsed < 2.0


async def test_delay_hits_an_open_keepalive_connection(proxy: FaultProxy, http_upstream: str) -> None:
    async with _client(proxy, http_upstream) as client:
        await client.get("/data")
        proxy.set_mode("delay", seconds=5)
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/data", timeout=0.3)
        assert proxy.connections == 1  # it was the pooled connection that stalled
        await eventually(lambda: proxy.active == 0, timeout=1)  # the client gave up: so does the proxy
        proxy.set_mode("pass")
        assert (await client.get("/data")).json() == ROWS


# -- cut_after -------------------------------------------------------------------------------


async def test_cut_after_truncates_the_response(proxy: FaultProxy, http_upstream: str) -> None:
    proxy.set_mode(cut_after(100))
    reader, writer = await asyncio.open_connection(*proxy.address)
    writer.write(b"GET /big HTTP/1.1\r\nHost: upstream\r\nConnection: close\r\n\r\n")
    received = await asyncio.wait_for(reader.read(), 5)  # until the proxy closes
    writer.close()
    await writer.wait_closed()
    assert len(received) == 100 and received.startswith(b"HTTP/1.1 200 OK\r\n")

    proxy.set_mode("cut_after(500)")  # headers pass, the body is cut
    async with _client(proxy, http_upstream) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/big", timeout=5)
    assert proxy.bytes_down == 600


# -- garbage ---------------------------------------------------------------------------------


async def test_garbage_http_json_is_a_200_that_does_not_parse(proxy: FaultProxy, http_upstream: str) -> None:
    async with _client(proxy, http_upstream) as client:
        assert (await client.get("/data")).json() == ROWS
        proxy.set_mode(garbage_http_json())  # live: the open keep-alive connection gets it too
        live = await client.get("/data", timeout=5)
        fresh = await client.get("/data", timeout=5)
    for response in (live, fresh):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert proxy.connections == 2


async def test_garbage_http_json_needs_no_upstream() -> None:
    async with FaultProxy("127.0.0.1", 9, mode=garbage_http_json(b"{nope", status=503)) as p:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{p.port}/anything", timeout=5)
        assert response.status_code == 503 and response.content == b"{nope"
        assert p.upstream_errors == 0


async def test_garbage_bytes_breaks_the_protocol(proxy: FaultProxy, http_upstream: str) -> None:
    proxy.set_mode(garbage_bytes())
    started = time.monotonic()
    async with _client(proxy, http_upstream) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/data", timeout=5)
    assert time.monotonic() - started < 1.0
    assert proxy.bytes_down == 512


# -- blackhole -------------------------------------------------------------------------------


async def test_blackhole_hangs_new_connections(proxy: FaultProxy, http_upstream: str) -> None:
    proxy.set_mode(blackhole())
    async with _client(proxy, http_upstream) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/data", timeout=0.5)
        assert 0.5 <= time.monotonic() - started < 1.0
    assert proxy.connections == 1 and proxy.bytes_up > 0 and proxy.bytes_down == 0


async def test_blackhole_holds_then_releases_an_open_connection(proxy: FaultProxy, http_upstream: str) -> None:
    async with _client(proxy, http_upstream) as client:
        await client.get("/data")
        proxy.set_mode("blackhole")
        pending = asyncio.ensure_future(client.get("/data", timeout=5))
        await asyncio.sleep(0.3)
        assert not pending.done()
        proxy.set_mode("pass")
        assert (await pending).json() == ROWS  # held, not lost


# -- PostgreSQL ------------------------------------------------------------------------------


async def test_postgres_drop_connections_breaks_open_ones_only(postgres: tuple[str, int]) -> None:
    import asyncpg

    async with FaultProxy(*postgres) as p:
        url = p.url_for(PG_URL)
        conn = await asyncpg.connect(url, timeout=5)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert p.drop_connections() == 1
            with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError)):
                await conn.fetchval("SELECT 1")
        finally:
            conn.terminate()
        fresh = await asyncpg.connect(url, timeout=5)
        try:
            assert await fresh.fetchval("SELECT 1") == 1
        finally:
            await fresh.close()
        assert p.connections == 2 and p.bytes_up > 0 and p.bytes_down > 0
        await eventually(lambda: p.active == 0)
        assert p.errors == []


@pytest.mark.parametrize(
    "fault",
    ["refuse", "reset", "delay(5)", "cut_after(20)", "garbage_bytes", "blackhole"],
)
async def test_postgres_connect_fails_promptly(postgres: tuple[str, int], fault: str) -> None:
    import asyncpg

    async with FaultProxy(*postgres, mode=fault) as p:
        started = time.monotonic()
        with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)):
            conn = await asyncpg.connect(p.url_for(PG_URL), timeout=0.5)
            conn.terminate()  # pragma: no cover - only if the fault let it through
        assert time.monotonic() - started < 1.0
        assert p.errors == []


# -- flap ------------------------------------------------------------------------------------


async def test_flap_cycles_and_stops_by_itself(proxy: FaultProxy, http_upstream: str) -> None:
    ok = failed = 0
    started = time.monotonic()
    flapper = proxy.flap(0.1, ["pass", "refuse"], max_duration=0.55)
    async with httpx.AsyncClient(
        base_url=proxy.url_for(http_upstream), limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        while not flapper.done:
            try:
                (await client.get("/data", timeout=1)).json()
                ok += 1
            except httpx.ConnectError:
                failed += 1
            await asyncio.sleep(0.02)
        history = await flapper.wait()
        assert flapper.stopped_by == "max_duration" and 0.5 <= time.monotonic() - started < 1.0
        assert [str(f) for f in history[:4]] == ["pass", "refuse", "pass", "refuse"] and 5 <= len(history) <= 7
        assert ok > 0 and failed > 0
        assert proxy.mode == passthrough()  # the final mode
        assert (await client.get("/data")).json() == ROWS


async def test_flap_stop_and_proxy_stop_end_it(http_upstream: str) -> None:
    async with FaultProxy(*_hostport(http_upstream)) as p:
        async with p.flap(0.05, [refuse(), delay(0.1), "blackhole"], max_duration=30, final="garbage_bytes") as f:
            await asyncio.sleep(0.2)
        assert f.done and f.stopped_by == "stop" and f.cycles >= 3
        assert p.mode.mode is Mode.GARBAGE_BYTES
        left_running = p.flap(0.05, ["refuse", "pass"], max_duration=30)
        await asyncio.sleep(0.1)
    assert left_running.done and left_running.stopped_by == "stop"


# -- stop, threads, helpers -------------------------------------------------------------------


async def test_stop_closes_every_socket_and_task(http_upstream: str) -> None:
    p = FaultProxy(*_hostport(http_upstream))
    await p.start()
    client = _client(p, http_upstream)
    await client.get("/data")  # an idle keep-alive connection
    p.set_mode(blackhole())
    reader, writer = await asyncio.open_connection(*p.address)  # a hanging one
    writer.write(b"GET /data HTTP/1.1\r\nHost: x\r\n\r\n")
    await eventually(lambda: p.active == 2)
    await p.stop()
    with contextlib.suppress(ConnectionResetError):  # FIN, or RST if it had not read the request yet
        assert await asyncio.wait_for(reader.read(), 1) == b""
    writer.close()
    with contextlib.suppress(ConnectionResetError):
        await writer.wait_closed()
    await client.aclose()
    assert p.active == 0 and p.errors == []
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("faultproxy")] == []
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*p.address)
    gc.collect()  # an unclosed transport or socket would warn (and fail) here


async def test_controls_refuse_other_threads(proxy: FaultProxy) -> None:
    with pytest.raises(RuntimeError, match="ThreadedFaultProxy"):
        await asyncio.to_thread(proxy.set_mode, "refuse")
    assert proxy.mode == passthrough()


def test_threaded_proxy_from_sync_code(http_upstream: str) -> None:
    with ThreadedFaultProxy(*_hostport(http_upstream)) as p, httpx.Client(base_url=p.url_for(http_upstream)) as client:
        assert client.get("/data").json() == ROWS
        p.set_mode("refuse")
        with httpx.Client() as fresh, pytest.raises(httpx.ConnectError):
            fresh.get(p.url_for(http_upstream) + "/data", timeout=5)
        p.set_mode(garbage_http_json())
        with pytest.raises(json.JSONDecodeError):
            client.get("/data").json()  # live, on the pooled connection
        p.set_mode("delay(0.6)")
        with pytest.raises(httpx.TimeoutException):
            client.get("/data", timeout=0.3)
        p.set_mode("pass")
        assert client.get("/data").json() == ROWS
        deadline = time.monotonic() + 3
        while p.active != 1:  # the timed-out connection is closing on the proxy's thread
            assert time.monotonic() < deadline
            time.sleep(0.01)
        before = p.connections
        assert p.drop_connections() == 1
        assert client.get("/data").json() == ROWS  # httpx notices the dead connection and reconnects
        assert p.connections == before + 1
        flapper = p.flap(0.05, ["refuse", "pass"], max_duration=0.3)
        history = flapper.wait(timeout=5)
        assert flapper.stopped_by == "max_duration" and len(history) >= 5
        with p.flap(0.05, ["blackhole", "pass"]) as f:
            time.sleep(0.12)
        assert f.done and f.stopped_by == "stop" and p.mode == passthrough()
        assert p.bytes_up > 0 and p.bytes_down > 0 and p.errors == []
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy")]


def test_start_in_thread_url_for_and_parsing() -> None:
    p = start_in_thread("127.0.0.1", 5432)
    try:
        port = p.port
        assert p.url_for("postgresql+asyncpg://postgres@127.0.0.1:5432/db") == (
            f"postgresql+asyncpg://postgres@127.0.0.1:{port}/db"
        )
        assert p.url_for("postgresql://u:p%40ss@localhost/db?sslmode=disable") == (
            f"postgresql://u:p%40ss@127.0.0.1:{port}/db?sslmode=disable"
        )
        with pytest.raises(ValueError, match="8101"):
            p.url_for("http://127.0.0.1:8101")
        assert p.url_for("http://127.0.0.1:8101", check=False) == f"http://127.0.0.1:{port}"
        assert p.set_mode("cut_after", n_bytes=3) == cut_after(3) == p.mode
    finally:
        p.stop()
    assert parse_fault("delay(0.5)") == delay(0.5) == parse_fault(Mode.DELAY, seconds=0.5)
    assert parse_fault(" garbage_bytes ( 64 ) ") == garbage_bytes(64)
    assert str(delay(0.25)) == "delay(0.25)" and str(parse_fault("blackhole")) == "blackhole"
    for bad in ("delay", "cut_after", "nope", "pass(1)", "delay(-1)"):
        with pytest.raises(ValueError):
            parse_fault(bad)
    with pytest.raises(TypeError):
        parse_fault("pass", seconds=1)
