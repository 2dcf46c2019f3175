"""One truth across OPDs (issue 12): the discrepancy report finds every disagreement the demo
generator planted between Dapodik and the registry (``ground-truth.json``), with both sides,
and reports nothing it did not plant. The expected set is computed here from the ground truth;
the comparison rules have their own unit tests below. The gateway here runs the registry and
Dapodik only; with the other agencies' systems beside them: tests/test_discrepancies_agencies.py."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from resolvers.truth.rules import names_differ, normalise_name, values_differ

from .conftest import Backend, Gateway

#: What each kind of planted quirk is, as a fact of the report.
KIND_FACT = {
    "name_mismatch": "NAME",
    "birth_date_mismatch": "BIRTH_DATE",
    "unknown_nik": "NIK",
    "null_nik": "NIK",
    "deceased_enrolled": "ALIVE",
}

VALUES = "source system record authoritative present updatedAt name birthDate birthYear sex alive nik agency { code }"
REPORT = f"""query($first: Int, $after: String, $fact: Fact, $agency: String, $region: RegionCode) {{
  discrepancies(first: $first, after: $after, fact: $fact, agency: $agency, region: $region) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ fact authority region {{ code }} person {{ nik }} values {{ {VALUES} }} }}
  }}
}}"""


async def walk(gateway: Gateway, first: int = 100, *, query: str = REPORT, **args: Any) -> list[dict[str, Any]]:
    """Every item of the report, page by page, as a client pages it (each page's comparisons complete, if asked)."""

    items: list[dict[str, Any]] = []
    after = None
    while True:
        answer = await gateway.query(query, {"first": first, "after": after, **args})
        assert "errors" not in answer, answer["errors"]
        page = answer["data"]["discrepancies"]
        assert len(page["nodes"]) <= first and all(c["complete"] for c in page.get("comparisons", ()))
        items += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return items
        after = page["pageInfo"]["endCursor"]


def side(item: dict[str, Any], source: str) -> dict[str, Any]:
    (value,) = [v for v in item["values"] if v["source"] == source]
    return value


def by_pupil(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {(side(i, "dapodik")["record"], i["fact"]): i for i in items}
    assert len(found) == len(items), "an item reported twice"
    return found


@pytest.fixture(scope="module")
def planted(dataset) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """(NISN, fact) -> (kind, the ground truth's entry) for every planted quirk."""

    quirks = dataset.ground_truth()["quirks"]
    assert set(quirks) == set(KIND_FACT), "a kind of quirk this test does not know"
    expected = {(q["nisn"], KIND_FACT[kind]): (kind, q) for kind, entries in quirks.items() for q in entries}
    assert len(expected) == sum(len(e) for e in quirks.values()) and all(quirks.values())
    return expected


async def test_every_planted_quirk_is_found_with_both_sides_and_nothing_else(sqlite_gateway: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    items = await walk(sqlite_gateway)
    found = by_pupil(items)
    missed = set(planted) - set(found)
    extra = set(found) - set(planted)
    print(f"planted {len(planted)}, found {len(found)}, missed {len(missed)}, not planted {len(extra)}")
    assert not missed and not extra, (sorted(missed)[:5], sorted(extra)[:5])

    for key, (kind, q) in planted.items():
        item = found[key]
        registry, dapodik = side(item, "siak"), side(item, "dapodik")
        # The registry is the authority for identity, and comes first.
        assert item["authority"] == "siak" and item["values"][0] is registry
        assert registry["authoritative"] and not dapodik["authoritative"]
        assert registry["agency"]["code"] == "DISDUKCAPIL" and dapodik["agency"]["code"] == "DINDIKPORA"
        assert dapodik["updatedAt"] is None  # Dapodik keeps no update time
        if kind == "name_mismatch":
            assert (registry["name"], dapodik["name"]) == (q["registry"], q["dapodik"])
        elif kind == "birth_date_mismatch":
            assert (registry["birthDate"], dapodik["birthDate"]) == (q["registry"], q["dapodik"])
            assert registry["birthYear"] == int(q["registry"][:4])
        elif kind == "deceased_enrolled":
            assert (registry["alive"], dapodik["alive"]) == (False, True)
            assert registry["updatedAt"] >= q["died_on"]  # the death was recorded after it happened
        elif kind == "unknown_nik":
            assert dapodik["nik"] == q["dapodik"] and not registry["present"] and registry["nik"] is None
            assert item["person"] is None
        elif kind == "null_nik":
            # The registry's resident with exactly the pupil's name, birth date and sex.
            assert dapodik["nik"] is None and registry["nik"] == q["registry"] and item["person"] == {"nik": q["registry"]}
        if kind != "unknown_nik":
            assert item["person"] == {"nik": q["nik"]} and registry["record"] == q["nik"]
        assert dapodik["record"] == q["nisn"]
        # Only the fact's own value is set.
        shown = {f for f in ("name", "birthDate", "sex", "alive", "nik") if dapodik[f] is not None}
        assert shown <= {"NAME": {"name"}, "BIRTH_DATE": {"birthDate"}, "ALIVE": {"alive"}, "NIK": {"nik"}}[item["fact"]]


async def test_pages_resume_where_they_ended_and_cost_only_what_they_need(sqlite_gateway: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    everything = [(side(i, "dapodik")["record"], i["fact"]) for i in await walk(sqlite_gateway, first=100)]
    in_sevens = [(side(i, "dapodik")["record"], i["fact"]) for i in await walk(sqlite_gateway, first=7)]
    assert in_sevens == everything and everything == sorted(everything, key=lambda k: (k[0], list(KIND_FACT.values()).index(k[1])))
    # The first page of 5 reads one chunk of pupils, and the registry in batches, not pupil by pupil.
    answer = await sqlite_gateway.query(REPORT, {"first": 5}, trace=True)
    sources = answer["extensions"]["sources"]
    assert len(answer["data"]["discrepancies"]["nodes"]) == 5
    assert sources["dapodik"]["calls"] <= 2 and sources["siak"]["calls"] <= 4, sources


async def test_filters_narrow_the_report_and_a_cursor_is_bound_to_its_filters(sqlite_gateway: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    everything = await walk(sqlite_gateway)
    alive = await walk(sqlite_gateway, fact="ALIVE")
    assert {i["fact"] for i in alive} == {"ALIVE"} and len(alive) == sum(1 for k in planted if k[1] == "ALIVE")
    kecamatan = Counter(i["region"]["code"][:8] for i in everything).most_common(1)[0][0]
    here = await walk(sqlite_gateway, region=kecamatan)
    assert here == [i for i in everything if i["region"]["code"].startswith(kecamatan + ".")] and here
    assert await walk(sqlite_gateway, agency="DINDIKPORA") == everything
    assert await walk(sqlite_gateway, agency="DINKES") == []
    page = (await sqlite_gateway.query(REPORT, {"first": 2}))["data"]["discrepancies"]
    refused = await sqlite_gateway.query(REPORT, {"first": 2, "after": page["pageInfo"]["endCursor"], "fact": "NAME"})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_counts_per_fact_agency_and_kecamatan_add_up_to_the_report(sqlite_gateway: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    answer = await sqlite_gateway.query("{ discrepancyCounts { fact count agency { code } region { code level } } }")
    counts = answer["data"]["discrepancyCounts"]
    per_fact: Counter[str] = Counter()
    for c in counts:
        assert c["agency"]["code"] == "DINDIKPORA" and c["region"]["level"] == "DISTRICT" and c["count"] > 0
        per_fact[c["fact"]] += c["count"]
    assert per_fact == Counter(fact for _, fact in planted)
    items = await walk(sqlite_gateway)
    assert Counter((i["fact"], i["region"]["code"][:8]) for i in items) == Counter(
        {(c["fact"], c["region"]["code"]): c["count"] for c in counts}
    )


async def test_a_person_shows_their_own_discrepancies_with_both_sides(sqlite_gateway: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    query = f"query($nik: NIK!) {{ person(nik: $nik) {{ status discrepancies {{ fact values {{ {VALUES} }} }} }} }}"
    for kind in ("deceased_enrolled", "birth_date_mismatch", "name_mismatch"):
        _, q = next(v for v in planted.values() if v[0] == kind)
        person = (await sqlite_gateway.query(query, {"nik": q["nik"]}))["data"]["person"]
        (d,) = person["discrepancies"]
        assert d["fact"] == KIND_FACT[kind]
        assert side(d, "dapodik")["record"] == q["nisn"] and side(d, "siak")["record"] == q["nik"]
    _, q = next(v for v in planted.values() if v[0] == "birth_date_mismatch")
    d = (await sqlite_gateway.query(query, {"nik": q["nik"]}))["data"]["person"]["discrepancies"][0]
    assert (side(d, "siak")["birthDate"], side(d, "dapodik")["birthDate"]) == (q["registry"], q["dapodik"])
    # A pupil whose records agree, and a resident who is no pupil, have none.
    quirky = {q["nik"] for _, q in planted.values()}
    found = (await sqlite_gateway.query("{ persons(first: 100) { nodes { nik student { nisn } discrepancies { fact } } } }"))
    nodes = found["data"]["persons"]["nodes"]
    assert any(n["student"] for n in nodes if n["nik"] not in quirky)
    assert all(n["discrepancies"] == [] for n in nodes if n["nik"] not in quirky)


@pytest.mark.slow  # the demo's own scale: 12,199 pupils generated, loaded and walked (15 s on a quiet machine)
async def test_at_the_demos_scale_every_planted_quirk_is_found_and_nothing_else(tmp_path: Path) -> None:
    """The report over the data `satudata demo` makes (scale 0.1), against its ground truth."""

    from demo import build_dataset, load_dataset

    from .conftest import gateway_config, open_gateway

    dataset = build_dataset(scale=0.1, seed=3503)
    backend = Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite'}", f"sqlite+aiosqlite:///{tmp_path / 'e.sqlite'}")
    await load_dataset(dataset, registry_url=backend.registry_url, education_url=backend.education_url)
    quirks = dataset.ground_truth()["quirks"]
    planted = {(q["nisn"], KIND_FACT[kind]) for kind, entries in quirks.items() for q in entries}
    async for gateway in open_gateway(gateway_config(backend)):
        found = set(by_pupil(await walk(gateway)))
    print(f"scale 0.1: planted {len(planted)}, found {len(found)}, missed {len(planted - found)}, not planted {len(found - planted)}")
    assert found == planted and len(planted) > 300


async def test_the_authority_for_each_fact_is_configuration(sqlite_backend: Backend, planted) -> None:  # type: ignore[no-untyped-def]
    from .conftest import gateway_config, open_gateway

    config = gateway_config(sqlite_backend)
    assert config["discrepancies"]["authority"]["NAME"] == "siak"  # the demo's config says it out loud
    config["discrepancies"]["authority"]["NAME"] = "dapodik"  # a regency that trusts the schools' spelling
    async for gateway in open_gateway(config):
        items = await walk(gateway)
    names = [i for i in items if i["fact"] == "NAME"]
    assert names and all(i["authority"] == "dapodik" and i["values"][0]["source"] == "dapodik" for i in names)
    assert all(i["values"][0]["authoritative"] and not i["values"][1]["authoritative"] for i in names)
    assert all(i["authority"] == "siak" and i["values"][0]["source"] == "siak" for i in items if i["fact"] != "NAME")
    assert len(items) == len(planted)  # who is authoritative changes no finding


@pytest.mark.parametrize(
    "authority,complaint",
    [({"NAME": "kemendagri"}, "discrepancies.authority.NAME is 'kemendagri'"), ({"NAMA": "siak"}, "NAMA")],
)
def test_an_authority_the_gateway_cannot_name_is_refused_at_start(sqlite_backend: Backend, authority, complaint) -> None:  # type: ignore[no-untyped-def]
    from core import ConfigError
    from gateway import GatewaySettings, create_app

    from .conftest import gateway_config

    config = gateway_config(sqlite_backend)
    config["discrepancies"] = {"authority": authority}
    with pytest.raises(ConfigError, match=complaint):
        create_app(GatewaySettings.from_dict(config))


async def test_a_failing_dapodik_costs_only_the_discrepancies(sqlite_backend: Backend, planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from .conftest import gateway_config, open_gateway
    from .support.sqlite import sqlite_file

    copy = tmp_path / "dapodik.sqlite"
    shutil.copy(sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///"), copy)
    config = gateway_config(Backend("sqlite", sqlite_backend.registry_url, f"sqlite+aiosqlite:///{copy}"))
    _, q = next(v for v in planted.values() if v[0] == "deceased_enrolled")
    async for gateway in open_gateway(config):
        with sqlite_file(copy) as conn:  # the pupils' table goes away under the running gateway
            conn.execute("ALTER TABLE peserta_didik RENAME TO peserta_didik_lama")
        answer = await gateway.query(
            """query($nik: NIK!) { person(nik: $nik) { name status discrepancies { fact } } discrepancyCounts { fact count }
                discrepancies(first: 5) { nodes { fact } comparisons { source complete } } }""",
            {"nik": q["nik"]},
        )
    assert answer["data"]["person"]["name"] and answer["data"]["person"]["status"] == "DECEASED"
    assert answer["data"]["person"]["discrepancies"] is None
    # The report and its counts stand, saying which comparison failed: Dapodik's, the only one here.
    counts = answer["data"]["discrepancyCounts"]
    assert [c["fact"] for c in counts] == ["NAME", "BIRTH_DATE", "SEX", "ALIVE", "NIK"]  # every fact Dapodik holds
    assert all(c["count"] is None for c in counts)
    assert answer["data"]["discrepancies"] == {"nodes": [], "comparisons": [{"source": "dapodik", "complete": None}]}
    assert {tuple(e["path"]) for e in answer["errors"]} == {
        ("person", "discrepancies"), ("discrepancies", "comparisons", 0, "complete"), *(("discrepancyCounts", i, "count") for i in range(len(counts)))
    }
    assert {e["extensions"].get("source") for e in answer["errors"]} == {"dapodik"}


# -- the rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "one,other,differ",
    [
        ("SITI AMINAH", "Siti  Aminah ", False),  # case and spacing
        ("H. AHMAD FAUZI", "AHMAD FAUZI", False),  # a title before the name
        ("DRS. HJ. SITI AMINAH, M.PD.", "SITI AMINAH", False),  # titles before, degrees after a comma
        ("AHMAD FAUZI, S.PD", "ahmad fauzi", False),
        ("MUHAMMAD RIZKY", "MOH. RIZKY", True),  # an abbreviation is not forgiven
        ("MUHAMMAD RIZKY", "MUHAMMAD RIZKI", True),  # nor a spelling
        ("DWI AYU LESTARI", "DWI AYU L.", True),
        ("H", "H.", True),  # a one-word name is never taken for a title
        ("SITI AMINAH", None, False),  # nothing disagrees with a missing value
    ],
)
def test_names_are_compared_after_case_spacing_and_gelar(one: str, other: str | None, differ: bool) -> None:
    assert names_differ(one, other) is differ


def test_dates_and_codes_are_compared_exactly() -> None:
    assert values_differ(date(2012, 3, 4), date(2012, 4, 3))
    assert not values_differ(date(2012, 3, 4), "2012-03-04")
    assert values_differ("MALE", "FEMALE") and not values_differ("MALE", None)
    assert normalise_name("  kh.  abdul   ghofur ") == "ABDUL GHOFUR"
