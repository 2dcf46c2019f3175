"""The remote GraphQL connector against a real GraphQL peer on 127.0.0.1 (tests/support/graphql_peer.py),
checked against the in-memory reference on the same rows, for Relay and offset pagination,
alias-batched lookups and Apollo Federation ``_entities``; faults through the fault proxy."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from connectors import (
    ConnectorRegistry,
    InMemoryConnector,
    SourceBadResponse,
    SourceInfo,
    SourceQuery,
    SourceTimeout,
    SourceTrace,
    SourceUnavailable,
)
from core import ConfigError
from connectors.base import Filter
from connectors.graphql import RemoteGraphQLConnector

from ..support.faultproxy import FaultProxy, cut_after, delay, garbage_http_json
from ..support.graphql_peer import Peer, serve_peer
from .test_sql_connector import QUERIES, ROWS, as_vocabulary

FIELDS: dict[str, Any] = {
    "nik": "nik",
    "name": "nama",
    "sex": {"column": "jk", "values": {"L": "MALE", "P": "FEMALE"}},
    "birthDate": {"column": "lahir", "type": "date"},
    "regionCode": {"column": "alamat.desa.kode", "transform": "region_code_digits"},
    "status": {"column": "status", "values": {"HIDUP": "ALIVE", "MATI": "DECEASED"}},
}
LISTS: dict[str, Any] = {
    "relay": {
        "field": "warga",
        "pagination": {"style": "relay", "size": 2},
        "args": {
            "nik": {"arg": "nikIn", "op": "in"},
            "regionCode": {"arg": "wilayahPrefix", "op": "prefix"},
            "sex": {"arg": "jk", "op": "eq"},
        },
    },
    "offset": {"field": "wargaHalaman", "pagination": {"style": "offset", "size": 3}, "args": {"sex": {"arg": "jk"}}},
}
BY_NIK = {"field": "wargaByNik", "arg": "nik"}
UNKNOWN_NIK = "3503999999999999"
KNOWN = [row[0] for row in ROWS]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Peer, str]]:
    with serve_peer(ROWS) as served:
        yield served


@pytest.fixture
def peer(served: tuple[Peer, str]) -> Peer:
    served[0].log.requests.clear()
    served[0].log.selections.clear()
    return served[0]


@pytest.fixture
def peer_url(served: tuple[Peer, str]) -> str:
    return served[1]


def source(url: str, *, fields: dict[str, Any] = FIELDS, **entity: Any) -> dict[str, Any]:
    entity = {"type": "Warga", "key": "nik", "fields": fields, **entity}
    return {"kind": "graphql", "agency": "TEST", "url": url, "timeout_s": 5, "entities": {"Person": entity}}


def connector(url: str, *, transport: httpx.AsyncBaseTransport | None = None, schema: str | None = None, **entity: Any) -> RemoteGraphQLConnector:
    raw = source(url, **entity)
    if schema is not None:
        raw["schema"] = schema
    return RemoteGraphQLConnector.from_settings("warga_gql", raw, transport=transport)


@pytest.fixture
async def relay(peer: Peer, peer_url: str) -> AsyncIterator[RemoteGraphQLConnector]:
    gql = connector(peer_url, list=LISTS["relay"], lookup={"nik": {**BY_NIK, "max": 3}})
    await gql.start()
    peer.log.requests.clear()
    yield gql
    await gql.aclose()


REFERENCE = InMemoryConnector(SourceInfo("ref", "memory", "T", "", ("Person",)), {"Person": [as_vocabulary(r) for r in ROWS]}, {"Person": "nik"})
LOOKUPS = {"none": {}, "aliases": {"nik": BY_NIK}, "entities": {"nik": {"field": "_entities"}}}


@pytest.mark.parametrize("lookup", sorted(LOOKUPS))
@pytest.mark.parametrize("style", sorted(LISTS))
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr(q.where or q.group_by or q.after))
async def test_graphql_answers_like_the_in_memory_reference(peer_url: str, style: str, lookup: str, query: SourceQuery) -> None:
    gql = connector(peer_url, list=LISTS[style], lookup=LOOKUPS[lookup])
    try:
        await gql.start()
        got, want = [dict(r) for r in await gql.fetch(query)], [dict(r) for r in await REFERENCE.fetch(query)]
        if query.group_by is not None:
            got, want = sorted(got, key=repr), sorted(want, key=repr)
        assert got == want
    finally:
        await gql.aclose()


async def test_filters_travel_as_variables_of_the_peers_types(peer: Peer, relay: RemoteGraphQLConnector) -> None:
    found = await relay.fetch(SourceQuery("Person", where=(Filter("regionCode", "prefix", ("35.03.08",)), Filter("sex", "eq", "MALE"))))
    assert sorted(r["nik"] for r in found) == sorted(r[0] for r in ROWS if r[4].startswith("350308"))
    (request,) = peer.log.requests  # two residents, page size 2: one page
    assert request["variables"] == {"wilayahPrefix": "350308", "jk": "L", "first": 2, "after": None}
    assert "350308" not in request["query"] and "$wilayahPrefix: String" in request["query"]


async def test_relay_pages_are_followed_to_the_end(peer: Peer, relay: RemoteGraphQLConnector) -> None:
    assert len(await relay.fetch(SourceQuery("Person"))) == len(ROWS)
    assert [r["variables"]["after"] is None for r in peer.log.requests] == [True, False]


async def test_lookups_are_aliased_into_one_document_per_max_keys(peer: Peer, relay: RemoteGraphQLConnector) -> None:
    three = (KNOWN[2], UNKNOWN_NIK, KNOWN[0])
    found = await relay.fetch(SourceQuery("Person", where=(Filter("nik", "in", three),)))
    assert [r["nik"] for r in found] == sorted([KNOWN[0], KNOWN[2]])  # the unknown key is simply absent
    (request,) = peer.log.requests
    assert request["variables"] == {"k0": KNOWN[2], "k1": UNKNOWN_NIK, "k2": KNOWN[0]}
    assert request["query"].count("wargaByNik(nik: $") == 3 and "$k0: ID!" in request["query"]

    peer.log.requests.clear()
    found = await relay.fetch(SourceQuery("Person", where=(Filter("nik", "in", (*KNOWN, UNKNOWN_NIK)),)))
    assert [r["nik"] for r in found] == sorted(KNOWN)
    assert sorted(len(r["variables"]) for r in peer.log.requests) == [2, 3]  # five keys, at most three per document


async def test_entities_lookups_are_one_call_with_every_representation(peer: Peer, peer_url: str) -> None:
    gql = connector(peer_url, lookup={"nik": {"field": "_entities", "max": 10}})
    await gql.start()
    peer.log.requests.clear()
    found = await gql.fetch(SourceQuery("Person", where=(Filter("nik", "in", (UNKNOWN_NIK, *KNOWN)),)))
    assert [r["nik"] for r in found] == sorted(KNOWN)
    (request,) = peer.log.requests
    assert request["variables"]["representations"] == [{"__typename": "Warga", "nik": k} for k in (UNKNOWN_NIK, *KNOWN)]
    assert "... on Warga" in request["query"]
    await gql.aclose()


@pytest.mark.parametrize("lookup", ["aliases", "entities", "none"])
async def test_only_the_mapped_fields_are_asked_for(peer: Peer, peer_url: str, lookup: str) -> None:
    fields = {"nik": "nik", "regionCode": {"column": "alamat.desa.kode", "transform": "region_code_digits"}}
    gql = connector(peer_url, fields=fields, list={**LISTS["offset"], "args": {}}, lookup=LOOKUPS[lookup])
    where = (Filter("nik", "in", (KNOWN[0],)),) if lookup != "none" else ()
    found = await gql.fetch(SourceQuery("Person", where=where))
    assert found and set(found[0]) == {"nik", "regionCode"}
    assert peer.log.selections and all(s == {"nik", "alamat.desa.kode"} for s in peer.log.selections)
    await gql.aclose()


@pytest.mark.parametrize("mode", ["introspection", "sdl"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": {**FIELDS, "regionCode": "alamat.desa.kodeWilayah"}}, r"fields.regionCode: the peer's type Desa has no field 'kodeWilayah'"),
        ({"fields": {**FIELDS, "regionCode": "alamat.desa"}}, r"'alamat.desa' is an object \(Desa\); map one of its fields"),
        ({"fields": {**FIELDS, "name": "nama.depan"}}, r"'nama' is a String, which has no field 'depan'"),
        ({"type": "Penduduk"}, r"Person.type: the peer has no object type 'Penduduk'"),
        ({"list": {**LISTS["relay"], "field": "penduduk"}}, r"list.field: the peer's Query has no field 'penduduk'"),
        ({"list": {**LISTS["relay"], "args": {"nik": {"arg": "nik_in", "op": "in"}}}}, r"Query.warga has no argument 'nik_in'"),
        ({"lookup": {"nik": {"field": "wargaByNik", "arg": "nomor"}}}, r"Query.wargaByNik has no argument 'nomor'"),
        ({"list": {**LISTS["relay"], "field": "_service"}}, r"Query._service returns _Service, not Warga"),
    ],
)
async def test_schema_mismatches_fail_at_start_naming_them(peer_url: str, mode: str, change: dict[str, Any], message: str) -> None:
    gql = connector(peer_url, schema=mode, **{"list": LISTS["relay"], **change})
    with pytest.raises(ConfigError, match=message):
        await gql.start()
    await gql.aclose()


async def test_several_mismatches_are_reported_together(peer_url: str) -> None:
    gql = connector(peer_url, fields={**FIELDS, "name": "namaLengkap", "sex": "kelamin"}, list=LISTS["relay"])
    with pytest.raises(ConfigError) as caught:
        await gql.start()
    assert "'namaLengkap'" in caught.value.message and "'kelamin'" in caught.value.message
    await gql.aclose()


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ({"list": LISTS["relay"]}, r"type = \"...\""),
        ({"list": {**LISTS["offset"], "args": {}}, "lookup": {"nik": BY_NIK}}, r"wargaByNik\(nik\)"),
        ({"lookup": {"nik": {**BY_NIK, "type": "ID!!"}}}, "must be a GraphQL type"),
        ({"list": {**LISTS["relay"], "field": "warga { catatan }"}}, "must be a GraphQL name"),
        ({"fields": {**FIELDS, "name": "nama catatan"}}, "must be a GraphQL name"),
        ({}, "needs a list field, a lookup, or both"),
        ({"list": {**LISTS["relay"], "pagination": {"style": "pages"}}}, "must be none, relay or offset"),
        ({"lookup": {"nik": {"field": "_entities"}}, "fields": {**FIELDS, "nik": "id.nik"}}, "top-level field"),
    ],
)
def test_config_mistakes_are_named_before_serving(entity: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        connector("http://peer.test/graphql", schema="off", **entity)


async def test_without_the_schema_declared_types_are_used(peer: Peer, peer_url: str) -> None:
    args = {"sex": {"arg": "jk", "type": "String"}}
    gql = connector(peer_url, schema="off", list={**LISTS["offset"], "args": args}, lookup={"nik": {**BY_NIK, "type": "ID!"}})
    await gql.start()
    assert peer.log.requests == []  # nothing read at start-up
    assert len(await gql.fetch(SourceQuery("Person", where=(Filter("sex", "eq", "FEMALE"),)))) == 2
    assert len(await gql.fetch(SourceQuery("Person", where=(Filter("nik", "eq", KNOWN[1]),)))) == 1
    assert "$offset: Int!" in peer.log.requests[0]["query"]
    await gql.aclose()


async def test_headers_from_config_and_environment_reach_the_peer(peer: Peer, peer_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATUDATA_TEST_PEER_TOKEN", "Bearer rahasia")
    raw = {**source(peer_url, lookup={"nik": BY_NIK}), "headers": {"Authorization": "env:SATUDATA_TEST_PEER_TOKEN", "X-Opd": "DISDUK"}}
    gql = RemoteGraphQLConnector.from_settings("warga_gql", raw)
    await gql.fetch(SourceQuery("Person", where=(Filter("nik", "eq", KNOWN[0]),)))
    headers = peer.log.requests[-1]["headers"]
    assert headers[b"authorization"] == b"Bearer rahasia" and headers[b"x-opd"] == b"DISDUK"
    assert headers[b"content-type"] == b"application/json"
    await gql.aclose()


async def test_a_registry_from_config_serves_the_entity_end_to_end(peer: Peer, peer_url: str) -> None:
    sources = {"warga_gql": {**source(peer_url, list=LISTS["relay"], lookup={"nik": BY_NIK}), "retries": 0}}
    registry = ConnectorRegistry.from_config(sources, [{"code": "TEST", "name": "Test"}])
    await registry.start()
    try:
        assert [s.kind for s in registry.sources()] == ["graphql"]
        trace = SourceTrace()
        found = await registry.session(trace).fetch(SourceQuery("Person", where=(Filter("nik", "in", (KNOWN[3], KNOWN[1])),)))
        assert [dict(r) for r in found] == [as_vocabulary(ROWS[1]), as_vocabulary(ROWS[3])]
        assert trace.as_dict()["warga_gql"] | {"ms": 0} == {"calls": 1, "rows": 2, "ms": 0, "errors": 0}
    finally:
        await registry.aclose()


async def test_an_unreachable_peer_at_start_is_logged_and_read_later(peer_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with FaultProxy(*_hostport(peer_url), mode="refuse") as proxy:
        gql = connector(proxy.url_for(peer_url), list=LISTS["relay"])
        with caplog.at_level(logging.WARNING, logger="satudata.connectors.graphql"):
            await gql.start()
        assert "not reachable at start-up" in caplog.text
        with pytest.raises(SourceUnavailable):
            await gql.fetch(SourceQuery("Person"))
        proxy.set_mode("pass")
        assert len(await gql.fetch(SourceQuery("Person"))) == len(ROWS)  # the schema is read and checked now
        await gql.aclose()


def _hostport(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("refuse", SourceUnavailable),
        ("reset", SourceUnavailable),
        (cut_after(200), SourceUnavailable),  # the head and part of the body, then the connection drops
        (delay(2), SourceTimeout),
        (garbage_http_json(), SourceBadResponse),
        (garbage_http_json(b'{"errors": [{"message": "no"}]}', status=503), SourceUnavailable),
    ],
    ids=str,
)
async def test_faults_on_the_wire_become_typed_errors(peer_url: str, fault: Any, error: type[Exception]) -> None:
    async with FaultProxy(*_hostport(peer_url)) as proxy:
        raw = {**source(proxy.url_for(peer_url), list=LISTS["relay"], lookup={"nik": BY_NIK}), "timeout_s": 0.5}
        gql = RemoteGraphQLConnector.from_settings("warga_gql", raw)
        try:
            await gql.start()
            proxy.set_mode(fault)
            proxy.drop_connections()  # the pooled connection would otherwise outlive a refusal
            for query in (SourceQuery("Person"), SourceQuery("Person", where=(Filter("nik", "in", tuple(KNOWN)),))):
                with pytest.raises(error) as caught:
                    await gql.fetch(query)
                assert caught.value.extensions() == {"code": error.code, "source": "warga_gql"}  # type: ignore[attr-defined]
                assert str(proxy.port) not in str(caught.value) and "127.0.0.1" not in str(caught.value)
            proxy.set_mode("pass")
            assert len(await gql.fetch(SourceQuery("Person"))) == len(ROWS)  # and it recovers
        finally:
            await gql.aclose()


def answering(*bodies: Any, status: int = 200) -> httpx.MockTransport:
    """A transport that answers the given JSON bodies (bytes as they are) in turn."""

    queue = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        body = queue.pop(0) if len(queue) > 1 else queue[0]
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


WARGA = {"nik": KNOWN[0], "nama": "Siti", "jk": "P", "lahir": "1990-08-17", "status": "HIDUP", "alamat": {"desa": {"kode": "3503122002"}}}
LONG_ERROR = "Database error at postgresql://admin:secret@10.1.2.3/siak: relation penduduk_v2 does not exist " + "x" * 300


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"data": None, "errors": [{"message": LONG_ERROR}]}, 200, "answered without data"),
        ({"errors": [{"message": "Cannot query field 'nama' on type 'Warga'."}]}, 400, r"refused the query \(HTTP 400\)"),
        (b"<html>Internal Server Error</html>", 500, "HTTP 500 with malformed JSON"),
        ({"result": []}, 200, "answered without data"),
        ([1, 2], 200, "not a GraphQL response"),
        ({"data": {"warga": None}, "errors": [{"message": "timeout", "path": ["warga"]}]}, 200, "answered no warga"),
        ({"data": {"warga": {"nodes": []}}}, 200, "without edges"),
        ({"data": {"k0": None, "k1": None}, "errors": [{"message": "a"}, {"message": "b"}]}, 200, "answered only errors"),
    ],
)
async def test_unusable_answers_are_bad_responses_without_internals(body: Any, status: int, message: str) -> None:
    gql = connector("http://10.9.8.7:4000/graphql", transport=answering(body, status=status), schema="off",
                    list={**LISTS["relay"], "args": {}}, lookup={"nik": {**BY_NIK, "type": "ID!"}})
    query = SourceQuery("Person", where=(Filter("nik", "in", tuple(KNOWN[:2])),) if "k0" in str(body) else ())
    with pytest.raises(SourceBadResponse, match=message) as caught:
        await gql.fetch(query)
    text = str(caught.value)
    assert "10.9.8.7" not in text and "10.1.2.3" not in text and "secret" not in text and "Traceback" not in text
    assert len(text) < 200
    await gql.aclose()


@pytest.mark.parametrize("mode", ["introspection", "sdl"])
async def test_a_peer_that_hides_its_schema_fails_start_with_the_fix(mode: str) -> None:
    refusal = answering({"errors": [{"message": "GraphQL introspection is not allowed"}]}, status=400)
    gql = connector("http://peer.test/graphql", transport=refusal, schema=mode, lookup={"nik": BY_NIK})
    with pytest.raises(ConfigError, match='did not answer its schema .*set schema = "(sdl|introspection)" or schema = "off"'):
        await gql.start()
    await gql.aclose()


async def test_partial_answers_keep_the_good_records(caplog: pytest.LogCaptureFixture) -> None:
    body = {"data": {"k0": WARGA, "k1": None, "k2": None}, "errors": [{"message": "resolver failed", "path": ["k1"]}]}
    gql = connector("http://peer.test/graphql", transport=answering(body), schema="off", lookup={"nik": {**BY_NIK, "type": "ID!"}})
    with caplog.at_level(logging.WARNING, logger="satudata.connectors.graphql"):
        found = await gql.fetch(SourceQuery("Person", where=(Filter("nik", "in", tuple(KNOWN[:3])),)))
    assert [r["nik"] for r in found] == [KNOWN[0]]
    assert "resolver failed" in caplog.text  # for the operator; the client sees the record that came
    await gql.aclose()


async def test_a_peer_without_a_needed_page_end_is_refused() -> None:
    page = {"data": {"warga": {"edges": [{"node": WARGA}], "pageInfo": {"hasNextPage": True, "endCursor": "again"}}}}
    raw = {**source("http://peer.test/graphql", list=LISTS["relay"]), "schema": "off", "max_pages": 5}
    raw["entities"]["Person"]["list"] = {**LISTS["relay"], "args": {}}
    gql = RemoteGraphQLConnector.from_settings("warga_gql", raw, transport=answering(page))
    with pytest.raises(SourceBadResponse, match="more than 5 pages"):
        await gql.fetch(SourceQuery("Person"))
    await gql.aclose()


@pytest.mark.parametrize("where", ["README.md", "connectors/graphql.py"])
def test_the_documented_example_is_a_valid_config(repo_root: Any, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    text = (repo_root / where).read_text(encoding="utf-8")
    section = text.split("## A GraphQL API as a source", 1)[-1]
    example = tomllib.loads(section.split("```toml", 1)[1].split("```", 1)[0])
    monkeypatch.setenv("DAPODIK_GRAPHQL_URL", "https://portal.example/graphql")
    monkeypatch.setenv("DAPODIK_GRAPHQL_TOKEN", "Bearer x")
    gql = RemoteGraphQLConnector.from_settings("dapodik_portal", example["sources"]["dapodik_portal"])
    school = gql.entities["School"]
    assert school.list is not None and school.list.pagination.style == "relay" and school.lookup["npsn"].max == 50
