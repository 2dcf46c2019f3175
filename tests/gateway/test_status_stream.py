"""The Smart Center screen's stream (``GET /status/events``) and its door, over real HTTP.

A gateway on a real socket over a whole term of demo data (scale 0.02, SQLite sources: a class
needs some weeks of its own baseline before it can alert), with the demo policy and clients and a
``[status]`` table naming the Smart Center analyst's client. The stream's snapshots are read as a
browser's ``EventSource`` reads them; what they hold is checked against the demo databases and
``ground-truth.json``, and against what the analyst gets from ``/graphql`` for the same questions.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import ConfigError
from demo.access_config import STATUS_SCREEN, demo_clients

from ..support.faultproxy import ThreadedFaultProxy
from ..support.server import serve_app
from ..support.sqlite import sqlite_file
from .audit_reading import audit_records

SCALE = 0.02
SEED = 3503
#: The screen as the demo runs it: the Smart Center analyst's client, reading every second.
STATUS = '[status]\nclient = "smart-center"\npurpose = "statistik"\nrefresh_s = 1\nheartbeat_s = 1\n'
ANALYST = next(c for c in demo_clients("-") if c.id == "smart-center")


@dataclass(frozen=True)
class Term:
    """The demo OPD databases of a whole term, and what the generator planted in them."""

    folder: Path
    truth: dict[str, Any]
    dataset: Any

    @property
    def registry_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.folder / 'dispendukcapil.sqlite'}"

    @property
    def education_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.folder / 'dinas-pendidikan.sqlite'}"


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Term:
    from demo import build_dataset
    from demo.sqlite_demo import generate_sqlite_demo

    folder = tmp_path_factory.mktemp("status-term")
    dataset = build_dataset(scale=SCALE, seed=SEED)
    generate_sqlite_demo(folder, dataset)
    return Term(folder, json.loads((folder / "ground-truth.json").read_text(encoding="utf-8")), dataset)


@pytest.fixture(scope="module")
def dinkes(term: Term) -> Iterator[tuple[ThreadedFaultProxy, str]]:
    """The health office's API over the term's residents, behind a fault proxy the test can switch off,
    and the API's URL through the proxy."""

    from demo.apis import create_dinkes_app

    with serve_app(create_dinkes_app(term.dataset), name="dinkes-api", lifespan="off") as api:
        host, port = api.removeprefix("http://").split(":")
        with ThreadedFaultProxy(host, int(port)) as proxy:
            yield proxy, proxy.url_for(api)


def status_config(term: Term, status: str = STATUS, *, registry_url: str | None = None, **apis: str) -> dict[str, Any]:
    """The demo config (policy, clients, audit) over ``term``, with ``status`` as its ``[status]`` table."""

    from demo.gateway_config import render_config

    text = render_config(
        registry_url=registry_url or term.registry_url, education_url=term.education_url, access=True, **apis
    )
    assert STATUS_SCREEN in text, "the demo runs the screen as the analyst"
    return tomllib.loads(text.replace(STATUS_SCREEN, "") + "\n" + status)


@contextmanager
def serve_gateway(config: dict[str, Any], base_dir: Path) -> Iterator[str]:
    """``create_app`` on a real socket of 127.0.0.1, with its lifespan; yields the base URL."""

    from gateway import GatewaySettings, create_app

    app = create_app(GatewaySettings.from_dict(config, base_dir=base_dir))
    with serve_app(app, name="status-gateway") as url:
        yield url


def next_snapshot(lines: Iterator[str]) -> dict[str, Any]:
    """The next ``event: snapshot`` of an SSE stream (its ``data`` parsed)."""

    event, data = None, []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "":
            if event == "snapshot" and data:
                return json.loads("\n".join(data))
            event, data = None, []
    raise AssertionError("the stream ended without another snapshot")


@contextmanager
def stream(url: str) -> Iterator[tuple[httpx.Response, Iterator[str]]]:
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client, client.stream("GET", f"{url}/status/events") as response:
        yield response, response.iter_lines()


def wait_for(lines: Iterator[str], done: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0) -> dict[str, Any]:
    """Snapshots until one satisfies ``done`` (the screen's first reads take a moment)."""

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        snapshot = next_snapshot(lines)
        if done(snapshot):
            return snapshot
    raise AssertionError(f"no snapshot satisfied the condition within {timeout_s} s")


def read(snapshot: dict[str, Any]) -> bool:
    """The screen has read today's alerts and the discrepancy counts."""

    return snapshot["alerts"] is not None and snapshot["discrepancies"] is not None


