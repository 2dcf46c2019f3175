"""A REST source without a batch endpoint: one call per key, hundreds per query (issue 10).

The API is a Starlette app served by uvicorn on a real 127.0.0.1 socket (``serve_api``), so
connections, timeouts and concurrency are the real ones. It records, per call, the client's
address (one per TCP connection) and how many calls it was answering at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import ResiliencePolicy, ResilientConnector, SourceQuery, SourceTimeout, SourceUnavailable
from core import ConfigError
from connectors.api_client import environment_proxy, transport_for
from connectors.base import Filter
from connectors.http1 import Http1Transport
from connectors.resilience import DeadlineExceeded, request_deadline
from connectors.rest import RestConnector

from ..conftest import serve_api

KEYS = [f"K{i:03d}" for i in range(200)]
ROWS = [{"kode": f"R{i:03d}", "n": i} for i in range(20)]


@dataclass
class Api:
    """What the API saw, and how slowly it answers (``delay_s``, per path: ``slow``)."""

    url: str = ""
    delay_s: float = 0.0
    slow: dict[str, float] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    clients: set[tuple[str, int]] = field(default_factory=set)
    in_flight: int = 0
    most_in_flight: int = 0

    def reset(self) -> None:
        self.calls.clear()
        self.clients.clear()
        self.most_in_flight = 0


def make_app(api: Api) -> Starlette:
    async def answer(request: Request, body: Any, status: int = 200) -> Response:
        api.calls.append(request.url.path + ("?" + request.url.query if request.url.query else ""))
        assert request.client is not None
        api.clients.add((request.client.host, request.client.port))
        api.in_flight += 1
        api.most_in_flight = max(api.most_in_flight, api.in_flight)
        try:
            await asyncio.sleep(api.slow.get(request.url.path, api.delay_s))
        finally:
            api.in_flight -= 1
        if request.url.path in api.failing:
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse(body, status_code=status)

    async def item(request: Request) -> Response:
        key = request.path_params["key"]
        return await answer(request, {"data": {"kode": key, "n": int(key[1:])}})

    async def paged(request: Request) -> Response:
        page, size = int(request.query_params["page"]), int(request.query_params["per_page"])
        total_pages = -(-len(ROWS) // size)
        return await answer(request, {"data": ROWS[(page - 1) * size : page * size], "meta": {"total_pages": total_pages}})

    return Starlette(routes=[Route("/items/{key}", item), Route("/rows", paged)])


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    state = Api()
    served = serve_api(make_app(state), "fan-out test")
    state.url = next(served)
    yield state
    served.close()


@pytest.fixture(autouse=True)
def fresh(api: Api) -> None:
    # A call a previous test gave up on may still be sleeping at the API: let it finish first.
    deadline = time.monotonic() + 3
    while api.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    api.reset()
    api.delay_s = 0.0
    api.slow.clear()
    api.failing.clear()


def connector(api: Api, **extra: Any) -> RestConnector:
    raw = {
        "kind": "rest",
        "agency": "TEST",
        "base_url": api.url,
        "max_concurrency": 4,
        "timeout_s": 5,
        **extra,
        "entities": {
            "Item": {
                "path": "/rows",
                "key": "code",
                "records": "data",
                "record": "data",
                "lookup": {"code": "/items/{value}"},
                "pagination": {"style": "page", "size": 2, "total_pages": "meta.total_pages"},
                "fields": {"code": "kode", "n": "n"},
            }
        },
    }
    return RestConnector.from_settings("fan_out_api", raw)


def by_keys(keys: list[str]) -> SourceQuery:
    return SourceQuery("Item", where=(Filter("code", "in", tuple(keys)),))


class Deadline:
    """The request's deadline, ``seconds`` from now, as ``RegistrySession`` sets it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        self.token = request_deadline.set(asyncio.get_running_loop().time() + self.seconds)

    def __exit__(self, *exc: object) -> None:
        request_deadline.reset(self.token)


# -- connections -----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["http1", "httpcore"])
async def test_a_fan_out_reuses_as_many_connections_as_calls_may_be_in_flight(api: Api, transport: str) -> None:
    rest = connector(api, transport=transport, max_concurrency=4)
    try:
        assert len(await rest.fetch(by_keys(KEYS[:60]))) == 60
        assert len(api.calls) == 60 and api.most_in_flight <= 4
        assert len(api.clients) <= 4  # one client address per TCP connection
        first = set(api.clients)
        assert len(await rest.fetch(by_keys(KEYS[60:120]))) == 60
        assert api.clients == first  # the next fetch opened none
    finally:
        await rest.aclose()


def test_the_transport_is_chosen_in_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(transport_for("http://api.test", "http1", 4), Http1Transport)
    assert isinstance(transport_for("http://api.test", "httpcore", 4), httpx.AsyncHTTPTransport)
    with pytest.raises(ConfigError, match="transport"):
        RestConnector.from_settings("x", {"agency": "T", "base_url": "http://api.test", "transport": "h2"})
    with pytest.raises(ConfigError, match="max_concurrency"):
        RestConnector.from_settings("x", {"agency": "T", "base_url": "http://api.test", "max_concurrency": 0})


def test_a_proxy_the_environment_names_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.pemkab.test:3128")
    monkeypatch.setenv("NO_PROXY", "internal.test")
    assert environment_proxy("http://dinkes.example.test/api") == "http://proxy.pemkab.test:3128"
    assert environment_proxy("https://dinkes.example.test/api") is None  # HTTPS_PROXY is not set
    assert environment_proxy("http://opd.internal.test") is None
    assert isinstance(transport_for("http://dinkes.example.test", "http1", 4), httpx.AsyncHTTPTransport)
    assert isinstance(transport_for("http://opd.internal.test", "http1", 4), Http1Transport)


