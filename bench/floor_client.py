"""A closed-loop client for the deep query (C), which counts only what completes inside the window.

wrk counts the requests that complete between its start and its end. A request of ~1–8 s then makes
the count depend on where the window falls: at the start every connection waits for its first answer,
and at the end the requests still in flight are dropped, so a rate of ``concurrency / latency`` is
under-counted by up to a request per connection — a third and more at 20 s and several seconds per
request, and more for a slower server. Here the load runs without a break from the start of the
warm-up to the end of the window, each request's start and end are kept, and the rate and latencies
are taken over the requests that *ended* inside the window: the steady state.

At a few requests per second, a Python client is not what limits the rate (unlike A and B, which
need wrk).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from .floor_wrk import LoadResult


@dataclass(frozen=True)
class Completed:
    """One request: when it started and ended (``perf_counter`` s), and its error code if it failed."""

    started: float
    ended: float
    error: str | None


def error_code(status: int, body: bytes) -> str | None:
    """``None`` for a clean answer, else the first error's ``extensions.code`` (or ``HTTP_<status>``)."""

    if status == 200 and b'"errors"' not in body:
        return None
    try:
        errors = orjson.loads(body).get("errors") or [{}]
        code = (errors[0].get("extensions") or {}).get("code")
    except (orjson.JSONDecodeError, AttributeError, IndexError):
        code = None
    return str(code) if code else f"HTTP_{status}"


async def closed_loop(
    url: str, path: str, bodies: list[dict[str, Any]], headers: dict[str, str], *,
    concurrency: int, warmup: float, seconds: float,
) -> LoadResult:
    """``concurrency`` connections each sending the next body as soon as the last answer is in, for
    ``warmup + seconds``; the result covers the requests that ended in the last ``seconds``."""

    done: list[Completed] = []
    began = time.perf_counter()
    window = (began + warmup, began + warmup + seconds)
    counter = iter(range(1 << 62))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sent_headers = {"content-type": "application/json", "accept": "application/json", **headers}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(300.0)) as client:

        async def connection() -> None:
            while (started := time.perf_counter()) < window[1]:
                body = orjson.dumps(bodies[next(counter) % len(bodies)])
                try:
                    response = await client.post(path, content=body, headers=sent_headers)
                    error = error_code(response.status_code, response.content)
                except httpx.HTTPError as exc:
                    error = f"socket/{type(exc).__name__}"
                done.append(Completed(started, time.perf_counter(), error))

        tasks = [asyncio.create_task(connection()) for _ in range(concurrency)]
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        for task in tasks:  # what is in flight now ends after the window: not waited for
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return summarise([c for c in done if window[0] <= c.ended < window[1]], seconds)


def summarise(completed: list[Completed], seconds: float) -> LoadResult:
    """The window's requests as a ``LoadResult`` (latencies of every answer, errors by code)."""

    latencies = sorted((c.ended - c.started) * 1000 for c in completed)
    codes: dict[str, int] = {}
    for c in completed:
        if c.error is not None and not c.error.startswith("socket/"):
            codes[c.error] = codes.get(c.error, 0) + 1
    sockets = sum(1 for c in completed if c.error is not None and c.error.startswith("socket/"))
    return LoadResult(
        seconds=seconds,
        p50_ms=statistics.median(latencies) if latencies else 0.0,
        p99_ms=latencies[math.ceil(0.99 * len(latencies)) - 1] if latencies else 0.0,  # nearest rank
        requests=len(completed) - sockets,
        bad_answers=sum(codes.values()),
        socket_errors=sockets,
        codes=codes,
    )
