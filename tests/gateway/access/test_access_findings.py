"""Issue 9, findings 1–5 and 11, and the enumeration acceptance: each as it was reproduced from
outside with the demo credentials, against the demo policy and every demo source.

Expected answers come from the sources (the registry database, and a gateway without access
control over the same APIs), never from the policy code under test.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from demo.access_config import demo_clients
from demo.gateway_config import render_config
from gateway.access.audit.record import AuditRecord

from ...conftest import Backend, Gateway, open_gateway
from ...support.sqlite import sqlite_file
from ..audit_reading import audit_records

WATULIMO, PANGGUL, PULE = "35.03.08", "35.03.01", "35.03.03"
CLIENTS = {c.role: c for c in demo_clients("placeholder", PULE)}
#: A test role that reads personal and children data in full: who may follow Person.student.
BOTH_KEY = "sd_test_both_classes_0123456789abcdef"


def _config(backend: Backend, apis: dict[str, str], npsn: str, audit: Path, **policy_roles: dict[str, Any]) -> dict[str, Any]:
    config = tomllib.loads(
        render_config(
            registry_url=backend.registry_url,
            education_url=backend.education_url,
            samples={"npsn": npsn, "participant_kecamatan": PULE},
            access=True,
            **apis,
        )
    )
    config["audit"] = {"path": str(audit)}
    # The tests read restricted roles' source traces (nothing asked of a source): development's switch.
    config["gateway"]["source_trace"] = "everyone"
    config.pop("ratelimit", None)  # enumeration runs send hundreds of requests; the budget is what stops them
    config["policy"]["roles"]["both_classes"] = {
        "grant": ["personal", "children"], "purposes": ["uji"], "description": "test role",
    }
    config["clients"].append(
        {"id": "test-both", "role": "both_classes", "key_sha256": hashlib.sha256(BOTH_KEY.encode()).hexdigest()}
    )
    for role, changes in policy_roles.items():
        config["policy"]["roles"][role].update(changes)
    return config


class Ask:
    """Queries as one demo role, with the source trace on."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, role: str | None, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"X-Satudata-Trace": "sources"}
        if role == "both_classes":
            headers |= {"X-API-Key": BOTH_KEY, "X-Satudata-Purpose": "uji"}
        elif role is not None:
            client = CLIENTS[role]
            headers |= {"X-API-Key": client.key, "X-Satudata-Purpose": client.purpose}
        response = await self.gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        return response.json()


@pytest.fixture
def apis(dinkes_api: str, sepeda_keren_api: str, lapor_api: str) -> dict[str, str]:
    return {"dinkes_url": dinkes_api, "sepeda_keren_url": sepeda_keren_api, "lapor_url": lapor_api}


@pytest.fixture
def facts(sqlite_backend: Backend) -> dict[str, Any]:
    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    education = sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite_file(registry) as conn:
        def family_in(kecamatan: str) -> str:
            return conn.execute("SELECT min(no_kk) FROM keluarga WHERE kode_wilayah LIKE ?", (kecamatan + ".%",)).fetchone()[0]

        niks = [r[0] for r in conn.execute("SELECT nik FROM penduduk ORDER BY nik LIMIT 100")]
        desa = conn.execute("SELECT kode_wilayah FROM penduduk WHERE nik = ?", (niks[0],)).fetchone()[0]
        name = conn.execute("SELECT nama_lengkap FROM penduduk WHERE nik = ?", (niks[0],)).fetchone()[0]
        facts = {"watulimo_kk": family_in(WATULIMO), "panggul_kk": family_in(PANGGUL), "niks": niks, "desa": desa, "name": name}
    with sqlite_file(education) as conn:
        facts["npsn"], facts["pupil_nik"] = conn.execute("SELECT npsn, nik FROM peserta_didik ORDER BY nisn LIMIT 1").fetchone()
    return facts


