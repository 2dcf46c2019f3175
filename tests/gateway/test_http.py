"""GraphQL over HTTP: media types, status codes, and errors with stable codes."""

from __future__ import annotations

import pytest

from ..conftest import Gateway

GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_post_answers_graphql_response_json_by_default(sqlite_gateway: Gateway) -> None:
    response = await sqlite_gateway.client.post("/graphql", json={"query": "{ agencies { code } }"})
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.json() == {"data": {"agencies": [{"code": "DINDIKPORA"}, {"code": "DISDUKCAPIL"}]}}
    assert response.headers["x-request-id"]


async def test_get_with_query_parameters(sqlite_gateway: Gateway) -> None:
    response = await sqlite_gateway.client.get(
        "/graphql",
        params={"query": "query R($c: RegionCode!) { region(code: $c) { name level } }", "variables": '{"c": "35.03.08"}'},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": {"region": {"name": "Watulimo", "level": "DISTRICT"}}}


@pytest.mark.parametrize(
    ("accept", "status", "media"),
    [
        (GRAPHQL_RESPONSE, 400, GRAPHQL_RESPONSE),
        ("application/json", 200, "application/json"),
        (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", 400, GRAPHQL_RESPONSE),
        ("*/*", 200, "application/json"),
        ("application/*", 200, "application/json"),
        (f"*/*, {GRAPHQL_RESPONSE}", 400, GRAPHQL_RESPONSE),
        (None, 200, "application/json"),
    ],
)
async def test_validation_failure_status_depends_on_media_type(
    sqlite_gateway: Gateway, accept: str | None, status: int, media: str
) -> None:
    """Issue 13: with ``Accept: */*`` or none at all the answer is ``application/json`` (graphql-http's SHOULD audits)."""

    request = sqlite_gateway.client.build_request("POST", "/graphql", json={"query": "{ nosuchfield }"})
    if accept is None:
        del request.headers["accept"]
    else:
        request.headers["accept"] = accept
    response = await sqlite_gateway.client.send(request)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(media)
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_parse_error_has_its_own_code(sqlite_gateway: Gateway) -> None:
    response = await sqlite_gateway.client.post("/graphql", json={"query": "{ person(nik: "})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "BAD_REQUEST"),
        (b'["a list"]', {"content-type": "application/json"}, 400, "BAD_REQUEST"),
        (b'{"query": 42}', {"content-type": "application/json"}, 400, "BAD_REQUEST"),
        (b'{"query": "{ agencies { code } }", "variables": "x"}', {"content-type": "application/json"}, 400, "BAD_REQUEST"),
        (b"query=x", {"content-type": "application/x-www-form-urlencoded"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"query": "{ agencies { code } }"}', {"content-type": "application/json", "accept": "text/xml"}, 406, "NOT_ACCEPTABLE"),
    ],
)
async def test_malformed_requests_are_refused_before_execution(
    sqlite_gateway: Gateway, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = await sqlite_gateway.client.post("/graphql", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["code"] == code


async def test_oversized_body_is_refused(sqlite_gateway: Gateway) -> None:
    query = "{ agencies { code } }" + " " * 1_100_000
    response = await sqlite_gateway.client.post("/graphql", json={"query": query})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_unknown_operation_name_is_a_bad_request(sqlite_gateway: Gateway) -> None:
    response = await sqlite_gateway.client.post(
        "/graphql", json={"query": "query A { agencies { code } }", "operationName": "B"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("nik", "reason", "says"),
    [
        ("35031257089099", "LENGTH", "16 digits"),
        ("350312570890990X", "NOT_DIGITS", "only digits"),
        ("3503123208909901", "IMPOSSIBLE_DATE", "impossible birth date"),
        ("0103125708909901", "UNKNOWN_REGION", "province"),
    ],
)
async def test_malformed_nik_variable_is_refused_before_any_source_is_asked(
    sqlite_gateway: Gateway, nik: str, reason: str, says: str
) -> None:
    response = await sqlite_gateway.client.post(
        "/graphql",
        json={"query": "query($nik: NIK!) { person(nik: $nik) { name } }", "variables": {"nik": nik}},
        headers={"x-satudata-trace": "sources"},
    )
    assert response.status_code == 400
    body = response.json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] == reason
    assert says in error["message"]
    assert body["extensions"]["sources"] == {}


async def test_malformed_literal_is_refused_with_the_same_code(sqlite_gateway: Gateway) -> None:
    body = await sqlite_gateway.query('{ region(code: "35.03.99") { name } }', trace=True)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "does not exist" in error["message"]
    assert body["extensions"]["sources"] == {}


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ("{ persons(first: 101) { totalCount } }", "first"),
        ("{ persons(first: -1) { totalCount } }", "first"),
        ('{ persons(after: "bm90LWEtY3Vyc29y") { totalCount } }', "after"),
        ('{ persons(filter: {nameContains: "ab"}) { totalCount } }', "nameContains"),
        ('{ schools(first: 1) { nodes { attendance(from: "2026-11-10", to: "2026-11-01") { date } } } }', "to"),
        ('{ schools(first: 1) { nodes { attendance(from: "2025-01-01", to: "2026-11-01") { date } } } }', "to"),
    ],
)
async def test_bad_arguments_get_bad_user_input(sqlite_gateway: Gateway, query: str, argument: str) -> None:
    body = await sqlite_gateway.query(query)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument


async def test_unknown_keys_are_null_not_errors(sqlite_gateway: Gateway) -> None:
    body = await sqlite_gateway.query(
        '{ person(nik: "3503125708909999") { name } school(npsn: "29999999") { name } student(nisn: "0000000001") { name } }'
    )
    assert body == {"data": {"person": None, "school": None, "student": None}}


async def test_healthz(sqlite_gateway: Gateway) -> None:
    response = await sqlite_gateway.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "sources": ["siak", "dapodik"]}
