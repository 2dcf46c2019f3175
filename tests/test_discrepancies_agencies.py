"""One truth across every OPD the demo runs (issue 12): with the health office, the JKN portal and
Sepeda Keren configured beside the registry and Dapodik, the discrepancy report finds every quirk
the generator planted (``ground-truth.json``: the pupils' ``quirks`` and the other agencies'
``agency_quirks``), for each pair of systems, with both sides, and nothing it did not plant; a
system that fails costs only its own comparison. The expected set is computed from the ground truth."""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.gateway_config import render_config

from .conftest import Backend, Gateway, open_gateway, serve_api
from .support.server import free_port
from .test_discrepancies import KIND_FACT, VALUES
from .test_discrepancies import walk as pupils_walk

#: The agency whose record each kind of quirk is in (the pupils' are all Dapodik's).
PUPILS = "DINDIKPORA"
AGENCY_KINDS = {"deceased_patient_alive": "DINKES", "deceased_insured_active": "JKN_JATIM", "deceased_participant_active": "DINSOS"}

REPORT = f"""query($first: Int, $after: String, $fact: Fact, $agency: String) {{
  discrepancies(first: $first, after: $after, fact: $fact, agency: $agency) {{
    pageInfo {{ hasNextPage endCursor }}
    comparisons {{ source complete agency {{ code }} facts }}
    nodes {{ fact authority region {{ code }} person {{ nik }} values {{ {VALUES} }} }}
  }}
}}"""

Key = tuple[str, str, str]  # (agency of the side to correct, its record's key, fact)


@pytest.fixture(scope="module")
def jkn_api(dataset) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from demo.apis import create_jkn_app

    yield from serve_api(create_jkn_app(dataset), "JKN")


def config_with_agencies(backend: Backend, *, dinkes: str, sepeda_keren: str, jkn: str) -> dict[str, Any]:
    return tomllib.loads(render_config(
        registry_url=backend.registry_url, education_url=backend.education_url,
        dinkes_url=dinkes, sepeda_keren_url=sepeda_keren, jkn_url=jkn,
    ))


@pytest.fixture
async def every_opd(sqlite_backend: Backend, dinkes_api: str, sepeda_keren_api: str, jkn_api: str) -> AsyncIterator[Gateway]:
    async for gateway in open_gateway(config_with_agencies(sqlite_backend, dinkes=dinkes_api, sepeda_keren=sepeda_keren_api, jkn=jkn_api)):
        yield gateway


def planted_in(truth: dict[str, Any]) -> dict[Key, tuple[str, dict[str, Any]]]:
    """(agency, record, fact) -> (kind, the ground truth's entry) for every planted quirk."""

    assert set(truth["quirks"]) == set(KIND_FACT) and set(truth["agency_quirks"]) == set(AGENCY_KINDS)
    expected = {(PUPILS, q["nisn"], KIND_FACT[kind]): (kind, q) for kind, entries in truth["quirks"].items() for q in entries}
    for kind, entries in truth["agency_quirks"].items():
        assert len(entries) >= 2, kind  # every kind at least MIN_EACH
        expected |= {(AGENCY_KINDS[kind], q["nik"], "ALIVE"): (kind, q) for q in entries}
    assert len(expected) == sum(len(e) for e in (*truth["quirks"].values(), *truth["agency_quirks"].values()))
    return expected


