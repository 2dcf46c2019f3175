"""A dead source costs only the fields it feeds; /readyz and /metrics tell which one."""

from __future__ import annotations

import re

from ..conftest import Backend, gateway_config, open_gateway
from ..support.sqlite import sqlite_file

QUERY = """query($nik: NIK!) {
  person(nik: $nik) { nik name family { kk } student { nisn school { name } } }
}"""


async def first_pupil_nik(backend: Backend) -> str:
    path = backend.education_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite_file(path) as conn:
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
        # Exactly one call per query: the first two fail at the source, the third is refused by the
        # open breaker. A loader that forgot its failed batch would ask again within a request.
        assert failed is not None and int(failed.group(1)) == 3
        assert 'satudata_source_breaker_state{source="dapodik"} 2.0' in metrics
        assert 'satudata_requests_total{status="200"} 3.0' in metrics
        assert "satudata_source_call_seconds_bucket" in metrics


async def test_a_failed_batch_is_remembered_within_the_request(sqlite_backend: Backend) -> None:
    """Loaders answer every later ask for a key of a failed batch with the same error (``_remember_failures``):
    the same pupil asked for under three aliases is one call to the dead source, not three."""

    nik = await first_pupil_nik(sqlite_backend)
    config = gateway_config(sqlite_backend)
    config["sources"]["dapodik"]["url"] = "postgresql+asyncpg://nobody@127.0.0.1:9/dapodik"
    config["sources"]["dapodik"].update(retries=0, breaker_failures=100)
    query = """query($nik: NIK!) {
      a: person(nik: $nik) { student { nisn } }
      b: person(nik: $nik) { student { nisn name } }
      c: person(nik: $nik) { nik student { school { name } } }
    }"""
    async for gateway in open_gateway(config):
        answer = await gateway.query(query, {"nik": nik}, trace=True)
        assert [e["path"] for e in answer["errors"]] == [["a", "student"], ["b", "student"], ["c", "student"]]
        assert {e["extensions"]["code"] for e in answer["errors"]} == {"SOURCE_UNAVAILABLE"}
        assert answer["extensions"]["sources"]["dapodik"] == {**answer["extensions"]["sources"]["dapodik"], "calls": 1, "errors": 1}
