"""The CORS allow-list: listed origins may call the gateway from a browser, others may not."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core import ConfigError
from gateway.cors import cors_middleware, cors_origins

PORTAL = "https://satudata.trenggalekkab.go.id"


def app_allowing(value: Any) -> Starlette:
    async def graphql(request: Request) -> JSONResponse:
        return JSONResponse({"data": {"__typename": "Query"}})

    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"])], middleware=[cors_middleware(cors_origins(value))])


async def preflight(app: Starlette, origin: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        return await client.options(
            "/graphql",
            headers={"origin": origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, authorization"},
        )


async def test_a_listed_origin_passes_preflight_and_reads_the_answer() -> None:
    app = app_allowing([PORTAL])
    response = await preflight(app, PORTAL)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PORTAL
    assert "authorization" in response.headers["access-control-allow-headers"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        answer = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": PORTAL})
    assert answer.headers["access-control-allow-origin"] == PORTAL
    assert "retry-after" in answer.headers["access-control-expose-headers"]


@pytest.mark.parametrize("value", [None, [], [PORTAL]])
async def test_other_origins_are_refused_and_no_wildcard_by_default(value: Any) -> None:
    response = await preflight(app_allowing(value), "https://evil.example")
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_wildcard_must_be_written_out() -> None:
    response = await preflight(app_allowing(["*"]), "https://anyone.example")
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (PORTAL, "must be a list of origins"),
        ([PORTAL + "/"], "no path or trailing slash"),
        (["satudata.trenggalekkab.go.id"], "is not an origin"),
        (["*", PORTAL], "not both"),
    ],
)
def test_a_wrong_origin_is_refused_at_startup(value: Any, complaint: str) -> None:
    with pytest.raises(ConfigError) as refused:
        cors_origins(value)
    assert complaint in refused.value.message
