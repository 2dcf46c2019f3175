"""Several replicas on real NATS JetStream (127.0.0.1:4222): one polls, every one delivers, once.

The acceptance test of issue 11: two replicas, each its own process with its own subscriber; a
change written into the OPD database reaches both within 2 s, exactly once; the polling replica
is killed, the other takes the lease over, and a change made during the hand-over still
arrives once. Each test uses its own stream and buckets and deletes them after.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors.changes import Change
from connectors.changes.jetstream import JetStream, JetStreamChangeFeed, JetStreamLease
from demo.changes import RegistrySimulator

from ..support.leases import Leases
from .change_registry import make_registry

NATS_URL = "nats://127.0.0.1:4222"
ROOT = Path(__file__).resolve().parents[2]


def notice(n: int, kind: str = "UPDATED") -> Change:
    return Change("Person", f"35030100000000{n:02d}", kind, "35.03.01.2001", datetime.now(timezone.utc), "siak",
                  f"siak/test/{n}/{kind}")


async def next_within(subscription: object, seconds: float) -> Change:
    return await asyncio.wait_for(subscription.__anext__(), seconds)  # type: ignore[attr-defined]


async def test_a_notice_published_twice_is_delivered_once_to_every_replica(jetstream: JetStream) -> None:
    other = JetStream(NATS_URL, stream=jetstream.stream)
    a, b = JetStreamChangeFeed(jetstream), JetStreamChangeFeed(other)
    try:
        await a.start()
        await b.start()
        sub_a, sub_b = a.subscribe("Person"), b.subscribe("Person")
        await a.publish(notice(1))
        await b.publish(notice(1))  # the same change from the replica that took over: same id
        await a.publish(notice(2, "DIED"))
        for sub in (sub_a, sub_b):
            assert [(c.id, c.kind) for c in [await next_within(sub, 2), await next_within(sub, 2)]] == [
                ("siak/test/1/UPDATED", "UPDATED"), ("siak/test/2/DIED", "DIED"),
            ]
            with pytest.raises(TimeoutError):
                await next_within(sub, 0.5)
    finally:
        await a.aclose()
        await b.aclose()
        await other.aclose()


async def test_one_lease_holder_at_a_time_and_a_dead_holders_lease_is_taken_over(jetstream: JetStream) -> None:
    first = JetStreamLease(jetstream, owner="replica-1", ttl_s=1.0)
    second = JetStreamLease(jetstream, owner="replica-2", ttl_s=1.0)
    assert await first.hold("siak") is True
    assert await second.hold("siak") is False
    assert await first.hold("siak") is True  # renewed
    await asyncio.sleep(0.6)
    assert await first.hold("siak") is True  # renewing keeps it past one TTL
    await asyncio.sleep(0.6)
    assert await second.hold("siak") is False
    # replica-1 stops renewing (it died): after the TTL the other takes over.
    deadline = time.monotonic() + 5
    while not await second.hold("siak"):
        assert time.monotonic() < deadline, "the lease was never taken over"
        await asyncio.sleep(0.2)
    assert await first.hold("siak") is False  # the old holder's renewal fails: it stops polling


def start_replica(jetstream: JetStream, registry: str, owner: str, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.connectors.change_replica", "--nats", NATS_URL, "--stream", jetstream.stream,
         "--registry", registry, "--owner", owner, "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def received(out: Path) -> list[dict[str, object]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


async def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)


async def test_two_replicas_each_deliver_a_change_once_and_survive_the_pollers_death(
    jetstream: JetStream, tmp_path: Path
) -> None:
    registry = f"sqlite+aiosqlite:///{tmp_path / 'siak.sqlite'}"
    await make_registry(registry)
    outs = {name: tmp_path / f"{name}.jsonl" for name in ("r1", "r2")}
    replicas = {name: start_replica(jetstream, registry, name, out) for name, out in outs.items()}
    simulator = RegistrySimulator(registry, seed=11)
    try:
        for name, process in replicas.items():
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)  # type: ignore[union-attr]
            assert line.strip() == "ready", f"{name} did not start: {line!r} {process.stderr.read() if process.poll() is not None else ''}"  # type: ignore[union-attr]
        leases = await Leases.of(jetstream)
        polling = await leases.taken("siak", within_s=10, what="replica")
        await asyncio.sleep(0.5)  # the first poll stores the starting position

        written = await simulator.step("move")
        at = time.time()
        await wait_for(lambda: all(len(received(o)) >= 2 for o in outs.values()), 2.0, "the move on both replicas")
        for out in outs.values():
            got = received(out)
            assert [(g["kind"], g["key"]) for g in got] == [("MOVED_OUT", written.nik), ("MOVED_IN", written.nik)]
            assert all(float(g["received"]) - at < 2.0 for g in got)  # type: ignore[arg-type]

        # Kill the polling replica, then change the registry while the lease is still the dead one's.
        survivor = "r2" if polling == "r1" else "r1"
        replicas[polling].send_signal(signal.SIGKILL)
        replicas[polling].wait(10)
        during = await simulator.step("death")
        after_births = [await simulator.step("birth") for _ in range(2)]
        await wait_for(lambda: len(received(outs[survivor])) >= 5, 10.0, "the hand-over's changes on the survivor")
        await asyncio.sleep(1.0)  # anything delivered twice would arrive by now
        got = [(g["kind"], g["key"]) for g in received(outs[survivor])]
        assert got == [
            ("MOVED_OUT", written.nik), ("MOVED_IN", written.nik),
            ("DIED", during.nik), ("BORN", after_births[0].nik), ("BORN", after_births[1].nik),
        ]
        assert await leases.holder("siak") == survivor
    finally:
        await simulator.aclose()
        for process in replicas.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
