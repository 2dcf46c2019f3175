"""Access control end to end through ``/graphql``: credentials, purposes, row scope pushed
down to the source, the audit record of exactly what an answer disclosed, failing closed
when it cannot be written, and the abuse limits before any source is touched."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from demo.access_config import demo_clients
from demo.regions import kecamatan_of
from demo.gateway_config import render_config
from gateway.access.audit import AuditLog

from ...conftest import PG_ADMIN, Backend, Gateway, _create_pg, _drop_pg, open_gateway, service_missing
from ...support.sqlite import sqlite_file

CLIENTS = {c.role: c for c in demo_clients("placeholder")}
SUBJECT_KEY = "test-audit-subject-key-0123456789abcdef"


def config_for(backend: Backend, audit: dict[str, Any], *, kecamatan: str, npsn: str, **gateway: Any) -> dict[str, Any]:
    config = tomllib.loads(
        render_config(
            registry_url=backend.registry_url, education_url=backend.education_url, samples={"npsn": npsn}, access=True
        )
    )
    config["audit"] = audit
    # The tests read restricted roles' source traces (no source asked, the row scope pushed down); production
    # mode refuses that switch.
    config["gateway"].update(({} if gateway.get("production") else {"source_trace": "everyone"}) | gateway)
    for client in config["clients"]:
        if "region" in client:
            client["region"] = kecamatan
    return config


@pytest.fixture(scope="module")
def sample(sqlite_backend: Backend) -> dict[str, Any]:
    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    education = sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite_file(registry) as conn:
        kk, members = conn.execute(
            "SELECT no_kk, group_concat(nik) FROM penduduk GROUP BY no_kk HAVING count(*) >= 3 ORDER BY no_kk LIMIT 1"
        ).fetchone()
        (region,) = conn.execute("SELECT kode_wilayah FROM penduduk WHERE no_kk = ? LIMIT 1", (kk,)).fetchone()
        kecamatan = kecamatan_of(region)
        residents = conn.execute(
            "SELECT count(*) FROM penduduk WHERE kode_wilayah LIKE ?", (region[: len(region) - 5] + "%",)
        ).fetchone()[0]
        total = conn.execute("SELECT count(*) FROM penduduk").fetchone()[0]
        desa_residents = [nik for (nik,) in conn.execute("SELECT nik FROM penduduk WHERE kode_wilayah = ?", (region,))]
    with sqlite_file(education) as conn:
        npsn, pupils = conn.execute(
            "SELECT npsn, count(*) FROM peserta_didik GROUP BY npsn ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        (other_nisn,) = conn.execute("SELECT nisn FROM peserta_didik WHERE npsn <> ? LIMIT 1", (npsn,)).fetchone()
    return {
        "kk": kk, "members": sorted(members.split(",")), "kecamatan": kecamatan, "residents": residents,
        "total": total, "npsn": npsn, "pupils": pupils, "other_nisn": other_nisn,
        "desa": region, "desa_residents": desa_residents,
    }


@pytest.fixture
async def guarded(sqlite_backend: Backend, sample: dict[str, Any], tmp_path: Path) -> AsyncIterator[tuple[Gateway, AuditLog]]:
    audit = {"path": str(tmp_path / "audit.sqlite")}
    config = config_for(sqlite_backend, audit, kecamatan=sample["kecamatan"], npsn=sample["npsn"])
    async for gateway in open_gateway(config):
        log = AuditLog.from_settings({"audit": audit})
        try:
            yield gateway, log
        finally:
            await log.aclose()


async def post(gateway: Gateway, query: str, variables: dict[str, Any] | None = None, *, role: str | None = None,
               purpose: str | None = "default", key: str | None = None, trace: bool = False) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers: dict[str, str] = {}
    client = CLIENTS.get(role) if role else None
    if key is not None:
        headers["X-API-Key"] = key
    elif client is not None:
        headers["X-API-Key"] = client.key
    if purpose == "default" and client is not None:
        purpose = client.purpose
    if purpose not in (None, "default"):
        headers["X-Satudata-Purpose"] = purpose  # type: ignore[assignment]
    if trace:
        headers["X-Satudata-Trace"] = "sources"
    response = await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    return response.status_code, response.json(), dict(response.headers)


def codes(body: dict[str, Any]) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", [])}


async def test_a_wrong_key_is_refused_before_anything_runs(guarded) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    status, body, headers = await post(gateway, "{ agencies { code } }", key="sd_demo_not_a_key")
    assert status == 401 and codes(body) == {"UNAUTHENTICATED"}
    assert body["errors"][0]["extensions"]["reason"] == "UNKNOWN_API_KEY"
    assert "data" not in body and headers.get("www-authenticate") == "Bearer"


async def test_a_purpose_the_role_may_not_use_is_refused(guarded) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    status, body, _ = await post(gateway, "{ agencies { code } }", role="health_officer", purpose="statistik")
    assert status == 403 and codes(body) == {"PURPOSE_NOT_ALLOWED"}


async def test_anonymous_clients_see_public_data_and_no_source_is_asked_for_the_rest(guarded) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    _, body, _ = await post(gateway, '{ region(code: "35.03") { name children { code } } schools(first: 2) { totalCount } }')
    assert "errors" not in body and body["data"]["region"]["name"] == "KABUPATEN TRENGGALEK"
    _, body, _ = await post(gateway, "{ persons(first: 5) { totalCount edges { node { nik } } } }", trace=True)
    # The refused NIK nulls its person, and the page with it: `persons` is nullable (issue 13), `data` is not.
    assert codes(body) == {"FORBIDDEN"} and body["data"] == {"persons": None}
    assert "siak" not in body["extensions"]["sources"], "a refused field must not reach the source"


async def test_personal_data_without_a_purpose_is_refused(guarded, sample) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    _, body, _ = await post(gateway, "query($kk: KK!) { family(kk: $kk) { kk } }", {"kk": sample["kk"]},
                            role="registry_officer", purpose=None)
    assert codes(body) == {"PURPOSE_REQUIRED"}


async def test_look_ahead_asks_no_source_for_a_field_the_role_is_refused(guarded, sample) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    query = "query($nik: NIK!) { person(nik: $nik) { name student { nisn } family { members { nik } } } }"
    # The officer may see the registry but not Person.student (children's data held by Dapodik):
    # Query.person would fetch the pupil record ahead of time, and must not.
    _, body, _ = await post(gateway, query, {"nik": sample["members"][0]}, role="registry_officer", trace=True)
    assert body["data"]["person"]["name"] and body["data"]["person"]["student"] is None
    assert codes(body) == {"FORBIDDEN"}
    assert "dapodik" not in body["extensions"]["sources"]
    assert sorted(m["nik"] for m in body["data"]["person"]["family"]["members"]) == sample["members"]


async def test_the_audit_record_names_exactly_the_persons_and_fields_disclosed(guarded, sample) -> None:  # type: ignore[no-untyped-def]
    gateway, log = guarded
    query = "query Members($kk: KK!) { family(kk: $kk) { members { nik name student { nisn } } } }"
    _, body, _ = await post(gateway, query, {"kk": sample["kk"]}, role="registry_officer")
    members = body["data"]["family"]["members"]
    assert sorted(m["nik"] for m in members) == sample["members"]
    assert all(m["student"] is None for m in members) and "FORBIDDEN" in codes(body)  # Person.student: children
    (entry,) = (await log.for_person(sample["members"][0]))
    record = entry.record
    assert sorted(record.persons) == sample["members"]
    # The family card and each member are on the record as objects, with the two leaves read;
    # Person.student was refused, and the refusal is on the record too.
    assert set(record.fields) == {"Query.family", "Family.members", "Person.nik", "Person.name"}
    assert record.masked == () and record.refused == ("Person.student",) and record.outcome == "answered"
    assert record.role == "registry_officer" and record.purpose == "administrasi-kependudukan"
    assert record.operation == "Members" and record.client_id == "api-key:dukcapil-petugas"
    assert record.sources["siak"].calls >= 1
    # A public answer leaves no record.
    await post(gateway, "{ agencies { code } }", role="registry_officer")
    assert (await log.verify()).entries == 1


async def test_masked_disclosures_are_audited_too(guarded, sample) -> None:  # type: ignore[no-untyped-def]
    gateway, log = guarded
    # The analyst browses a desa's residents (it may no longer look a family card up by its number).
    query = "query($desa: RegionCode!) { region(code: $desa) { residents(first: 100) { nodes { nik birthDate birthYear } } } }"
    _, body, _ = await post(gateway, query, {"desa": sample["desa"]}, role="smart_center_analyst")
    nodes = body["data"]["region"]["residents"]["nodes"]
    assert nodes and all("*" in n["nik"] for n in nodes) and all(isinstance(n["birthYear"], int) for n in nodes)
    # A Date stays a date (issue 13): the analyst's birthDate is withheld, and says so at each path.
    assert all(n["birthDate"] is None for n in nodes)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"WITHHELD"} and len(body["errors"]) == len(nodes)
    assert body["errors"][0]["extensions"] == {"code": "WITHHELD", "field": "Person.birthDate", "mask": "year"}
    # The analyst's list is shuffled (a masked NIK's order would tell its sex): whoever is on the page.
    listed = [entry for nik in sample["desa_residents"] for entry in await log.for_person(nik)]
    assert len(listed) == len(nodes)  # every resident on the page on the record, once; nobody else
    entry = listed[0]
    assert set(entry.record.fields) == {"PersonConnection.nodes", "Person.nik", "Person.birthYear"}
    # Both values went out masked; the page's Person objects are on the record as the list that held them.
    assert set(entry.record.masked) == {"Person.nik", "Person.birthYear"}


async def test_row_scope_is_pushed_down_to_the_source(guarded, sample) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    query = "{ persons(first: 100) { totalCount edges { node { nik region { code } } } } }"
    _, body, _ = await post(gateway, query, role="health_officer", trace=True)
    assert "errors" not in body
    page = body["data"]["persons"]
    assert page["totalCount"] == sample["residents"] < sample["total"]
    assert all(e["node"]["region"]["code"].startswith(sample["kecamatan"] + ".") for e in page["edges"])
    # The source returned the page and the count, not the registry to be filtered here.
    assert body["extensions"]["sources"]["siak"]["rows"] <= 100 + 1 + 1 + len({e["node"]["region"]["code"] for e in page["edges"]})


async def test_a_school_operator_sees_only_their_own_pupils(guarded, sample) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    _, body, _ = await post(gateway, "{ students(first: 100) { totalCount edges { node { nisn school { npsn } } } } }",
                            role="school_operator")
    assert "errors" not in body
    page = body["data"]["students"]
    assert page["totalCount"] == sample["pupils"]
    assert {e["node"]["school"]["npsn"] for e in page["edges"]} == {sample["npsn"]}
    _, body, _ = await post(gateway, "query($n: NISN!) { student(nisn: $n) { nisn name } }", {"n": sample["other_nisn"]},
                            role="school_operator")
    assert body == {"data": {"student": None}}


async def test_the_audit_cli_answers_who_saw_a_person(guarded, sample, tmp_path: Path, repo_root: Path) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    await post(gateway, "query($kk: KK!) { family(kk: $kk) { members { name } } }", {"kk": sample["kk"]}, role="registry_officer")
    config = tmp_path / "gateway.toml"
    config.write_text(f'[sources]\n[audit]\npath = "{tmp_path / "audit.sqlite"}"\n', encoding="utf-8")
    person = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "person", sample["members"][1], "--config", str(config)],
                            cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert person.returncode == 0, person.stderr
    assert "dukcapil-petugas" in person.stdout and "Person.name" in person.stdout
    verify = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "verify", "--config", str(config)],
                            cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


async def test_with_a_subject_key_the_log_holds_no_nik_yet_answers_a_persons_request(  # type: ignore[no-untyped-def]
    sqlite_backend: Backend, sample, tmp_path: Path, repo_root: Path
) -> None:
    path = tmp_path / "audit.sqlite"
    query = "query Members($kk: KK!) { family(kk: $kk) { members { nik name } } }"
    # First without a key (an existing log), then with one: a search must find both entries.
    for audit in ({"path": str(path)}, {"path": str(path), "subject_key": SUBJECT_KEY}):
        config = config_for(sqlite_backend, audit, kecamatan=sample["kecamatan"], npsn=sample["npsn"])
        async for gateway in open_gateway(config):
            _, body, _ = await post(gateway, query, {"kk": sample["kk"]}, role="registry_officer")
            assert sorted(m["nik"] for m in body["data"]["family"]["members"]) == sample["members"]

    log = AuditLog.from_settings({"audit": {"path": str(path), "subject_key": SUBJECT_KEY}})
    try:
        first, second = await log.for_person(sample["members"][0])
        assert sorted(first.record.persons) == sample["members"]  # written before the key was set
        pseudonyms = sorted(log.subjects.stored(nik) for nik in sample["members"])
        assert sorted(second.record.persons) == pseudonyms and all(p.startswith("hmac-sha256:") for p in pseudonyms)
        assert (await log.verify()).problem is None
    finally:
        await log.aclose()
    with sqlite_file(path) as conn:
        stored = [r for (r,) in conn.execute("SELECT record FROM audit_entry WHERE seq = 2")]
        indexed = [n for (n,) in conn.execute("SELECT nik FROM audit_subject WHERE seq = 2")]
    assert sorted(indexed) == pseudonyms
    assert not any(nik in text for nik in sample["members"] for text in [*stored, *indexed])

    # The officer of the data subject's request runs the CLI with the key; without it, nothing is found.
    for key, found in ((SUBJECT_KEY, 2), (None, 1)):
        config = tmp_path / "gateway.toml"
        key_line = f'subject_key = "{key}"\n' if key else ""
        config.write_text(f'[sources]\n[audit]\npath = "{path}"\n{key_line}', encoding="utf-8")
        person = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "audit", "person", sample["members"][0], "--config", str(config), "--json"],
            cwd=repo_root, capture_output=True, text=True, timeout=60,
        )
        assert person.returncode == 0, person.stderr
        assert len(__import__("json").loads(person.stdout)["accesses"]) == found


def test_production_mode_refuses_an_audit_log_that_would_hold_niks(sqlite_backend: Backend, sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from core import ConfigError
    from gateway import GatewaySettings, create_app

    config = config_for(sqlite_backend, {"path": str(tmp_path / "a.sqlite")}, kecamatan=sample["kecamatan"],
                        npsn=sample["npsn"], production=True)
    with pytest.raises(ConfigError, match="subject_key"):
        create_app(GatewaySettings.from_dict(config))
    config["audit"]["subject_key"] = "too short"
    with pytest.raises(ConfigError, match="at least 32 characters"):
        create_app(GatewaySettings.from_dict(config))


async def test_personal_data_is_withheld_when_the_audit_log_cannot_be_written(sqlite_backend: Backend, sample) -> None:  # type: ignore[no-untyped-def]
    import asyncpg

    name = f"satudata_test_audit_{uuid.uuid4().hex[:8]}"
    try:
        await _create_pg(name)
    except (OSError, asyncpg.PostgresError) as exc:
        service_missing("PostgreSQL", exc)
    try:
        url = PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
        config = config_for(sqlite_backend, {"url": url, "timeout_s": 2}, kecamatan=sample["kecamatan"], npsn=sample["npsn"])
        async for gateway in open_gateway(config):
            query = "query($kk: KK!) { family(kk: $kk) { members { nik } } }"
            status, body, _ = await post(gateway, query, {"kk": sample["kk"]}, role="registry_officer")
            assert status == 200 and len(body["data"]["family"]["members"]) == len(sample["members"])
            admin = await asyncpg.connect(PG_ADMIN)
            try:
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
            finally:
                await admin.close()
            status, body, _ = await post(gateway, query, {"kk": sample["kk"]}, role="registry_officer")
            assert status == 503 and codes(body) == {"AUDIT_UNAVAILABLE"} and "data" not in body
            assert not any(nik in str(body) for nik in sample["members"])
            # Public data needs no record, so it still flows.
            status, body, _ = await post(gateway, "{ agencies { code } }", role="registry_officer")
            assert status == 200 and body["data"]["agencies"]
    finally:
        await _drop_pg(name)


async def test_limits_and_rate_limits_refuse_before_any_source(sqlite_backend: Backend, sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    audit = {"path": str(tmp_path / "a.sqlite"), "subject_key": SUBJECT_KEY}
    config = config_for(sqlite_backend, audit, kecamatan=sample["kecamatan"], npsn=sample["npsn"], production=True)
    config["limits"] = {"max_depth": 6}
    config["ratelimit"] = {"requests_per_minute": 60, "burst": 3}
    async for gateway in open_gateway(config):
        deep = "{ region(code: \"35.03\") { children { children { parent { parent { children { code } } } } } } }"
        status, body, _ = await post(gateway, deep, trace=True)
        assert status == 400 and codes(body) == {"QUERY_TOO_DEEP"}
        status, body, _ = await post(gateway, "{ __schema { types { name } } }")
        assert codes(body) == {"INTROSPECTION_DISABLED"}
        status, body, _ = await post(gateway, "{ __schema { queryType { name } } }", role="registry_officer")
        assert "errors" not in body
        statuses = [(await post(gateway, "{ agencies { code } }", role="neighbour_portal"))[:3:2] for _ in range(5)]
        assert statuses[-1][0] == 429 and int(statuses[-1][1]["retry-after"]) >= 1
        status, body, headers = await post(gateway, "{ agencies { code } }", role="neighbour_portal")
        (error,) = body["errors"]
        seconds = int(headers["retry-after"])
        assert status == 429 and error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": seconds}
        assert f"try again in {seconds} s" in error["message"]  # message, extension and header agree
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    "change,reason",
    [
        (None, None),
        ({"exp": -3600}, "EXPIRED"),
        ({"iss": "https://sso.example.go.id"}, "WRONG_ISSUER"),
        ({"aud": "another-gateway"}, "WRONG_AUDIENCE"),
        ("tamper", "BAD_SIGNATURE"),
    ],
    ids=["valid", "expired", "wrong-issuer", "wrong-audience", "tampered"],
)
async def test_bearer_tokens_through_graphql(sqlite_backend: Backend, sample, tmp_path: Path, change: Any, reason: str | None) -> None:  # type: ignore[no-untyped-def]
    """A JWT signed by the regency's identity provider (JWKS from a file) is a client like an API key."""

    import json as _json
    import time as _time

    from .test_auth import AUDIENCE, ISSUER, IdentityProvider

    idp = IdentityProvider()
    (tmp_path / "jwks.json").write_text(_json.dumps(idp.jwks()), encoding="utf-8")
    config = config_for(sqlite_backend, {"path": str(tmp_path / "a.sqlite")}, kecamatan=sample["kecamatan"], npsn=sample["npsn"])
    config["auth"] = {"jwt": {"jwks_file": str(tmp_path / "jwks.json"), "issuer": ISSUER, "audience": AUDIENCE,
                              "attribute_claims": {"region": "kode_wilayah"}}}
    overrides: dict[str, Any] = {"role": "health_officer", "kode_wilayah": sample["kecamatan"]}
    if isinstance(change, dict):
        overrides.update({k: (int(_time.time()) + v if k == "exp" else v) for k, v in change.items()})
    token = idp.token("ES256", **overrides)
    if change == "tamper":
        head, payload, signature = token.split(".")
        claims = _json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["role"] = "registry_officer"  # an officer promoting themself
        forged = __import__("base64").urlsafe_b64encode(_json.dumps(claims).encode()).rstrip(b"=").decode()
        token = f"{head}.{forged}.{signature}"
    async for gateway in open_gateway(config):
        response = await gateway.client.post(
            "/graphql",
            json={"query": "query($kk: KK!) { family(kk: $kk) { members { nik } } }", "variables": {"kk": sample["kk"]}},
            headers={"Authorization": f"Bearer {token}", "X-Satudata-Purpose": "pelayanan-kesehatan"},
        )
        body = response.json()
        if reason is None:
            assert response.status_code == 200 and "errors" not in body, body
            assert sorted(m["nik"] for m in body["data"]["family"]["members"]) == sample["members"]
        else:
            assert response.status_code == 401 and "data" not in body
            assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}
            assert token not in response.text
