"""The discrepancy report under the demo policy (issue 12): each OPD's officer gets the discrepancies
of its own system's records, both sides, within its row scope (the school operator its school's
pupils, the health officer its kecamatan's patients, the facilitator its kecamatan's Sepeda Keren
participants, the registry officer the JKN memberships); the Smart Center analyst counts and sees
the classes it sees masked, masked (both sides the same way, no way to the person); anonymous
callers are refused; every look is audited as person access. What each role should get is
computed here from the ground truth and the demo policy's text (the class of each kind of value,
the roles' classes and row scopes), never from the gateway's policy code."""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors import shuffled_position
from demo.access_config import DEMO_KECAMATAN, demo_clients
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
    backend: Backend, school: str, tmp_path: Path, gateway: dict[str, Any] | None = None, facilitator: str | None = None,
    ratelimit: dict[str, Any] | None = None, **apis: str,
) -> AsyncIterator[tuple[Gateway, AuditLog]]:
    """The demo gateway under the demo policy (the school operator at ``school``, the facilitator in
    ``facilitator``'s kecamatan, default Watulimo), with its audit log; ``gateway`` adds to its
    ``[gateway]`` table, ``ratelimit`` to its ``[ratelimit]``; ``apis`` are ``render_config``'s URLs of the OPDs' APIs (none: the registry
    and Dapodik only)."""

    audit = {"path": str(tmp_path / "audit.sqlite")}
    samples = {"npsn": school} | ({"participant_kecamatan": facilitator} if facilitator else {})
    config = tomllib.loads(render_config(
        registry_url=backend.registry_url, education_url=backend.education_url, samples=samples, access=True, **apis,
    ))
    config["audit"] = audit
    # The tests read restricted roles' source traces (what each comparison asked): development's switch.
    config["gateway"] |= {"source_trace": "everyone"} | (gateway or {})
    config["ratelimit"] = config.get("ratelimit", {}) | (ratelimit or {})
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
    if role is not None and role != "anonymous":
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
    # The report is open to it (personal data), but Dapodik's items are children's data: not compared.
    body = await ask(gateway, "registry_officer", "{ discrepancies(first: 5) { comparisons { source } nodes { fact } } }")
    assert "errors" not in body, body["errors"]
    assert body["data"]["discrepancies"] == {"comparisons": [], "nodes": []}
    assert "dapodik" not in body["extensions"]["sources"]
    _, q = next(x for x in quirks if x[0] == "deceased_enrolled")
    body = await ask(gateway, "registry_officer", "query($nik: NIK!) { person(nik: $nik) { name discrepancies { fact } } }",
                     {"nik": q["nik"]})
    assert "errors" not in body, body["errors"]
    assert body["data"]["person"]["name"] and body["data"]["person"]["discrepancies"] == []
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
    assert len(withheld) == 2 * len(items) and {e["extensions"]["field"] for e in withheld} == {"StudentDiscrepancyValue.birthDate"}
    years = sorted((int(q["registry"][:4]), int(q["dapodik"][:4])) for kind, q in quirks if kind == "birth_date_mismatch")
    assert sorted((i["values"][0]["birthYear"], i["values"][1]["birthYear"]) for i in items) == years

    # No way from a masked discrepancy to the person, nor to a person's discrepancies.
    body = await ask(gateway, "smart_center_analyst", "{ discrepancies(first: 3) { nodes { fact person { birthYear } } } }")
    assert all(n["person"] is None for n in body["data"]["discrepancies"]["nodes"])
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    _, q = next(x for x in quirks if x[0] == "name_mismatch")
    (entry, *_) = await log.for_person(q["nik"])
    assert entry.record.role == "smart_center_analyst" and "StudentDiscrepancyValue.name" in entry.record.masked


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
            assert any(e.record.role == "school_operator" and "StudentDiscrepancyValue.name" in e.record.fields for e in entries)


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