@pytest.fixture
async def guarded(sqlite_backend: Backend, apis: dict[str, str], facts: dict[str, Any], tmp_path: Path) -> AsyncIterator[Ask]:
    async for gateway in open_gateway(_config(sqlite_backend, apis, facts["npsn"], tmp_path / "audit.sqlite")):
        yield Ask(gateway)


@pytest.fixture
async def reference(sqlite_backend: Backend, apis: dict[str, str]) -> AsyncIterator[Ask]:
    """The same sources without access control: what the sources hold."""

    config = tomllib.loads(render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, **apis))
    async for gateway in open_gateway(config):
        yield Ask(gateway)


def errors(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("argument")) for e in body.get("errors", [])]


def records(tmp_path: Path) -> list[AuditRecord]:
    return audit_records(tmp_path / "audit.sqlite")


def candidates(nik: str, count: int) -> list[str]:
    """NIKs consistent with ``nik``'s mask (``3503**********01``): the first four and last two digits kept."""

    out = [nik]
    middle = int(nik[4:14])
    step = 1
    while len(out) < count:
        out.append(f"{nik[:4]}{(middle + step) % 10**10:010d}{nik[14:]}")
        step += 1
    return out


# -- finding 1 and the enumeration acceptance ---------------------------------------------------------


async def test_finding_1_masked_analyst_gets_no_hit_from_10000_candidate_niks_through_any_entry(
    guarded: Ask, facts: dict[str, Any], tmp_path: Path
) -> None:
    nik = facts["niks"][0]
    guesses = candidates(nik, 10_000)
    typename_only = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
    for start in range(0, len(guesses), 100):
        reps = [{"__typename": "Person", "nik": n} for n in guesses[start : start + 100]]
        body = await guarded("smart_center_analyst", typename_only, {"r": reps})
        assert errors(body) == [("FORBIDDEN", "representations")], body
        assert body["data"] is None or body["data"]["_entities"] is None
        assert "siak" not in body["extensions"]["sources"]  # refused before the registry was asked
    # ... and through every other key: person(nik), family(kk), student(nisn).
    for query, variables, argument in (
        ("query($n: NIK!) { person(nik: $n) { __typename } }", {"n": nik}, "nik"),
        ("query($k: KK!) { family(kk: $k) { __typename } }", {"k": facts["watulimo_kk"]}, "kk"),
        ("query($n: NISN!) { student(nisn: $n) { __typename } }", {"n": "0012345678"}, "nisn"),
    ):
        body = await guarded("smart_center_analyst", query, variables)
        assert errors(body) == [("FORBIDDEN", argument)] and body["extensions"]["sources"] == {}, body
    # Every attempt is on the record, with what it was refused and no person named.
    attempts = [r for r in records(tmp_path) if r.role == "smart_center_analyst"]
    assert len(attempts) == 100 + 3
    assert all(r.outcome == "refused" and r.persons == () and r.refused for r in attempts)
    assert {f for r in attempts for f in r.refused} == {"Query._entities", "Query.person", "Query.family", "Query.student"}


async def test_enumeration_registry_officers_100_legitimate_lookups_pass(guarded: Ask, facts: dict[str, Any], tmp_path: Path) -> None:
    for nik in facts["niks"]:
        body = await guarded("registry_officer", "query($n: NIK!) { person(nik: $n) { nik name } }", {"n": nik})
        assert "errors" not in body and body["data"]["person"]["nik"] == nik
    assert len([r for r in records(tmp_path) if r.outcome == "answered"]) == 100


