"""Sepeda Keren demo API: cohorts, sessions, attendance (cursor pages), one-by-one participant lookups."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from demo import Dataset
from demo.apis.people import disability
from demo.registry import P_LAHIR, P_SEX, P_STATUS, P_WILAYAH
from demo.school_calendar import age_on

from .conftest import SEED, get_json, walk_cursor
from .schema_check import assert_documented

PILOT_KECAMATAN = {"35.03.13", "35.03.08", "35.03.04", "35.03.03"}  # Durenan, Watulimo, Dongko, Pule


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    import orjson

    from demo.apis.sepeda_keren import openapi_spec

    return orjson.loads(orjson.dumps(openapi_spec()))


@pytest.fixture(scope="session")
def data(sepeda_app: Starlette) -> Any:
    return sepeda_app.state.data


async def test_cohorts_walk_all_pages(
    sepeda: httpx.AsyncClient, spec: dict[str, Any], data: Any, ds: Dataset, villages: set[str]
) -> None:
    cohorts = await walk_cursor(sepeda, "/v1/cohorts", {}, limit=7)
    assert len(cohorts) == len(data.cohorts) >= 40
    assert len({c["cohortId"] for c in cohorts}) == len(cohorts)
    assert_documented(spec, "/v1/cohorts", 200, {"items": cohorts, "nextCursor": None})
    page = await get_json(sepeda, "/v1/cohorts", {"limit": 3})
    assert len(page["items"]) == 3 and page["nextCursor"]
    assert_documented(spec, "/v1/cohorts", 200, page)

    assert {c["year"] for c in cohorts} == set(range(2019, 2027))
    pilots = [c for c in cohorts if c["year"] == 2019]
    assert {c["kecamatanCode"] for c in pilots} == PILOT_KECAMATAN and all(c["pilot"] for c in pilots)
    assert next(c for c in pilots if c["kecamatanCode"] == "35.03.03")["desaName"] == "Jombok"
    assert min(c["year"] for c in cohorts if c["kecamatanName"] == "Panggul") == 2021
    assert {c["kecamatanCode"] for c in cohorts} == {code for code, _n, level, _p in ds.wilayah if level == "kecamatan"}
    for c in cohorts:
        assert c["desaCode"] in villages and c["desaCode"].startswith(c["kecamatanCode"] + ".")
        assert c["name"].startswith("Sepeda Keren ") and str(c["year"]) in c["name"]
        if not c["pilot"]:
            assert c["name"].startswith(f"Sepeda Keren {c['kecamatanName']} {c['year']}")
        assert 25 <= c["participantCount"] <= 35
        basic = {m["code"] for m in c["modules"] if m["kind"] == "DASAR"}
        assert basic == {"TATA_KELOLA", "KEPEMIMPINAN_PEREMPUAN", "ADVOKASI", "KOMUNIKASI", "MONEV"}
        assert 2 <= sum(m["kind"] == "TEMATIK" for m in c["modules"]) <= 3
        assert date.fromisoformat(c["startDate"]) <= ds.as_of
        assert (c["endDate"] is None) == (c["status"] == "BERJALAN")
    assert any(c["status"] == "BERJALAN" for c in cohorts)


async def test_cohort_filters_and_errors(sepeda: httpx.AsyncClient, spec: dict[str, Any], data: Any) -> None:
    pogalan = await walk_cursor(sepeda, "/v1/cohorts", {"kecamatanCode": "35.03.12"}, limit=2)
    assert pogalan == [c for c in _json(data.cohorts) if c["kecamatanCode"] == "35.03.12"] and pogalan
    in_2024 = await walk_cursor(sepeda, "/v1/cohorts", {"year": 2024}, limit=5)
    assert in_2024 and all(c["year"] == 2024 for c in in_2024)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"kecamatanCode": "351203"}, "INVALID_PARAMETER"),
        ({"limit": 0}, "INVALID_PARAMETER"),
        ({"limit": 101}, "INVALID_PARAMETER"),
        ({"cursor": "not-a-cursor"}, "INVALID_CURSOR"),
        ({"cursor": "djE6LTE"}, "INVALID_CURSOR"),
    ]
    for params, code in bad:
        body = await get_json(sepeda, "/v1/cohorts", params, status=400)
        assert body["error"]["code"] == code, params
        assert_documented(spec, "/v1/cohorts", 400, body)


def _json(value: Any) -> Any:
    import orjson

    return orjson.loads(orjson.dumps(value))


async def test_cohort_detail_and_sessions(
    sepeda: httpx.AsyncClient, spec: dict[str, Any], data: Any, ds: Dataset, villages: set[str]
) -> None:
    for cohort in data.cohorts[::9]:
        cohort_id = cohort["cohortId"]
        body = await get_json(sepeda, f"/v1/cohorts/{cohort_id}")
        assert body == _json(cohort)
        assert_documented(spec, "/v1/cohorts/{cohortId}", 200, body)
        sessions = await walk_cursor(sepeda, f"/v1/cohorts/{cohort_id}/sessions", {}, limit=4)
        assert_documented(spec, "/v1/cohorts/{cohortId}/sessions", 200, {"items": sessions, "nextCursor": None})
        assert len(sessions) == body["sessionCount"] >= 1
        dates = [date.fromisoformat(s["date"]) for s in sessions]
        assert dates == sorted(dates) and dates[0] == date.fromisoformat(body["startDate"]) and dates[-1] <= ds.as_of
        assert all(d.weekday() != 6 for d in dates), "no classes on Sunday"
        assert {s["module"] for s in sessions} <= {m["code"] for m in body["modules"]}
        for s in sessions:
            assert (
                s["cohortId"] == cohort_id
                and s["desaCode"] in villages
                and s["desaCode"].startswith(body["kecamatanCode"] + ".")
            )
    missing = await get_json(sepeda, "/v1/cohorts/SK-1999-01-01", status=404)
    assert_documented(spec, "/v1/cohorts/{cohortId}", 404, missing)
    await get_json(sepeda, "/v1/cohorts/SK-1999-01-01/sessions", status=404)


async def test_attendance_lists_enrolled_participants(
    sepeda: httpx.AsyncClient, spec: dict[str, Any], data: Any
) -> None:
    cohort = data.cohorts[5]
    sessions = data.sessions[cohort["cohortId"]]
    seen: set[str] = set()
    for session in sessions:
        rows = await walk_cursor(sepeda, f"/v1/sessions/{session['sessionId']}/attendance", {}, limit=6)
        assert_documented(spec, "/v1/sessions/{sessionId}/attendance", 200, {"items": rows, "nextCursor": None})
        assert rows and len({r["nik"] for r in rows}) == len(rows)
        assert 0.5 <= sum(r["present"] for r in rows) / len(rows) <= 1
        for r in rows:
            participant = await get_json(sepeda, f"/v1/participants/{r['nik']}")
            [enrolment] = [e for e in participant["cohorts"] if e["cohortId"] == cohort["cohortId"]]
            assert date.fromisoformat(enrolment["enrolledOn"]) <= session["date"]
        seen |= {r["nik"] for r in rows}
    assert len(seen) == cohort["participantCount"]
    missing = await get_json(sepeda, "/v1/sessions/SK-2019-03-01-S99/attendance", status=404)
    assert_documented(spec, "/v1/sessions/{sessionId}/attendance", 404, missing)


async def test_a_cohorts_attendance_recap_is_its_sessions_lists_in_order(
    sepeda: httpx.AsyncClient, spec: dict[str, Any], data: Any
) -> None:
    for cohort in data.cohorts[::11]:
        cohort_id = cohort["cohortId"]
        recap = await walk_cursor(sepeda, f"/v1/cohorts/{cohort_id}/attendance", {}, limit=30)
        assert_documented(spec, "/v1/cohorts/{cohortId}/attendance", 200, {"items": recap, "nextCursor": None})
        expected = []
        for session in await walk_cursor(sepeda, f"/v1/cohorts/{cohort_id}/sessions", {}, limit=100):
            rows = await walk_cursor(sepeda, f"/v1/sessions/{session['sessionId']}/attendance", {}, limit=100)
            expected += [{"sessionId": session["sessionId"], **row} for row in rows]
        assert recap == expected and len({r["nik"] for r in recap}) == cohort["participantCount"]
    missing = await get_json(sepeda, "/v1/cohorts/SK-1999-01-01/attendance", status=404)
    assert_documented(spec, "/v1/cohorts/{cohortId}/attendance", 404, missing)
    await get_json(sepeda, f"/v1/cohorts/{data.cohorts[0]['cohortId']}/attendance", {"limit": 101}, status=400)


async def test_participant_found_and_not_found(
    sepeda: httpx.AsyncClient, spec: dict[str, Any], data: Any, ds: Dataset
) -> None:
    nik = next(iter(data.participants))
    body = await get_json(sepeda, f"/v1/participants/{nik}")
    assert body["nik"] == nik and body["cohorts"]
    assert_documented(spec, "/v1/participants/{nik}", 200, body)
    outsider = next(row[0] for row in ds.penduduk if row[0] not in data.participants)
    missing = await get_json(sepeda, f"/v1/participants/{outsider}", status=404)
    assert missing["error"]["code"] == "NOT_FOUND"
    assert_documented(spec, "/v1/participants/{nik}", 404, missing)
    never_issued = await get_json(sepeda, "/v1/participants/3503019999999999", status=404)
    assert never_issued["error"]["code"] == "NOT_FOUND"
    bad = await get_json(sepeda, "/v1/participants/35.03.01", status=400)
    assert bad["error"]["code"] == "INVALID_NIK"
    assert_documented(spec, "/v1/participants/{nik}", 400, bad)


def test_participants_fit_their_categories(data: Any, ds: Dataset, people: dict[str, Any]) -> None:
    cohorts = {c["cohortId"]: c for c in data.cohorts}
    categories: Counter[str] = Counter()
    # Deaths of the last weeks that demo.quirks planted: the programme was told of them (the participant
    # left every class still running), except those it was not: still AKTIF in a running class, of
    # their kecamatan or, where none runs, the nearest one.
    died = {q["nik"]: date.fromisoformat(q["died_on"]) for entries in ds.agency_quirks.values() for q in entries}
    untold = {q["nik"] for q in ds.agency_quirks["deceased_participant_active"]}
    assert untold and untold <= set(data.participants)
    for nik, p in data.participants.items():
        row = people[nik]
        if nik in died:
            assert row[P_STATUS] == "MATI" and all(e["enrolledOn"] < died[nik] for e in p["cohorts"])
            assert ("AKTIF" in [e["status"] for e in p["cohorts"]]) == (nik in untold)
            if nik in untold:
                continue
        else:
            assert row[P_STATUS] == "HIDUP"
        female = row[P_SEX] == "P"
        ages = [age_on(row[P_LAHIR], e["enrolledOn"]) for e in p["cohorts"]]
        assert min(ages) >= 10
        for e in p["cohorts"]:
            cohort = cohorts[e["cohortId"]]
            assert row[P_WILAYAH].startswith(cohort["kecamatanCode"] + "."), "a resident of the cohort's kecamatan"
            assert cohort["startDate"] <= e["enrolledOn"] <= ds.as_of
            assert e["status"] in (("AKTIF", "KELUAR") if cohort["status"] == "BERJALAN" else ("LULUS", "KELUAR"))
            if e["japriCapital"] is not None:
                assert e["status"] == "LULUS" and cohort["year"] >= 2021 and e["japriCapital"] > 0
        cats = set(p["categories"])
        categories.update(cats)
        assert ("ANAK" in cats) == any(a < 18 for a in ages)
        assert ("LANSIA" in cats) == any(a >= 60 for a in ages)
        assert ("PEREMPUAN" in cats) == (female and any(a >= 18 for a in ages))
        assert ("DISABILITAS" in cats) == (p["disabilityType"] is not None)
        if p["disabilityType"]:
            assert p["disabilityType"] == disability(SEED, nik, row[P_LAHIR], ds.as_of)
        assert "LAINNYA" not in cats or cats == {"LAINNYA"}
    assert set(categories) == {"PEREMPUAN", "DISABILITAS", "ANAK", "LANSIA", "PEKERJA_MIGRAN", "LAINNYA"}
    assert categories["PEREMPUAN"] > len(data.participants) / 2
    assert 0 < categories["DISABILITAS"] < len(data.participants) / 5
    graduates = sum(e["japriCapital"] is not None for p in data.participants.values() for e in p["cohorts"])
    assert graduates > 0

    for cohort in data.cohorts:
        row = people[cohort["facilitatorNik"]]
        assert row[P_STATUS] == "HIDUP" and row[P_WILAYAH].startswith(cohort["kecamatanCode"] + ".")
        assert 22 <= age_on(row[P_LAHIR], date.fromisoformat(str(cohort["startDate"]))) <= 60


async def test_disability_agrees_with_the_health_office(data: Any, dinkes: httpx.AsyncClient) -> None:
    disabled = {nik: p["disabilityType"] for nik, p in data.participants.items() if p["disabilityType"]}
    niks = list(disabled)[:100]
    body = await get_json(dinkes, "/api/v1/pasien", {"nik": ",".join(niks)})
    assert body["data"]
    for record in body["data"]:
        assert record["status_disabilitas"] is True and record["jenis_disabilitas"] == disabled[record["nik"]]
