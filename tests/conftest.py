"""Shared fixtures: real OPD databases (SQLite files, the machine's PostgreSQL and MariaDB)
loaded by the demo generator, and the gateway in process over them.

Server-backed tests skip with a reason on a laptop without the servers, and fail when
``CI=true`` (a CI run that silently skipped them would prove nothing).
"""

from __future__ import annotations

import asyncio
import os
import tomllib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from .support.server import free_port as _free_port
from .support.server import serve_app

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MARIADB = dict(host="127.0.0.1", port=3306, user="root", password="")

#: Small enough to load in seconds, large enough for 50+ schools.
TEST_SCALE = 0.07
#: Four school weeks of attendance keep the MariaDB load short.
TEST_TERM_START = date(2026, 11, 2)


def service_missing(what: str, exc: BaseException) -> None:
    """Skip (laptop) or fail (CI) when a server the test needs is not reachable."""

    message = f"{what} is not reachable at 127.0.0.1 ({type(exc).__name__}: {exc})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must run this test against the real server", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Backend:
    """One place the two demo OPD databases live, with their SQLAlchemy async URLs."""

    name: str
    registry_url: str
    education_url: str


@pytest.fixture(scope="session")
def dataset():  # type: ignore[no-untyped-def]
    from demo import build_dataset

    return build_dataset(scale=TEST_SCALE, seed=3503, term_start=TEST_TERM_START)


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def sqlite_backend(dataset, tmp_path_factory: pytest.TempPathFactory) -> Backend:  # type: ignore[no-untyped-def]
    from demo import load_dataset

    folder = tmp_path_factory.mktemp("opd-sqlite")
    backend = Backend(
        "sqlite",
        f"sqlite+aiosqlite:///{folder / 'dispendukcapil.sqlite'}",
        f"sqlite+aiosqlite:///{folder / 'dinas-pendidikan.sqlite'}",
    )
    _run(load_dataset(dataset, registry_url=backend.registry_url, education_url=backend.education_url))
    return backend


