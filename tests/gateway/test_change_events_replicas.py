"""Issue 11's acceptance, with whole gateways: two `satudata serve` processes on one NATS JetStream.

Each gateway runs the registry's change capture from the demo config with ``[events] nats_url``;
a subscriber holds residentChanges open over GraphQL over SSE on each. A birth written into the
registry reaches both subscribers within 2 s, exactly once. The gateway holding the poll lease is
killed; a death and a birth written while its lease has not expired still reach the survivor's
subscriber, once each, after it takes the lease over.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.changes import JetStream
from demo.changes import RegistrySimulator, ensure_mutation_table
from demo.gateway_config import render_config

from ..conftest import Backend
from ..support.leases import Leases
from ..support.server import free_port

NATS_URL = "nats://127.0.0.1:4222"
ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "subscription { residentChanges(region: \"35.03\") { kind person { nik } } }"


@dataclass
class Gateway:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    #: (kind, nik, monotonic time received) of every event its subscriber got.
    received: list[tuple[str, str, float]] = field(default_factory=list)
    subscriber: asyncio.Task[None] | None = None


def write_config(folder: Path, backend: Backend, registry: Path, stream: str) -> Path:
    raw = render_config(
        registry_url=f"sqlite+aiosqlite:///{registry}", education_url=backend.education_url, changes=True
    )
    raw += f'\n[events]\nnats_url = "{NATS_URL}"\nstream = "{stream}"\nlease_ttl_s = 2\nrenew_s = 0.3\n'
    assert tomllib.loads(raw)["events"]["stream"] == stream
    path = folder / "gateway.toml"
    path.write_text(raw, encoding="utf-8")
    return path


def start(name: str, config: Path, log: Path) -> Gateway:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    return Gateway(name, process, f"http://127.0.0.1:{port}")


async def healthy(gateway: Gateway, log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            assert gateway.process.poll() is None, f"{gateway.name} exited: {log.read_text(errors='replace')[-2000:]}"
            try:
                if (await client.get(f"{gateway.url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{gateway.name} did not start"
            await asyncio.sleep(0.2)


async def subscribe(gateway: Gateway, opened: asyncio.Event) -> None:
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client:
        try:
            async with client.stream("POST", f"{gateway.url}/graphql", json={"query": SUBSCRIPTION}, headers=headers) as stream:
                assert stream.status_code == 200
                opened.set()
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        event = json.loads(line.removeprefix("data:"))
                        assert "errors" not in event, event
                        change = event["data"]["residentChanges"]
                        gateway.received.append((change["kind"], change["person"]["nik"], time.monotonic()))
        except (httpx.TransportError, httpx.StreamError):
            return  # the gateway was killed


async def until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.05)


def of(gateway: Gateway, nik: str) -> list[str]:
    return [kind for kind, got, _ in gateway.received if got == nik]


async def test_two_gateways_deliver_each_change_once_and_the_survivor_takes_the_poll_over(
    jetstream: JetStream, sqlite_backend: Backend, tmp_path: Path
) -> None:
    registry = tmp_path / "dispendukcapil.sqlite"
    shutil.copy(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///"), registry)
    registry_url = f"sqlite+aiosqlite:///{registry}"
    await ensure_mutation_table(registry_url)
    config = write_config(tmp_path, sqlite_backend, registry, jetstream.stream)
    logs = {name: tmp_path / f"{name}.log" for name in ("g1", "g2")}
    gateways = {name: start(name, config, log) for name, log in logs.items()}
    simulator = RegistrySimulator(registry_url, seed=23)
    try:
        for name, gateway in gateways.items():
            await healthy(gateway, logs[name])
            opened = asyncio.Event()
            gateway.subscriber = asyncio.ensure_future(subscribe(gateway, opened))
            await asyncio.wait_for(opened.wait(), 10)
        leases = await Leases.of(jetstream)
        owner = await leases.taken("siak", within_s=15, what="gateway")
        await asyncio.sleep(2.5)  # the holder's first poll stores the starting position

        birth = await simulator.step("birth")
        written = time.monotonic()
        await until(lambda: all(of(g, birth.nik) for g in gateways.values()), 2.0, "the birth on both gateways")
        await asyncio.sleep(1.0)  # a second delivery would arrive by now
        for gateway in gateways.values():
            assert of(gateway, birth.nik) == ["BORN"], gateway.name
            (received,) = [t for _, nik, t in gateway.received if nik == birth.nik]
            assert received - written < 2.0

        # Kill the gateway that polls; write while its lease still runs.
        pid = int(owner.rsplit(":", 1)[1])
        polling = next(g for g in gateways.values() if g.process.pid == pid)
        survivor = next(g for g in gateways.values() if g is not polling)
        polling.process.send_signal(signal.SIGKILL)
        polling.process.wait(10)
        death = await simulator.step("death")
        second = await simulator.step("birth")
        await until(lambda: of(survivor, death.nik) and of(survivor, second.nik), 15.0, "the hand-over's changes")
        await asyncio.sleep(1.5)
        assert of(survivor, death.nik) == ["DIED"]
        assert of(survivor, second.nik) == ["BORN"]
        assert (await leases.holder("siak")) == f"{owner.rsplit(':', 1)[0]}:{survivor.process.pid}"
    finally:
        await simulator.aclose()
        for gateway in gateways.values():
            if gateway.process.poll() is None:
                gateway.process.send_signal(signal.SIGTERM)
                try:
                    gateway.process.wait(20)
                except subprocess.TimeoutExpired:
                    gateway.process.kill()
                    gateway.process.wait(5)
            if gateway.subscriber is not None:
                gateway.subscriber.cancel()
                await asyncio.gather(gateway.subscriber, return_exceptions=True)
