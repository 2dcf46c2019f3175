"""The API contract of issue 13, one item per test: one error shape per mistake, one rule for
unknown regions, types that keep their meaning (DateTime with an offset, one disability enum,
checked disease codes), a status filter on a region's residents."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLScalarType

from resolvers import schema

from .conftest import Backend, Gateway
from .support.sqlite import sqlite_file

GRAPHQL_RESPONSE = "application/graphql-response+json"


async def post(gateway: Gateway, query: str, variables: dict[str, Any] | None = None, *, accept: str = GRAPHQL_RESPONSE) -> tuple[int, dict[str, Any]]:
    response = await gateway.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"accept": accept, "x-satudata-trace": "sources"}
    )
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("query", "variables", "argument", "reason"),
    [
        ('{ person(nik: "123") { name } }', None, "nik", "LENGTH"),
        ("query($n: NIK!) { person(nik: $n) { name } }", {"n": "123"}, "nik", "LENGTH"),
        ("{ persons(first: 101) { totalCount } }", None, "first", "OUT_OF_RANGE"),
        ("query($f: Int) { persons(first: $f) { totalCount } }", {"f": 101}, "first", "OUT_OF_RANGE"),
        ('{ persons(filter: {region: "35.03.99"}) { totalCount } }', None, "region", "UNKNOWN_REGION"),
        ("query($r: RegionCode) { persons(filter: {region: $r}) { totalCount } }", {"r": "35.03.99"}, "region", "UNKNOWN_REGION"),
        ("query($f: PersonFilter) { persons(filter: $f) { totalCount } }", {"f": {"region": "35.03.99"}}, "region", "UNKNOWN_REGION"),
        ('{ region(code: "35.03") { name caseReports(year: 2026, disease: "a") { cases } } }', None, "disease", "MALFORMED"),
        ('{ region(code: "35.03") { name caseReports(year: 2026, fromWeek: 9, toWeek: 2) { cases } } }', None, "fromWeek", "OUT_OF_RANGE"),
    ],
)
async def test_a_wrong_argument_value_has_one_answer_whoever_finds_it(
    sqlite_gateway: Gateway, query: str, variables: dict[str, Any] | None, argument: str, reason: str
) -> None:
    """Validation, variable coercion or the field's own check: HTTP 400, no ``data``, the argument's name."""

    status, body = await post(sqlite_gateway, query, variables)
    assert status == 400, body
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (error["extensions"]["argument"], error["extensions"]["reason"]) == (argument, reason), error
    # Legacy application/json: the same body, with 200 as that media type has it.
    legacy_status, legacy = await post(sqlite_gateway, query, variables, accept="application/json")
    assert legacy_status == 200 and "data" not in legacy
    assert legacy["errors"][0]["extensions"] == error["extensions"]


async def test_a_key_only_a_source_refuses_still_fails_its_field_alone(sqlite_gateway: Gateway) -> None:
    """Not a wrong value in the schema's terms: a well-formed key nobody has is null, and answers 200."""

    status, body = await post(sqlite_gateway, '{ person(nik: "3503125708909999") { name } agencies { code } }')
    assert status == 200 and body["data"]["person"] is None and body["data"]["agencies"]


@pytest.mark.parametrize("code", ["35.04", "35.03.99", "33"])
async def test_an_unknown_region_is_one_error_wherever_it_lies(sqlite_gateway: Gateway, code: str) -> None:
    status, body = await post(sqlite_gateway, "query($c: RegionCode!) { region(code: $c) { name } }", {"c": code})
    assert status == 400 and "data" not in body
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "code", "reason": "UNKNOWN_REGION"}
    assert body["extensions"]["sources"] == {}, "refused before any source is asked"
    description = schema._schema.query_type.fields["region"].description
    assert "35.04" in description and "UNKNOWN_REGION" in description


OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)$")


async def test_every_datetime_carries_an_offset(sqlite_gateway: Gateway) -> None:
    body = await sqlite_gateway.query("{ persons(first: 20) { nodes { updatedAt family { updatedAt } } } }")
    stamps = [n["updatedAt"] for n in body["data"]["persons"]["nodes"]]
    stamps += [n["family"]["updatedAt"] for n in body["data"]["persons"]["nodes"] if n["family"]]
    assert stamps and all(s is None or OFFSET.match(s) for s in stamps), stamps
    assert any(s and s.endswith("+07:00") for s in stamps)


def test_disability_type_is_one_enum() -> None:
    types = schema._schema.type_map
    health = types["HealthRecord"].fields["disabilityType"].type  # type: ignore[union-attr]
    programme = types["ProgrammeParticipation"].fields["disabilityType"].type  # type: ignore[union-attr]
    assert isinstance(health, GraphQLEnumType) and health is programme
    # The health office's own codes are mapped onto it in the demo config, every one of them.
    from demo.apis.people import DISABILITY_TYPES
    from demo.gateway_config import render_config

    config = tomllib.loads(render_config(registry_url="sqlite+aiosqlite:///r", education_url="sqlite+aiosqlite:///e", dinkes_url="http://127.0.0.1:9"))
    mapping = config["sources"]["dinkes"]["entities"]["Patient"]["fields"]["disabilityType"]["values"]
    assert set(mapping) == {code for code, _ in DISABILITY_TYPES}
    assert set(mapping.values()) == set(health.values)


