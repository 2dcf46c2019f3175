"""Prometheus metrics at ``/metrics``: requests, latency, and each source's calls, errors, latency and breaker.

Each app gets its own ``CollectorRegistry`` (tests build many apps in one process; the
global default registry would refuse the second set of metric names).

**Several worker processes** (``satudata serve --workers N``, ``gateway.workers``): the
supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` to a private directory before it starts the
workers, so prometheus_client keeps every value in a file per process there, and
``/metrics``, whichever worker answers it, reads them all (``MultiProcessCollector``).
Counters and histograms are summed over the workers, those that died included, so a total
never goes back when a worker is replaced. Gauges say how they combine:

- ``satudata_source_breaker_state`` is ``livemax``: each worker has a breaker of its own
  per source (it opens on the failures that worker saw), and what an operator must see is
  that *some* worker refuses calls to the source, so the worst state among the live
  workers; a dead worker's last state is dropped when the supervisor marks it dead
  (``max`` would keep it for ever). Each worker updates it on every call that can change
  its breaker, not only when it answers a scrape, which another worker may do for hours;
- ``satudata_worker_requests`` (only with workers) is ``liveall``: one series per live
  worker, labelled ``pid``, counting the GraphQL requests it answered, so an uneven
  spread of connections over the workers shows;
- ``satudata_heavy_queries_running`` and ``satudata_heavy_queries_waiting`` (the heavy-query
  gate, ``gateway.access.limits.gate``) are ``livesum``: each worker has its own slots, and the
  total over the live workers is what the machine carries.

**Process and garbage collector**: prometheus_client's own families (``process_*``: CPU
seconds, resident memory, open file descriptors, start time; ``python_gc_*``: collections and
objects collected per generation; ``python_info``). With workers, ``process_*`` has one series
per live worker, labelled ``pid``, read from ``/proc`` by whichever worker answers the scrape;
``python_gc_*`` are counters summed over the workers, each worker adding what ``gc.get_stats()``
counted since its last report (after a request, at most once a second, and when it answers a
scrape; a counter cannot be bumped from inside the collector, which may run while a lock of
prometheus_client is held).
"""

from __future__ import annotations

import gc
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from connectors import ConnectorRegistry

from .access.limits.gate import HeavyQueryGate

#: Where prometheus_client keeps the values of every process when several share the metrics.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


