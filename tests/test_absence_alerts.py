"""``absenceAlerts`` against the generator's planted outbreaks (ground-truth.json), through the gateway.

The demo data at scale 0.1 with a whole term of attendance (13 July to 27 November, the generator's
defaults; the suite's shared dataset has four weeks, too few for a class's own baseline), SQLite
sources, and the health office's API on a real socket. Recall and precision are computed here from
``ground-truth.json`` against the gateway's answer over the whole term.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from demo.scoring import score_alerts

from .conftest import Gateway, open_gateway
from .support.server import free_port

QUERY = """query ($from: Date!, $to: Date!, $region: RegionCode) {
  absenceAlerts(from: $from, to: $to, region: $region) {
    date rombel count threshold dayFactor expected method statuses samePupils baseline { mean sd days }
    school { npsn name }
  }
}"""


@pytest.fixture(scope="module")
def term(whole_term: tuple[Any, Path]) -> tuple[Any, Path]:
    return whole_term  # tests/conftest.py: the demo data at scale 0.1 over the whole term


@pytest.fixture(scope="module")
def term_dinkes(whole_term_dinkes: str) -> str:
    return whole_term_dinkes


def _config(folder: Path, dinkes_url: str) -> dict[str, Any]:
    from demo.gateway_config import render_config

    return tomllib.loads(render_config(
        registry_url=f"sqlite+aiosqlite:///{folder / 'dispendukcapil.sqlite'}",
        education_url=f"sqlite+aiosqlite:///{folder / 'dinas-pendidikan.sqlite'}",
        dinkes_url=dinkes_url,
    ))


@pytest.fixture
async def gateway(term: tuple[Any, Path], term_dinkes: str) -> AsyncIterator[Gateway]:
    async for g in open_gateway(_config(term[1], term_dinkes)):
        yield g


def _truth(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))


async def test_every_planted_outbreak_is_found_and_nine_alerts_in_ten_are_planted(
    gateway: Gateway, term: tuple[Any, Path]
) -> None:
    truth = _truth(term[1])
    outbreaks = truth["outbreaks"]
    assert len(outbreaks) >= 2, "the generator plants outbreaks at scale 0.1"
    answer = await gateway.query(QUERY, {"from": truth["term_start"], "to": truth["as_of"]}, trace=True)
    assert "errors" not in answer, answer.get("errors")
    alerts = answer["data"]["absenceAlerts"]
    score = score_alerts(alerts, outbreaks)
    print(f"absenceAlerts over the term: {score.summary()}")
    assert score.recall == 1.0, score.missed
    assert score.precision >= 0.9, score.unplanted
    hits = [a for a in alerts if a not in score.unplanted]
    from resolvers.signals.detection import Parameters, poisson_limit

    method = Parameters()
    planted = {(o["npsn"], o["rombel"], day): o for o in outbreaks for day in o["dates"]}
    for alert in hits:
        assert alert["count"] >= alert["threshold"] > alert["expected"] > 0
        # The threshold is the limit on the expected count, the baseline mean times the day factor (raised to 0.75).
        assert alert["expected"] == pytest.approx(max(alert["baseline"]["mean"] * alert["dayFactor"], 0.75), abs=2e-3)
        assert alert["threshold"] == max(poisson_limit(alert["expected"], method.alpha), 4)
        assert alert["method"] == "POISSON_MOVING_BASELINE" and alert["statuses"] == ["SICK"]
        # The cluster: at least the planted pupils, off on each of the outbreak's days so far, and no more than the day's count.
        outbreak = planted[(alert["school"]["npsn"], alert["rombel"], alert["date"])]
        assert outbreak["dates"].index(alert["date"]) >= method.cluster_days - 1
        assert len(outbreak["nisn"]) <= alert["samePupils"] <= alert["count"]
    # November's rainy season reaches every school: the outbreaks' days are tested against a sicker regency.
    assert any(a["dayFactor"] > 1.2 for a in hits)
    # Counted at the source: the schools, the school days and the sick pupils per class and day are three
    # statements whatever the region's size, the pupils the caller may count at the alerts' schools and the
    # alerts' `school` two more, and the cluster test one per distinct window of days the counts flagged:
    # some, not one per class or pupil.
    windows = answer["extensions"]["sources"]["dapodik"]["calls"] - 5
    assert 1 <= windows <= len({a["date"] for a in alerts}) + len(score.unplanted) + 20


async def test_the_cluster_test_is_what_keeps_ordinary_bad_days_out(
    gateway: Gateway, term: tuple[Any, Path], term_dinkes: str
) -> None:
    """Without the cluster test the counts alone raise alerts on no planted day at this scale (a class at its
    limit two days running, with different pupils off); with it, none, and every outbreak is still found."""

    truth = _truth(term[1])
    variables = {"from": truth["term_start"], "to": truth["as_of"]}
    confirmed = (await gateway.query(QUERY, variables))["data"]["absenceAlerts"]
    config = _config(term[1], term_dinkes)
    config["signals"] = {"absence": {"cluster_min": 0}}
    async for plain in open_gateway(config):
        counts_only = (await plain.query(QUERY, variables))["data"]["absenceAlerts"]
    assert score_alerts(counts_only, truth["outbreaks"]).unplanted, "the counts alone flag an ordinary run here"
    assert all(a["samePupils"] is None for a in counts_only)
    kept = score_alerts(confirmed, truth["outbreaks"])
    assert not kept.unplanted and kept.recall == 1.0
    # The cluster only confirms: every alert is one the counts raised, with the same figures.
    strip = [{k: v for k, v in a.items() if k != "samePupils"} for a in confirmed]
    assert all(a in [{k: v for k, v in c.items() if k != "samePupils"} for c in counts_only] for a in strip)


async def test_a_regions_alerts_are_tested_against_the_rest_of_the_regency(
    gateway: Gateway, term: tuple[Any, Path], term_dinkes: str
) -> None:
    """Asked for one kecamatan, an alert is the regency-wide scan's alert, the same day factor included: the
    reference is the rest of the regency's schools whatever the region asked, counted by one more grouped
    statement (pupils per day and status, every school)."""

    truth = _truth(term[1])
    variables = {"from": truth["term_start"], "to": truth["as_of"]}
    regency = (await gateway.query(QUERY, variables))["data"]["absenceAlerts"]
    kecamatan = ".".join(truth["outbreaks"][0]["kode_wilayah"].split(".")[:3])
    answer = await gateway.query(QUERY, {**variables, "region": kecamatan}, trace=True)
    assert "errors" not in answer, answer.get("errors")
    mine = answer["data"]["absenceAlerts"]
    assert mine and any(a["dayFactor"] != 1.0 for a in mine)
    school_ids = {a["school"]["npsn"] for a in mine}
    assert mine == [a for a in regency if a["school"]["npsn"] in school_ids]
    # Counting statements, the cluster test left out (its statements follow the days flagged): the schools,
    # school days, sick pupils per class, the regency per day and status; the pupils the caller may count at
    # the alerts' schools; the alerts' schools.
    config = _config(term[1], term_dinkes)
    config["signals"] = {"absence": {"cluster_min": 0}}
    async for counted in open_gateway(config):
        screened = await counted.query(QUERY, {**variables, "region": kecamatan}, trace=True)
    assert screened["extensions"]["sources"]["dapodik"]["calls"] == 6
    # Without the day effect the region's scan reads no more than before, and its factors are 1.
    config["signals"] = {"absence": {"day_effect": False, "cluster_min": 0}}
    async for plain in open_gateway(config):
        unadjusted = await plain.query(QUERY, {**variables, "region": kecamatan}, trace=True)
    assert unadjusted["extensions"]["sources"]["dapodik"]["calls"] == 5
    assert all(a["dayFactor"] == 1.0 and a["expected"] == max(a["baseline"]["mean"], 0.75) for a in unadjusted["data"]["absenceAlerts"])


async def test_an_alert_explains_itself_with_the_desa_spread_and_the_clinics_reports(
    gateway: Gateway, term: tuple[Any, Path]
) -> None:
    truth = _truth(term[1])
    outbreak = truth["outbreaks"][0]
    last = date.fromisoformat(outbreak["dates"][-1])
    answer = await gateway.query(
        """query ($from: Date!, $to: Date!, $region: RegionCode) {
          absenceAlerts(from: $from, to: $to, region: $region) {
            date rombel count school { npsn }
            desaSpread { count region { code } }
            healthFacilities { code name }
            caseReports { year week disease cases alert region { code } facility { code } }
          }
        }""",
        {"from": outbreak["dates"][0], "to": last.isoformat(), "region": outbreak["kode_wilayah"]},
    )
    assert "errors" not in answer, answer.get("errors")
    mine = [a for a in answer["data"]["absenceAlerts"] if a["school"]["npsn"] == outbreak["npsn"] and a["rombel"] == outbreak["rombel"]]
    assert mine, answer
    alert = mine[0]
    # The desa spread counts exactly the alert's pupils, per desa of residence.
    assert sum(d["count"] for d in alert["desaSpread"]) == alert["count"]
    # The puskesmas covering the school's desa, and the planted SKDR spike in that desa in the alert's weeks.
    from demo.apis.dinkes import dinkes_ground_truth

    spike = next(s for s in dinkes_ground_truth(term[0])["outbreak_spikes"] if s["npsn"] == outbreak["npsn"])
    assert spike["kode_faskes"] in {f["code"] for f in alert["healthFacilities"]}
    in_desa = [r for r in alert["caseReports"] if r["region"]["code"] == outbreak["kode_wilayah"] and r["disease"] == spike["kode_penyakit"]]
    assert any(r["week"] in {w["minggu_epid"] for w in spike["weeks"]} and r["cases"] >= w_cases(spike, r["week"]) for r in in_desa), in_desa


def w_cases(spike: dict[str, Any], week: int) -> int:
    return next(w["planted_cases"] for w in spike["weeks"] if w["minggu_epid"] == week)


async def test_a_dead_health_office_nulls_only_the_case_reports(term: tuple[Any, Path]) -> None:
    truth = _truth(term[1])
    outbreak = truth["outbreaks"][0]
    config = _config(term[1], f"http://127.0.0.1:{free_port()}")  # nothing listens there
    async for gateway in open_gateway(config):
        answer = await gateway.query(
            "query ($from: Date!, $to: Date!) { absenceAlerts(from: $from, to: $to) { date rombel school { npsn } caseReports { week } } }",
            {"from": outbreak["dates"][0], "to": outbreak["dates"][-1]},
        )
        alerts = answer["data"]["absenceAlerts"]
        assert alerts and all(a["caseReports"] is None for a in alerts)
        assert {e["extensions"]["code"] for e in answer["errors"]} == {"SOURCE_UNAVAILABLE"}
        assert all(e["path"][-1] == "caseReports" for e in answer["errors"])


async def test_bad_ranges_are_refused(gateway: Gateway) -> None:
    answer = await gateway.query(QUERY, {"from": "2026-11-27", "to": "2026-11-01"})
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    start = date(2025, 1, 1)
    answer = await gateway.query(QUERY, {"from": start.isoformat(), "to": (start + timedelta(days=400)).isoformat()})
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_alerts_are_the_smart_centers_and_not_the_anonymous_callers(term: tuple[Any, Path], term_dinkes: str, tmp_path: Path) -> None:
    from demo.access_config import demo_clients
    from demo.gateway_config import ALERT_EXAMPLE, render_config

    folder = term[1]
    config = tomllib.loads(render_config(
        registry_url=f"sqlite+aiosqlite:///{folder / 'dispendukcapil.sqlite'}",
        education_url=f"sqlite+aiosqlite:///{folder / 'dinas-pendidikan.sqlite'}",
        dinkes_url=term_dinkes, access=True,
    ))
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    clients = {c.role: c for c in demo_clients(None)}
    # The GraphiQL example for absenceAlerts is preloaded with the analyst's purpose (its key is pasted in).
    example = next(e for e in config["graphiql"]["examples"] if e["title"] == ALERT_EXAMPLE[0])
    assert json.loads(example["headers"])["X-Satudata-Purpose"] == clients["smart_center_analyst"].purpose
    async for gateway in open_gateway(config):
        async def ask(role: str | None) -> dict[str, Any]:
            headers = {} if role is None else {"X-API-Key": clients[role].key, "X-Satudata-Purpose": clients[role].purpose}
            response = await gateway.client.post("/graphql", json={"query": example["query"]}, headers=headers)
            return response.json()

        analyst = await ask("smart_center_analyst")
        assert "errors" not in analyst, analyst.get("errors")
        alerts = analyst["data"]["absenceAlerts"]
        planted = {(o["npsn"], o["rombel"]) for o in _truth(folder)["outbreaks"]}
        assert {(a["school"]["npsn"], a["rombel"]) for a in alerts} == planted
        assert all(a["caseReports"] and a["desaSpread"] for a in alerts)
        for role in (None, "health_officer"):
            refused = await ask(role)
            assert refused["data"] == {"absenceAlerts": None}, role
            assert {e["extensions"]["code"] for e in refused["errors"]} == {"FORBIDDEN"}, role


async def test_the_methods_parameters_come_from_the_config(term: tuple[Any, Path], term_dinkes: str) -> None:
    from core import ConfigError
    from gateway import GatewaySettings, create_app

    truth = _truth(term[1])
    variables = {"from": truth["term_start"], "to": truth["as_of"]}
    config = _config(term[1], term_dinkes)
    async for gateway in open_gateway(config):
        default = (await gateway.query(QUERY, variables))["data"]["absenceAlerts"]
    # A larger cluster asked for: a strict subset of the alerts (the outbreaks of more pupils still show).
    config["signals"] = {"absence": {"cluster_min": 7}}
    async for gateway in open_gateway(config):
        strict = (await gateway.query(QUERY, variables))["data"]["absenceAlerts"]
    assert strict and len(strict) < len(default) and all(a["samePupils"] >= 7 for a in strict)
    assert {(a["school"]["npsn"], a["date"]) for a in strict} <= {(a["school"]["npsn"], a["date"]) for a in default}
    # Three days held instead of two: a subset too.
    config["signals"] = {"absence": {"persistence": 3}}
    async for gateway in open_gateway(config):
        held = (await gateway.query(QUERY, variables))["data"]["absenceAlerts"]
    assert {(a["school"]["npsn"], a["date"]) for a in held} <= {(a["school"]["npsn"], a["date"]) for a in default}
    # Counting alpa too: the alerts say so.
    config["signals"] = {"absence": {"statuses": ["SICK", "ABSENT"]}}
    async for gateway in open_gateway(config):
        wider = (await gateway.query(QUERY, variables))["data"]["absenceAlerts"]
    assert wider and all(a["statuses"] == ["SICK", "ABSENT"] for a in wider)
    for wrong, says in (
        ({"alpha": 2}, "alpha"), ({"statuses": ["LATE"]}, "statuses"), ({"baseline_days": 1}, "baseline_days"),
        ({"cluster_days": 0}, "cluster_days"), ({"cluster_min": -1}, "cluster_min"),
    ):
        config["signals"] = {"absence": wrong}
        with pytest.raises(ConfigError) as refused:
            create_app(GatewaySettings.from_dict(config))
        assert says in str(refused.value)


async def test_the_pupils_behind_an_alert_follow_the_pupils_rules(term: tuple[Any, Path], term_dinkes: str, tmp_path: Path) -> None:
    from demo.access_config import demo_clients
    from demo.gateway_config import render_config

    folder = term[1]
    outbreaks = _truth(folder)["outbreaks"]
    mine, other = outbreaks[0], outbreaks[1]
    config = tomllib.loads(render_config(
        registry_url=f"sqlite+aiosqlite:///{folder / 'dispendukcapil.sqlite'}",
        education_url=f"sqlite+aiosqlite:///{folder / 'dinas-pendidikan.sqlite'}",
        dinkes_url=term_dinkes, access=True, samples={"npsn": mine["npsn"]},
    ))
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    clients = {c.role: c for c in demo_clients(mine["npsn"])}
    query = """query ($from: Date!, $to: Date!) { absenceAlerts(from: $from, to: $to) {
        date rombel count school { npsn } pupils { nisn name } } }"""
    variables = {"from": mine["dates"][0], "to": max(mine["dates"][-1], other["dates"][-1])}
    async for gateway in open_gateway(config):
        async def ask(role: str) -> dict[str, Any]:
            headers = {"X-API-Key": clients[role].key, "X-Satudata-Purpose": clients[role].purpose}
            return (await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()

        operator = await ask("school_operator")
        by_school = {a["school"]["npsn"]: a for a in operator["data"]["absenceAlerts"]}
        own = by_school[mine["npsn"]]
        # The operator's own school: the pupils in full, as many as the alert counts, the planted ones among them.
        assert len(own["pupils"]) == own["count"]
        assert set(mine["nisn"]) <= {p["nisn"] for p in own["pupils"]}
        assert all(p["name"] and "." not in p["name"] for p in own["pupils"])
        # Another school's alert counts pupils outside the operator's Student scope: not the operator's.
        assert other["npsn"] not in by_school
        # The analyst, who has a pupil's class withheld, may not list an alert's pupils: the list would tell
        # each masked pupil's class (tests/gateway/access/test_attack_alerts.py). The alerts themselves stay.
        analyst = await ask("smart_center_analyst")
        alerts = analyst["data"]["absenceAlerts"]
        assert alerts and all(a["pupils"] is None for a in alerts)
        assert {e["extensions"]["code"] for e in analyst["errors"]} == {"FORBIDDEN"}
        assert all(e["path"][-1] == "pupils" for e in analyst["errors"])
