"""Persisted documents through the real gateway: APQ (Apollo's protocol), trusted documents, the stores.

The gateway runs the demo config with its access policy over the SQLite demo sources, in process
(httpx over ASGI); the shared store is the machine's Redis (required when CI=true). What Apollo
Client itself makes of these answers is ``test_apollo_client_apq``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tomllib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio
import redis.exceptions
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ConfigError
from demo.access_config import demo_clients
from demo.gateway_config import render_config
from gateway import GatewaySettings, create_app
from gateway.documents import MemoryDocumentStore, RedisDocumentStore, TieredDocumentStore

from ..conftest import Backend, Gateway, open_gateway, service_missing
from ..support.sqlite import sqlite_file

REDIS_URL = "redis://127.0.0.1:6379/0"
AGENCIES = "query Agencies { agencies { code name } }"
REGION = "query Region($code: RegionCode!) { region(code: $code) { code name level } }"
WATULIMO = {"code": "35.03.08"}
PERSON = "query Person($nik: NIK!) { person(nik: $nik) { nik name } }"
CLIENTS = {c.role: c for c in demo_clients("placeholder")}
NOT_FOUND = {"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}
NOT_SUPPORTED = {
    "errors": [{"message": "PersistedQueryNotSupported", "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"}}]
}
NO_CACHE = "private, no-cache, must-revalidate"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def persisted(document_id: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": document_id}}


#: The ``extensions`` that name AGENCIES and REGION by hash.
AGENCIES_PQ = persisted(sha256(AGENCIES))
REGION_PQ = persisted(sha256(REGION))


def demo_config(backend: Backend, tmp_path: Path, documents: dict[str, Any] | None = None) -> dict[str, Any]:
    config = tomllib.loads(
        render_config(registry_url=backend.registry_url, education_url=backend.education_url, access=True)
    )
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    if documents is not None:
        config["documents"] = documents
    return config


@contextlib.asynccontextmanager
async def gateway_for(config: dict[str, Any]) -> AsyncIterator[Gateway]:
    async for gateway in open_gateway(config):
        yield gateway


def as_role(role: str) -> dict[str, str]:
    client = CLIENTS[role]
    return {"x-api-key": client.key, "x-satudata-purpose": client.purpose}


async def post(gateway: Gateway, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await gateway.client.post("/graphql", json=body, headers=headers)


@pytest.fixture
async def gateway(sqlite_backend: Backend, tmp_path: Path) -> AsyncIterator[Gateway]:
    async with gateway_for(demo_config(sqlite_backend, tmp_path)) as g:
        yield g


@pytest.fixture(scope="module")
def a_nik(sqlite_backend: Backend) -> str:
    with sqlite_file(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        (nik,) = conn.execute("SELECT min(nik) FROM penduduk WHERE status_penduduk = 'HIDUP'").fetchone()
    return str(nik)


# -- APQ: Apollo's protocol --------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/graphql-response+json", "application/json"])
async def test_an_unknown_hash_is_persisted_query_not_found_with_200_and_no_cache(
    gateway: Gateway, accept: str
) -> None:
    response = await gateway.client.post("/graphql", json={"extensions": AGENCIES_PQ}, headers={"accept": accept})
    # 200 whatever the media type, as Apollo Server and Router answer: the link retries with the document.
    assert response.status_code == 200
    assert response.json() == NOT_FOUND
    assert response.headers["cache-control"] == NO_CACHE


async def test_a_document_sent_with_its_hash_runs_and_is_then_found_by_hash_alone(gateway: Gateway) -> None:
    freeform = (await post(gateway, {"query": REGION, "variables": WATULIMO})).json()
    assert freeform["data"]["region"]["name"] == "Watulimo"
    registered = await post(gateway, {"query": REGION, "variables": WATULIMO, "extensions": REGION_PQ})
    assert (registered.status_code, registered.json()) == (200, freeform)
    by_hash = await post(gateway, {"variables": WATULIMO, "operationName": "Region", "extensions": REGION_PQ})
    assert (by_hash.status_code, by_hash.json()) == (200, freeform)
    other = await post(gateway, {"variables": {"code": "35.03.01"}, "extensions": REGION_PQ})
    assert other.json()["data"]["region"]["code"] == "35.03.01"


async def test_a_hash_that_is_not_the_documents_is_refused_and_registers_nothing(gateway: Gateway) -> None:
    hijacked = sha256(AGENCIES)
    response = await post(gateway, {"query": REGION, "variables": WATULIMO, "extensions": persisted(hijacked)})
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {"message": "provided sha does not match query", "extensions": {"code": "PERSISTED_QUERY_HASH_MISMATCH"}}
        ]
    }
    assert (await post(gateway, {"extensions": persisted(hijacked)})).json() == NOT_FOUND


BAD_HASH = "`extensions.persistedQuery.sha256Hash` must be a SHA-256 in 64 lowercase hex digits."


@pytest.mark.parametrize(
    ("extensions", "says"),
    [
        (persisted(sha256(AGENCIES), version=2), "Unsupported persisted query version: only version 1 is supported."),
        ({"persistedQuery": "abc"}, "`extensions.persistedQuery` must be an object with `version` and `sha256Hash`."),
        (persisted(sha256(AGENCIES).upper()), BAD_HASH),
        (persisted("abc"), BAD_HASH),
    ],
)
async def test_a_malformed_persisted_query_is_a_bad_request(
    gateway: Gateway, extensions: dict[str, Any], says: str
) -> None:
    response = await post(gateway, {"extensions": extensions})
    refusal = {"errors": [{"message": says, "extensions": {"code": "BAD_REQUEST"}}]}
    assert (response.status_code, response.json()) == (400, refusal)


async def test_get_by_hash_works_and_still_refuses_personal_data(gateway: Gateway, a_nik: str) -> None:
    officer = as_role("registry_officer")
    params = {"extensions": json.dumps(persisted(sha256(PERSON))), "variables": json.dumps({"nik": a_nik})}
    assert (await gateway.client.get("/graphql", params=params, headers=officer)).json() == NOT_FOUND
    registration = {"query": PERSON, "variables": {"nik": a_nik}, "extensions": persisted(sha256(PERSON))}
    registered = await post(gateway, registration, **officer)
    assert registered.json()["data"]["person"]["nik"] == a_nik
    over_get = (await gateway.client.get("/graphql", params=params, headers=officer)).json()
    assert over_get["data"] == {"person": None}
    assert over_get["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "only served over POST" in over_get["errors"][0]["message"]
    public = {"extensions": json.dumps(AGENCIES_PQ)}
    assert (await gateway.client.get("/graphql", params=public)).json() == NOT_FOUND
    await post(gateway, {"query": AGENCIES, "extensions": AGENCIES_PQ})
    freeform = await post(gateway, {"query": AGENCIES})
    assert (await gateway.client.get("/graphql", params=public)).json() == freeform.json()


@pytest.mark.parametrize(
    "document",
    [
        "query Agencies { agencies { code nosuchfield } }",  # does not fit the schema
        "query Agencies { agencies { code }",  # not GraphQL
        '{ region(code: "35.03.08") { name } }',  # a value written into the text: a string literal
        "{ a35030123: agencies { code } }",  # a long number written into the text (here in an alias)
    ],
)
async def test_only_a_document_that_ran_without_values_in_its_text_is_registered(
    gateway: Gateway, document: str
) -> None:
    await post(gateway, {"query": document, "extensions": persisted(sha256(document))})
    assert (await post(gateway, {"extensions": persisted(sha256(document))})).json() == NOT_FOUND


async def test_registering_is_under_the_callers_limits(sqlite_backend: Backend, tmp_path: Path) -> None:
    config = demo_config(sqlite_backend, tmp_path)
    config["limits"]["max_depth"] = 2
    deep = "query Deep($c: RegionCode!) { region(code: $c) { children { children { name } } } }"
    async with gateway_for(config) as gateway:
        registration = {"query": deep, "variables": {"c": "35.03"}, "extensions": persisted(sha256(deep))}
        refused = await post(gateway, registration)
        assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
        assert (await post(gateway, {"extensions": persisted(sha256(deep))})).json() == NOT_FOUND


async def test_a_document_longer_than_max_document_bytes_runs_but_is_not_registered(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    long = "query Agencies { agencies { code name } }" + " " * 200
    async with gateway_for(demo_config(sqlite_backend, tmp_path, {"max_document_bytes": 100})) as gateway:
        ran = await post(gateway, {"query": long, "extensions": persisted(sha256(long))})
        assert ran.json()["data"]["agencies"]
        assert (await post(gateway, {"extensions": persisted(sha256(long))})).json() == NOT_FOUND
        await post(gateway, {"query": AGENCIES, "extensions": AGENCIES_PQ})
        assert "data" in (await post(gateway, {"extensions": AGENCIES_PQ})).json()


async def test_registering_is_within_the_body_size_limit(sqlite_backend: Backend, tmp_path: Path) -> None:
    config = demo_config(sqlite_backend, tmp_path)
    config["gateway"]["max_body_bytes"] = 1000
    padded = AGENCIES + " " * 1000
    async with gateway_for(config) as gateway:
        too_large = await post(gateway, {"query": padded, "extensions": persisted(sha256(padded))})
        code = too_large.json()["errors"][0]["extensions"]["code"]
        assert (too_large.status_code, code) == (413, "PAYLOAD_TOO_LARGE")
        assert (await post(gateway, {"extensions": persisted(sha256(padded))})).json() == NOT_FOUND


async def test_with_apq_off_a_hash_is_not_supported_so_the_link_sends_documents(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    async with gateway_for(demo_config(sqlite_backend, tmp_path, {"apq": False})) as gateway:
        for body in ({"extensions": AGENCIES_PQ}, {"query": AGENCIES, "extensions": AGENCIES_PQ}):
            response = await post(gateway, body)
            assert (response.status_code, response.json()) == (
                200,
                NOT_SUPPORTED,
            )
        assert "data" in (await post(gateway, {"query": AGENCIES})).json()


# -- trusted documents -------------------------------------------------------------------------------


def write_manifest(path: Path, *documents: str) -> Path:
    operations = [{"id": sha256(d), "name": d.split()[1], "type": "query", "body": d} for d in documents]
    path.write_text(json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}))
    return path


@pytest.fixture
async def trusted_only(sqlite_backend: Backend, tmp_path: Path) -> AsyncIterator[Gateway]:
    manifest = write_manifest(tmp_path / "manifest.json", AGENCIES, REGION)
    documents = {"manifest": str(manifest), "trusted": "require", "freeform_roles": ["smart_center_analyst"]}
    async with gateway_for(demo_config(sqlite_backend, tmp_path, documents)) as gateway:
        yield gateway


CODES = "query Codes { agencies { code } }"
SAFELIST_REFUSAL = {
    "errors": [
        {
            "message": "This gateway serves trusted documents only, and this document is not in its persisted query "
            "list; send an operation from the client's manifest (by its id in extensions.persistedQuery).",
            "extensions": {"code": "QUERY_NOT_IN_SAFELIST"},
        }
    ]
}


async def test_trusted_documents_resolve_by_id(trusted_only: Gateway) -> None:
    by_id = await post(trusted_only, {"variables": WATULIMO, "extensions": REGION_PQ})
    assert by_id.status_code == 200
    assert by_id.json()["data"]["region"]["name"] == "Watulimo"
    # The manifest's own text, sent whole, is the same document.
    assert (await post(trusted_only, {"query": REGION, "variables": WATULIMO})).json() == by_id.json()


@pytest.mark.parametrize(
    "body",
    [
        {"query": CODES},  # freeform
        {"query": CODES, "extensions": persisted(sha256(CODES))},  # an APQ registration
        {"query": AGENCIES + " ", "extensions": persisted(sha256(AGENCIES + " "))},  # not byte for byte a manifest body
    ],
)
async def test_require_refuses_any_other_document_before_it_runs(trusted_only: Gateway, body: dict[str, Any]) -> None:
    response = await post(trusted_only, body, **{"x-satudata-trace": "sources"})
    assert (response.status_code, response.json()) == (403, SAFELIST_REFUSAL)
    assert response.headers["cache-control"] == NO_CACHE
    if "extensions" in body:  # and nothing was registered
        assert (await post(trusted_only, {"extensions": body["extensions"]})).status_code == 404


async def test_require_answers_an_unknown_id_with_not_in_list(trusted_only: Gateway) -> None:
    unknown = sha256("query Other { agencies { code } }")
    response = await post(trusted_only, {"extensions": persisted(unknown)})
    assert (response.status_code, response.json()) == (
        404,
        {
            "errors": [
                {
                    "message": f"Persisted query '{unknown}' not found in the persisted query list.",
                    "extensions": {"code": "PERSISTED_QUERY_NOT_IN_LIST"},
                }
            ]
        },
    )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (None, False),
        ("health_officer", False),
        ("smart_center_analyst", True),  # freeform_roles
        ("registry_officer", True),  # may federation: a router's planner writes its documents
        ("neighbour_portal", True),
    ],
)
async def test_require_lets_freeform_roles_and_federating_roles_send_other_documents(
    trusted_only: Gateway, role: str | None, allowed: bool
) -> None:
    document = CODES
    response = await post(trusted_only, {"query": document}, **(as_role(role) if role else {}))
    if allowed:
        assert response.json() == {"data": {"agencies": [{"code": "DINDIKPORA"}, {"code": "DISDUKCAPIL"}]}}
    else:
        assert (response.status_code, response.json()) == (403, SAFELIST_REFUSAL)
    # Nothing is registered in require mode, not even for them.
    again = await post(trusted_only, {"extensions": persisted(sha256(document))}, **(as_role(role) if role else {}))
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"


async def test_allow_resolves_manifest_ids_and_keeps_apq_and_freeform(sqlite_backend: Backend, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "manifest.json", AGENCIES)
    async with gateway_for(demo_config(sqlite_backend, tmp_path, {"manifest": str(manifest)})) as gateway:
        assert "data" in (await post(gateway, {"extensions": AGENCIES_PQ})).json()
        assert "data" in (await post(gateway, {"query": REGION, "variables": WATULIMO})).json()
        assert (await post(gateway, {"variables": WATULIMO, "extensions": REGION_PQ})).json() == NOT_FOUND
        await post(gateway, {"query": REGION, "variables": WATULIMO, "extensions": REGION_PQ})
        assert "data" in (await post(gateway, {"variables": WATULIMO, "extensions": REGION_PQ})).json()


# -- configuration -----------------------------------------------------------------------------------


def manifest_text(**change: Any) -> str:
    operation = {"id": sha256(AGENCIES), "name": "Agencies", "type": "query", "body": AGENCIES}
    operation.update(change.pop("operation", {}))
    return json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [operation], **change})


MANIFEST = manifest_text()


@pytest.mark.parametrize(
    ("documents", "manifest", "says"),
    [
        ({"apq_enabled": True}, None, "documents.apq_enabled is not a key of [documents]"),
        ({"trusted": "require"}, None, 'documents.trusted = "require" needs documents.manifest'),
        ({"trusted": "always", "manifest": "m.json"}, MANIFEST, 'documents.trusted must be one of "allow", "require"'),
        ({"trusted": "require", "manifest": "m.json", "apq": True}, MANIFEST, "apq = true cannot go with trusted"),
        ({"manifest": "missing.json"}, None, "missing.json does not exist"),
        ({"manifest": "m.json"}, "{not json", "is not valid JSON"),
        ({"manifest": "m.json"}, json.dumps({"operations": []}), "is not a persisted query manifest"),
        ({"manifest": "m.json"}, manifest_text(version=2), "version 2 is not supported"),
        ({"manifest": "m.json"}, manifest_text(operations={}), "`operations` must be a list"),
        ({"manifest": "m.json"}, manifest_text(operation={"body": ""}), "`body` must be a non-empty GraphQL document"),
        ({"manifest": "m.json"}, manifest_text(operation={"type": "fragment"}), "`type` must be one of"),
        ({"manifest": "m.json"}, manifest_text(operation={"id": "Agencies"}), "(Agencies): id 'Agencies' is not the"),
        ({"manifest": "m.json"}, manifest_text(operation={"id": sha256(REGION)}), "is not the SHA-256 of its body"),
        ({"trusted": "require", "manifest": "m.json", "freeform_roles": ["x"]}, MANIFEST, "['x'] are not roles"),
        ({"freeform_roles": ["registry_officer"]}, None, 'only means something with trusted = "require"'),
        ({"max_entries": 0}, None, "documents.max_entries must be a whole number of at least 1"),
        ({"max_document_bytes": "64k"}, None, "documents.max_document_bytes must be a whole number"),
        ({"ttl_s": 1.5}, None, "documents.ttl_s must be a whole number"),
        ({"timeout_s": 0}, None, "documents.timeout_s must be a number above 0"),
        ({"apq": "yes"}, None, "documents.apq must be true or false"),
        ({"redis_url": "env:SATUDATA_TEST_UNSET_REDIS"}, None, "SATUDATA_TEST_UNSET_REDIS, which is not set"),
        ({"redis_prefix": ""}, None, "documents.redis_prefix must be a non-empty string"),
    ],
)
def test_the_documents_table_is_checked_at_start_up(
    sqlite_backend: Backend, tmp_path: Path, documents: dict[str, Any], manifest: str | None, says: str
) -> None:
    if manifest is not None:
        (tmp_path / "m.json").write_text(manifest)
    config = demo_config(sqlite_backend, tmp_path, documents)
    with pytest.raises(ConfigError) as refused:
        create_app(GatewaySettings.from_dict(config, base_dir=tmp_path))
    assert says in str(refused.value)


# -- the stores --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(st.sampled_from(["put", "get"]), st.integers(0, 9), st.integers(0, 40)), max_size=60),
    st.integers(1, 5),
    st.integers(1, 100),
)
def test_memory_store_is_an_lru_within_its_bounds(
    operations: list[tuple[str, int, int]], max_entries: int, max_bytes: int
) -> None:
    import asyncio

    async def run() -> None:
        store = MemoryDocumentStore(max_entries=max_entries, max_bytes=max_bytes)
        model: dict[str, str] = {}  # insertion order = recency, oldest first
        for action, key, size in operations:
            document_id, document = f"k{key}", f"d{key}" + "x" * size
            if action == "get":
                expected = model.pop(document_id, None)
                if expected is not None:
                    model[document_id] = expected
                assert await store.get(document_id) == expected
                continue
            await store.put(document_id, document)
            if document_id in model:
                model[document_id] = model.pop(document_id)
            elif len(document) <= max_bytes:
                model[document_id] = document
                while len(model) > max_entries or sum(map(len, model.values())) > max_bytes:
                    del model[next(iter(model))]
            assert len(store) == len(model) <= max_entries
            assert store.size_bytes == sum(map(len, model.values())) <= max_bytes
        for document_id, document in model.items():
            assert await store.get(document_id) == document

    asyncio.run(run())


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the machine's Redis, deleted afterwards."""

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        client.close()
        service_missing("Redis", exc)
    prefix = f"satudata_test_apq:{uuid.uuid4().hex[:8]}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_two_gateways_share_registered_documents_through_redis(
    sqlite_backend: Backend, tmp_path: Path, redis_prefix: str
) -> None:
    shared = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix, "ttl_s": 600}
    one_dir, two_dir = tmp_path / "one", tmp_path / "two"
    one_dir.mkdir(), two_dir.mkdir()
    async with gateway_for(demo_config(sqlite_backend, one_dir, shared)) as one, \
            gateway_for(demo_config(sqlite_backend, two_dir, shared)) as two:
        assert (await post(two, {"variables": WATULIMO, "extensions": REGION_PQ})).json() == NOT_FOUND
        registered = await post(one, {"query": REGION, "variables": WATULIMO, "extensions": REGION_PQ})
        by_hash = await post(two, {"variables": WATULIMO, "extensions": REGION_PQ})
        assert by_hash.json() == registered.json()
        assert registered.json()["data"]["region"]["name"] == "Watulimo"
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        assert await client.get(redis_prefix + sha256(REGION)) == REGION.encode()
        assert 0 < await client.ttl(redis_prefix + sha256(REGION)) <= 600
        assert await client.keys(redis_prefix + "*") == [(redis_prefix + sha256(REGION)).encode()]
    finally:
        await client.aclose()