#: The facilitator works where the generator planted Sepeda Keren's quirks (the health officer stays in
#: Watulimo, which has the health office's and the JKN portal's).
FACILITATOR_KECAMATAN = "35.03.11"


@pytest.fixture
async def guarded_every_opd(  # type: ignore[no-untyped-def]
    sqlite_backend: Backend, school: str, tmp_path: Path, dinkes_api: str, sepeda_keren_api: str, jkn_api: str
) -> AsyncIterator[tuple[Gateway, AuditLog]]:
    async for served in serve_guarded(
        sqlite_backend, school, tmp_path, facilitator=FACILITATOR_KECAMATAN,
        dinkes_url=dinkes_api, sepeda_keren_url=sepeda_keren_api, jkn_url=jkn_api,
    ):
        yield served


# The matrix: what each demo role gets of each OPD's discrepancies, read from the demo policy's text.

#: Each system compared with the registry: its agency, and the type of both values of a discrepancy
#: about one of its records (the schema's; the policy classes each type).
SYSTEMS = {
    "dapodik": ("DINDIKPORA", "StudentDiscrepancyValue"),
    "dinkes": ("DINKES", "HealthRecordDiscrepancyValue"),
    "jkn_portal": ("JKN_JATIM", "HealthInsuranceDiscrepancyValue"),
    "sepeda_keren": ("DINSOS", "ProgrammeParticipationDiscrepancyValue"),
}
#: The facts each system is compared on (a pupil's record on all but the desa; the others on alive or dead).
SYSTEM_FACTS = {"dapodik": ("NAME", "BIRTH_DATE", "SEX", "ALIVE", "NIK"), "dinkes": ("ALIVE",), "jkn_portal": ("ALIVE",),
                "sepeda_keren": ("ALIVE",)}
#: The field of a discrepancy's values holding each fact (the schema's descriptions say which).
FACT_FIELD = {"NAME": "name", "BIRTH_DATE": "birthDate", "SEX": "sex", "REGION": "region", "ALIVE": "alive", "NIK": "nik"}
#: The ground truth's kinds of quirk of the systems held by NIK.
HOLDER_KINDS = {"deceased_patient_alive": "dinkes", "deceased_insured_active": "jkn_portal", "deceased_participant_active": "sepeda_keren"}
ROLES = ["anonymous", *CLIENTS]
#: The issue's promise, said independently of the policy: an officer of the OPD owning a system gets
#: the persons of that system's discrepancies, in full (JKN's portal is the province's: no demo role owns it).
OWNS = {"school_operator": "dapodik", "health_officer": "dinkes", "programme_facilitator": "sepeda_keren"}

MATRIX = """query($first: Int, $after: String) { discrepancies(first: $first, after: $after) {
  pageInfo { hasNextPage endCursor }
  comparisons { source complete facts }
  nodes { fact region { code } values { __typename source authoritative record alive } }
} }"""
COUNTS = "{ discrepancyCounts { fact count agency { code } region { code } } }"


@dataclass(frozen=True)
class Expected:
    """What one role should get of the report: per system, ``full`` or ``masked`` (absent: refused);
    each system's items as (source, the record's key as shown, fact) that the role gets listed, and
    those it gets counted (every fact of a system it sees); per system the facts it gets items of."""

    open: bool
    systems: dict[str, str]
    items: Counter[tuple[str, str, str]]
    counted: Counter[tuple[str, str, str]]
    itemised: dict[str, tuple[str, ...]]


def shows(policy: dict[str, Any], spec: dict[str, Any], type_name: str, field_name: str) -> bool:
    """Whether the policy's text shows the role something of ``type_name.field_name``: in full, or masked by
    a mask that shows a part (initials, a NIK's ends, a year); not where its class is masked with
    nothing (``hide``) or not the role's at all."""

    fields = policy["fields"]
    entry = fields.get(f"{type_name}.{field_name}", fields.get(f"{type_name}.*", "public"))
    cls, mask = (entry, "hide") if isinstance(entry, str) else (entry["class"], entry.get("mask", "hide"))
    if cls == "public" or cls in spec.get("grant", ()):
        return True
    return cls in spec.get("mask", ()) and mask != "hide"


