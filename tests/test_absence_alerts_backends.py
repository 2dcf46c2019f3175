"""The alert scan's grouped statements (sick pupils per class through the Attendance join; pupils per day
and status, the day factor's reference) on every database kind, against the same counts computed from
the generator's rows."""

from __future__ import annotations

from collections import Counter
from typing import Any

from connectors import Filter, SourceQuery
from demo.education import S_NISN, S_ROMBEL

from .conftest import Backend, gateway_config


async def test_sick_pupils_per_class_and_day_are_counted_alike_on_every_backend(backend: Backend, dataset: Any) -> None:
    from connectors.sql import SqlConnector

    connector = SqlConnector.from_settings("dapodik", gateway_config(backend)["sources"]["dapodik"])
    try:
        await connector.start()
        rows = await connector.fetch(
            SourceQuery("Attendance", where=(Filter("status", "in", ("SICK",)),), group_by=("school", "className", "date"))
        )
        nik_rows = await connector.fetch(
            SourceQuery("Attendance", where=(Filter("status", "eq", "SICK"),), group_by=("nik",))
        )
        # the day factor's reference: every school's pupils per day and status
        day_rows = await connector.fetch(SourceQuery("Attendance", group_by=("date", "status")))
    finally:
        await connector.aclose()
    rombel = {r[S_NISN]: r[S_ROMBEL] for r in dataset.peserta_didik}
    expected = Counter((npsn, rombel[nisn], day) for npsn, day, nisn, status in dataset.kehadiran() if status == "S")
    got = {(r["school"], r["className"], r["date"]): r["count"] for r in rows}
    assert got == dict(expected)
    assert sum(r["count"] for r in nik_rows) == sum(expected.values())
    status = {"H": "PRESENT", "S": "SICK", "I": "PERMITTED", "A": "ABSENT"}
    per_day = Counter((day, status[code]) for _, day, _, code in dataset.kehadiran())
    assert {(r["date"], r["status"]): r["count"] for r in day_rows} == dict(per_day)