async def test_redis_holding_another_document_under_a_hash_is_not_believed(
    redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisDocumentStore(redis.asyncio.Redis.from_url(REDIS_URL), prefix=redis_prefix, ttl_s=60)
    try:
        await store.client.set(redis_prefix + sha256(AGENCIES), PERSON)  # written by someone else
        with caplog.at_level(logging.WARNING, "satudata.gateway.documents"):
            assert await store.get(sha256(AGENCIES)) is None
        assert "does not hold the document of that hash" in caplog.text
        await store.put(sha256(AGENCIES), AGENCIES)
        assert await store.get(sha256(AGENCIES)) == AGENCIES
    finally:
        await store.aclose()


async def test_an_unreachable_redis_falls_back_to_memory_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    unreachable = RedisDocumentStore.from_url("redis://127.0.0.1:1/0", timeout_s=0.25, prefix="x:", ttl_s=60)
    memory = MemoryDocumentStore(max_entries=10, max_bytes=10_000)
    store = TieredDocumentStore(memory, unreachable, retry_s=5, clock=lambda: now[0])
    try:
        with caplog.at_level(logging.WARNING, "satudata.gateway.documents"):
            assert await store.get(sha256(REGION)) is None
            await store.put(sha256(AGENCIES), AGENCIES)
            assert await store.get(sha256(AGENCIES)) == AGENCIES
            now[0] = 6.0  # past retry_s: Redis is tried (and fails) again, still one warning
            assert await store.get(sha256(REGION)) is None
        warnings = [r for r in caplog.records if "fall back to this process's memory" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        await store.aclose()


async def test_a_gateway_whose_redis_is_down_still_serves_apq(sqlite_backend: Backend, tmp_path: Path) -> None:
    documents = {"redis_url": "redis://127.0.0.1:1/0", "timeout_s": 0.2}
    async with gateway_for(demo_config(sqlite_backend, tmp_path, documents)) as gateway:
        assert (await post(gateway, {"extensions": AGENCIES_PQ})).json() == NOT_FOUND
        registered = await post(gateway, {"query": AGENCIES, "extensions": AGENCIES_PQ})
        assert (await post(gateway, {"extensions": AGENCIES_PQ})).json() == registered.json()
