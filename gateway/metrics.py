"""Prometheus metrics at ``/metrics``: requests, latency, and each source's calls, errors, latency and breaker.

Each app gets its own ``CollectorRegistry`` (tests build many apps in one process; the
global default registry would refuse the second set of metric names).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from connectors import ConnectorRegistry

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
            "Circuit breaker per source: 0 closed, 1 half-open, 2 open.",
            ["source"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "satudata_access_refusals_total",
            "Requests refused on personal data, by role and outcome (refused, or budget_exceeded: the role's lookup "
            "budget ran out). A climbing count for one role is someone probing.",
            ["role", "outcome"],
            registry=self.registry,
        )
        self._sources = sources
        sources.observers.append(self.observe_call)

    def observe_refusal(self, role: str, outcome: str) -> None:
        self.refusals.labels(role, outcome).inc()

    def observe_call(self, source: str, seconds: float, outcome: str) -> None:
        self.source_calls.labels(source, outcome).inc()
        self.source_seconds.labels(source).observe(seconds)

    def observe_request(self, status: int, seconds: float) -> None:
        self.requests.labels(str(status)).inc()
        self.request_seconds.observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        for health in self._sources.health():
            self.breaker.labels(health.name).set(_BREAKER_VALUE[health.breaker])
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
