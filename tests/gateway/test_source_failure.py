"""A dead source costs only the fields it feeds; /readyz and /metrics tell which one."""

from __future__ import annotations

import re

from ..conftest import Backend, gateway_config, open_gateway

QUERY = """query($nik: NIK!) {
  person(nik: $nik) { nik name family { kk } student { nisn school { name } } }
}"""


async def first_pupil_nik(backend: Backend) -> str:
    import sqlite3

    path = backend.education_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("ATTACH DATABASE ? AS siak", (backend.registry_url.removeprefix("sqlite+aiosqlite:///"),))
        (nik,) = conn.execute(
            "SELECT pd.nik FROM peserta_didik pd JOIN siak.penduduk p ON p.nik = pd.nik ORDER BY pd.nisn LIMIT 1"
        ).fetchone()
    return str(nik)


async def test_dead_source_nulls_only_its_fields(sqlite_backend: Backend) -> None:
    nik = await first_pupil_nik(sqlite_backend)
    config = gateway_config(sqlite_backend)
    # Dapodik moved to a server that is not there: port 9 on loopback refuses at once.
    config["sources"]["dapodik"]["url"] = "postgresql+asyncpg://nobody@127.0.0.1:9/dapodik"
    config["sources"]["dapodik"].update(retries=1, backoff_s=0.01, breaker_failures=2, breaker_reset_s=60)
    async for gateway in open_gateway(config):
        answer = await gateway.query(QUERY, {"nik": nik}, trace=True)
        person = answer["data"]["person"]
        assert person["nik"] == nik and person["name"] and person["family"]["kk"]
        assert person["student"] is None
        (error,) = answer["errors"]
        assert error["path"] == ["person", "student"]
        assert error["extensions"] == {"code": "SOURCE_UNAVAILABLE", "source": "dapodik"}
        assert "127.0.0.1" not in error["message"] and "Traceback" not in error["message"]
        assert answer["extensions"]["sources"]["dapodik"]["errors"] == 1

        # A second failure opens the breaker: from then on the dead source is not called at all.
        await gateway.query(QUERY, {"nik": nik})
        third = await gateway.query(QUERY, {"nik": nik})
        assert "circuit open" in third["errors"][0]["message"]

        ready = (await gateway.client.get("/readyz")).json()
        by_name = {s["name"]: s for s in ready["sources"]}
        assert ready["status"] == "degraded"
        assert by_name["siak"]["state"] == "up" and by_name["siak"]["lastSuccessAt"]
        assert by_name["dapodik"]["state"] == "down" and by_name["dapodik"]["breaker"] == "open"
        assert by_name["dapodik"]["lastErrorCode"] == "SOURCE_UNAVAILABLE"

        metrics = (await gateway.client.get("/metrics")).text
        failed = re.search(r'satudata_source_calls_total\{outcome="SOURCE_UNAVAILABLE",source="dapodik"\} (\d+)', metrics)
        assert failed is not None and int(failed.group(1)) >= 3  # a failed look-ahead call is asked again
        assert 'satudata_source_breaker_state{source="dapodik"} 2.0' in metrics
        assert 'satudata_requests_total{status="200"} 3.0' in metrics
        assert "satudata_source_call_seconds_bucket" in metrics
