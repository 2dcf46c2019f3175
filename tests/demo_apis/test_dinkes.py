"""Dinkes PPKB demo API: facilities, SKDR weekly reports with the planted outbreak spikes, batch patient lookup."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from demo import Dataset
from demo.apis import dinkes_ground_truth
from demo.registry import P_LAHIR, P_NIK, P_STATUS, P_WILAYAH
from demo.school_calendar import age_on

from .conftest import SEED, get_json, walk_pages
from .schema_check import assert_documented

SKDR = "/api/v1/skdr/laporan-mingguan"


@pytest.fixture(scope="session")
def spec(dinkes_app: Starlette) -> dict[str, Any]:
    import orjson

    from demo.apis.dinkes import openapi_spec

    return orjson.loads(orjson.dumps(openapi_spec()))


def digits(code: str) -> str:
    return code.replace(".", "")


def epi_week(day: date) -> int:
    """Week number in 2026, counted independently: week 1 is the Sunday-Saturday week with 4 January 2026 in it."""

    week_one = date(2026, 1, 4) - timedelta(days=(date(2026, 1, 4).weekday() + 1) % 7)
    return (day - week_one).days // 7 + 1


# -- facilities -----------------------------------------------------------------------------


async def test_faskes_walk_all_pages(dinkes: httpx.AsyncClient, spec: dict[str, Any], villages: set[str]) -> None:
    facilities, total = await walk_pages(dinkes, "/api/v1/faskes", {}, per_page=5)
    assert total == len(facilities) == 24
    kinds = Counter(f["jenis"] for f in facilities)
    assert kinds == {"PUSKESMAS_RAWAT_INAP": 19, "PUSKESMAS_NON_RAWAT_INAP": 3, "RSUD": 2}
    names = {f["nama"] for f in facilities}
    for name in ("Panggul", "Bodag", "Slawe", "Baruharjo", "Pucanganak", "Ngulankulon", "Rejowinangun", "Bendungan"):
        assert f"Puskesmas {name}" in names
    assert {"RSUD dr. Soedomo", "RSUD Panggul"} <= names
    assert len({f["kode_faskes"] for f in facilities}) == 24
    page = await get_json(dinkes, "/api/v1/faskes", {"per_page": 5})
    assert_documented(spec, "/api/v1/faskes", 200, page)

    # Every desa belongs to exactly one puskesmas, of its own kecamatan, and each puskesmas covers its own desa.
    desa_digits = {digits(v) for v in villages}
    covered = [d for f in facilities for d in f["wilayah_kerja"]]
    assert sorted(covered) == sorted(desa_digits)
    for f in facilities:
        assert f["kode_wilayah"] in desa_digits
        if f["jenis"] == "RSUD":
            assert f["wilayah_kerja"] == []
        else:
            assert f["kode_wilayah"] in f["wilayah_kerja"]
            assert {d[:6] for d in f["wilayah_kerja"]} == {f["kode_wilayah"][:6]}


async def test_faskes_filters(dinkes: httpx.AsyncClient) -> None:
    watulimo = await get_json(dinkes, "/api/v1/faskes", {"kode_wilayah": "350308"})
    assert {f["nama"] for f in watulimo["data"]} == {"Puskesmas Watulimo", "Puskesmas Slawe"}
    rsud = await get_json(dinkes, "/api/v1/faskes", {"jenis": "rsud"})
    assert rsud["meta"]["total"] == 2
    both = await get_json(dinkes, "/api/v1/faskes", {"kode_wilayah": "350311", "jenis": "PUSKESMAS_NON_RAWAT_INAP"})
    assert [f["nama"] for f in both["data"]] == ["Puskesmas Rejowinangun"]
    none = await get_json(dinkes, "/api/v1/faskes", {"kode_wilayah": "3504"})
    assert none == {"data": [], "meta": {"page": 1, "per_page": 50, "total": 0, "total_pages": 0}}


@pytest.mark.parametrize(
    "params",
    [
        {"kode_wilayah": "35.03.08"},
        {"kode_wilayah": "35030"},
        {"jenis": "KLINIK"},
        {"per_page": 101},
        {"page": 0},
        {"page": "x"},
    ],
)
async def test_faskes_bad_parameters_are_json_400(
    dinkes: httpx.AsyncClient, spec: dict[str, Any], params: dict[str, Any]
) -> None:
    body = await get_json(dinkes, "/api/v1/faskes", params, status=400)
    assert body["error"]["code"] == "INVALID_PARAMETER"
    assert body["error"]["details"]["parameter"] == next(iter(params))
    assert_documented(spec, "/api/v1/faskes", 400, body)


async def test_faskes_detail(dinkes: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    body = await get_json(dinkes, "/api/v1/faskes/P3503080201")
    assert body["data"]["nama"] == "Puskesmas Slawe"
    assert body["data"]["kode_wilayah"] == "3503082007"
    assert_documented(spec, "/api/v1/faskes/{kode_faskes}", 200, body)
    missing = await get_json(dinkes, "/api/v1/faskes/P0000000000", status=404)
    assert missing["error"]["code"] == "NOT_FOUND"
    assert_documented(spec, "/api/v1/faskes/{kode_faskes}", 404, missing)


# -- SKDR -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def skdr_rows(dinkes_app: Starlette) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = dinkes_app.state.data.skdr
    return rows


async def test_skdr_walk_all_pages(
    dinkes: httpx.AsyncClient, spec: dict[str, Any], ds: Dataset, villages: set[str], skdr_rows: list[dict[str, Any]]
) -> None:
    rows, total = await walk_pages(dinkes, SKDR, {"tahun": 2026}, per_page=100)
    assert total == len(rows) == len(skdr_rows) > 500
    page = await get_json(dinkes, SKDR, {"per_page": 100})
    assert_documented(spec, SKDR, 200, page)
    assert_documented(spec, SKDR, 200, {"data": rows, "meta": page["meta"]})

    facilities = {f["kode_faskes"]: f for f in (await get_json(dinkes, "/api/v1/faskes"))["data"]}
    last_week = epi_week(ds.as_of)
    assert last_week == 47
    keys = set()
    for r in rows:
        assert r["kode_wilayah"] in {digits(v) for v in villages}
        assert r["kode_wilayah"] in facilities[r["kode_faskes"]]["wilayah_kerja"]
        start = date.fromisoformat(r["tanggal_mulai"])
        assert start.weekday() == 6 and date.fromisoformat(r["tanggal_akhir"]) == start + timedelta(days=6)
        assert epi_week(start) == r["minggu_epid"] and 1 <= r["minggu_epid"] <= last_week
        assert r["jumlah_kasus"] >= 1
        assert r["status_alert"] == (r["jumlah_kasus"] >= r["ambang"])
        assert r["status_laporan"] == ("SEMENTARA" if r["minggu_epid"] == last_week else "FINAL")
        keys.add((r["kode_wilayah"], r["minggu_epid"], r["kode_penyakit"]))
    assert len(keys) == len(rows), "one line per desa, week and disease"
    order = [(r["tahun"], r["minggu_epid"], r["kode_faskes"], r["kode_wilayah"], r["kode_penyakit"]) for r in rows]
    assert order == sorted(order)
    # The rainy season (November) brings more ILI than the dry months.
    ili = Counter(r["minggu_epid"] for r in rows if r["kode_penyakit"] == "J")
    assert sum(ili[w] for w in range(40, 47)) > sum(ili[w] for w in range(24, 31))


async def test_skdr_filters_match_the_full_list(dinkes: httpx.AsyncClient, skdr_rows: list[dict[str, Any]]) -> None:
    desa = skdr_rows[len(skdr_rows) // 2]["kode_wilayah"]
    cases = [
        ({"kode_wilayah": desa}, lambda r: r["kode_wilayah"] == desa),
        (
            {"kode_wilayah": desa[:6], "minggu_mulai": 10, "minggu_akhir": 20},
            lambda r: r["kode_wilayah"][:6] == desa[:6] and 10 <= r["minggu_epid"] <= 20,
        ),
        ({"kode_penyakit": "a,J"}, lambda r: r["kode_penyakit"] in ("A", "J")),
        (
            {"kode_faskes": "P3503080201", "kode_penyakit": "A"},
            lambda r: r["kode_faskes"] == "P3503080201" and r["kode_penyakit"] == "A",
        ),
        ({"minggu_mulai": 45}, lambda r: r["minggu_epid"] >= 45),
        ({"tahun": 2025}, lambda r: False),
    ]
    for params, keep in cases:
        found, total = await walk_pages(dinkes, SKDR, params, per_page=100)
        expected = [r for r in skdr_rows if keep(r)]
        assert total == len(expected) and found == _jsonable(expected), params


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import orjson

    return list(orjson.loads(orjson.dumps(rows)))


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"minggu_mulai": 0}, "minggu_mulai"),
        ({"minggu_akhir": 54}, "minggu_akhir"),
        ({"minggu_mulai": 20, "minggu_akhir": 10}, "minggu_mulai"),
        ({"kode_penyakit": "A,Q9"}, "kode_penyakit"),
        ({"kode_wilayah": "35.03.01.2010"}, "kode_wilayah"),
        ({"tahun": "dua ribu"}, "tahun"),
    ],
)
async def test_skdr_bad_parameters(
    dinkes: httpx.AsyncClient, spec: dict[str, Any], params: dict[str, Any], parameter: str
) -> None:
    body = await get_json(dinkes, SKDR, params, status=400)
    assert body["error"]["details"]["parameter"] == parameter
    assert_documented(spec, SKDR, 400, body)


async def test_outbreak_spikes_are_in_the_outbreak_desa_and_weeks(
    dinkes: httpx.AsyncClient, dinkes_app: Starlette, ds: Dataset
) -> None:
    truth = dinkes_app.state.data.ground_truth()
    assert truth == dinkes_ground_truth(ds, SEED)
    outbreaks = ds.ground_truth()["outbreaks"]
    assert len(truth["outbreak_spikes"]) == len(outbreaks) >= 2
    assert len({s["kode_penyakit"] for s in truth["outbreak_spikes"]}) == len(outbreaks), (
        "different diseases per outbreak"
    )
    for outbreak, spike in zip(outbreaks, truth["outbreak_spikes"], strict=True):
        assert spike["npsn"] == outbreak["npsn"]
        assert spike["kode_wilayah"] == outbreak["kode_wilayah"]
        assert spike["kode_wilayah_digits"] == outbreak["kode_wilayah_sekolah"]
        weeks = sorted({epi_week(date.fromisoformat(d)) for d in outbreak["dates"]})
        assert [w["minggu_epid"] for w in spike["weeks"]] == weeks
        for week in spike["weeks"]:
            body = await get_json(
                dinkes,
                SKDR,
                {
                    "kode_wilayah": outbreak["kode_wilayah_sekolah"],
                    "tahun": 2026,
                    "minggu_mulai": week["minggu_epid"],
                    "minggu_akhir": week["minggu_epid"],
                    "kode_penyakit": spike["kode_penyakit"],
                },
            )
            [line] = body["data"]
            assert line["jumlah_kasus"] >= week["planted_cases"] >= line["ambang"]
            assert line["status_alert"] is True
            assert line["kode_faskes"] == spike["kode_faskes"]
        # The weeks before the outbreak were quiet for that disease in that desa.
        before = await get_json(
            dinkes,
            SKDR,
            {
                "kode_wilayah": outbreak["kode_wilayah_sekolah"],
                "minggu_akhir": weeks[0] - 1,
                "kode_penyakit": spike["kode_penyakit"],
            },
        )
        assert not any(r["status_alert"] for r in before["data"])

    [other] = truth["other_spikes"]
    assert other["kode_wilayah"] not in {o["kode_wilayah"] for o in outbreaks}
    for week in other["weeks"]:
        body = await get_json(
            dinkes,
            SKDR,
            {
                "kode_wilayah": other["kode_wilayah_digits"],
                "minggu_mulai": week["minggu_epid"],
                "minggu_akhir": week["minggu_epid"],
                "kode_penyakit": "C",
            },
        )
        assert body["data"][0]["status_alert"] is True


async def test_penyakit_reference(dinkes: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    body = await get_json(dinkes, "/api/v1/skdr/penyakit")
    assert_documented(spec, "/api/v1/skdr/penyakit", 200, body)
    table = {d["kode_penyakit"]: d["ambang"] for d in body["data"]}
    assert table["A"] == 15 and table["C"] == 5 and "J" in table and "K" in table


# -- patients -------------------------------------------------------------------------------


async def test_batch_patient_lookup(
    dinkes: httpx.AsyncClient, spec: dict[str, Any], ds: Dataset, people: dict[str, Any]
) -> None:
    known = [row[P_NIK] for row in ds.penduduk[::150][:95]]
    unknown = ["3503019999999999", "3503125708909901", "3201010101010001", "3503014107009999", "3503010000000001"]
    assert not set(unknown) & set(people)
    asked = known[:50] + unknown + known[50:]
    assert len(asked) == 100
    body = await get_json(dinkes, "/api/v1/pasien", {"nik": ",".join(asked)})
    assert_documented(spec, "/api/v1/pasien", 200, body)
    returned = [p["nik"] for p in body["data"]]
    assert set(returned) <= set(known)
    assert returned == [n for n in asked if n in set(returned)], "in the order asked"
    assert body["meta"]["total"] == len(returned) and body["meta"]["per_page"] == 100
    assert 0.75 * len(known) <= len(returned) < len(known), "most residents have a record, not all"

    facilities = {f["kode_faskes"]: f for f in (await get_json(dinkes, "/api/v1/faskes"))["data"]}
    covering = {d: code for code, f in facilities.items() for d in f["wilayah_kerja"]}
    home = sum(1 for p in body["data"] if covering[digits(people[p["nik"]][P_WILAYAH])] == p["kode_faskes_terdaftar"])
    assert home >= 0.8 * len(returned), "most are registered at the puskesmas covering their desa"
    for p in body["data"]:
        row = people[p["nik"]]
        assert facilities[p["kode_faskes_terdaftar"]]["jenis"] != "RSUD"
        registered = date.fromisoformat(p["tanggal_registrasi"])
        assert row[P_LAHIR] <= registered <= ds.as_of
        assert p["meninggal"] == (row[P_STATUS] == "MATI")
        if "hipertensi" in p["penyakit_kronis"]:
            assert age_on(row[P_LAHIR], ds.as_of) >= 30
        assert (p["jenis_disabilitas"] is not None) == p["status_disabilitas"]


async def test_batch_lookup_pages_and_repeated_params(dinkes: httpx.AsyncClient, ds: Dataset) -> None:
    niks = [row[P_NIK] for row in ds.penduduk[:60]]
    everything = (await get_json(dinkes, "/api/v1/pasien", {"nik": ",".join(niks)}))["data"]
    paged, total = await walk_pages(dinkes, "/api/v1/pasien", {"nik": ",".join(niks)}, per_page=7)
    assert paged == everything and total == len(everything)
    repeated = await dinkes.get("/api/v1/pasien", params=[("nik", n) for n in niks[:10]] + [("nik", niks[0])])
    assert [p["nik"] for p in repeated.json()["data"]] == [p["nik"] for p in everything if p["nik"] in niks[:10]]


async def test_batch_lookup_refuses_more_than_100(dinkes: httpx.AsyncClient, spec: dict[str, Any], ds: Dataset) -> None:
    niks = [row[P_NIK] for row in ds.penduduk[:101]]
    body = await get_json(dinkes, "/api/v1/pasien", {"nik": ",".join(niks)}, status=400)
    assert body["error"]["code"] == "TOO_MANY_NIKS" and body["error"]["details"]["max"] == 100
    assert_documented(spec, "/api/v1/pasien", 400, body)
    missing = await get_json(dinkes, "/api/v1/pasien", status=400)
    assert missing["error"]["details"]["parameter"] == "nik"
    malformed = await get_json(dinkes, "/api/v1/pasien", {"nik": f"{niks[0]},35.03,12345"}, status=400)
    assert malformed["error"]["code"] == "INVALID_NIK" and malformed["error"]["details"]["invalid"] == [
        "35.03",
        "12345",
    ]
