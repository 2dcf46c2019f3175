"""Hot reload: SIGHUP (``satudata reload``) swaps in a runtime built from the new config file;
requests in flight finish on the old one, whose sources are closed after; a bad file is refused."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from demo.gateway_config import render_config
from gateway.app import create_app
from gateway.cli import main
from gateway.reload import Lifespan, ReloadableGateway
from gateway.settings import GatewaySettings

from ..conftest import Backend, _free_port

DEMO_TITLE = 'title = "Satu Data Trenggalek (demo)"'
REGION = {"query": '{ region(code: "35.03") { name } }'}
#: Depth 3 (region -> children -> name): refused once [limits] max_depth = 2.
DEEPER = {"query": '{ region(code: "35.03") { children { name } } }'}


def config_text(backend: Backend, *, title: str = "Satu Data Trenggalek (demo)", max_depth: int | None = None,
                typo: bool = False) -> str:
    text = render_config(registry_url=backend.registry_url, education_url=backend.education_url)
    text = text.replace(DEMO_TITLE, f'title = "{title}"' + ("\nproduktion = true" if typo else ""))
    if max_depth is not None:
        text = text.replace("[limits]\n", f"[limits]\nmax_depth = {max_depth}\n", 1)
    return text


def page_title(html: str) -> str:
    found = re.search(r"<title>(.*?) · GraphiQL</title>", html)
    assert found is not None, html[:200]
    return found.group(1)


# --- in process: the swap itself -------------------------------------------------------------------


async def test_a_reload_serves_the_new_config_and_a_bad_one_is_refused(
    sqlite_backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(config_text(sqlite_backend, title="First"), encoding="utf-8")
    gateway = ReloadableGateway(path, GatewaySettings.from_file(path), create_app, handle_sighup=False)
    lifespan = Lifespan(gateway)
    await lifespan.startup()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:

            async def title() -> str:
                return page_title((await client.get("/graphql", headers={"accept": "text/html"})).text)

            assert await title() == "First"
            path.write_text(config_text(sqlite_backend, title="Second", max_depth=2), encoding="utf-8")
            assert await gateway.reload() is True
            assert await title() == "Second"
            refused = (await client.post("/graphql", json=DEEPER)).json()
            assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP", refused

            path.write_text(config_text(sqlite_backend, title="Third", typo=True), encoding="utf-8")
            with caplog.at_level(logging.ERROR, logger="satudata.gateway.reload"):
                assert await gateway.reload() is False
            assert "reload refused, still serving the previous config (generation 2)" in caplog.text
            assert 'gateway.produktion is not a key of [gateway]; did you mean "production"?' in caplog.text
            assert await title() == "Second"
            assert (await client.post("/graphql", json=REGION)).json() == {"data": {"region": {"name": "KABUPATEN TRENGGALEK"}}}
            assert (gateway.taken, gateway.refused) == (1, 1)
    finally:
        await lifespan.shutdown()


async def test_a_missing_sqlite_file_is_refused_on_reload_not_created(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(config_text(sqlite_backend), encoding="utf-8")
    gateway = ReloadableGateway(path, GatewaySettings.from_file(path), create_app, handle_sighup=False)
    lifespan = Lifespan(gateway)
    await lifespan.startup()
    try:
        missing = tmp_path / "no-such-registry.sqlite"
        text = config_text(sqlite_backend).replace(sqlite_backend.registry_url, f"sqlite+aiosqlite:///{missing}")
        path.write_text(text, encoding="utf-8")
        assert await gateway.reload() is False
        assert not missing.exists()
    finally:
        await lifespan.shutdown()


@dataclass
class Probe:
    """A tiny app per generation: ``/slow`` waits for ``release``; its lifespan notes start and end."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    events: list[str] = field(default_factory=list)
    built: int = 0

    def build(self, settings: GatewaySettings) -> Starlette:
        self.built += 1
        number = self.built

        async def slow(request: Request) -> PlainTextResponse:
            self.events.append(f"slow {number} started")
            await self.release.wait()
            return PlainTextResponse(f"slow answered by {number}")

        async def fast(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f"fast answered by {number}")

        import contextlib

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> Any:
            self.events.append(f"{number} opened")
            yield
            self.events.append(f"{number} closed")

        return Starlette(routes=[Route("/slow", slow), Route("/fast", fast)], lifespan=lifespan)


