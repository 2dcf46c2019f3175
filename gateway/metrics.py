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
  spread of connections over the workers shows.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from connectors import ConnectorRegistry

#: Where prometheus_client keeps the values of every process when several share the metrics.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


class GatewayMetrics:
    """The gateway's metric families, bound to one registry of sources."""

    def __init__(self, sources: ConnectorRegistry) -> None:
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
        self._sources = sources
        self._breakers_shown: dict[str, int] = {}
        sources.observers.append(self.observe_call)
        multiproc_dir = os.environ.get(MULTIPROC_DIR_ENV)
        self.worker_requests: Gauge | None = None
        self._exposed = self.registry
        if multiproc_dir:
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

    def observe_refusal(self, role: str, outcome: str) -> None:
        self.refusals.labels(role, outcome).inc()

    def observe_call(self, source: str, seconds: float, outcome: str) -> None:
        self.source_calls.labels(source, outcome).inc()
        self.source_seconds.labels(source).observe(seconds)
        # Only a failure, or the first success after one, can move a breaker.
        if outcome != "ok" or self._breakers_shown.get(source, 0):
            self._show_breakers()

    def observe_request(self, status: int, seconds: float) -> None:
        self.requests.labels(str(status)).inc()
        self.request_seconds.observe(seconds)
        if self.worker_requests is not None:
            self.worker_requests.inc()

    async def endpoint(self, request: Request) -> Response:
        self._show_breakers()
        return Response(generate_latest(self._exposed), media_type=CONTENT_TYPE_LATEST)

    def _show_breakers(self) -> None:
        for health in self._sources.health():
            value = self._breakers_shown[health.name] = _BREAKER_VALUE[health.breaker]
            self.breaker.labels(health.name).set(value)
