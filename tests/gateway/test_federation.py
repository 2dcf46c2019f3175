"""The regency graph as an Apollo Federation v2 subgraph: ``_service``, ``_entities`` and ``@key``.

Entity lookups are batched like every other lookup, unknown or malformed keys give ``null``,
and the access policy, masking, row scope and audit hold through ``_entities`` exactly as
through root fields: no side door.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from demo.access_config import demo_clients
from demo.gateway_config import render_config
from gateway.access.audit import AuditLog

from .audit_reading import audit_records

from ..conftest import Backend, Gateway, open_gateway
from ..support.sqlite import sqlite_file

ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) {
  __typename
  ... on Person { nik name family { kk } }
  ... on Family { kk members { nik } }
  ... on School { npsn name }
  ... on Student { nisn name }
  ... on Region { code regionName: name }
  ... on Agency { agencyCode: code agencyName: name }
} }"""
CLIENTS = {c.role: c for c in demo_clients("-")}


def keys(sqlite_backend: Backend) -> dict[str, Any]:
    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    education = sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite_file(registry) as conn:
        niks = [r[0] for r in conn.execute("SELECT nik FROM penduduk ORDER BY nik LIMIT 5")]
        (kk,) = conn.execute("SELECT no_kk FROM penduduk WHERE nik = ?", (niks[0],)).fetchone()
        names = dict(conn.execute("SELECT nik, nama_lengkap FROM penduduk WHERE nik IN (%s)" % ",".join("?" * 5), niks).fetchall())
    with sqlite_file(education) as conn:
        npsn, school = conn.execute("SELECT npsn, nama FROM sekolah ORDER BY npsn LIMIT 1").fetchone()
        (nisn,) = conn.execute("SELECT nisn FROM peserta_didik ORDER BY nisn LIMIT 1").fetchone()
    return {"niks": niks, "names": names, "kk": kk, "npsn": npsn, "school": school, "nisn": nisn}


async def test_service_sdl_declares_the_keys(sqlite_gateway: Gateway) -> None:
    sdl = (await sqlite_gateway.query("{ _service { sdl } }"))["data"]["_service"]["sdl"]
    for type_name, key in [("Person", "nik"), ("Family", "kk"), ("School", "npsn"), ("Student", "nisn"),
                           ("Region", "code"), ("Agency", "code")]:
        assert f'type {type_name} @key(fields: "{key}")' in sdl, type_name
    assert "federation/v2" in sdl


async def test_entities_are_batched_and_unknown_keys_are_null(sqlite_gateway: Gateway, sqlite_backend: Backend) -> None:
    k = keys(sqlite_backend)
    reps = [{"__typename": "Person", "nik": nik} for nik in k["niks"]] + [
        {"__typename": "Person", "nik": "3503010101010999"},  # well-formed, unknown
        {"__typename": "Person", "nik": "not a nik"},  # malformed: null, not an error
        {"__typename": "Family", "kk": k["kk"]},
        {"__typename": "School", "npsn": k["npsn"]},
        {"__typename": "Student", "nisn": k["nisn"]},
        {"__typename": "Region", "code": "35.03.08"},
        {"__typename": "Agency", "code": "DISDUKCAPIL"},
    ]
    answer = await sqlite_gateway.query(ENTITIES, {"r": reps}, trace=True)
    assert "errors" not in answer, answer
    found = answer["data"]["_entities"]
    assert [e["nik"] for e in found[:5]] == k["niks"]
    assert {e["nik"]: e["name"] for e in found[:5]} == k["names"]
    assert found[5] is None and found[6] is None
    assert found[7]["kk"] == k["kk"] and k["niks"][0] in [m["nik"] for m in found[7]["members"]]
    assert found[8] == {"__typename": "School", "npsn": k["npsn"], "name": k["school"]}
    assert found[9]["nisn"] == k["nisn"] and found[10]["regionName"] == "Watulimo" and found[11]["agencyCode"] == "DISDUKCAPIL"
    # Round-trips follow depth, not the number of representations.
    assert answer["extensions"]["sources"]["siak"]["calls"] <= 5
    many = [{"__typename": "Person", "nik": nik} for nik in k["niks"]] * 3 + [{"__typename": "Person", "nik": "3503010101010999"}]
    answer = await sqlite_gateway.query("query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { nik } } }",
                                        {"r": many}, trace=True)
    assert [e and e["nik"] for e in answer["data"]["_entities"]] == k["niks"] * 3 + [None]
    assert answer["extensions"]["sources"]["siak"]["calls"] == 1  # sixteen representations, one round-trip


@pytest.fixture
async def guarded(sqlite_backend: Backend, tmp_path: Path) -> AsyncIterator[tuple[Gateway, AuditLog]]:
    config = tomllib.loads(render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, access=True))
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    config["gateway"]["source_trace"] = "everyone"  # the tests read restricted roles' source traces
    async for gateway in open_gateway(config):
        log = AuditLog.from_settings({"audit": config["audit"]})
        try:
            yield gateway, log
        finally:
            await log.aclose()


async def ask(gateway: Gateway, query: str, variables: dict[str, Any], role: str | None) -> dict[str, Any]:
    headers = {"X-Satudata-Trace": "sources"}
    if role:
        headers |= {"X-API-Key": CLIENTS[role].key, "X-Satudata-Purpose": CLIENTS[role].purpose}
    return (await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()


PERSONS = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { nik name birthDate } } }"


async def test_no_side_door_through_entities(guarded, sqlite_backend: Backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gateway, log = guarded
    k = keys(sqlite_backend)
    reps = {"r": [{"__typename": "Person", "nik": nik} for nik in k["niks"][:3]]}

    anonymous = await ask(gateway, PERSONS, reps, None)
    assert {e["extensions"]["code"] for e in anonymous["errors"]} == {"FORBIDDEN"}
    assert not anonymous.get("data") or not anonymous["data"].get("_entities")
    assert "siak" not in anonymous["extensions"]["sources"]

    # A role that sees NIKs masked may not use them as keys: no lookup, and the attempt is on the record.
    masked = await ask(gateway, PERSONS, reps, "smart_center_analyst")
    assert [(e["extensions"]["code"], e["extensions"].get("argument")) for e in masked["errors"]] == [("FORBIDDEN", "representations")]
    assert "siak" not in masked["extensions"]["sources"]

    full = await ask(gateway, PERSONS, reps, "registry_officer")
    assert "errors" not in full, full
    assert {e["nik"]: e["name"] for e in full["data"]["_entities"]} == {nik: k["names"][nik] for nik in k["niks"][:3]}
    (entry,) = await log.for_person(k["niks"][1])
    assert entry.record.role == "registry_officer"
    assert set(entry.record.persons) == set(k["niks"][:3])
    assert set(entry.record.fields) == {"Query._entities", "Person.nik", "Person.name", "Person.birthDate"}
    refusals = [r for r in audit_records(tmp_path / "audit.sqlite") if r.role == "smart_center_analyst"]
    assert [(r.outcome, r.refused, r.persons) for r in refusals] == [("refused", ("Query._entities",), ())]

    # Row scope holds too: the puskesmas officer's _entities only finds residents of their area.
    scoped = await ask(gateway, "query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { nik region { code } } } }",
                       reps, "health_officer")
    for entity in scoped["data"]["_entities"]:
        assert entity is None or entity["region"]["code"].startswith("35.03.08.")