# -- the request's deadline ------------------------------------------------------------------


async def test_a_fan_out_longer_than_one_calls_timeout_answers_within_the_request_deadline(api: Api) -> None:
    """Forty quick calls two at a time take longer than ``timeout_s``; none of them is slow.

    Before issue 10 the source's ``timeout_s`` bounded the whole fetch: SOURCE_TIMEOUT, and a
    step towards opening the breaker.
    """

    api.delay_s = 0.03
    rest = ResilientConnector(connector(api, max_concurrency=2, timeout_s=0.3), ResiliencePolicy(timeout_s=0.3))
    try:
        with Deadline(10):
            started = time.monotonic()
            found = await rest.fetch(by_keys(KEYS[:40]))
        assert sorted(r["code"] for r in found) == KEYS[:40]
        assert time.monotonic() - started > 0.3  # longer than timeout_s, and fine
        assert rest.breaker.failures == 0
    finally:
        await rest.aclose()


async def test_the_request_deadline_bounds_the_whole_fan_out(api: Api) -> None:
    """A hundred 0.1 s calls two at a time need 5 s; the request has 0.5 s. The fetch fails at the
    deadline, the calls still queued never reach the API, and the source is not blamed."""

    api.delay_s = 0.1
    rest = ResilientConnector(connector(api, max_concurrency=2, timeout_s=3), ResiliencePolicy(timeout_s=3))
    try:
        with Deadline(0.5):
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded) as caught:
                await rest.fetch(by_keys(KEYS[:100]))
        elapsed = time.monotonic() - started
        assert caught.value.code == "SOURCE_TIMEOUT" and isinstance(caught.value, SourceTimeout)
        assert elapsed < 0.9, f"failed after {elapsed:.2f} s"
        await asyncio.sleep(0.3)  # anything still queued would have been sent by now
        assert len(api.calls) <= 2 * (0.5 / 0.1 + 2), f"{len(api.calls)} of 100 calls reached the API"
        assert rest.breaker.failures == 0 and rest.health().state == "up"
    finally:
        await rest.aclose()


async def test_calls_queued_behind_another_requests_fan_out_give_up_at_their_own_deadline(api: Api) -> None:
    """The slots are the source's, shared by every request: a request whose calls are all still
    queued behind another's fails at its own deadline, and its calls are never sent."""

    api.delay_s = 0.1
    rest = connector(api, max_concurrency=2)
    try:
        other = asyncio.ensure_future(rest.fetch(by_keys(KEYS[:20])))  # no deadline: 1 s of calls
        await asyncio.sleep(0.05)
        with Deadline(0.2):
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await rest.fetch(by_keys(KEYS[100:110]))
        assert time.monotonic() - started < 0.5
        assert len(await other) == 20
        assert not any(c.startswith("/items/K1") for c in api.calls)
    finally:
        await rest.aclose()


async def test_a_call_queued_past_the_deadline_is_not_sent(api: Api) -> None:
    rest = connector(api)
    try:
        with Deadline(-0.001):
            with pytest.raises(DeadlineExceeded):
                await rest.fetch(by_keys(KEYS[:3]))
        assert api.calls == []
    finally:
        await rest.aclose()


async def test_one_slow_call_is_the_sources_timeout(api: Api) -> None:
    """``timeout_s`` is each call's, from the moment it is sent, and its running out is the source's failure."""

    api.slow["/items/K007"] = 1.0
    rest = ResilientConnector(connector(api, timeout_s=0.2), ResiliencePolicy(timeout_s=0.2, retries=0))
    try:
        with Deadline(10):
            with pytest.raises(SourceTimeout, match=r"within 0.2 s") as caught:
                await rest.fetch(by_keys(KEYS[:20]))
        assert not isinstance(caught.value, DeadlineExceeded)
        assert rest.breaker.failures == 1
    finally:
        await rest.aclose()


async def test_one_failed_call_stops_the_rest_of_the_fan_out(api: Api) -> None:
    api.delay_s = 0.05
    api.failing.add("/items/K002")
    rest = connector(api, max_concurrency=2)
    try:
        with pytest.raises(SourceUnavailable):
            await rest.fetch(by_keys(KEYS[:50]))
        await asyncio.sleep(0.3)  # anything still queued would have been sent by now
        assert len(api.calls) < 10  # the other 40-odd were never asked for
    finally:
        await rest.aclose()


# -- pages ----------------------------------------------------------------------------------


async def test_pages_after_the_first_are_asked_at_once_and_kept_in_order(api: Api) -> None:
    api.delay_s = 0.05
    rest = connector(api, max_concurrency=4)
    try:
        found = await rest.fetch(SourceQuery("Item", order_by=("n",)))
        assert [r["n"] for r in found] == [r["n"] for r in ROWS]
        assert sorted(api.calls) == sorted(f"/rows?page={p}&per_page=2" for p in range(1, 11))
        assert api.calls[0] == "/rows?page=1&per_page=2"  # the first says how many there are
        assert api.most_in_flight == 4  # then the other nine, four at a time
    finally:
        await rest.aclose()


async def test_a_list_needing_more_pages_than_allowed_is_refused_after_the_first(api: Api) -> None:
    from connectors import SourceBadResponse

    rest = connector(api, max_pages=5)
    try:
        with pytest.raises(SourceBadResponse, match="more than 5 pages"):
            await rest.fetch(SourceQuery("Item"))
        assert api.calls == ["/rows?page=1&per_page=2"]
    finally:
        await rest.aclose()
