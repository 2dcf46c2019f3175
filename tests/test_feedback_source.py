"""Citizens' feedback (LAPOR!) in the graph: pages and filters equal what the complaint API answers
for the same question, anonymous reports have no reporter, and bad filters are refused.

The registry is a SQLite file; the complaint system is its demo HTTP API on a real socket.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .conftest import Backend, Gateway, open_gateway

KIND = {"COMPLAINT": "COMPLAINT", "SUGGESTION": "SUGGESTION", "ASPIRATION": "ASPIRATION", "INFORMATION_REQUEST": "INFORMATION_REQUEST"}
STATUS = {"BARU": "NEW", "DIVERIFIKASI": "VERIFIED", "DIDISPOSISI": "DISPATCHED", "DITINDAKLANJUTI": "IN_PROGRESS", "SELESAI": "RESOLVED"}
CHANNEL = {"WEB": "WEB", "WHATSAPP": "WHATSAPP", "SMS": "SMS", "HOTLINE": "HOTLINE", "MEDSOS": "SOCIAL_MEDIA"}
CATEGORY = {
    "Jalan rusak": "ROADS", "Jembatan dan drainase": "BRIDGES_AND_DRAINAGE", "Penerangan jalan": "STREET_LIGHTING",
    "Adminduk/KTP": "CIVIL_REGISTRATION", "Bantuan sosial salah sasaran": "MISTARGETED_SOCIAL_AID",
    "ODGJ terlantar": "NEGLECTED_MENTAL_ILLNESS", "Pelayanan puskesmas": "HEALTH_SERVICES", "Wabah/penyakit menular": "OUTBREAK",
    "Sekolah/PPDB": "SCHOOLS", "Air bersih": "CLEAN_WATER", "Sampah": "WASTE", "Pupuk bersubsidi": "SUBSIDISED_FERTILISER",
    "Perizinan": "PERMITS", "Bencana/tanah longsor": "DISASTER", "Ketenagakerjaan": "EMPLOYMENT",
    "Layanan informasi publik": "PUBLIC_INFORMATION",
}
NODE = """trackingId kind category title body location channel status submittedAt updatedAt anonymous
  agency { code } region { code } reporter { nik }"""


def as_vocabulary(report: dict[str, Any]) -> dict[str, Any]:
    """A report as the gateway should answer it (every reporter is a resident the registry knows)."""

    return {
        "trackingId": report["tracking_id"], "kind": KIND[report["kind"]], "category": CATEGORY[report["category"]],
        "title": report["title"], "body": report["body"], "location": report["location"], "channel": CHANNEL[report["channel"]],
        "status": STATUS[report["status"]], "submittedAt": report["submitted_at"], "updatedAt": report["updated_at"],
        "anonymous": report["reporter_nik"] is None, "agency": report["agency"] and {"code": report["agency"]},
        "region": {"code": report["region"]}, "reporter": report["reporter_nik"] and {"nik": report["reporter_nik"]},
    }


@dataclass
class Setup:
    gateway: Gateway
    api: httpx.AsyncClient

    async def reports(self, **params: Any) -> list[dict[str, Any]]:
        """Every report matching ``params``, asked of the API itself, in tracking-number order."""

        found: list[dict[str, Any]] = []
        while True:
            body = (await self.api.get("/api/reports", params={**params, "offset": len(found), "limit": 100})).json()
            found.extend(body["results"])
            if body["next"] is None:
                return sorted(found, key=lambda r: r["tracking_id"])

    async def pages(self, selection: str, filter: dict[str, Any] | None, *, size: int = 9) -> list[dict[str, Any]]:
        """Every node of the one ``feedback(ARGS)`` connection in ``selection``, walked page by page."""

        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            answer = await self.gateway.query(
                f"""query($after: String, $filter: FeedbackFilter) {{
                      {selection.replace("ARGS", f"first: {size}, after: $after, filter: $filter")} }}""",
                {"filter": filter, "after": after},
            )
            assert "errors" not in answer, answer
            page = answer["data"]
            while "feedback" not in page:
                (page,) = page.values()
            page = page["feedback"]
            nodes.extend(edge["node"] for edge in page["edges"])
            assert page["totalCount"] >= len(nodes)
            if not page["pageInfo"]["hasNextPage"]:
                assert page["totalCount"] == len(nodes)
                return nodes
            after = page["pageInfo"]["endCursor"]


@pytest.fixture
async def setup(sqlite_backend: Backend, lapor_api: str) -> AsyncIterator[Setup]:
    from demo.gateway_config import render_config

    config = tomllib.loads(
        render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, lapor_url=lapor_api)
    )
    async with httpx.AsyncClient(base_url=lapor_api) as api:
        async for gateway in open_gateway(config):
            yield Setup(gateway, api)


PAGE = "totalCount pageInfo { hasNextPage endCursor } edges { node { NODE } }".replace("NODE", NODE)


async def test_region_feedback_pages_equal_the_api(setup: Setup) -> None:
    nodes = await setup.pages(f'region(code: "35.03.08") {{ feedback(ARGS) {{ {PAGE} }} }}', None)
    expected = await setup.reports(region="35.03.08")
    assert len(expected) > 9, "more than one page"
    assert nodes == [as_vocabulary(r) for r in expected]


async def test_agency_feedback_pages_equal_the_api(setup: Setup) -> None:
    nodes = await setup.pages(f'agency(code: "DINKES") {{ name feedback(ARGS) {{ {PAGE} }} }}', None)
    expected = await setup.reports(agency="DINKES")
    assert expected and nodes == [as_vocabulary(r) for r in expected]


@pytest.mark.parametrize(
    ("filter", "params"),
    [
        ({"status": "RESOLVED"}, {"status": "SELESAI"}),
        ({"kind": "SUGGESTION"}, {"kind": "SUGGESTION"}),
        ({"category": "ROADS"}, {"category": "Jalan rusak"}),
        ({"submittedFrom": "2026-03-01", "submittedTo": "2026-03-31"}, {"submitted_from": "2026-03-01", "submitted_to": "2026-03-31"}),
        ({"submittedFrom": "2026-10-01"}, {"submitted_from": "2026-10-01"}),
        ({"region": "35.03.12", "submittedTo": "2025-12-31"}, {"region": "35.03.12", "submitted_to": "2025-12-31"}),
        ({"category": "MISTARGETED_SOCIAL_AID", "kind": "COMPLAINT", "submittedFrom": "2025-07-01"},
         {"category": "Bantuan sosial salah sasaran", "kind": "COMPLAINT", "submitted_from": "2025-07-01"}),
        ({"agency": "PUPR", "status": "IN_PROGRESS"}, {"agency": "PUPR", "status": "DITINDAKLANJUTI"}),
    ],
)
async def test_root_feedback_filters_equal_the_api(setup: Setup, filter: dict[str, Any], params: dict[str, Any]) -> None:
    nodes = await setup.pages(f"feedback(ARGS) {{ {PAGE} }}", filter, size=50)
    expected = await setup.reports(**params)
    assert expected, "the filter should match some reports"
    assert nodes == [as_vocabulary(r) for r in expected]


async def test_filters_within_a_region_and_an_agency_narrow_them(setup: Setup) -> None:
    nodes = await setup.pages(
        f'region(code: "35.03.08") {{ feedback(ARGS) {{ {PAGE} }} }}', {"status": "RESOLVED", "agency": "PUPR"}
    )
    assert nodes == [as_vocabulary(r) for r in await setup.reports(region="35.03.08", status="SELESAI", agency="PUPR")]
    within = await setup.pages(f'agency(code: "DINSOS") {{ feedback(ARGS) {{ {PAGE} }} }}', {"region": "35.03.01"})
    assert within == [as_vocabulary(r) for r in await setup.reports(region="35.03.01", agency="DINSOS")]


async def test_anonymous_reports_have_no_reporter_and_no_error(setup: Setup) -> None:
    reports = await setup.reports(region="35.03.08")
    anonymous = [r for r in reports if r["reporter_nik"] is None]
    named = [r for r in reports if r["reporter_nik"] is not None]
    assert anonymous and named
    answer = await setup.gateway.query(
        """{ region(code: "35.03.08") { feedback(first: 100) { edges { node {
             trackingId anonymous reporter { nik name } } } } } }"""
    )
    assert "errors" not in answer, answer
    by_id = {e["node"]["trackingId"]: e["node"] for e in answer["data"]["region"]["feedback"]["edges"]}
    for report in anonymous:
        assert by_id[report["tracking_id"]] == {"trackingId": report["tracking_id"], "anonymous": True, "reporter": None}
    for report in named:
        node = by_id[report["tracking_id"]]
        assert node["anonymous"] is False and node["reporter"]["nik"] == report["reporter_nik"] and node["reporter"]["name"]


async def test_an_undispatched_report_has_no_agency(setup: Setup) -> None:
    waiting = (await setup.reports(status="BARU"))[0]
    nodes = await setup.pages(f"feedback(ARGS) {{ {PAGE} }}", {"status": "NEW", "region": waiting["region"]}, size=100)
    (node,) = [n for n in nodes if n["trackingId"] == waiting["tracking_id"]]
    assert node["agency"] is None and node["status"] == "NEW"


@pytest.mark.parametrize(
    ("filter", "argument", "reason"),
    [
        ('{ submittedFrom: "2026-03-02", submittedTo: "2026-03-01" }', "submittedTo", "OUT_OF_RANGE"),
        ('{ agency: "NOT_AN_OPD" }', "agency", "UNKNOWN_AGENCY"),
        ('{ region: "35.03.99" }', "region", "UNKNOWN_REGION"),
    ],
)
async def test_bad_filters_are_refused_with_a_stable_code(setup: Setup, filter: str, argument: str, reason: str) -> None:
    answer = await setup.gateway.query(f"{{ feedback(filter: {filter}) {{ totalCount }} }}", trace=True)
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (error["extensions"]["argument"], error["extensions"]["reason"]) == (argument, reason)
    assert "lapor" not in answer.get("extensions", {}).get("sources", {}), "refused before the source was asked"


async def test_an_unknown_category_or_date_is_a_validation_error(setup: Setup) -> None:
    for bad in ('{ category: POTHOLES }', '{ submittedFrom: "2026-02-30" }'):
        answer = await setup.gateway.query(f"{{ feedback(filter: {bad}) {{ totalCount }} }}")
        (error,) = answer["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", answer
