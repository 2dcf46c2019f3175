"""What all three demo APIs promise: OpenAPI 3.1 for every route, JSON errors, /health, determinism,
and agreement with the civil registry (every NIK and desa code they return is real)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from demo import Dataset, build_dataset
from demo.apis import API_NAMES, create_app, create_dinkes_app, create_lapor_app, create_sepeda_keren_app
from demo.regions import dotted

from .conftest import SCALE, SEED, client_for, get_json, walk_cursor, walk_offset, walk_pages
from .schema_check import assert_documented, resolve


def test_api_names_and_factories(ds: Dataset) -> None:
    assert API_NAMES == ("dinkes", "sepeda-keren", "lapor")
    with pytest.raises(ValueError, match="unknown API"):
        create_app("dukcapil", ds)


@pytest.mark.parametrize("name", API_NAMES)
async def test_openapi_describes_every_route(name: str, apps: dict[str, Starlette]) -> None:
    app = apps[name]
    async with client_for(app, f"{name}.test") as client:
        spec = await get_json(client, "/openapi.json")
    assert spec["openapi"] == "3.1.0" and spec["info"]["title"] and spec["info"]["version"]
    routes = {r.path: r for r in app.routes if isinstance(r, Route)}
    assert set(spec["paths"]) == set(routes)
    for path, route in routes.items():
        assert route.methods is not None and set(route.methods) == {"GET", "HEAD"}
        assert set(spec["paths"][path]) == {"get"}, path
        operation = spec["paths"][path]["get"]
        assert operation["operationId"] and operation["summary"] and "200" in operation["responses"]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path
        for parameter in operation.get("parameters", []):
            assert parameter["description"] and parameter["schema"], (path, parameter["name"])
        for response in operation["responses"].values():
            resolve(spec, response["content"]["application/json"]["schema"])
    for schema in spec["components"]["schemas"].values():
        _check_refs(spec, schema)


def _check_refs(spec: dict[str, Any], node: Any) -> None:
    if isinstance(node, dict):
        if "$ref" in node:
            resolve(spec, node)
        for value in node.values():
            _check_refs(spec, value)
    elif isinstance(node, list):
        for value in node:
            _check_refs(spec, value)


@pytest.mark.parametrize("name", API_NAMES)
async def test_health_and_json_errors(name: str, apps: dict[str, Starlette]) -> None:
    app = apps[name]
    spec = orjson.loads(orjson.dumps(app.state.data and _spec(name)))
    async with client_for(app, f"{name}.test") as client:
        health = await get_json(client, "/health")
        assert health["status"] == "ok" and health["service"] == name and health["as_of"] == "2026-11-27"
        assert health["records"] == app.state.data.counts()
        assert_documented(spec, "/health", 200, health)
        for path in ("/nope", "/api/v1/faskes/x/y", "/v1/cohorts/x/y/z", "/api/reports/x/y"):
            response = await client.get(path)
            if response.status_code == 404 and path in spec["paths"]:
                continue
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"]["code"] == "NOT_FOUND"
        posted = await client.post("/health", json={})
        assert posted.status_code == 405 and posted.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert "GET" in posted.headers["allow"]


def _spec(name: str) -> dict[str, Any]:
    from demo.apis import dinkes, lapor, sepeda_keren

    module = {"dinkes": dinkes, "sepeda-keren": sepeda_keren, "lapor": lapor}[name]
    spec: dict[str, Any] = module.openapi_spec()
    return spec


async def _snapshot(ds: Dataset, seed: int) -> dict[str, Any]:
    """A broad sample of all three APIs' answers."""

    niks = ",".join(row[0] for row in ds.penduduk[::200][:100])
    out: dict[str, Any] = {}
    async with client_for(create_dinkes_app(ds, seed), "d") as d:
        out["skdr"], _ = await walk_pages(d, "/api/v1/skdr/laporan-mingguan", {}, per_page=100)
        out["pasien"] = (await get_json(d, "/api/v1/pasien", {"nik": niks}))["data"]
        out["faskes"] = (await get_json(d, "/api/v1/faskes"))["data"]
    async with client_for(create_sepeda_keren_app(ds, seed), "s") as s:
        out["cohorts"] = await walk_cursor(s, "/v1/cohorts", {}, limit=100)
        first = out["cohorts"][0]["cohortId"]
        out["sessions"] = await walk_cursor(s, f"/v1/cohorts/{first}/sessions", {}, limit=100)
        out["attendance"] = await walk_cursor(
            s, f"/v1/sessions/{out['sessions'][0]['sessionId']}/attendance", {}, limit=100
        )
        out["participant"] = await get_json(s, f"/v1/participants/{out['attendance'][0]['nik']}")
    async with client_for(create_lapor_app(ds, seed), "l") as lapor:
        out["reports"], _ = await walk_offset(lapor, "/api/reports", {}, limit=100)
    return out