async def test_requests_in_flight_finish_on_the_old_runtime_which_closes_after_them(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[sources.x]\nkind = "sql"\nagency = "A"\nurl = "sqlite+aiosqlite://"\n', encoding="utf-8")
    probe = Probe()
    gateway = ReloadableGateway(path, GatewaySettings.from_file(path), probe.build, handle_sighup=False)
    lifespan = Lifespan(gateway)
    await lifespan.startup()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
        slow = asyncio.create_task(client.get("/slow"))
        while "slow 1 started" not in probe.events:
            await asyncio.sleep(0.01)
        reload = asyncio.create_task(gateway.reload())
        while probe.built < 2 or "2 opened" not in probe.events:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        # The new runtime answers new requests at once; the old one is not closed under the slow request.
        assert (await client.get("/fast")).text == "fast answered by 2"
        assert "1 closed" not in probe.events and not reload.done()
        probe.release.set()
        assert (await slow).text == "slow answered by 1"
        assert await reload is True
    assert probe.events[-1] == "1 closed"
    await lifespan.shutdown()
    assert probe.events[-1] == "2 closed"


def test_config_check_prints_ok_or_every_problem(sqlite_backend: Backend, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(config_text(sqlite_backend), encoding="utf-8")
    assert main(["config", "check", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: OK"

    bad = tmp_path / "bad.toml"
    bad.write_text(config_text(sqlite_backend, typo=True).replace("timeout_s = 5", 'timeout_s = "5"', 1), encoding="utf-8")
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 2 problems:" in err
    assert 'gateway.produktion is not a key of [gateway]; did you mean "production"?' in err
    assert 'sources.siak.timeout_s must be a number of at least 0, not the string "5"' in err

    missing = tmp_path / "missing.toml"
    missing.write_text(config_text(sqlite_backend).replace(sqlite_backend.education_url, "sqlite+aiosqlite:///gone.sqlite"), encoding="utf-8")
    assert main(["config", "check", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"sources.dapodik.url names the SQLite file {tmp_path / 'gone.sqlite'}, which does not exist" in err
    assert not (tmp_path / "gone.sqlite").exists()


def test_reload_refuses_to_signal_with_a_bad_file_and_names_a_missing_pid_file(
    sqlite_backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(config_text(sqlite_backend, typo=True), encoding="utf-8")
    assert main(["reload", "--pid", str(os.getpid()), "--config", str(bad)]) == 2  # this process gets no SIGHUP
    assert "not reloading" in capsys.readouterr().err
    assert main(["reload", "--pid-file", str(tmp_path / "none.pid")]) == 2
    assert "is the gateway running with --pid-file" in capsys.readouterr().err


# --- a real server under load ------------------------------------------------------------------------


@dataclass
class Load:
    """Clients asking the served gateway continuously; every answer that is not a good one is kept."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    response = client.post("/graphql", json=REGION)
                    good = response.status_code == 200 and response.json() == {"data": {"region": {"name": "KABUPATEN TRENGGALEK"}}}
                    problem = None if good else f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                with self.lock:
                    self.answered += 1
                    if problem is not None:
                        self.failures.append(problem)


@pytest.fixture
def served(sqlite_backend: Backend, tmp_path: Path, repo_root: Path) -> Iterator[tuple[str, Path, Path, subprocess.Popen[bytes]]]:
    config = tmp_path / "gateway.toml"
    config.write_text(config_text(sqlite_backend, title="Generation 0"), encoding="utf-8")
    pid_file = tmp_path / "gateway.pid"
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port),
             "--pid-file", str(pid_file), "--log-level", "info"],
            cwd=repo_root, stdout=log_file, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200 and pid_file.exists():
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, log_path.read_text(errors="replace")
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                time.sleep(0.2)
            yield url, config, log_path, process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert not pid_file.exists()  # removed at exit


def test_ten_reloads_under_load_fail_no_request(
    served: tuple[str, Path, Path, subprocess.Popen[bytes]], sqlite_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    url, config, log_path, process = served
    pid_file = config.parent / "gateway.pid"
    assert int(pid_file.read_text()) == process.pid
    load = Load(url)
    clients = [threading.Thread(target=load.run) for _ in range(4)]
    for client in clients:
        client.start()

    def title() -> str:
        return page_title(httpx.get(f"{url}/graphql", headers={"accept": "text/html"}, timeout=10).text)

    def wait_for_title(expected: str) -> None:
        deadline = time.monotonic() + 60
        while title() != expected:
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.1)

    try:
        for n in range(1, 11):
            if n == 5:  # a bad file: refused, and generation 4 keeps serving
                config.write_text(config_text(sqlite_backend, title="Never", typo=True), encoding="utf-8")
                assert main(["reload", "--pid-file", str(pid_file)]) == 0
                deadline = time.monotonic() + 60
                while "reload refused" not in log_path.read_text(errors="replace"):
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                assert title() == "Generation 4"
                continue
            limited = n % 2 == 0
            config.write_text(config_text(sqlite_backend, title=f"Generation {n}", max_depth=2 if limited else None),
                              encoding="utf-8")
            assert main(["reload", "--pid-file", str(pid_file)]) == 0
            wait_for_title(f"Generation {n}")
            deeper = httpx.post(f"{url}/graphql", json=DEEPER, timeout=10).json()
            if limited:
                assert deeper["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP", deeper
            else:
                assert "errors" not in deeper and deeper["data"]["region"]["children"], deeper
            time.sleep(0.3)  # let the load run across the swap and the old runtime's retirement
    finally:
        load.stop.set()
        for client in clients:
            client.join()
    assert load.failures == []
    assert load.answered > 100
    log = log_path.read_text(errors="replace")
    assert log.count("reload refused") == 1 and "generation 9 serves" in log and "generation 8 retired" in log
    capsys.readouterr()


def test_with_workers_the_supervisor_checks_the_file_once_and_every_worker_reloads_under_load(
    sqlite_backend: Backend, tmp_path: Path, repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import secrets

    key = secrets.token_urlsafe(32)

    def text(title: str, *, typo: bool = False) -> str:
        return config_text(sqlite_backend, title=title, typo=typo).replace(
            f'title = "{title}"', f'title = "{title}"\ncursor_key = "{key}"', 1
        )

    config = tmp_path / "gateway.toml"
    config.write_text(text("Before"), encoding="utf-8")
    pid_file = tmp_path / "gateway.pid"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    load = Load(url)
    clients = [threading.Thread(target=load.run) for _ in range(3)]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port),
             "--workers", "2", "--pid-file", str(pid_file)],
            cwd=repo_root, stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        def titles(n: int) -> set[str]:
            # New connections each time, so both workers answer some of them.
            return {page_title(httpx.get(f"{url}/graphql", headers={"accept": "text/html"}, timeout=10).text) for _ in range(n)}

        def log() -> str:
            return log_path.read_text(errors="replace")

        deadline = time.monotonic() + 120
        while log().count("Application startup complete") < 2:
            assert process.poll() is None and time.monotonic() < deadline, log()
            time.sleep(0.3)
        assert titles(4) == {"Before"}
        for client in clients:
            client.start()
        config.write_text(text("After"), encoding="utf-8")
        assert main(["reload", "--pid-file", str(pid_file)]) == 0
        deadline = time.monotonic() + 60
        while log().count("generation 2 serves") < 2:
            assert time.monotonic() < deadline, log()[-3000:]
            time.sleep(0.2)
        assert titles(20) == {"After"}

        config.write_text(text("Never", typo=True), encoding="utf-8")
        assert main(["reload", "--pid-file", str(pid_file)]) == 0
        deadline = time.monotonic() + 60
        while "reload refused, the workers keep the previous config" not in log():
            assert time.monotonic() < deadline, log()[-3000:]
            time.sleep(0.2)
        assert titles(10) == {"After"}
        assert 'gateway.produktion is not a key of [gateway]' in log() and "generation 3" not in log()
    finally:
        load.stop.set()
        for client in clients:
            if client.is_alive():
                client.join()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert not pid_file.exists()
    assert load.failures == [] and load.answered > 20
    capsys.readouterr()
