"""``/metrics`` beyond requests and sources: the process, the garbage collector and the heavy-query
gate, in one process and with ``--workers`` (where each worker is its own process)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from connectors import ConnectorRegistry
from gateway.access.limits import GatewayBusy
from gateway.access.limits.gate import HeavyQueryGate
from gateway.metrics import GatewayMetrics

from ..conftest import Backend, gateway_config, open_gateway
from .test_workers import REPLACE_S, Cluster, alive, cluster, redis_reachable  # noqa: F401 (fixtures)


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    grouped: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            grouped.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return grouped


async def test_one_process_shows_its_process_and_garbage_collector_metrics(sqlite_backend: Backend) -> None:
    async for gateway in open_gateway(gateway_config(sqlite_backend)):
        shown = samples((await gateway.client.get("/metrics")).text)
    assert shown["process_resident_memory_bytes"][()] > 10_000_000
    assert shown["process_cpu_seconds_total"][()] > 0
    assert shown["process_open_fds"][()] > 0
    assert shown["process_start_time_seconds"][()] > 1.7e9
    assert set(shown["python_gc_collections_total"]) == {(("generation", g),) for g in ("0", "1", "2")}
    assert shown["python_info"]
    assert shown["satudata_heavy_queries_running"] == {(): 0.0}
    assert shown["satudata_heavy_queries_waiting"] == {(): 0.0}


async def test_the_gate_gauges_follow_heavy_queries_running_and_waiting() -> None:
    gate = HeavyQueryGate(heavy_cost=100, concurrency=1)
    metrics = GatewayMetrics(ConnectorRegistry([]), gate=gate)

    def shown() -> tuple[float | None, float | None]:
        get = metrics.registry.get_sample_value
        return get("satudata_heavy_queries_running"), get("satudata_heavy_queries_waiting")

    loop = asyncio.get_running_loop()
    first_in, release = asyncio.Event(), asyncio.Event()

    async def heavy(deadline_s: float) -> None:
        async with gate.admit(500, deadline=loop.time() + deadline_s):
            first_in.set()
            await release.wait()

    async with gate.admit(5, deadline=None):  # cheap: never counted
        assert shown() == (0.0, 0.0)
    first = asyncio.create_task(heavy(10))
    await first_in.wait()
    assert shown() == (1.0, 0.0)
    second = asyncio.create_task(heavy(10))
    await asyncio.sleep(0.05)
    assert shown() == (1.0, 1.0)
    release.set()
    await asyncio.gather(first, second)
    assert shown() == (0.0, 0.0)

    # One that waits in vain is counted while it waits, and no longer once refused.
    release.clear()
    first_in.clear()
    holder = asyncio.create_task(heavy(10))
    await first_in.wait()
    refused = asyncio.create_task(heavy(0.2))
    await asyncio.sleep(0.02)
    assert shown() == (1.0, 1.0)
    try:
        await refused
    except GatewayBusy:
        pass
    else:
        raise AssertionError("the second heavy query was admitted")
    assert shown() == (1.0, 0.0)
    release.set()
    await holder
    assert shown() == (0.0, 0.0)


def test_with_workers_each_live_worker_has_its_process_series_and_gc_counts_add_up(cluster: Cluster) -> None:  # noqa: F811
    cluster.ask_until(lambda: len([p for p, n in cluster.worker_requests().items() if n]) == 2, within_s=30,
                      what="both workers answering")
    workers = set(cluster.worker_requests())
    shown = cluster.metrics()
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        series = {int(dict(labels)["pid"]): value for labels, value in shown[name].items()}
        assert set(series) == workers, (name, series, workers)
        assert all(value > 0 for value in series.values()), series
    collections = shown["python_gc_collections_total"]
    assert set(collections) == {(("generation", g),) for g in ("0", "1", "2")}
    assert collections[(("generation", "0"),)] > 0  # two processes' collections, summed
    assert shown["satudata_heavy_queries_running"] == {(): 0.0}
    assert shown["satudata_heavy_queries_waiting"] == {(): 0.0}

    # A worker that dies leaves the process series with it; its replacement joins them.
    dead = min(workers)
    os.kill(dead, signal.SIGKILL)
    cluster.ask_until(lambda: dead not in (w := cluster.worker_requests()) and len([p for p, n in w.items() if n]) == 2,
                      within_s=REPLACE_S, what="the killed worker replaced")
    now = set(cluster.worker_requests())
    series = {int(dict(labels)["pid"]) for labels in cluster.metrics()["process_resident_memory_bytes"]}
    assert series == now and dead not in series and not alive(dead)
    text = httpx.get(f"{cluster.url}/metrics", timeout=10).text
    assert text.count("# TYPE process_resident_memory_bytes") == 1  # one family, not one per worker

    # The supervisor's and the workers' log lines, uvicorn's included, are JSON lines too.
    lines = cluster.log.read_text().splitlines()
    assert [line for line in lines if not line.startswith(("{", "satudata: "))] == []
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert len([r for r in records if r["logger"] == "access" and r["path"] == "/graphql"]) == cluster.sent



def test_a_reloaded_app_in_a_worker_does_not_count_the_collections_again(tmp_path: Path, repo_root: Path) -> None:
    """A reload builds a new app, and metrics, in the same worker: the GC counters go on from where
    they were (prometheus_client chooses its multi-process values at import, hence a process of its own)."""

    script = """
import gc, json, os
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from connectors import ConnectorRegistry
from gateway.metrics import GatewayMetrics

GatewayMetrics(ConnectorRegistry([])).observe_request(200, 0.01)
for _ in range(3):
    gc.collect()
GatewayMetrics(ConnectorRegistry([])).observe_request(200, 0.01)  # what a reload does
expected = gc.get_stats()[2]["collections"]
registry = CollectorRegistry()
MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
shown = registry.get_sample_value("python_gc_collections_total", {"generation": "2"})
print(json.dumps([shown, expected]))
"""
    (tmp_path / "metrics").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo_root, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
    )
    assert done.returncode == 0, done.stderr
    shown, expected = json.loads(done.stdout)
    assert expected >= 3 and shown == expected