async def test_enumeration_budget_stops_a_guessing_run_and_the_stop_is_on_the_record(
    sqlite_backend: Backend, apis: dict[str, str], facts: dict[str, Any], tmp_path: Path
) -> None:
    config = _config(sqlite_backend, apis, facts["npsn"], tmp_path / "audit.sqlite", registry_officer={"lookup_budget": 150})
    async for gateway in open_gateway(config):
        ask = Ask(gateway)
        for nik in facts["niks"]:  # a day's ordinary work: within budget
            assert "errors" not in await ask("registry_officer", "query($n: NIK!) { person(nik: $n) { nik } }", {"n": nik})
        guesses = [{"__typename": "Person", "nik": n} for n in candidates(facts["niks"][-1], 101)[1:]]
        body = await ask("registry_officer", "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", {"r": guesses})
        assert errors(body) == [("LOOKUP_BUDGET_EXCEEDED", None)] and "siak" not in body["extensions"]["sources"]
        # A person already looked up in this window costs nothing more.
        again = await ask("registry_officer", "query($n: NIK!) { person(nik: $n) { nik } }", {"n": facts["niks"][0]})
        assert "errors" not in again
    stopped = [r for r in records(tmp_path) if r.outcome == "budget_exceeded"]
    assert [(r.role, r.refused) for r in stopped] == [("registry_officer", ("Query._entities",))]


# -- finding 2: filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        'query($d: RegionCode!) { persons(filter: {region: $d, nameContains: "A"}) { totalCount } }',
        "query($d: RegionCode!) { persons(filter: {region: $d, sex: FEMALE}) { totalCount } }",
        "query($d: RegionCode!) { persons(filter: {region: $d, status: DECEASED}) { totalCount } }",
    ],
)
async def test_finding_2_analyst_filters_on_what_it_sees_masked_are_refused(guarded: Ask, facts: dict[str, Any], query: str) -> None:
    body = await guarded("smart_center_analyst", query, {"d": facts["desa"]})
    assert errors(body) == [("FORBIDDEN", "filter")] and body["extensions"]["sources"] == {}, body


async def test_finding_2_analyst_student_search_by_name_or_grade_is_refused(guarded: Ask, facts: dict[str, Any]) -> None:
    for condition in ('nameContains: "SITI"', "grade: 3"):
        body = await guarded("smart_center_analyst", f'query($s: NPSN!) {{ students(filter: {{school: $s, {condition}}}) {{ totalCount }} }}', {"s": facts["npsn"]})
        assert errors(body) == [("FORBIDDEN", "filter")] and body["extensions"]["sources"] == {}, body
    body = await guarded("smart_center_analyst", "query($s: NPSN!) { school(npsn: $s) { students(grade: 3) { nisn } } }", {"s": facts["npsn"]})
    assert ("FORBIDDEN", "grade") in errors(body)


async def test_finding_2_the_analyst_still_counts_and_browses_by_region_and_school(
    guarded: Ask, reference: Ask, facts: dict[str, Any]
) -> None:
    by_region = "query($d: RegionCode!) { persons(filter: {region: $d}) { totalCount } }"
    mine, truth = await guarded("smart_center_analyst", by_region, {"d": facts["desa"]}), await reference(None, by_region, {"d": facts["desa"]})
    assert "errors" not in mine and mine["data"] == truth["data"] and truth["data"]["persons"]["totalCount"] > 0
    by_school = "query($s: NPSN!) { students(filter: {school: $s}) { totalCount nodes { name } } }"
    mine, truth = await guarded("smart_center_analyst", by_school, {"s": facts["npsn"]}), await reference(None, by_school, {"s": facts["npsn"]})
    assert "errors" not in mine and mine["data"]["students"]["totalCount"] == truth["data"]["students"]["totalCount"] > 0
    assert all(n["name"].endswith(".") for n in mine["data"]["students"]["nodes"])  # initials only


# -- finding 3: links -----------------------------------------------------------------------------------


