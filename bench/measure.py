"""Sending queries and summarising what came back: latency, source round-trips, size, errors."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from .queries import BenchQuery, Variables

TRACE_HEADERS = {"X-Satudata-Trace": "sources", "Accept": "application/json"}


@dataclass
class Sample:
    """One request's outcome."""

    query: str
    ms: float
    size: int
    round_trips: int | None
    source_ms: float | None
    rows: int | None
    errors: list[str]
    problem: str | None
    #: ``extensions.sources`` as returned: {source: {calls, rows, ms, errors}}.
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)


def new_client(base_url: str, concurrency: int = 1) -> httpx.AsyncClient:
    """One keep-alive client for a run (``concurrency`` pooled connections)."""

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=base_url, timeout=300.0, limits=limits, headers=TRACE_HEADERS)


async def send(client: httpx.AsyncClient, query: BenchQuery, variables: Variables) -> Sample:
    """POST one query; time it end to end and read the source trace from ``extensions.sources``."""

    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query.text, "variables": variables})
    body = response.content
    ms = (time.perf_counter() - started) * 1000
    errors: list[str] = []
    problem: str | None = None
    round_trips = rows = None
    source_ms = None
    try:
        payload = response.json()
    except ValueError:
        payload = {}
        errors.append(f"HTTP {response.status_code}: not JSON")
    if response.status_code != 200 and not errors:
        errors.append(f"HTTP {response.status_code}")
    for err in payload.get("errors") or []:
        code = (err.get("extensions") or {}).get("code", "?")
        errors.append(f"{code}: {err.get('message', '')}"[:200])
    sources = (payload.get("extensions") or {}).get("sources")
    if isinstance(sources, dict):
        round_trips = sum(int(s.get("calls", 0)) for s in sources.values())
        rows = sum(int(s.get("rows", 0)) for s in sources.values())
        source_ms = sum(float(s.get("ms", 0.0)) for s in sources.values())
    if not errors:
        problem = query.check(payload.get("data") or {})
    traced = sources if isinstance(sources, dict) else {}
    return Sample(query.name, ms, len(body), round_trips, source_ms, rows, errors, problem, traced)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``."""

    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class QueryStats:
    """Summary of the measured (post-warm-up) requests of one query."""

    name: str
    title: str
    requests: int
    median_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    round_trips_min: int | None
    round_trips_max: int | None
    expected_round_trips: tuple[int, int]
    median_source_ms: float | None
    median_rows: float | None
    median_bytes: float
    max_bytes: int
    errors: int
    error_examples: list[str] = field(default_factory=list)
    empty_answers: int = 0
    empty_examples: list[str] = field(default_factory=list)
    #: Per source: median calls, rows and ms over the requests (from ``extensions.sources``).
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""

        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def summarise(query: BenchQuery, samples: list[Sample]) -> QueryStats:
    """Latency percentiles, round-trip range, sizes and error counts of ``samples``."""

    ms = [s.ms for s in samples]
    trips = [s.round_trips for s in samples if s.round_trips is not None]
    src = [s.source_ms for s in samples if s.source_ms is not None]
    rows = [s.rows for s in samples if s.rows is not None]
    failed = [s for s in samples if s.errors]
    empty = [s for s in samples if s.problem]
    return QueryStats(
        name=query.name,
        title=query.title,
        requests=len(samples),
        median_ms=statistics.median(ms),
        p99_ms=percentile(ms, 99),
        min_ms=min(ms),
        max_ms=max(ms),
        round_trips_min=min(trips) if trips else None,
        round_trips_max=max(trips) if trips else None,
        expected_round_trips=query.expected_round_trips,
        median_source_ms=statistics.median(src) if src else None,
        median_rows=statistics.median(rows) if rows else None,
        median_bytes=statistics.median(s.size for s in samples),
        max_bytes=max(s.size for s in samples),
        errors=len(failed),
        error_examples=[e for e, _ in Counter(e for s in failed for e in s.errors).most_common(3)],
        empty_answers=len(empty),
        empty_examples=[p for p, _ in Counter(s.problem for s in empty if s.problem).most_common(3)],
        per_source=_per_source(samples),
    )


def _per_source(samples: list[Sample]) -> dict[str, dict[str, float]]:
    names = sorted({name for s in samples for name in s.sources})
    out: dict[str, dict[str, float]] = {}
    for name in names:
        traced = [s.sources.get(name, {}) for s in samples]
        out[name] = {
            key: statistics.median(float(t.get(key, 0)) for t in traced) for key in ("calls", "rows", "ms", "errors")
        }
    return out


async def run_sequential(
    client: httpx.AsyncClient,
    query: BenchQuery,
    warmup: list[Variables],
    measured: list[Variables],
    *,
    budget_s: float | None = None,
    min_requests: int = 20,
) -> tuple[QueryStats, list[Sample]]:
    """Warm up, then send ``measured`` one after another (concurrency 1) and summarise them.

    With ``budget_s``, a slow query stops early: warm-up after a quarter of the budget (at
    least one request), measuring after the budget once ``min_requests`` are done. The
    summary's ``requests`` says how many were measured.
    """

    started = time.perf_counter()
    for i, variables in enumerate(warmup):
        if budget_s is not None and i > 0 and time.perf_counter() - started > budget_s / 4:
            break
        await send(client, query, variables)
    samples: list[Sample] = []
    started = time.perf_counter()
    for variables in measured:
        if budget_s is not None and len(samples) >= min_requests and time.perf_counter() - started > budget_s:
            break
        samples.append(await send(client, query, variables))
    return summarise(query, samples), samples


@dataclass
class MixStats:
    """A concurrent run of the query mix."""

    concurrency: int
    requests: int
    seconds: float
    requests_per_s: float
    errors: int
    error_examples: list[str]
    empty_answers: int
    per_query_median_ms: dict[str, float]
    #: Failed requests by query and error code (the first GraphQL code, else the HTTP status).
    errors_by_query_and_code: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""

        return dict(self.__dict__)


async def run_concurrent(
    client: httpx.AsyncClient, work: list[tuple[BenchQuery, Variables]], concurrency: int
) -> MixStats:
    """Send ``work`` through ``concurrency`` workers sharing one client; throughput over the wall time."""

    queue: asyncio.Queue[tuple[BenchQuery, Variables]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    samples: list[Sample] = []

    async def worker() -> None:
        while True:
            try:
                query, variables = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            samples.append(await send(client, query, variables))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    by_query: dict[str, list[float]] = {}
    for s in samples:
        by_query.setdefault(s.query, []).append(s.ms)
    failed = [s for s in samples if s.errors]
    return MixStats(
        concurrency=concurrency,
        requests=len(samples),
        seconds=seconds,
        requests_per_s=len(samples) / seconds if seconds else 0.0,
        errors=len(failed),
        error_examples=[e for e, _ in Counter(e for s in failed for e in s.errors).most_common(3)],
        empty_answers=sum(1 for s in samples if s.problem),
        per_query_median_ms={q: statistics.median(v) for q, v in by_query.items()},
        errors_by_query_and_code=dict(Counter(f"{s.query} {_error_code(s.errors)}" for s in failed).most_common()),
    )


def _error_code(errors: list[str]) -> str:
    """``GATEWAY_BUSY`` from ``["HTTP 503", "GATEWAY_BUSY: ..."]``; ``HTTP 502`` when no GraphQL error came."""

    codes = [e.split(":", 1)[0] for e in errors if not e.startswith("HTTP ")]
    return codes[0] if codes else errors[0].split(":", 1)[0]