@pytest.fixture(scope="module")
def planted(dataset) -> dict[Key, tuple[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    return planted_in(dataset.ground_truth())


async def walk(gateway: Gateway, first: int = 100, **args: Any) -> list[dict[str, Any]]:
    """Every item of the report, page by page, each page's comparisons complete."""

    return await pupils_walk(gateway, first, query=REPORT, **args)


def other_side(item: dict[str, Any]) -> dict[str, Any]:
    """The value of the system to be corrected: the one that is not the authority."""

    (value,) = [v for v in item["values"] if not v["authoritative"]]
    return value


def keyed(items: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    found = {(other_side(i)["agency"]["code"], other_side(i)["record"], i["fact"]): i for i in items}
    assert len(found) == len(items), "an item reported twice"
    return found


def per_pair(keys: set[Key] | dict[Key, Any]) -> Counter[str]:
    return Counter(agency for agency, _, _ in keys)


async def test_every_planted_quirk_is_found_for_each_pair_of_systems_and_nothing_else(every_opd: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    found = keyed(await walk(every_opd))
    for agency in (PUPILS, *AGENCY_KINDS.values()):
        mine = {k for k in planted if k[0] == agency}
        seen = {k for k in found if k[0] == agency}
        print(f"{agency}: planted {len(mine)}, found {len(seen)}, missed {len(mine - seen)}, not planted {len(seen - mine)}")
        assert mine and seen == mine, (agency, sorted(mine - seen)[:3], sorted(seen - mine)[:3])
    assert set(found) == set(planted)

    systems = {"DINKES": "dinkes", "JKN_JATIM": "jkn_portal", "DINSOS": "sepeda_keren"}
    for key, (kind, q) in planted.items():
        if kind not in AGENCY_KINDS:
            continue  # the pupils' sides: tests/test_discrepancies.py
        item = found[key]
        registry, other = item["values"]
        assert item["authority"] == "siak" and registry["source"] == "siak" and registry["authoritative"]
        assert other["source"] == systems[q["agency"]] and not other["authoritative"] and other["agency"]["code"] == q["agency"]
        assert (registry["alive"], other["alive"]) == (False, True)
        assert registry["record"] == other["record"] == q["nik"] and item["person"] == {"nik": q["nik"]}
        assert registry["updatedAt"] >= q["died_on"] and other["updatedAt"] is None  # these systems keep no update time
        assert {f for f in ("name", "birthDate", "sex", "nik") if registry[f] is not None or other[f] is not None} == set()


async def test_pages_run_across_the_comparisons_and_resume_where_they_ended(every_opd: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    def keys(items: list[dict[str, Any]]) -> list[Key]:
        return [(other_side(i)["agency"]["code"], other_side(i)["record"], i["fact"]) for i in items]

    everything = keys(await walk(every_opd, first=100))
    assert keys(await walk(every_opd, first=7)) == everything
    # The pupils first, then the registry's deaths in NIK order, each death's systems in a fixed order.
    deaths = [(nik, agency) for agency, nik, _ in everything if agency != PUPILS]
    assert everything[: len(everything) - len(deaths)] == [k for k in everything if k[0] == PUPILS]
    assert [nik for nik, _ in deaths] == sorted(nik for nik, _ in deaths)
    # A page of deaths costs the registry a chunk and each other system one batched call (Sepeda Keren: one per NIK).
    answer = await every_opd.query(REPORT, {"first": 5, "fact": "ALIVE", "agency": "JKN_JATIM"}, trace=True)
    sources = answer["extensions"]["sources"]
    assert len(answer["data"]["discrepancies"]["nodes"]) == 5
    assert [c["source"] for c in answer["data"]["discrepancies"]["comparisons"]] == ["jkn_portal"]
    assert "dapodik" not in sources and "dinkes" not in sources and sources["jkn_portal"]["calls"] <= 3, sources


async def test_filters_choose_the_comparisons(every_opd: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    for agency in AGENCY_KINDS.values():
        items = await walk(every_opd, agency=agency)
        assert set(keyed(items)) == {k for k in planted if k[0] == agency}
    answer = await every_opd.query(REPORT, {"first": 5, "fact": "NAME"})
    assert [c["source"] for c in answer["data"]["discrepancies"]["comparisons"]] == ["dapodik"]
    alive = await walk(every_opd, fact="ALIVE")
    assert set(keyed(alive)) == {k for k in planted if k[2] == "ALIVE"}


async def test_counts_cover_every_agency_and_add_up_to_the_report(every_opd: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    answer = await every_opd.query("{ discrepancyCounts { fact count agency { code } region { code level } } }")
    assert "errors" not in answer, answer["errors"]
    counted: Counter[tuple[str, str]] = Counter()
    for c in answer["data"]["discrepancyCounts"]:
        assert c["region"]["level"] == "DISTRICT" and c["count"] > 0
        counted[(c["agency"]["code"], c["fact"])] += c["count"]
    assert counted == Counter((agency, fact) for agency, _, fact in planted)


async def test_a_dead_resident_shows_the_systems_that_still_hold_them_alive(every_opd: Gateway, planted) -> None:  # type: ignore[no-untyped-def]
    query = f"query($nik: NIK!) {{ person(nik: $nik) {{ status discrepancies {{ fact authority values {{ {VALUES} }} }} }} }}"
    for kind, agency in AGENCY_KINDS.items():
        q = next(q for k, q in planted.values() if k == kind)
        answer = await every_opd.query(query, {"nik": q["nik"]})
        assert "errors" not in answer, answer["errors"]
        person = answer["data"]["person"]
        (d,) = person["discrepancies"]
        assert person["status"] == "DECEASED" and d["fact"] == "ALIVE" and d["authority"] == "siak"
        assert [(v["agency"]["code"], v["alive"]) for v in d["values"]] == [("DISDUKCAPIL", False), (agency, True)]
    # The dead pupil still enrolled: Dapodik's side only (the other systems were told of the death).
    q = next(q for k, q in planted.values() if k == "deceased_enrolled")
    (d,) = (await every_opd.query(query, {"nik": q["nik"]}))["data"]["person"]["discrepancies"]
    assert [v["agency"]["code"] for v in d["values"]] == ["DISDUKCAPIL", PUPILS]


async def test_a_dead_system_costs_only_its_own_comparison(sqlite_backend: Backend, sepeda_keren_api: str, jkn_api: str, planted) -> None:  # type: ignore[no-untyped-def]
    nobody = f"http://127.0.0.1:{free_port()}"  # the health office's API is down
    config = config_with_agencies(sqlite_backend, dinkes=nobody, sepeda_keren=sepeda_keren_api, jkn=jkn_api)
    async for gateway in open_gateway(config):
        answer = await gateway.query(REPORT, {"first": 100, "fact": "ALIVE"})
        counts = await gateway.query("{ discrepancyCounts(fact: ALIVE) { fact count agency { code } } }")
        total = await gateway.query("{ discrepancies(first: 1) { totalCount nodes { fact } } }")
    page = answer["data"]["discrepancies"]
    complete = {c["source"]: c["complete"] for c in page["comparisons"]}
    assert complete == {"dapodik": True, "dinkes": None, "jkn_portal": True, "sepeda_keren": True}
    (error,) = answer["errors"]
    assert error["path"][:2] == ["discrepancies", "comparisons"] and error["path"][3] == "complete"
    assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE" and error["extensions"]["source"] == "dinkes"
    shown = set(keyed(page["nodes"]))
    assert shown == {k for k in planted if k[2] == "ALIVE" and k[0] != "DINKES"}  # the first 100 hold them all
    # The counts: the health office's one row is null with the error, the others stand.
    rows = counts["data"]["discrepancyCounts"]
    assert [r for r in rows if r["agency"]["code"] == "DINKES"] == [{"fact": "ALIVE", "count": None, "agency": {"code": "DINKES"}}]
    assert Counter(r["agency"]["code"] for r in rows for _ in range(r["count"] or 0)) == Counter(
        a for a, _, f in planted if f == "ALIVE" and a != "DINKES"
    )
    assert {(tuple(e["path"][:1]), e["extensions"]["source"]) for e in counts["errors"]} == {(("discrepancyCounts",), "dinkes")}
    # A total short of the health office's items would pass for the whole: it is null, with the error.
    assert total["data"]["discrepancies"]["totalCount"] is None and len(total["data"]["discrepancies"]["nodes"]) == 1
    assert [(e["path"], e["extensions"]["source"]) for e in total["errors"]] == [(["discrepancies", "totalCount"], "dinkes")]


@pytest.mark.slow  # the demo's own scale: 75,000 residents and 12,199 pupils generated, loaded, served and walked
async def test_at_the_demos_scale_every_planted_quirk_is_found_for_each_pair_and_nothing_else(tmp_path: Path) -> None:
    """The report over the data `satudata demo` makes (scale 0.1) with every OPD's system, against its ground truth."""

    from contextlib import ExitStack, contextmanager

    from demo import build_dataset, load_dataset
    from demo.apis import create_dinkes_app, create_jkn_app, create_sepeda_keren_app

    dataset = build_dataset(scale=0.1, seed=3503)
    backend = Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite'}", f"sqlite+aiosqlite:///{tmp_path / 'e.sqlite'}")
    await load_dataset(dataset, registry_url=backend.registry_url, education_url=backend.education_url)
    planted = set(planted_in(dataset.ground_truth()))
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(contextmanager(serve_api)(create(dataset), name))
            for name, create in (("dinkes", create_dinkes_app), ("sepeda_keren", create_sepeda_keren_app), ("jkn", create_jkn_app))
        }
        async for gateway in open_gateway(config_with_agencies(backend, **urls)):
            found = set(keyed(await walk(gateway)))
    for agency, n in sorted(per_pair(planted).items()):
        mine, seen = {k for k in planted if k[0] == agency}, {k for k in found if k[0] == agency}
        print(f"scale 0.1, {agency}: planted {n}, found {len(seen)}, missed {len(mine - seen)}, not planted {len(seen - mine)}")
    assert found == planted and per_pair(planted)[PUPILS] > 300 and all(per_pair(planted)[a] >= 2 for a in AGENCY_KINDS.values())
