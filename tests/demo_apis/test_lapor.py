"""Citizen-complaints demo API (SP4N-LAPOR!-like): offset pages, filters, the planted outbreak reports."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from demo import Dataset
from demo.apis import lapor_ground_truth
from demo.apis.lapor import CATEGORY
from demo.registry import P_LAHIR
from demo.school_calendar import age_on

from .conftest import SEED, get_json, walk_offset
from .schema_check import assert_documented

WIB = timezone(timedelta(hours=7))


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    import orjson

    from demo.apis.lapor import openapi_spec

    return orjson.loads(orjson.dumps(openapi_spec()))


@pytest.fixture
async def reports(lapor: httpx.AsyncClient) -> list[dict[str, Any]]:
    found, _ = await walk_offset(lapor, "/api/reports", {}, limit=100)
    return found


async def test_walk_all_pages(
    lapor: httpx.AsyncClient, spec: dict[str, Any], lapor_app: Starlette, ds: Dataset
) -> None:
    found, count = await walk_offset(lapor, "/api/reports", {}, limit=9)
    assert count == len(found) == len(lapor_app.state.data.reports)
    assert 0.003 * len(ds.penduduk) <= count <= 0.006 * len(ds.penduduk), "scales with the population"
    assert len({r["tracking_id"] for r in found}) == count
    first = await get_json(lapor, "/api/reports", {"limit": 9})
    assert_documented(spec, "/api/reports", 200, first)
    assert_documented(spec, "/api/reports", 200, {**first, "results": found})
    assert first["next"] == "http://lapor.test/api/reports?offset=9&limit=9"
    last = await get_json(lapor, "/api/reports", {"offset": count - 1, "limit": 9})
    assert (
        last["next"] is None and len(last["results"]) == 1 and last["previous"].endswith(f"offset={count - 10}&limit=9")
    )
    beyond = await get_json(lapor, "/api/reports", {"offset": count + 5})
    assert beyond["results"] == [] and beyond["count"] == count


async def test_reports_are_consistent(
    reports: list[dict[str, Any]], ds: Dataset, villages: set[str], people: dict[str, Any]
) -> None:
    submitted = [datetime.fromisoformat(r["submitted_at"]) for r in reports]
    assert submitted == sorted(submitted, reverse=True), "newest first"
    start, end = datetime(2025, 1, 1, tzinfo=WIB), datetime.combine(ds.as_of, datetime.max.time(), tzinfo=WIB)
    for r, moment in zip(reports, submitted, strict=True):
        assert start <= moment <= end and moment.utcoffset() == timedelta(hours=7)
        assert moment <= datetime.fromisoformat(r["updated_at"]) <= end
        year, number = r["tracking_id"].split("-")[1:]
        assert int(year) == moment.year and int(number) >= 1
        assert r["region"] in villages
        category = CATEGORY[r["category"]]
        assert r["agency"] == (None if r["status"] in ("BARU", "DIVERIFIKASI") else category.agency)
        assert r["kind"] in {kind for kind, _, _ in category.templates}
        assert r["title"] and r["body"] and "{" not in r["title"] + r["body"]
        if r["reporter_nik"] is not None:
            row = people[r["reporter_nik"]]
            assert age_on(row[P_LAHIR], moment.date()) >= 17
    anonymous = sum(r["reporter_nik"] is None for r in reports) / len(reports)
    assert 0.15 <= anonymous <= 0.45
    statuses = Counter(r["status"] for r in reports)
    assert statuses["SELESAI"] > len(reports) / 2
    old_open = [
        r
        for r in reports
        if r["status"] == "BARU" and datetime.fromisoformat(r["submitted_at"]).date() < ds.as_of - timedelta(days=14)
    ]
    assert not old_open, "nothing waits two weeks unverified"
    channels = {r["channel"] for r in reports}
    assert {"WEB", "WHATSAPP"} <= channels
    # Tracking numbers count up per year in order of arrival.
    by_year: dict[str, list[int]] = {}
    for r in reversed(reports):
        _, year, number = r["tracking_id"].split("-")
        by_year.setdefault(year, []).append(int(number))
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in by_year.values())


def test_title_and_body_tell_the_same_story(reports: list[dict[str, Any]], ds: Dataset) -> None:
    """Every place, school or puskesmas a title names is the one its body or location talks about."""

    from demo.apis.lapor import build_lapor

    checked = 0
    for report in [*reports, *build_lapor(ds, SEED + 7).reports]:
        for kind, title, _body in CATEGORY[report["category"]].templates:
            pattern = re.escape(title)
            for name in re.findall(r"\\\{(\w+)\\\}", pattern):
                pattern = pattern.replace(f"\\{{{name}\\}}", f"(?P<{name}>.+)", 1)
            match = re.fullmatch(pattern, report["title"])
            if kind != report["kind"] or match is None:
                continue
            for value in match.groupdict().values():
                checked += 1
                assert value in report["body"] or value in report["location"], report
    assert checked > 20


async def test_filters(lapor: httpx.AsyncClient, reports: list[dict[str, Any]]) -> None:
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"agency": "dinsos"}, lambda r: r["agency"] == "DINSOS"),
        ({"region": "35.03.12"}, lambda r: r["region"].startswith("35.03.12.")),
        ({"region": reports[0]["region"]}, lambda r: r["region"] == reports[0]["region"]),
        ({"region": "35.03"}, lambda r: True),
        ({"status": "SELESAI"}, lambda r: r["status"] == "SELESAI"),
        ({"category": "jalan RUSAK"}, lambda r: r["category"] == "Jalan rusak"),
        (
            {"kind": "INFORMATION_REQUEST", "channel": "WHATSAPP"},
            lambda r: r["kind"] == "INFORMATION_REQUEST" and r["channel"] == "WHATSAPP",
        ),
        (
            {"submitted_from": "2026-01-01", "submitted_to": "2026-03-31"},
            lambda r: "2026-01-01" <= r["submitted_at"][:10] <= "2026-03-31",
        ),
        ({"submitted_from": "2026-11-01T00:00:00+07:00"}, lambda r: r["submitted_at"] >= "2026-11-01"),
        ({"submitted_to": "2025-06-30T23:59:59"}, lambda r: r["submitted_at"][:10] <= "2025-06-30"),
    ]
    for params, keep in cases:
        found, count = await walk_offset(lapor, "/api/reports", params, limit=10)
        expected = [r for r in reports if keep(r)]
        assert found == expected and count == len(expected), params
        assert found, params
    reporter = next(r["reporter_nik"] for r in reports if r["reporter_nik"])
    mine = (await get_json(lapor, "/api/reports", {"reporter_nik": reporter}))["results"]
    assert mine and all(r["reporter_nik"] == reporter for r in mine)
    # "+07:00" typed into a URL unescaped arrives as " 07:00"; it still means WIB.
    response = await lapor.get("/api/reports?submitted_from=2026-11-01T00:00:00+07:00")
    assert response.status_code == 200 and response.json()["count"] == len(
        [r for r in reports if r["submitted_at"] >= "2026-11-01"]
    )


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"agency": "DINAS-X"}, "agency"),
        ({"region": "35.3"}, "region"),
        ({"region": "3503"}, "region"),
        ({"status": "CLOSED"}, "status"),
        ({"submitted_from": "27/11/2026"}, "submitted_from"),
        ({"reporter_nik": "123"}, "reporter_nik"),
        ({"limit": 1000}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
async def test_bad_parameters(
    lapor: httpx.AsyncClient, spec: dict[str, Any], params: dict[str, Any], parameter: str
) -> None:
    body = await get_json(lapor, "/api/reports", params, status=400)
    assert body["error"]["details"]["parameter"] == parameter
    assert_documented(spec, "/api/reports", 400, body)


async def test_report_detail(lapor: httpx.AsyncClient, spec: dict[str, Any], reports: list[dict[str, Any]]) -> None:
    one = reports[len(reports) // 2]
    body = await get_json(lapor, f"/api/reports/{one['tracking_id']}")
    assert body == one
    assert_documented(spec, "/api/reports/{tracking_id}", 200, body)
    missing = await get_json(lapor, "/api/reports/TRK-2024-000001", status=404)
    assert_documented(spec, "/api/reports/{tracking_id}", 404, missing)


async def test_outbreak_reports(
    lapor: httpx.AsyncClient, lapor_app: Starlette, ds: Dataset, people: dict[str, Any]
) -> None:
    truth = lapor_app.state.data.ground_truth()
    assert truth == lapor_ground_truth(ds, SEED)
    outbreaks = {o["npsn"]: o for o in ds.ground_truth()["outbreaks"]}
    planted = truth["outbreak_reports"]
    assert {p["npsn"] for p in planted} == set(outbreaks)
    assert {p["agency"] for p in planted} == {"DINKES", "DINDIKPORA"}
    pupils = {row[1]: row for row in ds.peserta_didik}
    for p in planted:
        outbreak = outbreaks[p["npsn"]]
        report = await get_json(lapor, f"/api/reports/{p['tracking_id']}")
        assert report["region"] == outbreak["kode_wilayah"]
        assert outbreak["school"] in report["title"] and outbreak["school"] in report["body"]
        day = datetime.fromisoformat(report["submitted_at"]).date()
        assert date.fromisoformat(outbreak["dates"][0]) <= day <= date.fromisoformat(outbreak["dates"][-1])
        if report["agency"] is not None:
            assert report["agency"] == p["agency"]
        if p["agency"] == "DINKES":
            # A parent: someone on the family card of one of the sick pupils.
            families = {people[pupils[n][2]][1] for n in outbreak["nisn"] if pupils[n][2] in people}
            assert report["reporter_nik"] in people and people[report["reporter_nik"]][1] in families
        near = await get_json(
            lapor, "/api/reports", {"region": outbreak["kode_wilayah"], "submitted_from": outbreak["dates"][0]}
        )
        assert p["tracking_id"] in {r["tracking_id"] for r in near["results"]}


async def test_agencies(lapor: httpx.AsyncClient, spec: dict[str, Any], reports: list[dict[str, Any]]) -> None:
    agencies, count = await walk_offset(lapor, "/api/agencies", {}, limit=5)
    assert count == len(agencies) == 13
    assert_documented(spec, "/api/agencies", 200, {"count": count, "next": None, "previous": None, "results": agencies})
    assert {r["agency"] for r in reports if r["agency"]} <= {a["code"] for a in agencies}