def expected_for(role: str, policy: dict[str, Any], clients: dict[str, dict[str, Any]], quirks, truth, regions) -> Expected:  # type: ignore[no-untyped-def]
    """From the policy's text: the report's classes, each value type's class, the role's classes and row scope."""

    spec = policy["roles"].get(role, {})
    grant, mask = set(spec.get("grant", ())), set(spec.get("mask", ()))
    report = policy["fields"]["Query.discrepancies"]
    opens = set(report if isinstance(report, list) else [report])
    systems: dict[str, str] = {}
    for source, (_, value_type) in SYSTEMS.items():
        cls = policy["fields"][f"{value_type}.*"]
        if cls in grant:
            systems[source] = "full"
        elif cls in mask:
            systems[source] = "masked"
    scope = spec.get("row_scope", {})
    attributes = clients.get(role, {})

    def in_scope(entity: str, value: str | None) -> bool:
        rule = scope.get(entity)
        if rule is None:
            return True
        wanted = attributes.get(rule.get("within") or rule.get("equals"))
        if "within" in rule:
            return isinstance(value, str) and (value == wanted or value.startswith(f"{wanted}."))
        return value == wanted

    def shown(source: str, key: str) -> str:
        return key if systems[source] == "full" else mask_nik(key)

    counted: Counter[tuple[str, str, str]] = Counter()
    if "dapodik" in systems:
        # A role whose Person rows are scoped would see a pupil outside them as one the registry does
        # not know: the demo gives no such role children's data, and this table does not model it.
        assert "Person" not in scope, role
        counted.update(("dapodik", shown("dapodik", q["nisn"]), KIND_FACT[kind]) for kind, q in quirks if in_scope("Student", q["npsn"]))
    for kind, source in HOLDER_KINDS.items():
        if source in systems:
            counted.update((source, shown(source, q["nik"]), "ALIVE") for q in truth["agency_quirks"][kind] if in_scope("Person", regions[q["nik"]]))
    # An item of a fact whose value the role has withheld would tell that value (an ALIVE item: the
    # registry records a death): listed only where the role is shown something of the fact's field.
    itemised = {
        source: tuple(f for f in SYSTEM_FACTS[source] if shows(policy, spec, SYSTEMS[source][1], FACT_FIELD[f])) for source in systems
    }
    items = Counter({key: n for key, n in counted.items() if key[2] in itemised[key[0]]})
    return Expected(bool(opens & (grant | mask)), systems, items, counted, itemised)


@pytest.fixture(scope="module")
def regions(dataset) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each resident's desa, from the generated registry (NIK -> kode wilayah)."""

    return {row[0]: row[10] for row in dataset.rows("penduduk")}