async def test_finding_3_a_link_the_analyst_could_see_only_masked_is_refused(guarded: Ask, reference: Ask, facts: dict[str, Any]) -> None:
    query = """query($d: RegionCode!) { persons(first: 100, filter: {region: $d}) {
      nodes { nik region { code } student { school { npsn name } } family { kk } } } }"""
    truth = await reference(None, query, {"d": facts["desa"]})
    assert any(n["student"] for n in truth["data"]["persons"]["nodes"])  # the desa has pupils to hide
    body = await guarded("smart_center_analyst", query, {"d": facts["desa"]})
    refused = {tuple(e["path"][-1:]) for e in body["errors"] if e["extensions"]["code"] == "FORBIDDEN"}
    assert refused == {("student",), ("family",)}
    nodes = body["data"]["persons"]["nodes"]
    assert all(n["student"] is None and n["family"] is None and n["region"]["code"] == facts["desa"] for n in nodes)
    assert "dapodik" not in body["extensions"]["sources"]  # not asked: the link was refused before it was followed


# -- finding 4: row scope -------------------------------------------------------------------------------


async def test_finding_4_health_officer_sees_no_family_card_outside_its_area(guarded: Ask, facts: dict[str, Any]) -> None:
    card = "query($k: KK!) { family(kk: $k) { kk address } }"
    inside = await guarded("health_officer", card, {"k": facts["watulimo_kk"]})
    assert inside["data"]["family"]["kk"] == facts["watulimo_kk"]
    outside = await guarded("health_officer", card, {"k": facts["panggul_kk"]})
    unknown = await guarded("health_officer", card, {"k": facts["panggul_kk"][:-4] + "9999"})
    assert outside["data"] == unknown["data"] == {"family": None} and "errors" not in outside  # looks exactly like unknown
    reps = [{"__typename": "Family", "kk": facts["watulimo_kk"]}, {"__typename": "Family", "kk": facts["panggul_kk"]}]
    entities = await guarded("health_officer", "query($r: [_Any!]!) { _entities(representations: $r) { ... on Family { kk } } }", {"r": reps})
    assert entities["data"]["_entities"] == [{"kk": facts["watulimo_kk"]}, None]


async def test_finding_4_health_officer_reads_report_bodies_of_its_area_only(guarded: Ask, reference: Ask) -> None:
    query = "{ feedback(first: 100) { nodes { trackingId title body location region { code } } } }"
    truth = {n["trackingId"]: n for n in (await reference(None, query))["data"]["feedback"]["nodes"]}
    body = await guarded("health_officer", query)
    nodes = body["data"]["feedback"]["nodes"]
    assert [n["trackingId"] for n in nodes] == list(truth)  # every report is listed: its public fields are public
    inside = [n for n in nodes if n["region"]["code"].startswith(WATULIMO + ".")]
    outside = [n for n in nodes if not n["region"]["code"].startswith(WATULIMO + ".")]
    assert inside and outside
    assert all(n["body"] == truth[n["trackingId"]]["body"] and n["location"] == truth[n["trackingId"]]["location"] for n in inside)
    assert all(n["body"] is None and n["location"] is None and n["title"] == truth[n["trackingId"]]["title"] for n in outside)


async def test_finding_4_facilitator_reads_no_participant_outside_its_area(guarded: Ask, reference: Ask) -> None:
    query = f"""{{ programmes(first: 100, filter: {{region: "{WATULIMO}"}}) {{ nodes {{ code
      participants(first: 100) {{ totalCount nodes {{ categories disabilityType person {{ nik region {{ code }} }} }} }} }} }} }}"""
    truth = await reference(None, query)
    everyone = [p for prog in truth["data"]["programmes"]["nodes"] for p in prog["participants"]["nodes"]]
    assert any(not p["person"]["region"]["code"].startswith(PULE + ".") for p in everyone)
    body = await guarded("programme_facilitator", query)
    seen = [p for prog in body["data"]["programmes"]["nodes"] for p in prog["participants"]["nodes"]]
    assert all(p["person"]["region"]["code"].startswith(PULE + ".") for p in seen)
    assert {p["person"]["nik"] for p in seen} == {p["person"]["nik"] for p in everyone if p["person"]["region"]["code"].startswith(PULE + ".")}


