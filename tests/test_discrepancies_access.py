"""The discrepancy report under the demo policy (issue 12): the Smart Center analyst counts and
sees discrepancies only masked (both sides the same way, no way to the person), the school
operator (the OPD that owns the Dapodik side and corrects it) sees its own pupils' in full, the
registry officer and anonymous callers are refused, and every look is audited as person access.
What each role should get is computed here from the ground truth and the README's masks."""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors import shuffled_position
from demo.access_config import demo_clients
from demo.gateway_config import render_config
from gateway.access.audit import AuditLog
from resolvers.cursors import CursorSeal, new_cursor_key

from .conftest import Backend, Gateway, open_gateway
from .gateway.access_expectations import mask_initials, mask_nik
from .test_discrepancies import KIND_FACT
from .test_discrepancies_agencies import jkn_api  # noqa: F401 (a fixture)

CLIENTS = {c.role: c for c in demo_clients("placeholder")}

LIST = """query($fact: Fact) { discrepancies(first: 100, fact: $fact) {
  pageInfo { hasNextPage }
  nodes { fact authority region { code } values { source authoritative record name nik birthYear } }
} }"""


@pytest.fixture(scope="module")
def quirks(dataset) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    return [(kind, q) for kind, entries in dataset.ground_truth()["quirks"].items() for q in entries]


@pytest.fixture(scope="module")
def school(quirks) -> str:  # type: ignore[no-untyped-def]
    """The school operator's school: the one with the most planted quirks."""

    return Counter(q["npsn"] for _, q in quirks).most_common(1)[0][0]


async def serve_guarded(
    backend: Backend, school: str, tmp_path: Path, gateway: dict[str, Any] | None = None, **apis: str
) -> AsyncIterator[tuple[Gateway, AuditLog]]:
    """The demo gateway under the demo policy (the school operator at ``school``), with its audit log;
    ``gateway`` adds to its ``[gateway]`` table; ``apis`` are ``render_config``'s URLs of the OPDs'
    APIs (none: the registry and Dapodik only)."""

    audit = {"path": str(tmp_path / "audit.sqlite")}
    config = tomllib.loads(render_config(
        registry_url=backend.registry_url, education_url=backend.education_url, samples={"npsn": school}, access=True, **apis,
    ))
    config["audit"] = audit
    config["gateway"] |= gateway or {}
    async for served in open_gateway(config):
        log = AuditLog.from_settings({"audit": audit})
        try:
            yield served, log
        finally:
            await log.aclose()


@pytest.fixture
async def guarded(sqlite_backend: Backend, school: str, tmp_path: Path) -> AsyncIterator[tuple[Gateway, AuditLog]]:
    async for served in serve_guarded(sqlite_backend, school, tmp_path):
        yield served


async def ask(gateway: Gateway, role: str | None, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"X-Satudata-Trace": "sources"}
    if role is not None:
        headers |= {"X-API-Key": CLIENTS[role].key, "X-Satudata-Purpose": CLIENTS[role].purpose}
    response = await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def codes_at(body: dict[str, Any], *path: str | int) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", []) if tuple(e.get("path", ())) == path}


async def test_anonymous_callers_are_refused_before_any_source_is_asked(guarded) -> None:  # type: ignore[no-untyped-def]
    gateway, log = guarded
    body = await ask(gateway, None, "{ discrepancies(first: 5) { nodes { fact } } discrepancyCounts { count } }")
    assert body["data"] == {"discrepancies": None, "discrepancyCounts": None}
    assert codes_at(body, "discrepancies") == {"FORBIDDEN"} and codes_at(body, "discrepancyCounts") == {"FORBIDDEN"}
    assert not set(body["extensions"]["sources"]) & {"siak", "dapodik"}


async def test_the_registry_officer_may_not_see_pupils_discrepancies(guarded, quirks) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    body = await ask(gateway, "registry_officer", "{ discrepancies(first: 5) { nodes { fact } } }")
    assert body["data"]["discrepancies"] is None and codes_at(body, "discrepancies") == {"FORBIDDEN"}
    _, q = next(x for x in quirks if x[0] == "deceased_enrolled")
    body = await ask(gateway, "registry_officer", "query($nik: NIK!) { person(nik: $nik) { name discrepancies { fact } } }",
                     {"nik": q["nik"]})
    assert body["data"]["person"]["name"] and body["data"]["person"]["discrepancies"] is None
    assert codes_at(body, "person", "discrepancies") == {"FORBIDDEN"}
    assert "dapodik" not in body["extensions"]["sources"]