def latest_school_day(term: Term) -> str:
    """The latest day with attendance on or before today in WIB, read from the education database."""

    today = datetime.now(timezone(timedelta(hours=7))).date().isoformat()
    with sqlite_file(term.folder / "dinas-pendidikan.sqlite") as conn:
        (day,) = conn.execute("SELECT max(tanggal) FROM kehadiran WHERE tanggal <= ?", (today,)).fetchone()
    return str(day)


def kecamatan(term: Term) -> list[tuple[str, str]]:
    with sqlite_file(term.folder / "dispendukcapil.sqlite") as conn:
        return sorted(conn.execute("SELECT kode, nama FROM wilayah WHERE kode_induk = '35.03'").fetchall())


def test_the_stream_sends_todays_aggregates_as_the_analyst_reads_them(term: Term, tmp_path: Path) -> None:
    with serve_gateway(status_config(term), tmp_path) as url:
        with stream(url) as (response, lines):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            snapshot = wait_for(lines, read)
        answer = httpx.post(
            f"{url}/graphql",
            json={"query": "{ discrepancyCounts { fact count agency { code } } }"},
            headers={"X-API-Key": ANALYST.key, "X-Satudata-Purpose": ANALYST.purpose},
        ).json()

    assert snapshot["role"] == "smart_center_analyst"
    assert snapshot["errors"] == {}
    # "Today" with the demo data: its term ended before today, so the latest school day it holds.
    assert snapshot["today"] == latest_school_day(term) and snapshot["todayFixed"] is False
    assert [(r["code"], r["name"]) for r in sorted(snapshot["regions"], key=lambda r: r["code"])] == kecamatan(term)
    assert len(snapshot["regions"]) == 14
    assert len({(r["col"], r["row"]) for r in snapshot["regions"]}) == 14, "every kecamatan has a tile of its own"
    # The counts per agency are the analyst's discrepancyCounts, summed.
    expected: dict[str, dict[str, int]] = {}
    for row in answer["data"]["discrepancyCounts"]:
        facts = expected.setdefault(row["agency"]["code"], {})
        facts[row["fact"]] = facts.get(row["fact"], 0) + row["count"]
    assert {d["agency"]: d["byFact"] for d in snapshot["discrepancies"]} == expected
    assert sum(d["total"] for d in snapshot["discrepancies"]) > 0, "the demo data plants discrepancies"
    assert {s["name"]: s["state"] for s in snapshot["sources"]} == {"siak": "up", "dapodik": "up"}


def largest_outbreak(truth: dict[str, Any]) -> dict[str, Any]:
    """The planted outbreak with the most pupils: one the method finds from its third day at this scale.
    (A 5-pupil cluster in the rainy season's first week need not alert: the day factor raises its class's
    limit with the regency's rate.)"""

    return max(truth["outbreaks"], key=lambda o: (len(o["nisn"]), o["dates"][0]))


def test_a_fixed_day_shows_its_planted_outbreak_and_no_person(term: Term, tmp_path: Path) -> None:
    outbreak = largest_outbreak(term.truth)
    # An alert needs two days above the class's limit and the same pupils off three days: the outbreak's third day.
    day = outbreak["dates"][2]
    with serve_gateway(status_config(term, STATUS + f'today = "{day}"\n'), tmp_path) as url:
        with stream(url) as (_, lines):
            snapshot = wait_for(lines, read)
            raw = json.dumps(snapshot)

    assert snapshot["today"] == day and snapshot["todayFixed"] is True
    found = [a for a in snapshot["alerts"] if a["npsn"] == outbreak["npsn"]]
    assert [(a["date"], a["rombel"], a["kecamatan"]) for a in found] == [
        (day, outbreak["rombel"], ".".join(outbreak["kode_wilayah"].split(".")[:3]))
    ]
    assert found[0]["count"] >= found[0]["threshold"]
    tiles = {r["code"]: r["alerts"] for r in snapshot["regions"]}
    assert tiles[found[0]["kecamatan"]] >= 1
    # Aggregates only: no NIK (16 digits) or NISN (10 digits) of anyone, planted pupils included.
    assert not re.search(r"(?<!\d)\d{16}(?!\d)", raw)
    assert not any(nisn in raw for o in term.truth["outbreaks"] for nisn in o["nisn"])