def test_disease_codes_are_a_checked_scalar() -> None:
    for parent in ("Region", "HealthFacility"):
        argument = schema._schema.type_map[parent].fields["caseReports"].args["disease"].type  # type: ignore[union-attr]
        assert isinstance(argument, GraphQLScalarType) and argument.name == "DiseaseCode"
    assert isinstance(schema._schema.type_map["CaseReport"].fields["disease"].type, GraphQLNonNull)  # type: ignore[union-attr]


async def test_residents_filter_by_status_at_the_registry(sqlite_gateway: Gateway, sqlite_backend: Backend) -> None:
    kecamatan = "35.03.08"
    with sqlite_file(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        counts = dict(
            conn.execute(
                "SELECT status_penduduk, count(*) FROM penduduk WHERE kode_wilayah LIKE ? GROUP BY status_penduduk", (kecamatan + ".%",)
            ).fetchall()
        )
    assert counts.get("MATI") and counts.get("HIDUP"), counts
    query = """query($c: RegionCode!, $s: ResidentStatus) { region(code: $c) {
      residents(first: 100, status: $s) { totalCount nodes { status } } } }"""
    everyone = (await sqlite_gateway.query(query, {"c": kecamatan}))["data"]["region"]["residents"]
    assert everyone["totalCount"] == sum(counts.values())
    for status, raw in (("ALIVE", "HIDUP"), ("DECEASED", "MATI")):
        answer = await sqlite_gateway.query(query, {"c": kecamatan, "s": status}, trace=True)
        page = answer["data"]["region"]["residents"]
        assert page["totalCount"] == counts[raw]
        assert page["nodes"] and {n["status"] for n in page["nodes"]} == {status}


async def test_a_mask_that_withholds_says_so_and_dates_stay_dates(sqlite_backend: Backend, tmp_path: Any) -> None:
    """``hide``: null with a ``WITHHELD`` error at the path; ``year``: no ``"1995"`` in a Date, the year is ``birthYear``."""

    from demo.access_config import demo_clients
    from demo.gateway_config import render_config

    from .conftest import open_gateway

    config = tomllib.loads(render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, access=True))
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    analyst = next(c for c in demo_clients("placeholder") if c.role == "smart_center_analyst")
    headers = {"x-api-key": analyst.key, "x-satudata-purpose": analyst.purpose}
    query = '{ region(code: "35.03.08") { residents(first: 3) { nodes { nik religion birthDate birthYear } } } }'
    async for gateway in open_gateway(config):
        response = await gateway.client.post("/graphql", json={"query": query}, headers=headers)
        body = response.json()
        nodes = body["data"]["region"]["residents"]["nodes"]
        assert len(nodes) == 3 and all(n["religion"] is None and n["birthDate"] is None for n in nodes)
        assert all(isinstance(n["birthYear"], int) and 1900 < n["birthYear"] < 2030 for n in nodes)
        withheld = {(tuple(e["path"]), e["extensions"]["field"], e["extensions"]["mask"]) for e in body["errors"]}
        assert {e["extensions"]["code"] for e in body["errors"]} == {"WITHHELD"}
        for i in range(3):
            assert (("region", "residents", "nodes", i, "religion"), "Person.religion", "hide") in withheld
            assert (("region", "residents", "nodes", i, "birthDate"), "Person.birthDate", "year") in withheld


async def test_a_request_refused_for_a_wrong_argument_still_audits_what_it_was_refused(sqlite_backend: Backend, tmp_path: Any) -> None:
    """A field's own check refuses the request after it ran: no data goes out, yet a refusal on
    personal data met on the way is on the audit record, as for any other request."""

    from demo.gateway_config import render_config

    from .conftest import open_gateway
    from .gateway.audit_reading import audit_records

    config = tomllib.loads(render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, access=True))
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    with sqlite_file(sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        (npsn,) = conn.execute("SELECT npsn FROM peserta_didik GROUP BY npsn ORDER BY npsn LIMIT 1").fetchone()
    query = "query($npsn: NPSN!) { schools(first: 101) { totalCount } school(npsn: $npsn) { name students { nisn } } }"
    async for gateway in open_gateway(config):
        status, body = await post(gateway, query, {"npsn": npsn})
        assert status == 400 and "data" not in body
        assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT", "FORBIDDEN"}
    (record,) = audit_records(tmp_path / "audit.sqlite")
    assert record.refused == ("School.students",) and record.outcome == "refused" and record.fields == ()