async def walk_as(gateway: Gateway, role: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The role's whole report in pages of 100 (the last page's answer, every item)."""

    items: list[dict[str, Any]] = []
    after = None
    while True:
        body = await ask(gateway, role, MATRIX, {"first": 100, "after": after})
        page = body["data"]["discrepancies"]
        if page is None:
            return body, items
        items += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return body, items
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_gets_exactly_the_discrepancies_of_the_systems_it_may_see_within_its_rows(  # type: ignore[no-untyped-def]
    guarded_every_opd, dataset, quirks, regions, school, role: str
) -> None:
    """Role x agency: each system's items in full, masked or not at all as the policy classes their
    values, only within the role's row scope; both sides of an item alike; counts count exactly
    what the role may list; every person shown is on the audit record."""

    gateway, log = guarded_every_opd
    config = tomllib.loads(render_config(registry_url="sqlite:///r", education_url="sqlite:///e", access=True,
                                         samples={"npsn": school, "participant_kecamatan": FACILITATOR_KECAMATAN}))
    clients = {c["role"]: c for c in config["clients"]}
    want = expected_for(role, config["policy"], clients, quirks, dataset.ground_truth(), regions)
    if role in OWNS:
        owned = OWNS[role]
        assert want.systems.get(owned) == "full" and any(source == owned for source, _, _ in want.items), (role, want)
    body, items = await walk_as(gateway, role)
    counts = await ask(gateway, role, COUNTS)
    if not want.open:
        assert body["data"]["discrepancies"] is None and codes_at(body, "discrepancies") == {"FORBIDDEN"}
        assert counts["data"]["discrepancyCounts"] is None and codes_at(counts, "discrepancyCounts") == {"FORBIDDEN"}
        assert not set(body["extensions"]["sources"]) & {"siak", *SYSTEMS}
        return
    # A system none of whose facts the role gets items of is not compared in a list (it is counted).
    listed_systems = [s for s in SYSTEMS if want.itemised.get(s)]
    comparisons = body["data"]["discrepancies"]["comparisons"]
    assert [(c["source"], tuple(c["facts"])) for c in comparisons] == [(s, want.itemised[s]) for s in listed_systems]
    assert all(c["complete"] for c in comparisons)
    assert not set(body["extensions"]["sources"]) & set(SYSTEMS) - set(listed_systems), "a system the role gets nothing of was asked"
    got: Counter[tuple[str, str, str]] = Counter()
    for item in items:
        registry, other = item["values"]
        assert registry["source"] == "siak" and registry["authoritative"] and not other["authoritative"]
        assert registry["__typename"] == other["__typename"] == SYSTEMS[other["source"]][1]
        got[(other["source"], other["record"], item["fact"])] += 1
        if other["source"] != "dapodik" or item["fact"] not in ("NIK",):
            # The registry's side is masked as the other's: the same NIK, shown the same way.
            assert registry["record"] is not None and (registry["record"] == other["record"]) == (other["source"] != "dapodik")
        if want.systems[other["source"]] == "masked":
            assert registry["alive"] is None and other["alive"] is None  # withheld (hide), both sides
        elif item["fact"] == "ALIVE":
            assert (registry["alive"], other["alive"]) == (False, True)
    assert got == want.items
    assert sum(want.counted.values()) > 0, "the matrix needs discrepancies to say something"

    # The counts: every discrepancy of the systems the role may see, within its rows, per agency
    # (facts it gets no items of too: a count per kecamatan names no one).
    assert "errors" not in counts, counts["errors"]
    counted: Counter[str] = Counter()
    for row in counts["data"]["discrepancyCounts"]:
        counted[row["agency"]["code"]] += row["count"]
    listed = Counter({SYSTEMS[source][0]: 0 for source in want.systems})
    for (source, _, _), n in want.counted.items():
        listed[SYSTEMS[source][0]] += n
    assert +counted == +listed

    # Every person it was shown is on the audit record as its look at that person.
    seen = [other for item in items for _, other in [item["values"]] if other["source"] != "dapodik"]
    for value in seen[:3]:
        nik = next(q["nik"] for kind, src in HOLDER_KINDS.items() for q in dataset.ground_truth()["agency_quirks"][kind]
                   if src == value["source"] and value["record"] in (q["nik"], mask_nik(q["nik"])))
        assert any(e.record.role == role for e in await log.for_person(nik)), (role, value)


async def test_the_health_officer_follows_a_patient_to_its_discrepancies_within_its_kecamatan(  # type: ignore[no-untyped-def]
    guarded_every_opd, dataset, regions
) -> None:
    gateway, _ = guarded_every_opd
    patients = dataset.ground_truth()["agency_quirks"]["deceased_patient_alive"]
    inside = next(q["nik"] for q in patients if regions[q["nik"]].startswith(DEMO_KECAMATAN + "."))
    outside = next(q["nik"] for q in patients if not regions[q["nik"]].startswith(DEMO_KECAMATAN + "."))
    query = """query($nik: NIK!) { person(nik: $nik) { discrepancies { fact person { nik }
        values { __typename source record alive } } } }"""
    body = await ask(gateway, "health_officer", query, {"nik": inside})
    assert "errors" not in body, body["errors"]
    found = {(d["fact"], d["values"][1]["source"]): d for d in body["data"]["person"]["discrepancies"]}
    d = found[("ALIVE", "dinkes")]
    assert [(v["__typename"], v["record"], v["alive"]) for v in d["values"]] == [
        ("HealthRecordDiscrepancyValue", inside, False), ("HealthRecordDiscrepancyValue", inside, True)]
    assert d["person"] == {"nik": inside}  # the resident, personal data the officer sees in its area
    assert "sepeda_keren" not in {source for _, source in found} and "dapodik" not in body["extensions"]["sources"]
    body = await ask(gateway, "health_officer", query, {"nik": outside})
    assert body["data"]["person"] is None  # out of its area, as if the registry had no such resident


async def test_the_health_officers_graphiql_example_shows_its_kecamatans_patients(  # type: ignore[no-untyped-def]
    guarded_every_opd, dataset, regions
) -> None:
    """The demo's GraphiQL tab for the health officer answers, in full, with Watulimo's patients whom the
    registry records as dead (sent with the role its EXAMPLE_ROLES entry names)."""

    from demo.access_config import EXAMPLE_ROLES
    from demo.gateway_config import PATIENT_DISCREPANCY_EXAMPLE

    title, query, _ = PATIENT_DISCREPANCY_EXAMPLE
    assert EXAMPLE_ROLES[title] == "health_officer"
    gateway, _ = guarded_every_opd
    body = await ask(gateway, "health_officer", query, {"first": 20})
    assert "errors" not in body, body["errors"]
    page = body["data"]["discrepancies"]
    planted = sorted(q["nik"] for q in dataset.ground_truth()["agency_quirks"]["deceased_patient_alive"]
                     if regions[q["nik"]].startswith(DEMO_KECAMATAN + "."))
    assert planted and page["totalCount"] == len(planted) and page["comparisons"] == [{"source": "dinkes", "complete": True}]
    assert sorted(n["person"]["nik"] for n in page["nodes"]) == planted
    assert all([v["record"] for v in n["values"]] == [n["person"]["nik"]] * 2 for n in page["nodes"])


async def test_a_discrepancy_leads_to_the_person_only_for_roles_that_see_residents(guarded_every_opd) -> None:  # type: ignore[no-untyped-def]
    """``Discrepancy.person`` is personal data, a link: the school operator (children's data only) and the
    analyst (residents masked) get the items but not the way to the resident."""

    gateway, _ = guarded_every_opd
    query = "{ discrepancies(first: 3) { nodes { fact person { nik } } } }"
    for role in ("school_operator", "smart_center_analyst"):
        body = await ask(gateway, role, query)
        nodes = body["data"]["discrepancies"]["nodes"]
        assert nodes and all(n["fact"] and n["person"] is None for n in nodes)
        assert codes_at(body, "discrepancies", "nodes", 0, "person") == {"FORBIDDEN"}


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



async def every_page(gateway: Gateway, role: str, query: str, name: str, **variables: Any) -> list[dict[str, Any]]:
    """Every node of the list field ``name`` as ``role`` pages through it (pages of 100)."""

    out: list[dict[str, Any]] = []
    after = None
    while True:
        body = await ask(gateway, role, query, {**variables, "after": after})
        page = body["data"][name]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


REPORT = """query($after: String) { discrepancies(first: 100, after: $after) {
  pageInfo { hasNextPage endCursor } nodes { fact region { code } values { source record name } } } }"""
STUDENTS = """query($after: String) { students(first: 100, after: $after) {
  pageInfo { hasNextPage endCursor } nodes { nisn nik name birthYear } } }"""
PERSONS_IN = """query($region: RegionCode!, $after: String) { persons(first: 100, after: $after, filter: { region: $region }) {
  pageInfo { hasNextPage endCursor } nodes { nik name birthYear } } }"""


@pytest.fixture
async def guarded_unthrottled(  # type: ignore[no-untyped-def]
    sqlite_backend: Backend, school: str, tmp_path: Path, jkn_api: str
) -> AsyncIterator[tuple[Gateway, AuditLog]]:
    """The demo gateway with the JKN portal, its rate limit raised for an attacker's few hundred pages."""

    async for served in serve_guarded(sqlite_backend, school, tmp_path, jkn_url=jkn_api, ratelimit={"burst": 2000}):
        yield served


async def test_the_analyst_cannot_tell_from_the_report_which_resident_died(guarded_unthrottled, dataset) -> None:  # type: ignore[no-untyped-def]
    """The attack, with only what the analyst may read: a pupil's item carries the pupil's masked NISN
    and NIK; the pupils it lists masked give that pupil's initials and birth year; the residents it
    lists masked in the item's desa, the one resident with that masked NIK, initials and birth year.
    An ALIVE item would then tell that the registry records that resident as dead, a status withheld
    from the analyst. The analyst gets no ALIVE items (nor SEX: its value is withheld too), while the
    same join pins down the residents of the items it does get (a NAME item's)."""

    gateway, _ = guarded_unthrottled
    role = "smart_center_analyst"
    registry = {row[0]: row for row in dataset.rows("penduduk")}
    items = await every_page(gateway, role, REPORT, "discrepancies")
    pupils = await every_page(gateway, role, STUDENTS, "students")
    residents: dict[str, list[dict[str, Any]]] = {}
    pinned: dict[str, list[str]] = {}  # fact -> the NIKs of the residents an item pins down
    # Every ALIVE item, and NAME items until the join pins one (their order is the analyst's shuffled
    # one, whose salt comes from the gateway's cursor key: the first three alone pinned none in one CI run).
    names = [i for i in items if i["fact"] == "NAME"][:25]
    for item in [i for i in items if i["fact"] == "ALIVE"] + names:
        if item["fact"] == "NAME" and pinned.get("NAME"):
            break
        ours, theirs = item["values"]
        if theirs["source"] != "dapodik" or not item["region"]:
            continue
        candidates = [p for p in pupils if (p["nisn"], p["nik"]) == (theirs["record"], ours["record"])]
        if len(candidates) != 1:
            continue
        (pupil,) = candidates
        desa = item["region"]["code"]
        if desa not in residents:
            residents[desa] = await every_page(gateway, role, PERSONS_IN, "persons", region=desa)
        name = ours["name"] or pupil["name"]  # a NAME item shows the registry's initials
        matches = [r for r in residents[desa] if (r["nik"], r["name"], r["birthYear"]) == (ours["record"], name, pupil["birthYear"])]
        if len(matches) == 1:
            # Who that is, from the generated registry: the one resident there shown that way.
            (nik,) = [n for n, row in registry.items() if row[10] == desa and mask_nik(n) == ours["record"]
                      and mask_initials(row[2]) == name and row[5].year == pupil["birthYear"]]
            pinned.setdefault(item["fact"], []).append(nik)
    dead = [nik for nik in pinned.get("ALIVE", []) if registry[nik][11] == "MATI"]
    assert dead == [], f"the analyst tells {len(dead)} residents it lists masked dead (the registry's status, withheld)"
    assert not {"ALIVE", "SEX"} & {item["fact"] for item in items}
    assert pinned.get("NAME"), "the join pins down the resident of an item the analyst gets"
