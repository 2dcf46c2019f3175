"""The benchmark makes its own page cursors; the gateway must take them as its own."""

from __future__ import annotations

import tomllib

from bench.queries import CURSOR_KEY, DEEP, PERSONS_PAGE, _alive_in, _cursor
from demo.gateway_config import render_config
from demo.regions import kecamatan_of
from resolvers.query import SchoolFilter, school_conditions

from .conftest import Backend, open_gateway
from .support.sqlite import sqlite_file


async def test_the_bench_cursors_page_the_lists_they_were_made_for(sqlite_backend: Backend) -> None:
    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    education = sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite_file(registry) as conn:
        nik, region = conn.execute("SELECT nik, kode_wilayah FROM penduduk WHERE status_penduduk = 'HIDUP' ORDER BY nik LIMIT 1").fetchone()
    with sqlite_file(education) as conn:
        (npsn,) = conn.execute("SELECT min(npsn) FROM sekolah").fetchone()
    kecamatan = kecamatan_of(region)
    config = tomllib.loads(render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, cursor_key=CURSOR_KEY))
    async for gateway in open_gateway(config):
        persons = await gateway.query(PERSONS_PAGE.text, {"region": kecamatan, "first": 2, "after": _cursor(nik, "Person", _alive_in(kecamatan))})
        assert "errors" not in persons, persons
        assert all(e["node"]["nik"] > nik for e in persons["data"]["persons"]["edges"])
        schools = await gateway.query(DEEP.text.replace("students {", "students(grade: 99) {"), {"first": 1, "after": _cursor(npsn, "School", school_conditions(SchoolFilter()))})
        assert "errors" not in schools, schools
        assert schools["data"]["schools"]["edges"][0]["node"]["npsn"] > npsn