def test_a_source_that_goes_down_is_pushed_at_once(
    term: Term, dinkes: tuple[ThreadedFaultProxy, str], tmp_path: Path
) -> None:
    proxy, dinkes_url = dinkes
    # Slow reads and heartbeats: a snapshot that arrives within seconds was pushed by the change.
    status = STATUS.replace("refresh_s = 1", "refresh_s = 600").replace("heartbeat_s = 1", "heartbeat_s = 600")
    with serve_gateway(status_config(term, status, dinkes_url=dinkes_url), tmp_path) as url:
        with stream(url) as (_, lines):
            before = wait_for(lines, read)
            assert {s["name"]: s["state"] for s in before["sources"]}["dinkes"] == "up"
            proxy.set_mode("refuse")  # the health office's API goes down
            proxy.drop_connections()
            try:
                started = time.monotonic()
                # Anyone's request that needs the source finds it down; the screen is told by that call.
                query = '{ healthFacility(code: "P3503010101") { name } }'
                answer = httpx.post(f"{url}/graphql", json={"query": query}).json()
                assert answer["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE"
                after = next_snapshot(lines)
                elapsed = time.monotonic() - started
            finally:
                proxy.set_mode("pass")

    dinkes = {s["name"]: s for s in after["sources"]}["dinkes"]
    assert dinkes["state"] != "up" and dinkes["lastErrorCode"] == "SOURCE_UNAVAILABLE"
    assert after["status"] == "degraded"
    assert elapsed < 10, f"pushed after {elapsed:.1f} s"
    assert "lastError" not in dinkes, "the error's text is operators' detail (/readyz), not the wall's"


def test_the_screen_reads_under_its_clients_policy_and_refusals_are_audited(term: Term, tmp_path: Path) -> None:
    # No client: the screen reads as anonymous, whom the demo policy refuses the alerts (children's data).
    status = STATUS.replace('client = "smart-center"\npurpose = "statistik"\n', "")
    with serve_gateway(status_config(term, status), tmp_path) as url:
        with stream(url) as (_, lines):
            snapshot = wait_for(lines, lambda s: "alerts" in s["errors"] and "discrepancies" in s["errors"])

    assert snapshot["role"] == "anonymous"
    assert snapshot["errors"] == {"alerts": "FORBIDDEN", "discrepancies": "FORBIDDEN"}
    assert snapshot["alerts"] is None and snapshot["discrepancies"] is None
    assert len(snapshot["regions"]) == 14, "the region list is public: the map is drawn all the same"
    refused = [r for r in audit_records(tmp_path / "audit.sqlite") if r.outcome == "refused"]
    assert {r.operation for r in refused} >= {"StatusScreenAlerts", "StatusScreenDiscrepancies"}
    assert {(r.client_id, r.role) for r in refused} == {("anonymous", "anonymous")}


def test_the_screen_is_for_the_networks_its_config_allows(term: Term, tmp_path: Path) -> None:
    from gateway import GatewaySettings, create_app

    async def get(config: dict[str, Any], path: str) -> httpx.Response:
        app = create_app(GatewaySettings.from_dict(config, base_dir=tmp_path))
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            return await client.get(path)

    import asyncio

    allowed = status_config(term)
    page = asyncio.run(get(allowed, "/status"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert asyncio.run(get(allowed, "/status/static/status.js")).status_code == 200

    elsewhere = status_config(term, STATUS + 'allow_from = ["10.3.0.0/24"]\n')
    for path in ("/status", "/status/events", "/status/static/status.js"):
        refused = asyncio.run(get(elsewhere, path))
        assert refused.status_code == 403, path
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    off = status_config(term, STATUS + "enabled = false\n")
    assert asyncio.run(get(off, "/status")).status_code == 404


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ('[status]\nclient = "nobody"\n', "no [[clients]] entry"),
        ('[status]\nclient = "smart-center"\npurpose = "administrasi-kependudukan"\n', "may not read as configured"),
        ('[status]\ntoday = "kemarin"\n', "status.today"),
        ('[status]\nallow_from = ["not-a-network"]\n', "status.allow_from"),
    ],
)
def test_a_screen_that_cannot_read_as_configured_is_refused_before_serving(
    term: Term, tmp_path: Path, status: str, message: str
) -> None:
    from gateway import GatewaySettings, create_app

    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app(GatewaySettings.from_dict(status_config(term, status), base_dir=tmp_path))


def test_a_kecamatan_the_layout_does_not_know_gets_a_tile_of_its_own(term: Term) -> None:
    from gateway.status.layout import tiles

    known = kecamatan(term)
    placed = tiles([*known, ("35.03.15", "Baru"), ("35.03.16", "Lain")])
    cells = [(t["col"], t["row"]) for t in placed]
    assert len(cells) == len(set(cells)) == 16
    rows = {t["code"]: t["row"] for t in placed}
    assert rows["35.03.15"] == rows["35.03.16"] > max(rows[code] for code, _ in known)
