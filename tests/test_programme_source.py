"""Sepeda Keren (Dinas Sosial) in the graph: every answer equals what its API says, and a stopped
service costs only its own fields.

The registry is a SQLite file; Sepeda Keren is its demo HTTP API on a real socket behind a fault
proxy. Expected values are read from the API directly, the way a client of the API would.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import Backend, Gateway, open_gateway
from .support.faultproxy import FaultProxy
from .support.sqlite import sqlite_file

CATEGORY = {"PEREMPUAN": "WOMAN", "DISABILITAS": "DISABILITY", "ANAK": "CHILD", "LANSIA": "ELDERLY",
            "PEKERJA_MIGRAN": "FORMER_MIGRANT_WORKER", "LAINNYA": "OTHER"}
DISABILITY = {"FISIK": "PHYSICAL", "SENSORIK_NETRA": "VISUAL", "SENSORIK_RUNGU_WICARA": "HEARING_SPEECH",
              "INTELEKTUAL": "INTELLECTUAL", "MENTAL": "MENTAL", "GANDA": "MULTIPLE"}
ENROLMENT = {"AKTIF": "ACTIVE", "LULUS": "GRADUATED", "KELUAR": "LEFT"}
PROGRAMME_STATUS = {"BERJALAN": "RUNNING", "SELESAI": "COMPLETED"}
MODULE_KIND = {"DASAR": "BASIC", "TEMATIK": "THEMATIC"}

PROGRAMME_FIELDS = """code name year pilot startDate endDate status participantCount sessionCount
  region { code } facilitator { nik } modules { code name kind }"""
PARTICIPATION_FIELDS = f"""programme {{ {PROGRAMME_FIELDS} }} person {{ nik }} enrolledOn status categories disabilityType
  startUpCapital sessionsExpected sessionsAttended attendance {{ session {{ code date moduleCode moduleName region {{ code }} }} present }}"""


class SepedaKeren:
    """The API as its own client sees it: every cohort, session and attendance list, walked through its pages."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def walk(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            body = (await self.client.get(path, params={**params, "limit": 7, **({"cursor": cursor} if cursor else {})})).json()
            items.extend(body["items"])
            cursor = body["nextCursor"]
            if cursor is None:
                return items

    async def participant(self, nik: str) -> dict[str, Any] | None:
        response = await self.client.get(f"/v1/participants/{nik}")
        return response.json() if response.status_code == 200 else None

    async def attendance(self, cohort_id: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        sessions = await self.walk(f"/v1/cohorts/{cohort_id}/sessions")
        return [(s, await self.walk(f"/v1/sessions/{s['sessionId']}/attendance")) for s in sessions]

    async def programme(self, cohort_id: str) -> dict[str, Any]:
        """A cohort in the vocabulary's words (the gateway's expected answer)."""

        c = (await self.client.get(f"/v1/cohorts/{cohort_id}")).json()
        return {
            "code": c["cohortId"], "name": c["name"], "year": c["year"], "pilot": c["pilot"], "startDate": c["startDate"],
            "endDate": c["endDate"], "status": PROGRAMME_STATUS[c["status"]], "participantCount": c["participantCount"],
            "sessionCount": c["sessionCount"], "region": {"code": c["desaCode"]}, "facilitator": {"nik": c["facilitatorNik"]},
            "modules": [{"code": m["code"], "name": m["name"], "kind": MODULE_KIND[m["kind"]]} for m in c["modules"]],
        }

    async def participation(self, participant: dict[str, Any], enrolment: dict[str, Any]) -> dict[str, Any]:
        nik = participant["nik"]
        attendance = [
            {"session": {"code": s["sessionId"], "date": s["date"], "moduleCode": s["module"], "moduleName": s["moduleName"],
                         "region": {"code": s["desaCode"]}}, "present": row["present"]}
            for s, rows in await self.attendance(enrolment["cohortId"])
            for row in rows
            if row["nik"] == nik
        ]
        return {
            "programme": await self.programme(enrolment["cohortId"]),
            "person": {"nik": nik},
            "enrolledOn": enrolment["enrolledOn"],
            "status": ENROLMENT[enrolment["status"]],
            "categories": [CATEGORY[c] for c in participant["categories"]],
            "disabilityType": DISABILITY.get(participant["disabilityType"] or ""),
            "startUpCapital": enrolment["japriCapital"],
            "sessionsExpected": len(attendance),
            "sessionsAttended": sum(a["present"] for a in attendance),
            "attendance": attendance,
        }


@dataclass
class Setup:
    gateway: Gateway
    proxy: FaultProxy
    api: SepedaKeren


@pytest.fixture
async def setup(sqlite_backend: Backend, sepeda_keren_api: str) -> AsyncIterator[Setup]:
    from demo.gateway_config import render_config

    upstream = urlsplit(sepeda_keren_api)
    async with FaultProxy(upstream.hostname or "127.0.0.1", upstream.port or 80) as proxy:
        config = tomllib.loads(
            render_config(
                registry_url=sqlite_backend.registry_url,
                education_url=sqlite_backend.education_url,
                sepeda_keren_url=proxy.url_for(sepeda_keren_api),
            )
        )
        config["sources"]["sepeda_keren"].update(retries=1, backoff_s=0.01, breaker_failures=2, breaker_reset_s=60)
        async with httpx.AsyncClient(base_url=sepeda_keren_api) as client:
            async for gateway in open_gateway(config):
                yield Setup(gateway, proxy, SepedaKeren(client))


async def interesting_participants(api: SepedaKeren) -> list[dict[str, Any]]:
    """Someone in two classes, someone with a disability, a child, one who left, one who received capital."""

    found: dict[str, dict[str, Any]] = {}
    cohorts = await api.walk("/v1/cohorts")
    # The 2019 pilots, and Panggul's 2021 class, whose graduates mostly received start-up capital.
    for cohort in [*cohorts[:4], *[c for c in cohorts if (c["kecamatanCode"], c["year"]) == ("35.03.01", 2021)]]:
        for _, rows in await api.attendance(cohort["cohortId"]):
            for row in rows:
                if row["nik"] not in found:
                    found[row["nik"]] = await api.participant(row["nik"]) or {}
    people = list(found.values())
    picks = [
        next(p for p in people if len(p["cohorts"]) > 1),
        next(p for p in people if p["disabilityType"]),
        next(p for p in people if "ANAK" in p["categories"]),
        next(p for p in people if any(e["status"] == "KELUAR" for e in p["cohorts"])),
        next(p for p in people if any(e["japriCapital"] for e in p["cohorts"])),
    ]
    return list({p["nik"]: p for p in picks}.values())


async def test_person_programmes_equal_the_api(setup: Setup) -> None:
    for participant in await interesting_participants(setup.api):
        answer = await setup.gateway.query(
            f"query($nik: NIK!) {{ person(nik: $nik) {{ nik programmes {{ {PARTICIPATION_FIELDS} }} }} }}",
            {"nik": participant["nik"]},
        )
        assert "errors" not in answer, answer
        expected = [await setup.api.participation(participant, e) for e in participant["cohorts"]]
        assert answer["data"]["person"]["programmes"] == expected


async def test_a_resident_who_never_took_part_has_no_programmes(setup: Setup, sqlite_backend: Backend) -> None:
    with sqlite_file(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        niks = [n for (n,) in conn.execute("SELECT nik FROM penduduk ORDER BY nik LIMIT 50")]
    outsider = [n for n in niks if await setup.api.participant(n) is None][0]
    answer = await setup.gateway.query("query($nik: NIK!) { person(nik: $nik) { nik programmes { enrolledOn } } }", {"nik": outsider})
    assert answer == {"data": {"person": {"nik": outsider, "programmes": []}}}


async def test_programme_participants_page_through_everyone_enrolled(setup: Setup) -> None:
    cohorts = await setup.api.walk("/v1/cohorts")
    cohort = max(cohorts, key=lambda c: c["participantCount"])
    enrolled = sorted({row["nik"] for _, rows in await setup.api.attendance(cohort["cohortId"]) for row in rows})
    assert len(enrolled) == cohort["participantCount"]

    seen: list[dict[str, Any]] = []
    after = None
    while True:
        answer = await setup.gateway.query(
            """query($code: String!, $after: String) { programme(code: $code) { participants(first: 7, after: $after) {
                 totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
                 edges { cursor node { person { nik } enrolledOn status categories programme { code } } } } } }""",
            {"code": cohort["cohortId"], "after": after},
        )
        assert "errors" not in answer, answer
        page = answer["data"]["programme"]["participants"]
        assert page["totalCount"] == len(enrolled)
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        assert len(page["edges"]) == min(7, len(enrolled) - len(seen))
        seen.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [n["person"]["nik"] for n in seen] == enrolled
    for node in seen:
        participant = await setup.api.participant(node["person"]["nik"])
        assert participant is not None
        (enrolment,) = [e for e in participant["cohorts"] if e["cohortId"] == cohort["cohortId"]]
        assert node == {
            "person": {"nik": participant["nik"]},
            "enrolledOn": enrolment["enrolledOn"],
            "status": ENROLMENT[enrolment["status"]],
            "categories": [CATEGORY[c] for c in participant["categories"]],
            "programme": {"code": cohort["cohortId"]},
        }


async def test_programme_and_its_sessions_equal_the_api(setup: Setup) -> None:
    cohort = (await setup.api.walk("/v1/cohorts"))[-1]
    answer = await setup.gateway.query(
        f"""query($code: String!) {{ programme(code: $code) {{ {PROGRAMME_FIELDS}
              sessions {{ code date moduleCode moduleName region {{ code }} programme {{ code }} }} }}
            missing: programme(code: "SK-1999-99-99") {{ code }} }}""",
        {"code": cohort["cohortId"]},
    )
    assert "errors" not in answer, answer
    sessions = await setup.api.walk(f"/v1/cohorts/{cohort['cohortId']}/sessions")
    assert answer["data"] == {
        "programme": {
            **await setup.api.programme(cohort["cohortId"]),
            "sessions": [
                {"code": s["sessionId"], "date": s["date"], "moduleCode": s["module"], "moduleName": s["moduleName"],
                 "region": {"code": s["desaCode"]}, "programme": {"code": cohort["cohortId"]}}
                for s in sessions
            ],
        },
        "missing": None,
    }


async def gateway_programmes(gateway: Gateway, filter: dict[str, Any] | None) -> list[str]:
    codes: list[str] = []
    after = None
    while True:
        answer = await gateway.query(
            """query($filter: ProgrammeFilter, $after: String) { programmes(first: 10, after: $after, filter: $filter) {
                 totalCount pageInfo { hasNextPage endCursor } edges { node { code } } } }""",
            {"filter": filter, "after": after},
        )
        assert "errors" not in answer, answer
        page = answer["data"]["programmes"]
        codes.extend(edge["node"]["code"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(codes)
            return codes
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize(
    ("filter", "params"),
    [
        (None, {}),
        ({"year": 2021}, {"year": 2021}),
        ({"region": "35.03.08"}, {"kecamatanCode": "35.03.08"}),
        ({"year": 2019, "region": "35.03.03"}, {"year": 2019, "kecamatanCode": "35.03.03"}),
    ],
)
async def test_programmes_filtered_and_paged_equal_the_api(setup: Setup, filter: dict[str, Any] | None, params: dict[str, Any]) -> None:
    expected = sorted(c["cohortId"] for c in await setup.api.walk("/v1/cohorts", **params))
    assert expected, "the filter should match some classes"
    assert await gateway_programmes(setup.gateway, filter) == expected


async def test_a_programme_filter_on_a_desa_keeps_the_classes_it_hosts(setup: Setup) -> None:
    cohort = (await setup.api.walk("/v1/cohorts"))[0]
    hosted = sorted(c["cohortId"] for c in await setup.api.walk("/v1/cohorts") if c["desaCode"] == cohort["desaCode"])
    assert await gateway_programmes(setup.gateway, {"region": cohort["desaCode"]}) == hosted


@pytest.mark.parametrize(
    ("arguments", "argument", "reason"),
    [("first: 101", "first", "OUT_OF_RANGE"), ('after: "not-a-cursor"', "after", "MALFORMED"),
     ('filter: { region: "35.03.99" }', "region", "UNKNOWN_REGION")],
)
async def test_bad_programme_arguments_are_refused(setup: Setup, arguments: str, argument: str, reason: str) -> None:
    answer = await setup.gateway.query(f"{{ programmes({arguments}) {{ totalCount }} }}")
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (error["extensions"]["argument"], error["extensions"]["reason"]) == (argument, reason)


async def test_stopped_sepeda_keren_nulls_only_its_fields(setup: Setup) -> None:
    participant = (await interesting_participants(setup.api))[0]
    query = """query($nik: NIK!) { person(nik: $nik) { nik name family { kk } programmes { enrolledOn } } }"""
    assert "errors" not in await setup.gateway.query(query, {"nik": participant["nik"]})

    setup.proxy.set_mode("refuse")
    setup.proxy.drop_connections()
    answer = await setup.gateway.query(query, {"nik": participant["nik"]}, trace=True)
    person = answer["data"]["person"]
    assert person["nik"] == participant["nik"] and person["name"] and person["family"]["kk"]
    assert person["programmes"] is None
    (error,) = answer["errors"]
    assert error["path"] == ["person", "programmes"]
    assert error["extensions"] == {"code": "SOURCE_UNAVAILABLE", "source": "sepeda_keren"}
    assert answer["extensions"]["sources"]["siak"]["errors"] == 0

    listed = await setup.gateway.query("{ programmes(first: 1) { totalCount } region(code: \"35.03\") { name } }")
    assert listed["data"] == {"programmes": None, "region": {"name": listed["data"]["region"]["name"]}}
    assert listed["data"]["region"]["name"]
    assert [e["extensions"]["code"] for e in listed["errors"]] == ["SOURCE_UNAVAILABLE"]
    setup.proxy.set_mode("pass")
