"""Fixtures for the demo OPD APIs: one small dataset, the three apps over it, HTTP clients through ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from demo import Dataset, build_dataset
from demo.apis import create_dinkes_app, create_lapor_app, create_sepeda_keren_app

SCALE = 0.02
SEED = 3503


@pytest.fixture(scope="session")
def ds() -> Dataset:
    return build_dataset(scale=SCALE, seed=SEED)


@pytest.fixture(scope="session")
def dinkes_app(ds: Dataset) -> Starlette:
    return create_dinkes_app(ds, SEED)


@pytest.fixture(scope="session")
def sepeda_app(ds: Dataset) -> Starlette:
    return create_sepeda_keren_app(ds, SEED)


@pytest.fixture(scope="session")
def lapor_app(ds: Dataset) -> Starlette:
    return create_lapor_app(ds, SEED)


@pytest.fixture(scope="session")
def apps(dinkes_app: Starlette, sepeda_app: Starlette, lapor_app: Starlette) -> dict[str, Starlette]:
    return {"dinkes": dinkes_app, "sepeda-keren": sepeda_app, "lapor": lapor_app}


def client_for(app: Starlette, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


@pytest.fixture
async def dinkes(dinkes_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(dinkes_app, "dinkes.test") as client:
        yield client


@pytest.fixture
async def sepeda(sepeda_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sepeda_app, "sepeda-keren.test") as client:
        yield client


@pytest.fixture
async def lapor(lapor_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(lapor_app, "lapor.test") as client:
        yield client


@pytest.fixture(scope="session")
def villages(ds: Dataset) -> set[str]:
    """The 157 real desa/kelurahan codes, dotted."""

    return {code for code, _name, level, _parent in ds.wilayah if level in ("desa", "kelurahan")}


@pytest.fixture(scope="session")
def people(ds: Dataset) -> dict[str, tuple[Any, ...]]:
    """Registry residents by NIK."""

    return {row[0]: row for row in ds.penduduk}


async def get_json(client: httpx.AsyncClient, url: str, params: dict[str, Any] | None = None, status: int = 200) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == status, f"{url} {params}: {response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    return response.json()


async def walk_pages(
    client: httpx.AsyncClient, url: str, params: dict[str, Any], per_page: int
) -> tuple[list[Any], int]:
    """Every record of a page-number list (Dinkes style); checks ``meta`` on the way. Returns (records, total)."""

    records: list[Any] = []
    page = 1
    while True:
        body = await get_json(client, url, {**params, "page": page, "per_page": per_page})
        meta = body["meta"]
        assert meta["page"] == page and meta["per_page"] == per_page
        assert meta["total_pages"] == -(-meta["total"] // per_page)
        assert len(body["data"]) == (
            min(per_page, meta["total"] - (page - 1) * per_page) if page <= meta["total_pages"] else 0
        )
        records += body["data"]
        if page >= meta["total_pages"]:
            return records, meta["total"]
        page += 1


async def walk_offset(client: httpx.AsyncClient, url: str, params: dict[str, Any], limit: int) -> tuple[list[Any], int]:
    """Every record of an offset list (LAPOR style), following ``next`` URLs. Returns (records, count)."""

    records: list[Any] = []
    body = await get_json(client, url, {**params, "limit": limit})
    assert body["previous"] is None
    count = body["count"]
    while True:
        assert body["count"] == count
        records += body["results"]
        if body["next"] is None:
            return records, count
        assert len(body["results"]) == limit
        body = await get_json(client, body["next"])
        assert body["previous"] is not None


async def walk_cursor(client: httpx.AsyncClient, url: str, params: dict[str, Any], limit: int) -> list[Any]:
    """Every item of a cursor list (Sepeda Keren style), following ``nextCursor``."""

    items: list[Any] = []
    cursor = None
    while True:
        body = await get_json(client, url, {**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        items += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return items
        assert len(body["items"]) == limit
