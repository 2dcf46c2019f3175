"""A server that is told to stop ends its streams at once, with a last word for each client
(``gateway.going_away``), instead of holding its shutdown until the graceful margin runs out."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from demo.gateway_config import render_config
from gateway.going_away import SCOPE_KEY, until_going_away

from ..conftest import Backend, _free_port

#: Long enough that a shutdown waiting out the graceful margin (the request deadline + 2 s) is plain.
REQUEST_TIMEOUT_S = 30
SUBSCRIBE = {"query": 'subscription { residentChanges(region: "35.03.08") { kind } }'}


def _serve(config: Path, log_path: Path, repo_root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with log_path.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port),
             "--log-level", "info"],
            cwd=repo_root, stdout=log_file, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log_path.read_text(errors="replace")
        assert time.monotonic() < deadline, log_path.read_text(errors="replace")
        time.sleep(0.2)


def _subscribe(url: str, opened: threading.Event, into: list[bytes]) -> None:
    """Hold one SSE subscription open and keep everything it sends."""

    with httpx.Client(timeout=httpx.Timeout(5, read=REQUEST_TIMEOUT_S * 2)) as client:
        with client.stream("POST", f"{url}/graphql", json=SUBSCRIBE, headers={"accept": "text/event-stream"}) as response:
            assert response.status_code == 200
            opened.set()  # the stream's head has arrived: the subscription is open
            for chunk in response.iter_bytes():
                into.append(chunk)


def test_sigterm_ends_open_subscriptions_at_once_telling_each_client(
    sqlite_backend: Backend, tmp_path: Path, repo_root: Path
) -> None:
    config = tmp_path / "gateway.toml"
    text = render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url)
    config.write_text(text.replace("[gateway]\n", f"[gateway]\nrequest_timeout_s = {REQUEST_TIMEOUT_S}\n", 1), encoding="utf-8")
    log_path = tmp_path / "server.log"
    process, url = _serve(config, log_path, repo_root)
    streams: list[list[bytes]] = [[], []]
    threads = []
    try:
        for received in streams:
            opened = threading.Event()
            thread = threading.Thread(target=_subscribe, args=(url, opened, received), daemon=True)
            thread.start()
            assert opened.wait(30), log_path.read_text(errors="replace")
            threads.append(thread)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=REQUEST_TIMEOUT_S + 15)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for thread in threads:
        thread.join(10)
    log = log_path.read_text(errors="replace")
    # Before: each stream held the shutdown for the whole margin (32 s here), then was cancelled.
    assert took < 5, (took, log)
    assert "timeout graceful shutdown exceeded" not in log and '"level":"ERROR"' not in log, log
    for received in streams:
        events = b"".join(received).decode().strip().split("\n\n")
        assert [e.splitlines()[0] for e in events] == ["event: next", "event: complete"], events
        last = orjson.loads(events[0].split("data: ", 1)[1])
        assert last["errors"][0]["extensions"]["code"] == "GATEWAY_SHUTTING_DOWN", last


async def _ticks(closed: list[bool]) -> AsyncIterator[int]:
    try:
        for n in range(1000):
            yield n
            await asyncio.sleep(0.05)
    finally:
        closed.append(True)


async def test_a_stream_ends_when_its_connection_is_going_away_and_its_source_is_closed() -> None:
    event = asyncio.Event()
    closed: list[bool] = []
    seen: list[int] = []

    async def read() -> None:
        async for n in until_going_away({SCOPE_KEY: event}, _ticks(closed)):
            seen.append(n)

    reading = asyncio.create_task(read())
    await asyncio.sleep(0.18)
    event.set()
    await asyncio.wait_for(reading, 1)
    assert 2 <= len(seen) <= 5 and seen == list(range(len(seen)))
    assert closed == [True]


async def test_without_the_servers_event_a_stream_runs_to_its_end() -> None:
    closed: list[bool] = []

    async def few() -> AsyncIterator[int]:
        async for n in _ticks(closed):
            if n == 3:
                return
            yield n

    assert [n async for n in until_going_away({}, few())] == [0, 1, 2]