async def _create_pg(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _mariadb(statement: str) -> None:
    import aiomysql

    conn = await aiomysql.connect(**MARIADB, connect_timeout=5)
    try:
        async with conn.cursor() as cur:
            await cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def postgresql_backend(dataset) -> Iterator[Backend]:  # type: ignore[no-untyped-def]
    """Both OPD databases on the machine's PostgreSQL."""

    from demo import load_dataset

    suffix = uuid.uuid4().hex[:8]
    names = (f"satudata_test_siak_{suffix}", f"satudata_test_dapodik_{suffix}")
    try:
        for name in names:
            _run(_create_pg(name))
    except (OSError, ConnectionError) as exc:
        service_missing("PostgreSQL", exc)
    urls = [f"postgresql+asyncpg://postgres@127.0.0.1:5432/{n}" for n in names]
    backend = Backend("postgresql", *urls)
    try:
        _run(load_dataset(dataset, registry_url=backend.registry_url, education_url=backend.education_url))
        yield backend
    finally:
        for name in names:
            _run(_drop_pg(name))


@pytest.fixture(scope="session")
def mariadb_backend(dataset) -> Iterator[Backend]:  # type: ignore[no-untyped-def]
    """Both OPD databases on the machine's MariaDB."""

    from demo import load_dataset

    suffix = uuid.uuid4().hex[:8]
    names = (f"satudata_test_siak_{suffix}", f"satudata_test_dapodik_{suffix}")
    try:
        for name in names:
            _run(_mariadb(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    except (OSError, ConnectionError) as exc:
        service_missing("MariaDB", exc)
    except Exception as exc:  # aiomysql wraps refused connections in OperationalError
        if type(exc).__name__ == "OperationalError":
            service_missing("MariaDB", exc)
        raise
    urls = [f"mysql+aiomysql://root@127.0.0.1:3306/{n}?charset=utf8mb4" for n in names]
    backend = Backend("mariadb", *urls)
    try:
        _run(load_dataset(dataset, registry_url=backend.registry_url, education_url=backend.education_url))
        yield backend
    finally:
        for name in names:
            _run(_mariadb(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every test using this runs once per database kind."""

    return request.getfixturevalue(f"{request.param}_backend")


def gateway_config(backend: Backend) -> dict:  # type: ignore[type-arg]
    from demo.gateway_config import render_config

    return tomllib.loads(render_config(registry_url=backend.registry_url, education_url=backend.education_url))


class Gateway:
    """The gateway app in process, spoken to over real HTTP semantics (httpx + ASGI)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def query(self, query: str, variables: dict | None = None, *, trace: bool = False) -> dict:  # type: ignore[type-arg]
        headers = {"X-Satudata-Trace": "sources"} if trace else {}
        response = await self.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        assert response.headers["content-type"].startswith("application/graphql-response+json"), response.text
        return response.json()


async def open_gateway(config: dict) -> AsyncIterator[Gateway]:  # type: ignore[type-arg]
    from gateway import GatewaySettings, create_app

    app = create_app(GatewaySettings.from_dict(config))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        # Ask for the spec's media type, as GraphQL clients do; without it (httpx sends */*) the answer is application/json.
        headers = {"accept": "application/graphql-response+json"}
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=headers) as client:
            yield Gateway(client)


@pytest.fixture
async def gateway(backend: Backend) -> AsyncIterator[Gateway]:
    async for g in open_gateway(gateway_config(backend)):
        yield g


@pytest.fixture
async def sqlite_gateway(sqlite_backend: Backend) -> AsyncIterator[Gateway]:
    async for g in open_gateway(gateway_config(sqlite_backend)):
        yield g


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DemoServer:
    url: str
    data_dir: Path


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Iterator[DemoServer]:
    """`satudata demo` as a user runs it: a real process, a real socket, generated SQLite sources."""

    import subprocess
    import sys
    import time

    data_dir = tmp_path_factory.mktemp("demo-data") / "demo"  # made by the demo, as .data/demo on a fresh clone
    port = _free_port()
    log = (data_dir.parent / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "--data-dir", str(data_dir), "--scale", "0.02", "--port", str(port),
         "--changes-per-minute", "0"],  # the registry stays as generated: tests compare it to the ground truth
        cwd=repo_root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"satudata demo exited with {process.returncode}: {(data_dir.parent / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"satudata demo did not start: {(data_dir.parent / 'server.log').read_text()}")
            time.sleep(0.2)
        yield DemoServer(url, data_dir)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def serve_api(app, name: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A demo OPD API on a real socket, in a thread; yields its base URL until the session ends."""

    with serve_app(app, name=f"{name}-api", lifespan="off") as url:
        yield url


#: The demo data of the alert tests: scale 0.1 with the generator's whole term of attendance (13 July to
#: 27 November), enough for every class's own baseline (the suite's shared dataset has four weeks).
WHOLE_TERM_SCALE = 0.1
WHOLE_TERM_SEED = 3503


@pytest.fixture(scope="session")
def whole_term() -> Iterator[tuple[Any, Path]]:
    """(dataset, folder of its SQLite databases and ground-truth.json) over the whole term; read only."""

    import shutil
    import tempfile

    from demo import build_dataset
    from demo.sqlite_demo import generate_sqlite_demo

    ds = build_dataset(scale=WHOLE_TERM_SCALE, seed=WHOLE_TERM_SEED)
    folder = Path(tempfile.mkdtemp(prefix="whole-term-"))
    generate_sqlite_demo(folder, ds)
    yield ds, folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def whole_term_dinkes(whole_term: tuple[Any, Path]) -> Iterator[str]:
    """The demo health office API over the whole term's residents, on a real socket."""

    from demo.apis import create_dinkes_app

    yield from serve_api(create_dinkes_app(whole_term[0]), "Dinkes (whole term)")


@pytest.fixture(scope="session")
def dinkes_api(dataset) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The demo health office API (Dinkes) on a real socket, over the same synthetic residents."""

    from demo.apis import create_dinkes_app

    yield from serve_api(create_dinkes_app(dataset), "Dinkes")


@pytest.fixture(scope="session")
def sepeda_keren_api(dataset) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The demo Sepeda Keren API (Dinas Sosial) on a real socket, over the same synthetic residents."""

    from demo.apis import create_sepeda_keren_app

    yield from serve_api(create_sepeda_keren_app(dataset), "Sepeda Keren")


@pytest.fixture(scope="session")
def lapor_api(dataset) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The demo citizens' complaint API (LAPOR!) on a real socket, over the same synthetic residents."""

    from demo.apis import create_lapor_app

    yield from serve_api(create_lapor_app(dataset), "LAPOR")


#: The NATS JetStream server the change-capture tests run against.
NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def jetstream():  # type: ignore[no-untyped-def]
    """A JetStream client on a stream (and its buckets) of this test's own, deleted after."""

    from connectors.changes import JetStream

    js = JetStream(NATS_URL, stream=f"SATUDATA_TEST_{uuid.uuid4().hex[:10].upper()}")
    try:
        await asyncio.wait_for(js.connect(), 5)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        await js.aclose()
        service_missing("NATS JetStream", exc)
    try:
        yield js
    finally:
        await js.delete_all()
        await js.aclose()
