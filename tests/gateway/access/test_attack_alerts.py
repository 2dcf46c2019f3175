"""Attacks on the absence alerts (``absenceAlerts``) by the roles that may read them.

The alerts are children's data (counts of a class's sick pupils); their desa spread counts the
alert's pupils by where the civil registry says they live. Each attack runs over real HTTP (ASGI)
against the demo's policy, on the demo data at scale 0.1 with a whole term of attendance.
"""

from __future__ import annotations

import json
import sqlite3
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from ...conftest import open_gateway


@pytest.fixture(scope="module")
def term(whole_term: tuple[Any, Path]) -> tuple[Any, Path]:
    return whole_term  # tests/conftest.py: the demo data at scale 0.1 over the whole term


@pytest.fixture(scope="module")
def term_dinkes(whole_term_dinkes: str) -> str:
    return whole_term_dinkes


def _truth(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))


def _pin_desas(alerts: list[dict[str, Any]], key: str) -> dict[str, str | None]:
    """Each pupil whose desa the answers determine: the desa it has in every assignment of the alerts'
    pupils (told apart by ``key``) to desas that gives each alert's ``desaSpread`` exactly. Sound, not a
    guess: a pupil is pinned only when no other assignment explains the answers."""

    alerts = [a for a in alerts if a["pupils"] and a["desaSpread"] is not None]
    spreads = [Counter({(d["region"] or {}).get("code"): d["count"] for d in a["desaSpread"]}) for a in alerts]
    members: dict[str, list[int]] = defaultdict(list)
    for i, alert in enumerate(alerts):
        for pupil in alert["pupils"]:
            members[pupil[key]].append(i)
    pupils = sorted(members, key=lambda p: -len(members[p]))
    domain = {p: set.intersection(*(set(spreads[i]) for i in members[p])) for p in pupils}
    seen: dict[str, set[str | None]] = defaultdict(set)
    chosen: dict[str, str | None] = {}

    def search(k: int) -> bool:  # False: stop, nothing left to pin
        if k == len(pupils):
            for p, d in chosen.items():
                seen[p].add(d)
            return any(len(v) == 1 for v in seen.values())
        p = pupils[k]
        for d in sorted(domain[p], key=str):
            if all(spreads[i][d] > 0 for i in members[p]):
                for i in members[p]:
                    spreads[i][d] -= 1
                chosen[p] = d
                going = search(k + 1)
                for i in members[p]:
                    spreads[i][d] += 1
                if not going:
                    return False
        return True

    search(0)
    return {p: next(iter(v)) for p, v in seen.items() if len(v) == 1}


def _gateway_config(folder: Path, dinkes: str, audit: Path, npsn: str) -> dict[str, Any]:
    from demo.gateway_config import render_config

    config = tomllib.loads(render_config(
        registry_url=f"sqlite+aiosqlite:///{folder / 'dispendukcapil.sqlite'}",
        education_url=f"sqlite+aiosqlite:///{folder / 'dinas-pendidikan.sqlite'}",
        dinkes_url=dinkes, access=True, samples={"npsn": npsn},
    ))
    config["audit"] = {"path": str(audit)}
    return config


def _headers(npsn: str, role: str) -> dict[str, str]:
    from demo.access_config import demo_clients

    client = next(c for c in demo_clients(npsn) if c.role == role)
    return {"X-API-Key": client.key, "X-Satudata-Purpose": client.purpose}


ALERTS = """query ($from: Date!, $to: Date!) { absenceAlerts(from: $from, to: $to) {
    date rombel count school { npsn } desaSpread { count region { code } } pupils { nisn } } }"""
STUDENTS = """query ($npsn: NPSN!) { school(npsn: $npsn) { students { nisn className } } }"""