async def test_same_seed_same_json(ds: Dataset) -> None:
    again = build_dataset(scale=SCALE, seed=SEED)
    first = await _snapshot(ds, SEED)
    second = await _snapshot(again, SEED)
    assert orjson.dumps(first) == orjson.dumps(second)
    other = await _snapshot(ds, SEED + 1)
    assert other["faskes"] == first["faskes"], "the facilities are reference data, not random"
    for key in ("skdr", "pasien", "cohorts", "reports"):
        assert other[key] != first[key], key


def _niks_and_regions(value: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(kind, path, value) for every NIK-like and region-code-like string in a JSON value."""

    if isinstance(value, dict):
        for key, item in value.items():
            yield from _niks_and_regions(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _niks_and_regions(item, path)
    elif isinstance(value, str):
        if re.fullmatch(r"\d{16}", value):
            yield "nik", path, value
        elif re.fullmatch(r"35\d{8}|35\.03\.\d{2}\.\d{4}", value):
            yield "desa", path, value


async def test_every_nik_and_desa_code_is_real(
    ds: Dataset, apps: dict[str, Starlette], people: dict[str, Any], villages: set[str]
) -> None:
    seen: dict[str, int] = {"nik": 0, "desa": 0}
    sample = [row[0] for row in ds.penduduk[::97][:100]]
    async with client_for(apps["dinkes"], "d") as d:
        bodies: list[Any] = [await walk_pages(d, "/api/v1/faskes", {}, per_page=100)]
        bodies.append(await walk_pages(d, "/api/v1/skdr/laporan-mingguan", {}, per_page=100))
        bodies.append(await get_json(d, "/api/v1/pasien", {"nik": ",".join(sample)}))
    data = apps["sepeda-keren"].state.data
    async with client_for(apps["sepeda-keren"], "s") as s:
        cohorts = await walk_cursor(s, "/v1/cohorts", {}, limit=100)
        bodies.append(cohorts)
        for cohort in cohorts[::4]:
            sessions = await walk_cursor(s, f"/v1/cohorts/{cohort['cohortId']}/sessions", {}, limit=100)
            bodies.append(sessions)
            bodies.append(await walk_cursor(s, f"/v1/sessions/{sessions[-1]['sessionId']}/attendance", {}, limit=100))
        for nik in list(data.participants)[::7]:
            bodies.append(await get_json(s, f"/v1/participants/{nik}"))
    async with client_for(apps["lapor"], "l") as lapor:
        bodies.append(await walk_offset(lapor, "/api/reports", {}, limit=100))
    for body in bodies:
        for kind, path, value in _niks_and_regions(body):
            seen[kind] += 1
            if kind == "nik":
                assert value in people, f"{path}: NIK {value} is not in the registry"
            else:
                assert (dotted(value) if "." not in value else value) in villages, f"{path}: {value} is not a desa"
    assert seen["nik"] > 500 and seen["desa"] > 1500