async def test_the_analyst_counts_and_sees_both_sides_masked_the_same_way(guarded, quirks) -> None:  # type: ignore[no-untyped-def]
    gateway, log = guarded
    body = await ask(gateway, "smart_center_analyst", "{ discrepancyCounts { fact count agency { code } region { code } } }")
    assert "errors" not in body
    counted: Counter[str] = Counter()
    for c in body["data"]["discrepancyCounts"]:
        counted[c["fact"]] += c["count"]
    assert counted == Counter(KIND_FACT[kind] for kind, _ in quirks)

    body = await ask(gateway, "smart_center_analyst", LIST, {"fact": "NAME"})
    items = body["data"]["discrepancies"]["nodes"]
    planted = {mask_nik(q["nisn"]): q for kind, q in quirks if kind == "name_mismatch"}
    assert len(items) == len(planted) and not body["data"]["discrepancies"]["pageInfo"]["hasNextPage"]
    for item in items:
        registry, dapodik = item["values"]
        q = planted[dapodik["record"]]  # the NISN, masked as a NIK is
        assert registry["record"] == mask_nik(q["nik"])
        assert (registry["name"], dapodik["name"]) == (mask_initials(q["registry"]), mask_initials(q["dapodik"]))
        assert q["registry"] not in str(body) and q["dapodik"] not in str(body)

    body = await ask(gateway, "smart_center_analyst", """{ discrepancies(first: 100, fact: BIRTH_DATE) {
        nodes { values { birthDate birthYear } } } }""")
    items = body["data"]["discrepancies"]["nodes"]
    assert items and all(v["birthDate"] is None for i in items for v in i["values"])
    withheld = [e for e in body["errors"] if e["extensions"]["code"] == "WITHHELD"]
    assert len(withheld) == 2 * len(items) and {e["extensions"]["field"] for e in withheld} == {"DiscrepancyValue.birthDate"}
    years = sorted((int(q["registry"][:4]), int(q["dapodik"][:4])) for kind, q in quirks if kind == "birth_date_mismatch")
    assert sorted((i["values"][0]["birthYear"], i["values"][1]["birthYear"]) for i in items) == years

    # No way from a masked discrepancy to the person, nor to a person's discrepancies.
    body = await ask(gateway, "smart_center_analyst", "{ discrepancies(first: 3) { nodes { fact person { birthYear } } } }")
    assert all(n["person"] is None for n in body["data"]["discrepancies"]["nodes"])
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    _, q = next(x for x in quirks if x[0] == "name_mismatch")
    (entry, *_) = await log.for_person(q["nik"])
    assert entry.record.role == "smart_center_analyst" and "DiscrepancyValue.name" in entry.record.masked


async def test_the_school_operator_sees_its_own_pupils_discrepancies_in_full(guarded, quirks, school) -> None:  # type: ignore[no-untyped-def]
    gateway, log = guarded
    mine = {(q["nisn"], KIND_FACT[kind]): (kind, q) for kind, q in quirks if q["npsn"] == school}
    assert mine and len(mine) < len(quirks)
    body = await ask(gateway, "school_operator", LIST)
    assert "errors" not in body, body["errors"]
    items = body["data"]["discrepancies"]["nodes"]
    assert {(i["values"][1]["record"], i["fact"]) for i in items} == set(mine)
    assert set(body["extensions"]["sources"]) >= {"dapodik", "siak"}
    for item in items:
        kind, q = mine[(item["values"][1]["record"], item["fact"])]
        registry, dapodik = item["values"]
        if kind == "name_mismatch":
            assert (registry["name"], dapodik["name"]) == (q["registry"], q["dapodik"])
        if kind != "unknown_nik":
            assert registry["record"] == q["nik"]
    # Its counts cover its own school only (the Student scope holds in the walk).
    body = await ask(gateway, "school_operator", "{ discrepancyCounts { fact count } }")
    assert sum(c["count"] for c in body["data"]["discrepancyCounts"]) == len(mine)
    # Every person behind a discrepancy it saw is on the audit record, as a person look-up is.
    for kind, q in mine.values():
        if kind != "unknown_nik":
            entries = await log.for_person(q["nik"])
            assert any(e.record.role == "school_operator" and "DiscrepancyValue.name" in e.record.fields for e in entries)


async def test_a_persons_discrepancies_follow_the_same_rules(guarded, quirks, school) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded
    kind, q = next((k, q) for k, q in quirks if q["npsn"] == school and k != "unknown_nik" and k != "null_nik")
    query = "query($nisn: NISN!) { student(nisn: $nisn) { person { discrepancies { fact values { source record } } } } }"
    body = await ask(gateway, "school_operator", query, {"nisn": q["nisn"]})
    (d,) = body["data"]["student"]["person"]["discrepancies"]
    assert d["fact"] == KIND_FACT[kind] and [v["record"] for v in d["values"]] == [q["nik"], q["nisn"]]
    # The analyst, browsing residents masked, may not follow a person to their discrepancies.
    body = await ask(gateway, "smart_center_analyst", "{ persons(first: 2) { nodes { birthYear discrepancies { fact } } } }")
    nodes = body["data"]["persons"]["nodes"]
    assert nodes and all(n["birthYear"] and n["discrepancies"] is None for n in nodes)
    assert codes_at(body, "persons", "nodes", 0, "discrepancies") == {"FORBIDDEN"}


# -- with the health office, the JKN portal and Sepeda Keren beside the registry and Dapodik ------------

AGENCY_LIST = """query($fact: Fact, $agency: String) { discrepancies(first: 100, fact: $fact, agency: $agency) {
  pageInfo { hasNextPage }
  comparisons { source complete }
  nodes { fact values { source authoritative record alive agency { code } } }
} }"""