class GatewayMetrics:
    """The gateway's metric families, bound to one registry of sources."""

    def __init__(self, sources: ConnectorRegistry, *, gate: HeavyQueryGate | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "satudata_requests_total", "GraphQL HTTP requests by response status.", ["status"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "satudata_request_seconds", "GraphQL HTTP request latency.", buckets=_LATENCY_BUCKETS, registry=self.registry
        )
        self.source_calls = Counter(
            "satudata_source_calls_total",
            "Round-trips to each source by outcome (ok or the error code).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.source_seconds = Histogram(
            "satudata_source_call_seconds",
            "Latency of each source round-trip.",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.breaker = Gauge(
            "satudata_source_breaker_state",
            "Circuit breaker per source: 0 closed, 1 half-open, 2 open (with workers: the worst among them).",
            ["source"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.refusals = Counter(
            "satudata_access_refusals_total",
            "Requests refused on personal data, by role and outcome (refused, or budget_exceeded: the role's lookup "
            "budget ran out). A climbing count for one role is someone probing.",
            ["role", "outcome"],
            registry=self.registry,
        )
        self.heavy_running = Gauge(
            "satudata_heavy_queries_running",
            "Heavy queries executing now, each holding a slot of the heavy-query gate (with workers: the sum).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.heavy_waiting = Gauge(
            "satudata_heavy_queries_waiting",
            "Heavy queries waiting for a slot of the heavy-query gate (with workers: the sum).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        if gate is not None:
            gate.observers.append(self.observe_gate)
        self._sources = sources
        self._breakers_shown: dict[str, int] = {}
        self._call_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._request_children: dict[int, Any] = {}
        sources.observers.append(self.observe_call)
        multiproc_dir = os.environ.get(MULTIPROC_DIR_ENV)
        self.worker_requests: Gauge | None = None
        self._gc: _GarbageCollectorCounters | None = None
        self._exposed = self.registry
        if not multiproc_dir:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        else:
            self.worker_requests = Gauge(
                "satudata_worker_requests",
                "GraphQL HTTP requests answered by each live worker process since it started.",
                registry=self.registry,
                multiprocess_mode="liveall",
            )
            # A registry of its own: the workers' files hold every family, and the app's
            # registry would add this process's values a second time.
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=multiproc_dir)  # type: ignore[no-untyped-call]
            self._exposed.register(_WorkerProcesses(Path(multiproc_dir)))
            PlatformCollector(registry=self._exposed)
            self._gc = _GarbageCollectorCounters(self.registry)

    def observe_refusal(self, role: str, outcome: str) -> None:
        self.refusals.labels(role, outcome).inc()

    def observe_call(self, source: str, seconds: float, outcome: str) -> None:
        # The labelled children, found once: labels() takes a lock and builds a key per call,
        # and every source call of every request passes here.
        children = self._call_children.get((source, outcome))
        if children is None:
            children = self._call_children[(source, outcome)] = (
                self.source_calls.labels(source, outcome),
                self.source_seconds.labels(source),
            )
        children[0].inc()
        children[1].observe(seconds)
        # Only a failure, or the first success after one, can move a breaker.
        if outcome != "ok" or self._breakers_shown.get(source, 0):
            self._show_breakers()

    def observe_gate(self, running: int, waiting: int) -> None:
        self.heavy_running.set(running)
        self.heavy_waiting.set(waiting)

    def observe_request(self, status: int, seconds: float) -> None:
        counter = self._request_children.get(status)
        if counter is None:
            counter = self._request_children[status] = self.requests.labels(str(status))
        counter.inc()
        self.request_seconds.observe(seconds)
        if self.worker_requests is not None:
            self.worker_requests.inc()
        if self._gc is not None:
            self._gc.report(every_s=1.0)

    async def endpoint(self, request: Request) -> Response:
        self._show_breakers()
        if self._gc is not None:
            self._gc.report()
        return Response(generate_latest(self._exposed), media_type=CONTENT_TYPE_LATEST)

    def _show_breakers(self) -> None:
        for health in self._sources.health():
            value = self._breakers_shown[health.name] = _BREAKER_VALUE[health.breaker]
            self.breaker.labels(health.name).set(value)


#: The files prometheus_client keeps for a live process's gauges (removed when it is marked dead).
_LIVE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


class _WorkerProcesses:
    """``process_*`` of every live worker, labelled ``pid``: ``ProcessCollector`` reads
    ``/proc/PID`` of any process of the same user, so the worker answering a scrape reads all."""

    def __init__(self, multiproc_dir: Path) -> None:
        self.multiproc_dir = multiproc_dir

    def live_pids(self) -> list[int]:
        pids = {int(m.group(1)) for f in os.listdir(self.multiproc_dir) if (m := _LIVE_FILE.match(f))}
        return sorted(pids)

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for pid in self.live_pids():
            for family in ProcessCollector(pid=lambda pid=pid: pid, registry=None).collect():  # type: ignore[misc]
                into = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                for sample in family.samples:
                    into.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        return list(merged.values())


class _GarbageCollectorCounters:
    """``python_gc_*`` as counters in the workers' shared files, fed from ``gc.get_stats()``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["generation"]
        self.collections = Counter(
            "python_gc_collections", "Number of times this generation was collected", labels, registry=registry
        )
        self.collected = Counter(
            "python_gc_objects_collected", "Objects collected during gc", labels, registry=registry
        )
        self.uncollectable = Counter(
            "python_gc_objects_uncollectable", "Uncollectable objects found during GC", labels, registry=registry
        )
        # Every generation has its series from the start, at 0 until its first collection (as
        # prometheus_client's own GC collector shows them): a fresh worker on Python 3.13 may not have
        # collected the oldest generation yet, and a series that appears later is missing to rate().
        for generation in range(len(gc.get_stats())):
            for counter in (self.collections, self.collected, self.uncollectable):
                counter.labels(str(generation))
        self._next = 0.0
        self.report()

    def report(self, *, every_s: float = 0.0) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + every_s
        for generation, stats in enumerate(gc.get_stats()):
            current = (stats["collections"], stats["collected"], stats["uncollectable"])
            before = _gc_reported.get(generation, (0, 0, 0))
            label = str(generation)
            for counter, new, old in zip((self.collections, self.collected, self.uncollectable), current, before):
                if new > old:
                    counter.labels(label).inc(new - old)
            _gc_reported[generation] = current


#: What this process has added to the GC counters so far: per process, not per app, since a
#: reload's new app adds to the same counters (their values live in the process's files).
_gc_reported: dict[int, tuple[int, int, int]] = {}
