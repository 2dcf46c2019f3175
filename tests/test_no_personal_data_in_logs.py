"""Issue 9, finding 13: no personal data in logs.

The real gateway over SQLite sources and the demo's REST APIs (on real sockets), with every
logger at DEBUG, runs what the suite runs elsewhere: lookups by NIK through SQL and REST
(``/v1/participants/{nik}``, ``/api/v1/pasien?nik=…``), the caller's mistakes, an API that
refuses an argument, ``_entities`` with good and malformed representations, a dead source and
a source that times out. Every line written, tracebacks included, is searched for a NIK- or
KK-shaped number (16 digits starting with 35): there must be none.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from demo.gateway_config import render_config

from .conftest import Backend, open_gateway
from .support.faultproxy import FaultProxy, delay
from .support.log_capture import on_the_root_logger

NIK_SHAPED = re.compile(r"(?<!\d)35\d{14}(?!\d)")


class Everything(logging.Handler):
    """Keeps every record as it would be written, traceback included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(self.format(record).splitlines())


@pytest.fixture
def captured() -> Iterator[Everything]:
    with on_the_root_logger(Everything()) as handler:
        yield handler


def every_logger_at_debug() -> None:
    """Whatever the gateway's set-up chose, the test hears everything (redaction must still hold)."""

    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.setLevel(logging.DEBUG)


def config(backend: Backend, dinkes: str, sepeda: str) -> dict[str, Any]:
    raw = tomllib.loads(
        render_config(
            registry_url=backend.registry_url, education_url=backend.education_url, dinkes_url=dinkes, sepeda_keren_url=sepeda
        )
    )
    for source in raw["sources"].values():
        source.update(retries=0, breaker_failures=100)
    return raw


PERSON = """query($nik: NIK!) { person(nik: $nik) {
  nik name family { kk members { nik name } } student { nisn school { name } }
  healthRecord { ihsNumber } programmes { programme { code } } } }"""


async def run_scenarios(gateway: Any, niks: list[str], kk: str) -> None:
    for nik in niks:
        answer = await gateway.query(PERSON, {"nik": nik})
        assert "data" in answer, answer
    await gateway.query("query($n: NIK!) { person(nik: $n) { name } }", {"n": niks[0][:15] + "x"})
    await gateway.query("query($k: KK!) { family(kk: $k) { members { nik } } }", {"k": kk})
    await gateway.query('{ healthFacility(code: "..") { name } }')
    await gateway.query(f'{{ p: person(nik: "{niks[0]}") {{ name }} f: family(kk: "{kk}") {{ kk }} }}')
    reps = [{"__typename": "Person", "nik": n} for n in niks] + [
        {"__typename": "Person", "nik": niks[0], "extra": niks[1]},
        {"__typename": "Family", "kk": kk, "nik": niks[0]},
    ]
    await gateway.query("query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Person { name } } }", {"r": reps})
    await gateway.query(
        'query($n: NIK!) { person(nik: $n) { healthFacility { caseReports(year: 2026, fromWeek: 1, toWeek: 2, disease: "ZZ") { week } } } }',
        {"n": niks[0]},
    )


def assert_no_nik(lines: list[str]) -> None:
    leaks = [line for line in lines if NIK_SHAPED.search(line)]
    assert not leaks, f"{len(leaks)} log line(s) carry a NIK-shaped number, e.g. {leaks[:3]}"


async def test_finding_13_no_nik_in_any_log_line(
    sqlite_backend: Backend, dataset: Any, dinkes_api: str, sepeda_keren_api: str, captured: Everything
) -> None:
    from demo.apis import create_sepeda_keren_app

    participants = list(create_sepeda_keren_app(dataset).state.data.participants)[:3]
    niks = [*participants, dataset.penduduk[0][0]]
    kk = dataset.penduduk[0][1]
    async for gateway in open_gateway(config(sqlite_backend, dinkes_api, sepeda_keren_api)):
        # The gateway's own set-up keeps the HTTP client's URL log quiet ...
        assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
        every_logger_at_debug()  # ... and even when an operator turns everything up, keys are blanked.
        await run_scenarios(gateway, niks, kk)
    assert len(captured.lines) > 20, captured.lines  # the scenarios did log
    assert any("/v1/participants/" in line for line in captured.lines), "httpx's request lines were not heard"
    assert_no_nik(captured.lines)


async def test_finding_13_no_nik_in_the_logs_of_failing_and_slow_sources(
    sqlite_backend: Backend, dataset: Any, dinkes_api: str, sepeda_keren_api: str, captured: Everything
) -> None:
    from urllib.parse import urlsplit

    from demo.apis import create_sepeda_keren_app

    participants = list(create_sepeda_keren_app(dataset).state.data.participants)[:3]
    kk = dataset.penduduk[0][1]
    port = urlsplit(sepeda_keren_api).port
    async with FaultProxy("127.0.0.1", port) as proxy:
        raw = config(sqlite_backend, "http://127.0.0.1:9", proxy.url_for(sepeda_keren_api))  # Dinkes is not there
        raw["sources"]["sepeda_keren"]["timeout_s"] = 0.3
        raw["sources"]["dapodik"]["url"] = "postgresql+asyncpg://nobody@127.0.0.1:9/dapodik"
        proxy.set_mode(delay(5))
        async for gateway in open_gateway(raw):
            every_logger_at_debug()
            await run_scenarios(gateway, participants, kk)
        proxy.set_mode("pass")
    assert any("unavailable" in line for line in captured.lines), captured.lines
    assert_no_nik(captured.lines)


def test_finding_13_satudata_demo_writes_no_nik_into_any_log_file(demo_server, repo_root) -> None:  # type: ignore[no-untyped-def]
    """The demo as a user runs it: the gateway's output and the demo OPD APIs' logs, after lookups by
    NIK that reach the Sepeda Keren API's per-NIK path and the health office's batches."""

    import re

    import httpx

    from demo.access_config import demo_clients

    officer = next(c for c in demo_clients("-", None) if c.role == "programme_facilitator")
    headers = {"X-API-Key": officer.key, "X-Satudata-Purpose": officer.purpose}
    query = "{ persons(first: 20) { nodes { nik programmes { status } healthInsurance { cardNumber } } } }"
    body = httpx.post(f"{demo_server.url}/graphql", json={"query": query}, headers=headers, timeout=60).json()
    assert body["data"]["persons"]["nodes"], body  # the lookups ran
    nik_shaped = re.compile(r"(?<!\d)35\d{14}(?!\d)")
    # The APIs' logs in the data folder, the gateway's own output beside it (conftest.demo_server).
    logs = sorted(demo_server.data_dir.glob("*.log")) + [demo_server.data_dir.parent / "server.log"]
    assert len(logs) > 1, "the demo wrote no log files to check"
    leaks = [f"{p.name}: {line.strip()}" for p in logs for line in p.read_text(errors="replace").splitlines() if nik_shaped.search(line)]
    assert not leaks, leaks[:5]
