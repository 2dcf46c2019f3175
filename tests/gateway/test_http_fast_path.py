"""The endpoint's own request headers, body read and answer (gateway.http's fast path) say what
Starlette's ``Headers``, ``Request.stream()`` and ``Response`` said."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from starlette.datastructures import Headers

from gateway.http_wire import RequestHeaders, json_response

from ..conftest import Gateway

RAW = [
    (b"host", b"example"),
    (b"accept", b"application/json"),
    (b"x-satudata-purpose", b"first"),
    (b"x-satudata-purpose", b"second"),
    (b"x-empty", b""),
]


@pytest.mark.parametrize("name", ["accept", "Accept", "X-Satudata-Purpose", "x-empty", "x-missing", "content-length"])
def test_request_headers_answer_as_starlettes(name: str) -> None:
    ours, theirs = RequestHeaders({"headers": list(RAW)}), Headers(raw=list(RAW))
    assert ours.get(name) == theirs.get(name)
    assert ours.get(name, "default") == theirs.get(name, "default")
    assert (name in ours) == (name in theirs)
    assert ours.getlist(name) == theirs.getlist(name)
    if name in theirs:
        assert ours[name] == theirs[name]
    else:
        with pytest.raises(KeyError):
            ours[name]


async def test_answer_carries_what_a_starlette_response_carried() -> None:
    answer = json_response({"errors": []}, 405, "application/json", "rid-1", allow=True, extra_headers={"Retry-After": "3"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await answer({"type": "http"}, None, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 405
    headers = dict(sent[0]["headers"])
    assert headers == {
        b"x-request-id": b"rid-1",
        b"content-length": b"13",
        b"content-type": b"application/json; charset=utf-8",
        b"retry-after": b"3",
        b"allow": b"GET, POST",
    }
    assert sent[1] == {"type": "http.response.body", "body": b'{"errors":[]}'}


async def test_a_body_in_several_chunks_is_read_whole(sqlite_gateway: Gateway) -> None:
    body = orjson.dumps({"query": "{ agencies { code } }"})

    async def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(body), 5):
            yield body[start : start + 5]
            await asyncio.sleep(0)

    response = await sqlite_gateway.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json", "accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["agencies"][0] == {"code": "DINDIKPORA"}


async def test_a_body_over_the_limit_in_chunks_is_refused(sqlite_gateway: Gateway) -> None:
    padding = "x" * (2 * 1024 * 1024)
    body = orjson.dumps({"query": "{ agencies { code } }", "extensions": {"padding": padding}})

    async def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = await sqlite_gateway.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json", "accept": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_graphql_lane_keeps_the_access_line_and_graphiql(sqlite_gateway: Gateway) -> None:
    """GET/POST /graphql skip the router (gateway.app.GatewayApp), not the middleware: the request id
    the access log assigns comes back, GraphiQL still finds its route by name, other methods still 405."""

    response = await sqlite_gateway.client.post("/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "lane-1"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "lane-1"
    page = await sqlite_gateway.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    put = await sqlite_gateway.client.put("/graphql", json={"query": "{ __typename }"})
    assert put.status_code == 405 and put.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    "accept",
    [None, "", "*/*", "application/json", "application/graphql-response+json, application/json", "text/html", "application/json;q=0"],
)
def test_negotiate_answers_the_same_from_its_cache(accept: str | None) -> None:
    from gateway.http_wire import _negotiate, negotiate

    assert negotiate(accept) == _negotiate(accept)
    assert negotiate(accept) == _negotiate(accept)  # the second time from the cache


async def test_the_endpoint_answers_with_the_access_logs_request_id(sqlite_gateway: Gateway) -> None:
    """A NIK-shaped X-Request-Id is replaced by the access log; the answer carries the replacement."""

    response = await sqlite_gateway.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "3503010101010001"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] != "3503010101010001"
    assert len(response.headers["x-request-id"]) == 32
