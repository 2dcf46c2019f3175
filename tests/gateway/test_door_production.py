"""Production mode closes the side doors (finding 10, and the smaller items on credentials, GET
and /readyz): the real app over httpx.ASGITransport, with a policy written here, not the demo's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import GatewaySettings, create_app
from gateway.access.auth import key_sha256
from gateway.graphiql import CREDENTIAL_PLACEHOLDERS

from ..conftest import Backend, gateway_config

ROUTER_KEY = "sdk_door-router-0123456789abcdefghijklmnopqrstuvwxyz01"
OPERATOR_KEY = "sdk_door-operator-0123456789abcdefghijklmnopqrstuvwxyz"
CLERK_KEY = "sdk_door-clerk-0123456789abcdefghijklmnopqrstuvwxyz0123"
SERVICE_SDL = "{ _service { sdl } }"


def production_config(backend: Backend, tmp_path: Path, *, production: bool = True) -> dict[str, Any]:
    config = gateway_config(backend)
    config["gateway"] = {**config.get("gateway", {}), "production": production}
    config["policy"] = {
        "fields": {"Query.person": "personal", "Query.persons": "personal", "Person.*": "personal"},
        "roles": {
            "router": {"grant": ["personal"], "purposes": ["federasi"], "may": ["federation"]},
            "operator": {"purposes": ["operasi"], "may": ["operations"]},
            "clerk": {"grant": ["personal"], "purposes": ["tugas"]},
        },
    }
    config["clients"] = [
        {"id": "router", "role": "router", "key_sha256": key_sha256(ROUTER_KEY)},
        {"id": "operator", "role": "operator", "key_sha256": key_sha256(OPERATOR_KEY)},
        {"id": "clerk", "role": "clerk", "key_sha256": key_sha256(CLERK_KEY)},
    ]
    config["audit"] = {"path": str(tmp_path / "audit.sqlite"), "subject_key": "door-test-audit-subject-key-0123456789"}
    config["graphiql"] = {
        **config.get("graphiql", {}),
        "examples": [{
            "title": "A resident",
            "query": "query { agencies { code } }",
            "headers": json.dumps({"X-API-Key": CLERK_KEY, "Authorization": "Bearer eyJ.secret.token", "X-Satudata-Purpose": "tugas"}),
        }],
    }  # fmt: skip
    return config


async def open_app(config: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings.from_dict(config))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
            yield client


@pytest.fixture
async def production(sqlite_backend: Backend, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_app(production_config(sqlite_backend, tmp_path)):
        yield client


@pytest.fixture
async def development(sqlite_backend: Backend, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_app(production_config(sqlite_backend, tmp_path, production=False)):
        yield client


def as_(key: str | None, purpose: str | None = None) -> dict[str, str]:
    headers = {} if key is None else {"X-API-Key": key}
    return headers | ({"X-Satudata-Purpose": purpose} if purpose else {})


def codes(body: dict[str, Any]) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", [])}


# --- _service ---------------------------------------------------------------------------

SERVICE_DOCUMENTS = {
    "plain": SERVICE_SDL,
    "aliased": "{ schema: _service { sdl } }",
    "through-a-fragment": "query { ...Sdl } fragment Sdl on Query { _service { sdl } }",
    "through-an-inline-fragment": "query { ... on Query { agencies { code } _service { sdl } } }",
}


@pytest.mark.parametrize("document", SERVICE_DOCUMENTS.values(), ids=SERVICE_DOCUMENTS.keys())
@pytest.mark.parametrize("key", [None, CLERK_KEY, OPERATOR_KEY], ids=["anonymous", "clerk", "operator"])
async def test_finding_10_service_sdl_is_refused_to_roles_that_may_not_federate(
    production: httpx.AsyncClient, document: str, key: str | None
) -> None:
    response = await production.post("/graphql", json={"query": document}, headers=as_(key))
    assert response.status_code == 403 and codes(response.json()) == {"FORBIDDEN"}
    assert "type Person" not in response.text


async def test_finding_10_a_federating_role_reads_the_service_sdl(production: httpx.AsyncClient) -> None:
    response = await production.post("/graphql", json={"query": SERVICE_SDL}, headers=as_(ROUTER_KEY, "federasi"))
    assert response.status_code == 200, response.text
    assert "type Person" in response.json()["data"]["_service"]["sdl"]


# --- suggestions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    ['{ persn(nik: "3503010101010001") { name } }', "{ agencies { cod } }", '{ region(code: "35.03") { nme } }'],
)
async def test_finding_10_validation_errors_suggest_no_names_in_production(
    production: httpx.AsyncClient, development: httpx.AsyncClient, document: str
) -> None:
    answer = (await production.post("/graphql", json={"query": document})).json()
    assert answer["errors"] and all("Did you mean" not in e["message"] for e in answer["errors"]), answer
    assert codes(answer) == {"GRAPHQL_VALIDATION_FAILED"}
    # Development keeps graphql-core's help (and shows this test would see a suggestion).
    helped = (await development.post("/graphql", json={"query": document})).json()
    assert any("Did you mean" in e["message"] for e in helped["errors"]), helped


# --- GraphiQL ---------------------------------------------------------------------------

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def test_finding_10_graphiql_is_not_served_to_anonymous_visitors_in_production(production: httpx.AsyncClient) -> None:
    anonymous = await production.get("/graphql", headers=BROWSER)
    assert not anonymous.headers["content-type"].startswith("text/html")
    assert "GraphiQL" not in anonymous.text
    signed_in = await production.get("/graphql", headers=BROWSER | as_(OPERATOR_KEY))
    assert signed_in.status_code == 200 and signed_in.headers["content-type"].startswith("text/html")
    refused = await production.get("/graphql", headers=BROWSER | as_("sdk_not-a-key-of-this-gateway-0123456789"))
    assert refused.status_code == 401


@pytest.mark.parametrize("mode", ["production", "development"])
async def test_finding_10_graphiql_examples_carry_placeholders_never_credentials(
    production: httpx.AsyncClient, development: httpx.AsyncClient, mode: str
) -> None:
    client = production if mode == "production" else development
    page = (await client.get("/graphql", headers=BROWSER | as_(OPERATOR_KEY))).text
    assert "A resident" in page
    assert CLERK_KEY not in page and "eyJ.secret.token" not in page
    for placeholder in CREDENTIAL_PLACEHOLDERS.values():
        assert placeholder.replace("<", "\\u003c") in page


async def test_graphiql_can_be_switched_off_or_on_for_everyone(sqlite_backend: Backend, tmp_path: Path) -> None:
    for enabled, served in ((False, False), (True, True)):
        config = production_config(sqlite_backend, tmp_path)
        config["graphiql"]["enabled"] = enabled
        async for client in open_app(config):
            page = await client.get("/graphql", headers=BROWSER | as_(OPERATOR_KEY))
            assert page.headers["content-type"].startswith("text/html") is served, enabled


# --- personal data only over POST -------------------------------------------------------


async def test_personal_data_is_only_served_over_post(production: httpx.AsyncClient) -> None:
    clerk = as_(CLERK_KEY, "tugas")
    listed = (await production.post("/graphql", json={"query": "{ persons(first: 1) { nodes { nik } } }"}, headers=clerk)).json()
    nik = listed["data"]["persons"]["nodes"][0]["nik"]
    query = "query P($nik: NIK!) { person(nik: $nik) { nik name } }"
    by_post = (await production.post("/graphql", json={"query": query, "variables": {"nik": nik}}, headers=clerk)).json()
    assert by_post["data"]["person"]["nik"] == nik and by_post["data"]["person"]["name"]
    by_get = (await production.get(
        "/graphql", params={"query": query, "variables": json.dumps({"nik": nik})}, headers=clerk | {"accept": "application/json"}
    )).json()
    assert by_get["data"]["person"] is None and codes(by_get) == {"FORBIDDEN"}
    assert "only served over POST" in by_get["errors"][0]["message"]
    public = await production.get("/graphql", params={"query": "{ agencies { code } }"}, headers=clerk)
    assert public.status_code == 200 and public.json()["data"]["agencies"]


# --- credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ([("X-API-Key", CLERK_KEY), ("X-API-Key", ROUTER_KEY)], 401, "UNAUTHENTICATED"),
        ([("X-API-Key", ROUTER_KEY), ("Authorization", "Bearer a.b.c")], 401, "UNAUTHENTICATED"),
        ([("X-API-Key", CLERK_KEY), ("X-Satudata-Purpose", "tugas"), ("X-Satudata-Purpose", "statistik")], 400, "AMBIGUOUS_PURPOSE"),
    ],
    ids=["two-api-keys", "key-and-bearer", "two-purposes"],
)
async def test_two_credentials_or_purposes_in_one_request_are_refused(
    production: httpx.AsyncClient, headers: list[tuple[str, str]], status: int, code: str
) -> None:
    response = await production.post("/graphql", json={"query": "{ agencies { code } }"}, headers=headers)
    assert response.status_code == status and codes(response.json()) == {code}


# --- /readyz ----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "detail"), [(None, False), (CLERK_KEY, False), (OPERATOR_KEY, True)],
                         ids=["anonymous", "clerk", "operator"])
async def test_readyz_detail_is_for_operators_only(production: httpx.AsyncClient, key: str | None, detail: bool) -> None:
    response = await production.get("/readyz", headers=as_(key))
    assert response.status_code == 200
    body = response.json()
    if detail:
        assert {s["name"] for s in body["sources"]} == {"siak", "dapodik"}
        assert "lastError" in body["sources"][0]
    else:
        assert body == {"status": body["status"]} and body["status"] in ("ok", "degraded")


async def test_readyz_refuses_a_bad_credential(production: httpx.AsyncClient) -> None:
    response = await production.get("/readyz", headers=as_("sdk_not-a-key-of-this-gateway-0123456789"))
    assert response.status_code == 401 and "sources" not in response.json()
