"""An API-only OPD (Dinas Kesehatan) in the graph, and what happens when it fails.

The registry and Dapodik are SQLite files; the health office is its demo HTTP API on a real
socket, behind a fault proxy that tests switch between passing, refusing and stalling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import Backend, Gateway, open_gateway
from .support.faultproxy import FaultProxy, delay
from .support.sqlite import sqlite_file

QUERY = """query($nik: NIK!) {
  person(nik: $nik) {
    nik name
    student { nisn school { name } }
    healthFacility { code name }
  }
}"""
DEADLINE_S = 2.0


def a_pupil_nik(backend: Backend) -> str:
    with sqlite_file(backend.education_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        conn.execute("ATTACH DATABASE ? AS siak", (backend.registry_url.removeprefix("sqlite+aiosqlite:///"),))
        (nik,) = conn.execute(
            "SELECT pd.nik FROM peserta_didik pd JOIN siak.penduduk p ON p.nik = pd.nik "
            "WHERE p.status_penduduk = 'HIDUP' ORDER BY pd.nisn LIMIT 1"
        ).fetchone()
    return str(nik)


@pytest.fixture
async def setup(sqlite_backend: Backend, dinkes_api: str) -> AsyncIterator[tuple[FaultProxy, Gateway, str]]:
    upstream = urlsplit(dinkes_api)
    async with FaultProxy(upstream.hostname or "127.0.0.1", upstream.port or 80) as proxy:
        import tomllib

        from demo.gateway_config import render_config

        config = tomllib.loads(
            render_config(
                registry_url=sqlite_backend.registry_url,
                education_url=sqlite_backend.education_url,
                dinkes_url=proxy.url_for(dinkes_api),
            )
        )
        config["gateway"]["request_timeout_s"] = DEADLINE_S
        config["sources"]["dinkes"].update(timeout_s=10, breaker_failures=2, breaker_reset_s=1.0, backoff_s=0.01)
        async for gateway in open_gateway(config):
            yield proxy, gateway, a_pupil_nik(sqlite_backend)


async def test_puskesmas_comes_from_the_health_office_api(setup: tuple[FaultProxy, Gateway, str], dinkes_api: str) -> None:
    _, gateway, nik = setup
    answer = await gateway.query(
        """query($nik: NIK!) { person(nik: $nik) {
             region { code }
             healthFacility { code name kind region { code } coverage { code } }
             healthRecord { ihsNumber registeredFacility { code } } } }""",
        {"nik": nik},
        trace=True,
    )
    assert "errors" not in answer, answer
    person = answer["data"]["person"]
    facility = person["healthFacility"]
    desa = person["region"]["code"]
    assert desa in [c["code"] for c in facility["coverage"]]
    async with httpx.AsyncClient(base_url=dinkes_api) as api:
        direct = (await api.get(f"/api/v1/faskes/{facility['code']}")).json()["data"]
        patients = (await api.get("/api/v1/pasien", params={"nik": nik})).json()["data"]
    assert direct["nama"] == facility["name"] and desa.replace(".", "") in direct["wilayah_kerja"]
    if patients:
        assert person["healthRecord"]["ihsNumber"] == patients[0]["ihs_number"]
        assert person["healthRecord"]["registeredFacility"]["code"] == patients[0]["kode_faskes_terdaftar"]
    else:
        assert person["healthRecord"] is None
    assert answer["extensions"]["sources"]["dinkes"]["errors"] == 0


def assert_only_health_lost(answer: dict[str, Any], code: str) -> None:
    person = answer["data"]["person"]
    assert person["name"] and person["student"]["school"]["name"]
    assert person["healthFacility"] is None
    (error,) = answer["errors"]
    assert error["path"] == ["person", "healthFacility"]
    assert error["extensions"] == {"code": code, "source": "dinkes"}


async def test_stopped_health_office_costs_one_error_and_recovers(setup: tuple[FaultProxy, Gateway, str]) -> None:
    proxy, gateway, nik = setup
    assert "errors" not in await gateway.query(QUERY, {"nik": nik})
    proxy.set_mode("refuse")
    proxy.drop_connections()
    started = time.monotonic()
    assert_only_health_lost(await gateway.query(QUERY, {"nik": nik}), "SOURCE_UNAVAILABLE")
    assert time.monotonic() - started < DEADLINE_S
    assert_only_health_lost(await gateway.query(QUERY, {"nik": nik}), "SOURCE_UNAVAILABLE")  # breaker opens

    calls = proxy.connections
    for _ in range(5):
        assert_only_health_lost(await gateway.query(QUERY, {"nik": nik}), "SOURCE_UNAVAILABLE")
    assert proxy.connections == calls, "an open breaker must not call the dead source"

    proxy.set_mode("pass")
    await asyncio.sleep(1.05)
    answer = await gateway.query(QUERY, {"nik": nik})
    assert "errors" not in answer, answer
    assert proxy.connections == calls + 1  # the probe, on a new connection, then pooled


async def test_stalled_health_office_answers_within_the_deadline(setup: tuple[FaultProxy, Gateway, str]) -> None:
    proxy, gateway, nik = setup
    assert "errors" not in await gateway.query(QUERY, {"nik": nik})
    proxy.set_mode(delay(10))
    started = time.monotonic()
    answer = await gateway.query(QUERY, {"nik": nik})
    elapsed = time.monotonic() - started
    assert_only_health_lost(answer, "SOURCE_TIMEOUT")
    assert elapsed < DEADLINE_S + 0.1, f"answered after {elapsed:.3f} s"
    proxy.set_mode("pass")


async def test_health_office_answering_junk_is_a_bad_response(setup: tuple[FaultProxy, Gateway, str]) -> None:
    proxy, gateway, nik = setup
    proxy.set_mode("garbage_http_json")
    proxy.drop_connections()
    assert_only_health_lost(await gateway.query(QUERY, {"nik": nik}), "SOURCE_BAD_RESPONSE")
    proxy.set_mode("pass")
