"""The REST connector against real HTTP semantics (Starlette app over httpx's ASGI transport),
checked against the in-memory reference on the same rows, for every pagination style."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import InMemoryConnector, SourceBadResponse, SourceInfo, SourceQuery, SourceUnavailable
from connectors.base import Filter
from connectors.rest import RestConnector

from .test_sql_connector import QUERIES, ROWS, as_vocabulary

PEOPLE = [dict(zip(("nik", "nama", "jk", "lahir", "wilayah", "status"), row)) for row in ROWS]


def make_api(calls: list[str]) -> Starlette:
    def select(request: Request) -> list[dict[str, Any]]:
        calls.append(str(request.url.path) + "?" + str(request.url.query))
        rows = PEOPLE
        if "nik" in request.query_params:
            wanted = request.query_params["nik"].split(",")
            rows = [r for r in rows if r["nik"] in wanted]
        if "wilayah" in request.query_params:
            rows = [r for r in rows if r["wilayah"].startswith(request.query_params["wilayah"])]
        return rows

    async def paged(request: Request) -> Response:
        rows = select(request)
        page, size = int(request.query_params.get("page", 1)), int(request.query_params.get("per_page", 2))
        total_pages = max(1, -(-len(rows) // size))
        return JSONResponse({"data": rows[(page - 1) * size : page * size], "meta": {"total_pages": total_pages}})

    async def offset(request: Request) -> Response:
        rows = select(request)
        start, limit = int(request.query_params.get("offset", 0)), int(request.query_params.get("limit", 2))
        more = start + limit < len(rows)
        return JSONResponse({"results": rows[start : start + limit], "count": len(rows), "next": "more" if more else None})

    async def cursor(request: Request) -> Response:
        rows = select(request)
        start, limit = int(request.query_params.get("cursor") or 0), int(request.query_params.get("limit", 2))
        more = start + limit < len(rows)
        return JSONResponse({"items": rows[start : start + limit], "nextCursor": str(start + limit) if more else None})

    async def one(request: Request) -> Response:
        calls.append(request.url.path)
        found = [r for r in PEOPLE if r["nik"] == request.path_params["nik"]]
        return JSONResponse({"warga": found[0]}) if found else JSONResponse({"error": "not found"}, status_code=404)

    async def desa_warga(request: Request) -> Response:
        # Residents of one desa, cursor-paged; the rows leave out the desa the path names.
        calls.append(str(request.url.path) + "?" + str(request.url.query))
        rows = [{k: v for k, v in r.items() if k != "wilayah"} for r in PEOPLE if r["wilayah"] == request.path_params["kode"]]
        start, limit = int(request.query_params.get("cursor") or 0), int(request.query_params.get("limit", 2))
        more = start + limit < len(rows)
        return JSONResponse({"items": rows[start : start + limit], "nextCursor": str(start + limit) if more else None})

    async def broken(request: Request) -> Response:
        calls.append(request.url.path)
        kind = request.path_params["kind"]
        if kind == "500":
            return JSONResponse({"error": "db down"}, status_code=503)
        if kind == "json":
            return Response(b'{"data": [', media_type="application/json")
        return JSONResponse({"data": "not a list"})

    return Starlette(
        routes=[
            Route("/paged", paged),
            Route("/offset", offset),
            Route("/cursor", cursor),
            Route("/warga/{nik}", one),
            Route("/desa/{kode}/warga", desa_warga),
            Route("/broken/{kind}", broken),
        ]
    )


FIELDS = {
    "nik": "nik",
    "name": "nama",
    "sex": {"column": "jk", "values": {"L": "MALE", "P": "FEMALE"}},
    "birthDate": {"column": "lahir", "type": "date"},
    "regionCode": {"column": "wilayah", "transform": "region_code_digits"},
    "status": {"column": "status", "values": {"HIDUP": "ALIVE", "MATI": "DECEASED"}},
}
STYLES = {
    "page": {"path": "/paged", "records": "data", "pagination": {"style": "page", "size": 2, "total_pages": "meta.total_pages"}},
    "offset": {"path": "/offset", "records": "results", "pagination": {"style": "offset", "size": 2}},
    "cursor": {"path": "/cursor", "records": "items", "pagination": {"style": "cursor", "size": 2}},
}


def connector(style: str, calls: list[str], **extra: Any) -> RestConnector:
    entity = {**STYLES[style], "key": "nik", "fields": FIELDS, **extra}
    raw = {"kind": "rest", "agency": "TEST", "base_url": "http://api.test", "entities": {"Person": entity}}
    return RestConnector.from_settings("warga_api", raw, transport=httpx.ASGITransport(app=make_api(calls)))


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr(q.where or q.group_by or q.after))
async def test_rest_answers_like_the_in_memory_reference(style: str, query: SourceQuery) -> None:
    rest = connector(style, [])
    ref = InMemoryConnector(SourceInfo("ref", "memory", "T", "", ("Person",)), {"Person": [as_vocabulary(r) for r in ROWS]}, {"Person": "nik"})
    try:
        got, want = [dict(r) for r in await rest.fetch(query)], [dict(r) for r in await ref.fetch(query)]
        if query.group_by is not None:
            got, want = sorted(got, key=repr), sorted(want, key=repr)
        assert got == want
    finally:
        await rest.aclose()


async def test_batch_endpoint_answers_many_keys_in_one_call_per_chunk() -> None:
    calls: list[str] = []
    rest = connector("page", calls, batch={"nik": {"param": "nik", "max": 2}})
    keys = tuple(r[0] for r in ROWS)
    found = await rest.fetch(SourceQuery("Person", where=(Filter("nik", "in", keys),)))
    assert sorted(r["nik"] for r in found) == sorted(keys)
    assert len(calls) == 2 and all("nik=" in c for c in calls)
    await rest.aclose()


async def test_one_by_one_lookups_when_the_api_has_no_batch() -> None:
    calls: list[str] = []
    rest = connector("page", calls, lookup={"nik": "/warga/{value}"}, record="warga")
    keys = (ROWS[1][0], "3503999999999999", ROWS[3][0])
    found = await rest.fetch(SourceQuery("Person", where=(Filter("nik", "in", keys),)))
    assert [r["nik"] for r in found] == sorted([ROWS[1][0], ROWS[3][0]])
    assert sorted(calls) == sorted(f"/warga/{k}" for k in keys)
    await rest.aclose()


async def test_filters_the_api_supports_are_pushed_down() -> None:
    calls: list[str] = []
    rest = connector("page", calls, params={"regionCode": {"param": "wilayah", "op": "prefix"}})
    found = await rest.fetch(SourceQuery("Person", where=(Filter("regionCode", "prefix", ("35.03.08",)),)))
    assert len(found) == 2 and calls == ["/paged?wilayah=350308&page=1&per_page=2"]
    await rest.aclose()


async def test_a_prefix_is_pushed_along_with_an_equality() -> None:
    calls: list[str] = []
    rest = connector("page", calls, params={"regionCode": {"param": "wilayah", "op": "prefix"}, "nik": "nik"})
    where = (Filter("nik", "eq", ROWS[1][0]), Filter("regionCode", "prefix", ("35.03.08",)))
    try:
        assert [r["nik"] for r in await rest.fetch(SourceQuery("Person", where=where))] == [ROWS[1][0]]
        assert calls == [f"/paged?nik={ROWS[1][0]}&wilayah=350308&page=1&per_page=2"]
    finally:
        await rest.aclose()


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [("500", SourceUnavailable, "SOURCE_UNAVAILABLE"), ("json", SourceBadResponse, "SOURCE_BAD_RESPONSE"), ("shape", SourceBadResponse, "SOURCE_BAD_RESPONSE")],
)
async def test_broken_answers_become_typed_errors(kind: str, error: type[Exception], code: str) -> None:
    rest = connector("page", [], path=f"/broken/{kind}")
    with pytest.raises(error) as caught:
        await rest.fetch(SourceQuery("Person"))
    assert caught.value.extensions() == {"code": code, "source": "warga_api"}  # type: ignore[attr-defined]
    await rest.aclose()


async def test_unreachable_api_is_unavailable() -> None:
    raw = {"kind": "rest", "agency": "TEST", "base_url": "http://127.0.0.1:9", "entities": {"Person": {**STYLES["page"], "key": "nik", "fields": FIELDS}}}
    rest = RestConnector.from_settings("warga_api", raw)
    with pytest.raises(SourceUnavailable):
        await rest.fetch(SourceQuery("Person"))
    await rest.aclose()


def reference() -> InMemoryConnector:
    return InMemoryConnector(SourceInfo("ref", "memory", "T", "", ("Person",)), {"Person": [as_vocabulary(r) for r in ROWS]}, {"Person": "nik"})


async def test_list_lookup_walks_one_list_per_key_and_fills_in_the_key() -> None:
    calls: list[str] = []
    rest = connector("cursor", calls, list_lookup={"regionCode": "/desa/{value}/warga"})
    query = SourceQuery("Person", where=(Filter("regionCode", "in", ("35.03.08.2011", "35.03.12.2002", "35.03.09.2001")),))
    try:
        assert [dict(r) for r in await rest.fetch(query)] == [dict(r) for r in await reference().fetch(query)]
        assert sorted(c.split("?")[0] for c in calls) == ["/desa/3503082011/warga", "/desa/3503092001/warga", "/desa/3503122002/warga"]
    finally:
        await rest.aclose()


async def test_records_sharing_a_key_are_all_kept() -> None:
    # A REST entity's key need not be unique at the API (weekly report lines share their week).
    raw = {"kind": "rest", "agency": "TEST", "base_url": "http://api.test",
           "entities": {"Person": {**STYLES["page"], "key": "regionCode", "fields": FIELDS}}}
    rest = RestConnector.from_settings("warga_api", raw, transport=httpx.ASGITransport(app=make_api([])))
    try:
        found = await rest.fetch(SourceQuery("Person", where=(Filter("regionCode", "prefix", ("35.03.08", "35.03.08.2011")),)))
        assert sorted(r["nik"] for r in found) == sorted(r[0] for r in ROWS if r[4] == "3503082011")
    finally:
        await rest.aclose()


async def test_a_path_through_a_list_reads_each_item() -> None:
    async def keluarga(request: Request) -> Response:
        return JSONResponse({"data": [
            {"no_kk": "1", "anggota": [{"nik": "a", "lahir": "2001-02-03"}, {"nik": "b", "lahir": None}]},
            {"no_kk": "2", "anggota": []},
        ]})

    fields = {"kk": "no_kk", "members": "anggota.nik", "births": {"column": "anggota.lahir", "type": "date"}}
    raw = {"kind": "rest", "agency": "TEST", "base_url": "http://api.test",
           "entities": {"Family": {"path": "/keluarga", "records": "data", "key": "kk", "fields": fields}}}
    app = Starlette(routes=[Route("/keluarga", keluarga)])
    rest = RestConnector.from_settings("kk_api", raw, transport=httpx.ASGITransport(app=app))
    try:
        assert [dict(r) for r in await rest.fetch(SourceQuery("Family"))] == [
            {"kk": "1", "members": ["a", "b"], "births": [date(2001, 2, 3), None]},
            {"kk": "2", "members": [], "births": []},
        ]
    finally:
        await rest.aclose()