async def test_finding_4_a_scoped_client_without_its_attribute_sees_nobody(
    sqlite_backend: Backend, apis: dict[str, str], facts: dict[str, Any], tmp_path: Path
) -> None:
    config = _config(sqlite_backend, apis, facts["npsn"], tmp_path / "audit.sqlite")
    for client in config["clients"]:
        if client["role"] == "health_officer":
            client.pop("region")
    async for gateway in open_gateway(config):
        body = await Ask(gateway)("health_officer", "{ persons { totalCount nodes { nik } } }")
        assert body["data"]["persons"] == {"totalCount": 0, "nodes": []}


# -- finding 5: the audit -------------------------------------------------------------------------------


async def test_finding_5_an_answer_holding_only_typename_is_on_the_record(guarded: Ask, facts: dict[str, Any], tmp_path: Path) -> None:
    nik = facts["niks"][0]
    body = await guarded("registry_officer", "query($n: NIK!) { person(nik: $n) { __typename } }", {"n": nik})
    assert body["data"] == {"person": {"__typename": "Person"}}
    (record,) = records(tmp_path)
    assert record.persons == (nik,) and record.fields == ("Query.person",) and record.masked == ()


async def test_finding_5_a_childs_school_through_links_only_is_on_the_record(guarded: Ask, facts: dict[str, Any], tmp_path: Path) -> None:
    nik = facts["pupil_nik"]
    body = await guarded("both_classes", "query($n: NIK!) { person(nik: $n) { student { school { name } } } }", {"n": nik})
    assert body["data"]["person"]["student"]["school"]["name"]
    (record,) = records(tmp_path)
    assert record.persons == (nik,) and set(record.fields) == {"Query.person", "Person.student"}


async def test_finding_5_that_a_health_record_exists_is_on_the_record(guarded: Ask, reference: Ask, tmp_path: Path) -> None:
    query = f'{{ persons(first: 100, filter: {{region: "{WATULIMO}"}}) {{ nodes {{ nik healthRecord {{ __typename }} }} }} }}'
    truth = await reference(None, query)
    patients = [n["nik"] for n in truth["data"]["persons"]["nodes"] if n["healthRecord"]]
    assert patients
    body = await guarded("health_officer", "query($n: NIK!) { person(nik: $n) { healthRecord { __typename } } }", {"n": patients[0]})
    assert body["data"]["person"]["healthRecord"] == {"__typename": "HealthRecord"}
    (record,) = records(tmp_path)
    assert record.persons == (patients[0],) and set(record.fields) == {"Query.person", "Person.healthRecord"}


# -- finding 11: cursors --------------------------------------------------------------------------------


async def test_finding_11_a_participants_cursor_does_not_page_persons(guarded: Ask, reference: Ask) -> None:
    query = f'{{ programmes(first: 100, filter: {{region: "{PULE}"}}) {{ nodes {{ participants(first: 1) {{ pageInfo {{ endCursor }} }} }} }} }}'
    body = await guarded("programme_facilitator", query)
    cursors = [p["participants"]["pageInfo"]["endCursor"] for p in body["data"]["programmes"]["nodes"]]
    cursor = next(c for c in cursors if c)
    paged = await guarded("programme_facilitator", "query($a: String) { persons(after: $a) { nodes { nik } } }", {"a": cursor})
    assert errors(paged) == [("BAD_USER_INPUT", "after")] and paged["extensions"]["sources"] == {}