async def test_the_analyst_cannot_tell_a_masked_pupils_class_or_desa_from_the_alerts(
    term: tuple[Any, Path], term_dinkes: str, tmp_path: Path
) -> None:
    """The analyst sees pupils masked: the class (``Student.className``) withheld, no link to the registry
    (``Student.person``), and may not list a school's pupils by grade. An alert names its class (``rombel``);
    were its pupils listed to the analyst, each would be a masked pupil whose class the analyst reads off the
    alert, and the desa spreads of a class's alerts on consecutive days, differenced, place a pupil who is
    in one and not the other in a desa. The pupils behind an alert are the class's pupils (and those off
    sick that day): a list chosen by ``Student.className``, so only for roles that read it in full."""

    folder = term[1]
    truth = _truth(folder)
    with sqlite3.connect(folder / "dinas-pendidikan.sqlite") as db:
        pupils = list(db.execute("select npsn, nisn, nama_rombel from peserta_didik"))
    variables = {"from": truth["term_start"], "to": truth["as_of"]}
    outbreaks = truth["outbreaks"]
    headers = _headers(outbreaks[0]["npsn"], "smart_center_analyst")
    told: dict[tuple[str, str], str] = {}   # (school, masked NISN) -> the class the alerts tell
    placed: dict[tuple[str, str], str | None] = {}
    refused: list[dict[str, Any]] = []
    async for gateway in open_gateway(_gateway_config(folder, term_dinkes, tmp_path / "audit.sqlite", outbreaks[0]["npsn"])):
        async def ask(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            return (await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()

        answer = await ask(ALERTS, variables)
        alerts = answer["data"]["absenceAlerts"]
        assert {(o["npsn"], o["rombel"]) for o in outbreaks} & {(a["school"]["npsn"], a["rombel"]) for a in alerts}
        refused += [e for e in answer.get("errors", ()) if e["path"][-1] == "pupils"]
        for npsn in {a["school"]["npsn"] for a in alerts}:
            mine = [a for a in alerts if a["school"]["npsn"] == npsn]
            # The control: the analyst's own view of the school's pupils withholds their class.
            students = await ask(STUDENTS, {"npsn": npsn})
            seen = students["data"]["school"]["students"]
            assert seen and all(s["className"] is None for s in seen)
            assert {e["extensions"]["code"] for e in students["errors"]} == {"WITHHELD"}
            unique = {nisn for nisn, n in Counter(s["nisn"] for s in seen).items() if n == 1}
            for alert in mine:
                for pupil in alert["pupils"] or ():
                    if pupil["nisn"] in unique:
                        told[(npsn, pupil["nisn"])] = alert["rombel"]
            for who, desa in _pin_desas([a for a in mine if a["pupils"]], "nisn").items():
                placed[(npsn, who)] = desa
    # Scored against Dapodik: a masked NISN names one pupil of the school, whose class the alert told.
    right = sum(
        1 for (npsn, masked), rombel in told.items()
        if [n for school, n, c in pupils if school == npsn and (n[:4], n[-2:]) == (masked[:4], masked[-2:]) and c == rombel]
    )
    print(f"classes told {right} of {len(told)}; desas placed {len(placed)}")
    assert told == {} and placed == {}, f"the analyst read {right} masked pupils' classes and placed {len(placed)} in a desa"
    assert refused and {e["extensions"]["code"] for e in refused} == {"FORBIDDEN"}
    assert all("Student.className" in e["message"] for e in refused)


async def test_the_operator_sees_its_own_alerts_pupils_and_each_look_is_on_the_record(
    term: tuple[Any, Path], term_dinkes: str, tmp_path: Path
) -> None:
    """The school operator reads the class in full: its own school's alert lists the pupils in full (another
    school's alert is not the operator's: see below), and the audit log names every pupil the answer held."""

    folder = term[1]
    truth = _truth(folder)
    mine, other = truth["outbreaks"][0], truth["outbreaks"][1]
    audit = tmp_path / "audit.sqlite"
    async for gateway in open_gateway(_gateway_config(folder, term_dinkes, audit, mine["npsn"])):
        response = await gateway.client.post(
            "/graphql",
            json={"query": ALERTS, "variables": {"from": truth["term_start"], "to": truth["as_of"]}},
            headers=_headers(mine["npsn"], "school_operator"),
        )
        answer = response.json()
    assert "errors" not in answer, answer.get("errors")
    by_school = defaultdict(list)
    for alert in answer["data"]["absenceAlerts"]:
        by_school[alert["school"]["npsn"]].append(alert)
    own = {p["nisn"] for a in by_school[mine["npsn"]] for p in a["pupils"]}
    assert set(mine["nisn"]) <= own and not by_school[other["npsn"]]
    from ..audit_reading import audit_records

    records = [r for r in audit_records(audit) if r.role == "school_operator"]
    assert records and "AbsenceAlert.pupils" in records[-1].fields
    assert len(records[-1].persons) >= len(own) - 1   # a pupil without a NIK is named by no NIK


async def test_the_operator_counts_no_other_schools_pupils_through_the_alerts(
    term: tuple[Any, Path], term_dinkes: str, tmp_path: Path
) -> None:
    """The school operator's row scope keeps it to its own school's pupils: another school's pupil
    counts (``School.pupilCounts``) and discrepancy counts are empty for it, as no count covers records
    its reader may not see. An alert counts a class's pupils, and its desa spread where the registry says
    they live: another school's alert would give the operator that school's class-level counts of sick
    pupils and the desas of pupils it may not see at all."""

    folder = term[1]
    truth = _truth(folder)
    mine = truth["outbreaks"][0]
    query = """query ($from: Date!, $to: Date!, $other: NPSN!) {
        absenceAlerts(from: $from, to: $to) { date rombel count samePupils school { npsn } desaSpread { count region { code } } }
        school(npsn: $other) { pupilCounts { grade count } } }"""
    others: list[dict[str, Any]] = []
    async for gateway in open_gateway(_gateway_config(folder, term_dinkes, tmp_path / "audit.sqlite", mine["npsn"])):
        for other in truth["outbreaks"][1:]:
            response = await gateway.client.post(
                "/graphql",
                json={"query": query, "variables": {"from": truth["term_start"], "to": truth["as_of"], "other": other["npsn"]}},
                headers=_headers(mine["npsn"], "school_operator"),
            )
            answer = response.json()
            assert "errors" not in answer, answer["errors"]
            # The control: the other school's pupils are not the operator's to count.
            assert answer["data"]["school"]["pupilCounts"] == []
            alerts = answer["data"]["absenceAlerts"]
            assert any(a["school"]["npsn"] == mine["npsn"] for a in alerts)   # its own school's stand
            others += [a for a in alerts if a["school"]["npsn"] == other["npsn"]]
    spread = sum(d["count"] for a in others for d in a["desaSpread"] or ())
    print(f"other schools' alerts: {len(others)}, their pupils placed by desa: {spread}")
    assert others == [], f"the operator read {len(others)} alerts of other schools, {spread} pupils placed by desa"


async def test_the_trace_does_not_tell_the_operator_which_days_another_school_had_an_alert(
    term: tuple[Any, Path], term_dinkes: str, tmp_path: Path
) -> None:
    """Another school's alerts are not the operator's, and a day with one must look like a day without: the
    detection reads every school, and asks more (the cluster test of a flagged day, the caller's pupils at
    the alerts' schools) when there is something to find. The source trace (``X-Satudata-Trace: sources``)
    counts those calls and rows for any caller."""

    from datetime import date, timedelta

    folder = term[1]
    truth = _truth(folder)
    mine, other = truth["outbreaks"][0], truth["outbreaks"][1]
    alert_day = other["dates"][-1]
    quiet = date.fromisoformat(other["dates"][0]) - timedelta(days=21)
    quiet -= timedelta(days=max(0, quiet.weekday() - 4))  # a weekday, three weeks before the outbreak
    query = "query($d: Date!, $r: RegionCode) { absenceAlerts(from: $d, to: $d, region: $r) { date count } }"
    traces = {}
    async for gateway in open_gateway(_gateway_config(folder, term_dinkes, tmp_path / "audit.sqlite", mine["npsn"])):
        for day in (quiet.isoformat(), alert_day):
            response = await gateway.client.post(
                "/graphql", json={"query": query, "variables": {"d": day, "r": other["kode_wilayah"]}},
                headers={**_headers(mine["npsn"], "school_operator"), "X-Satudata-Trace": "sources"},
            )
            answer = response.json()
            assert answer["data"]["absenceAlerts"] == [], answer
            calls = {name: s["calls"] for name, s in ((answer.get("extensions") or {}).get("sources") or {}).items()}
            traces[day] = calls
    assert traces[quiet.isoformat()] == traces[alert_day], f"dapodik calls by day: {traces}"


async def test_every_role_gets_the_alerts_and_their_pupils_as_the_policy_says(
    term: tuple[Any, Path], term_dinkes: str, tmp_path: Path
) -> None:
    """The role matrix of the alerts' paths, expected from the policy's table (``access_expectations``,
    never ``resolvers.arguments``): the alerts are children's counts, for roles that see children's data
    (in full or masked), else ``FORBIDDEN``; an alert's pupils are the pupils of its class, a read of
    ``Student.className`` (class ``children``), listed only to a role that reads children's data in full,
    and only those of schools in its scope; every other role that sees the alerts gets ``FORBIDDEN`` there."""

    from ..access_expectations import ROLES

    folder = term[1]
    truth = _truth(folder)
    mine = truth["outbreaks"][0]
    variables = {"from": min(o["dates"][0] for o in truth["outbreaks"]), "to": truth["as_of"]}
    query = "query ($from: Date!, $to: Date!) { absenceAlerts(from: $from, to: $to) { date school { npsn } pupils { nisn } } }"
    async for gateway in open_gateway(_gateway_config(folder, term_dinkes, tmp_path / "audit.sqlite", mine["npsn"])):
        for role, spec in ROLES.items():
            headers = {} if role == "anonymous" else _headers(mine["npsn"], role)
            answer = (await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()
            refused = {tuple(e.get("path") or ())[-1:] for e in answer.get("errors", []) if e["extensions"]["code"] == "FORBIDDEN"}
            sees_alerts = "children" in spec.full | spec.masked
            if not sees_alerts:
                assert (answer.get("data") or {}).get("absenceAlerts") is None and refused == {("absenceAlerts",)}, (role, answer)
                continue
            alerts = answer["data"]["absenceAlerts"]
            assert alerts, role
            if "children" in spec.full:
                assert not refused and all(a["pupils"] for a in alerts), role
                if spec.scoped_by == "school":  # its own school's alerts only
                    assert {a["school"]["npsn"] for a in alerts} == {mine["npsn"]}, role
            else:
                assert refused == {("pupils",)} and all(a["pupils"] is None for a in alerts), (role, answer.get("errors"))