@pytest.fixture
async def guarded_every_opd(  # type: ignore[no-untyped-def]
    sqlite_backend: Backend, school: str, tmp_path: Path, dinkes_api: str, sepeda_keren_api: str, jkn_api: str
) -> AsyncIterator[tuple[Gateway, AuditLog]]:
    async for served in serve_guarded(
        sqlite_backend, school, tmp_path, dinkes_url=dinkes_api, sepeda_keren_url=sepeda_keren_api, jkn_url=jkn_api
    ):
        yield served


async def test_with_every_opd_the_analyst_counts_every_agency_but_lists_only_what_it_may_see(guarded_every_opd, dataset) -> None:  # type: ignore[no-untyped-def]
    gateway, log = guarded_every_opd
    agency_quirks = dataset.ground_truth()["agency_quirks"]
    body = await ask(gateway, "smart_center_analyst", "{ discrepancyCounts(fact: ALIVE) { count agency { code } } }")
    assert "errors" not in body, body["errors"]
    counted: Counter[str] = Counter()
    for c in body["data"]["discrepancyCounts"]:
        counted[c["agency"]["code"]] += c["count"]
    planted = Counter(q["agency"] for entries in agency_quirks.values() for q in entries)
    assert {a: counted[a] for a in planted} == planted and counted["DINDIKPORA"] > 0  # counts: every agency

    # The list: only the systems whose records the analyst may see at all (JKN masked; health and
    # disability data not), each value masked like the same field of a person.
    body = await ask(gateway, "smart_center_analyst", AGENCY_LIST, {"fact": "ALIVE"})
    page = body["data"]["discrepancies"]
    assert [c["source"] for c in page["comparisons"]] == ["dapodik", "jkn_portal"]
    insured = [q["nik"] for q in agency_quirks["deceased_insured_active"]]
    jkn = [i for i in page["nodes"] if i["values"][1]["source"] == "jkn_portal"]
    assert sorted(i["values"][1]["record"] for i in jkn) == sorted(map(mask_nik, insured))  # in NIK order, masked
    assert not {"dinkes", "sepeda_keren"} & {v["source"] for i in page["nodes"] for v in i["values"]}
    assert all(v["alive"] is None for i in jkn for v in i["values"])  # withheld from a masked role
    assert not any(nik in str(body) for nik in insured)
    assert any(e.record.role == "smart_center_analyst" for e in await log.for_person(insured[0]))


async def test_with_every_opd_the_school_operator_sees_only_its_pupils_and_others_are_refused(guarded_every_opd, quirks, school) -> None:  # type: ignore[no-untyped-def]
    gateway, _ = guarded_every_opd
    body = await ask(gateway, "school_operator", AGENCY_LIST, {"fact": "ALIVE"})
    assert "errors" not in body, body["errors"]
    page = body["data"]["discrepancies"]
    assert [c["source"] for c in page["comparisons"]] == ["dapodik"]
    mine = {q["nisn"] for kind, q in quirks if kind == "deceased_enrolled" and q["npsn"] == school}
    assert {i["values"][1]["record"] for i in page["nodes"]} == mine
    assert not {"dinkes", "jkn_portal", "sepeda_keren"} & set(body["extensions"]["sources"])
    # The health office's and the programme's officers read no report (its class is children's data).
    for role in ("health_officer", "programme_facilitator", "registry_officer"):
        body = await ask(gateway, role, AGENCY_LIST, {"fact": "ALIVE"})
        assert body["data"]["discrepancies"] is None and codes_at(body, "discrepancies") <= {"FORBIDDEN", "PURPOSE_REQUIRED"}


@pytest.mark.parametrize("shuffled", [False, True], ids=["key-order", "shuffled"])
async def test_the_report_walks_in_the_order_a_list_of_its_records_would_have(  # type: ignore[no-untyped-def]
    sqlite_backend: Backend, school: str, tmp_path: Path, shuffled: bool
) -> None:
    """The report walks Dapodik's pupils in NISN order for a role that reads NISNs in full (the school
    operator), and shuffled like a list of pupils where they are shuffled (here for every caller, by
    ``[gateway] shuffled_lists``): a masked reader learns no more from the report's order than from a list's."""

    key = new_cursor_key()
    settings = {"cursor_key": key, **({"shuffled_lists": ["Student.nisn"]} if shuffled else {})}
    async for gateway, _ in serve_guarded(sqlite_backend, school, tmp_path, gateway=settings):
        body = await ask(gateway, "school_operator", LIST)
    assert "errors" not in body, body["errors"]
    walked = [i["values"][1]["record"] for i in body["data"]["discrepancies"]["nodes"]]
    pupils = [n for i, n in enumerate(walked) if i == 0 or walked[i - 1] != n]  # a pupil's facts stand together
    assert len(pupils) > 3 and len(set(pupils)) == len(pupils)
    salt = CursorSeal.from_text(key).order_salt("Student.nisn")
    expected = sorted(pupils, key=lambda n: (shuffled_position(salt, n), n)) if shuffled else sorted(pupils)
    assert pupils == expected
    assert (pupils != sorted(pupils)) == shuffled