async def test_finding_11_one_roles_cursor_does_not_page_for_another(guarded: Ask, facts: dict[str, Any]) -> None:
    query = "query($d: RegionCode!, $a: String) { persons(first: 1, after: $a, filter: {region: $d}) { pageInfo { endCursor } } }"
    officer = await guarded("registry_officer", query, {"d": facts["desa"]})
    cursor = officer["data"]["persons"]["pageInfo"]["endCursor"]
    assert "errors" not in await guarded("registry_officer", query, {"d": facts["desa"], "a": cursor})
    assert errors(await guarded("smart_center_analyst", query, {"d": facts["desa"], "a": cursor})) == [("BAD_USER_INPUT", "after")]
    # ... nor for the same role with another filter.
    other = facts["desa"][:-4] + ("2002" if not facts["desa"].endswith("2002") else "2001")
    assert errors(await guarded("registry_officer", query, {"d": other, "a": cursor})) == [("BAD_USER_INPUT", "after")]


async def test_refused_attempts_on_personal_data_are_counted_in_metrics(guarded: Ask, facts: dict[str, Any]) -> None:
    for _ in range(3):
        await guarded("smart_center_analyst", "query($n: NIK!) { person(nik: $n) { __typename } }", {"n": facts["niks"][0]})
    await guarded(None, "{ agencies { code } }")  # public: nothing refused, nothing counted
    metrics = (await guarded.gateway.client.get("/metrics")).text
    assert 'satudata_access_refusals_total{outcome="refused",role="smart_center_analyst"} 3.0' in metrics
    assert 'role="anonymous"' not in metrics.split("satudata_access_refusals_total", 1)[1]


async def test_finding_2_the_analyst_reads_counts_by_sex_status_and_grade_as_the_sources_count_them(
    guarded: Ask, sqlite_backend: Backend, facts: dict[str, Any]
) -> None:
    """What filtering by sex, status or grade used to give the analyst, as counts with no person in them."""

    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    education = sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///")
    sexes = {"L": "MALE", "P": "FEMALE"}
    statuses = {"HIDUP": "ALIVE", "MATI": "DECEASED", "PINDAH": "MOVED_AWAY"}
    with sqlite_file(registry) as conn:
        residents = {
            (sexes[s], statuses[t]): n
            for s, t, n in conn.execute(
                "SELECT jenis_kelamin, status_penduduk, count(*) FROM penduduk WHERE kode_wilayah = ? GROUP BY 1, 2", (facts["desa"],)
            )
        }
    with sqlite_file(education) as conn:
        pupils = {
            (int(g), sexes[s]): n
            for g, s, n in conn.execute(
                "SELECT tingkat_pendidikan, jenis_kelamin, count(*) FROM peserta_didik WHERE npsn = ? GROUP BY 1, 2", (facts["npsn"],)
            )
        }
    query = """query($d: RegionCode!, $s: NPSN!) { region(code: $d) { residentCounts { sex status count } }
      school(npsn: $s) { pupilCounts { grade sex count } } }"""
    body = await guarded("smart_center_analyst", query, {"d": facts["desa"], "s": facts["npsn"]})
    assert "errors" not in body, body
    assert {(c["sex"], c["status"]): c["count"] for c in body["data"]["region"]["residentCounts"]} == residents
    assert {(c["grade"], c["sex"]): c["count"] for c in body["data"]["school"]["pupilCounts"]} == pupils
    assert len(residents) > 1 and len(pupils) > 1
    # Anonymous callers get no counts: a small cell (one deceased man in a desa) is about someone.
    anonymous = await guarded(None, query, {"d": facts["desa"], "s": facts["npsn"]})
    assert {e["extensions"]["code"] for e in anonymous["errors"]} == {"FORBIDDEN"}


async def test_malformed_representations_of_any_json_shape_are_refused_cleanly_for_a_budgeted_role(guarded: Ask, facts: dict[str, Any]) -> None:
    reps = [{"__typename": ["Person"], "nik": facts["niks"][0]}, {"__typename": {"a": 1}}, ["Person"], 7, {"__typename": "Person", "nik": facts["niks"][0]}]
    body = await guarded("registry_officer", "query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { nik } } }", {"r": reps})
    assert body["data"]["_entities"][:4] == [None, None, None, None] and body["data"]["_entities"][4] == {"nik": facts["niks"][0]}
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
