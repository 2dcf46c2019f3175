"""Gateway answers equal what the OPD databases hold, read with direct SQL, on every dialect."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from .conftest import Backend, Gateway

SEX = {"L": "MALE", "P": "FEMALE"}
STATUS = {"HIDUP": "ALIVE", "MATI": "DECEASED", "PINDAH": "MOVED_AWAY"}
ATTENDANCE = {"H": "present", "S": "sick", "I": "permitted", "A": "absent"}


class Sql:
    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url)

    async def rows(self, statement: str, **params: Any) -> Sequence[sa.Row[Any]]:
        # A date is bound as sa.Date, so each dialect converts it the way its columns hold dates:
        # untyped, it reached sqlite3's default date adapter, deprecated since Python 3.12.
        dates = [sa.bindparam(name, type_=sa.Date()) for name, value in params.items() if isinstance(value, date)]
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.text(statement).bindparams(*dates), params)).all()


@pytest.fixture
async def sql(backend: Backend) -> AsyncIterator[tuple[Sql, Sql]]:
    registry, education = Sql(backend.registry_url), Sql(backend.education_url)
    yield registry, education
    await registry.engine.dispose()
    await education.engine.dispose()


async def test_person_and_family_equal_the_registry(gateway: Gateway, sql: tuple[Sql, Sql]) -> None:
    registry, _ = sql
    niks = [r[0] for r in await registry.rows("SELECT nik FROM penduduk ORDER BY nik")]
    for nik in random.Random(7).sample(niks, 15):
        (row,) = await registry.rows(
            "SELECT nama_lengkap, jenis_kelamin, tanggal_lahir, status_penduduk, no_kk, kode_wilayah "
            "FROM penduduk WHERE nik = :nik",
            nik=nik,
        )
        members = [r[0] for r in await registry.rows("SELECT nik FROM penduduk WHERE no_kk = :kk ORDER BY nik", kk=row[4])]
        answer = await gateway.query(
            """query($nik: NIK!) { person(nik: $nik) {
                 nik name sex birthDate status region { code }
                 family { kk members { nik } } } }""",
            {"nik": nik},
        )
        assert "errors" not in answer
        person = answer["data"]["person"]
        assert person == {
            "nik": nik,
            "name": row[0],
            "sex": SEX[row[1]],
            "birthDate": str(row[2])[:10],
            "status": STATUS[row[3]],
            "region": {"code": row[5]},
            "family": {"kk": row[4], "members": [{"nik": m} for m in members]},
        }


async def test_school_pupils_and_attendance_equal_dapodik(gateway: Gateway, sql: tuple[Sql, Sql]) -> None:
    _, education = sql
    (npsn,) = (await education.rows("SELECT npsn FROM sekolah ORDER BY npsn"))[3]
    pupils = [r[0] for r in await education.rows("SELECT nisn FROM peserta_didik WHERE npsn = :n ORDER BY nisn", n=npsn)]
    counts: dict[str, Counter[str]] = {}
    for day, status, n in await education.rows(
        "SELECT tanggal, status, count(*) FROM kehadiran WHERE npsn = :n AND tanggal BETWEEN :a AND :b "
        "GROUP BY tanggal, status",
        n=npsn,
        a=date(2026, 11, 9),
        b=date(2026, 11, 20),
    ):
        counts.setdefault(str(day)[:10], Counter())[ATTENDANCE[status]] += n
    answer = await gateway.query(
        """query($npsn: NPSN!) { school(npsn: $npsn) {
             students { nisn }
             attendance(from: "2026-11-09", to: "2026-11-20") { date present sick permitted absent total } } }""",
        {"npsn": npsn},
    )
    assert "errors" not in answer
    school = answer["data"]["school"]
    assert [s["nisn"] for s in school["students"]] == pupils
    expected = [
        {"date": day, **{k: c[k] for k in ("present", "sick", "permitted", "absent")}, "total": sum(c.values())}
        for day, c in sorted(counts.items())
    ]
    assert school["attendance"] == expected
    assert len(expected) == 10  # two school weeks


async def test_paging_through_a_kecamatan_equals_the_registry(gateway: Gateway, sql: tuple[Sql, Sql]) -> None:
    registry, _ = sql
    expected = [
        r[0]
        for r in await registry.rows(
            "SELECT nik FROM penduduk WHERE kode_wilayah LIKE '35.03.07.%' AND status_penduduk = 'HIDUP' ORDER BY nik"
        )
    ]
    seen: list[str] = []
    after = None
    total = None
    while True:
        answer = await gateway.query(
            """query($after: String) { persons(first: 100, after: $after, filter: {region: "35.03.07", status: ALIVE}) {
                 totalCount pageInfo { hasNextPage endCursor } edges { node { nik } } } }""",
            {"after": after},
        )
        page = answer["data"]["persons"]
        total = page["totalCount"]
        seen += [e["node"]["nik"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    assert total == len(expected)


async def test_school_region_uses_kemendagri_codes_whatever_dapodik_writes(gateway: Gateway, sql: tuple[Sql, Sql]) -> None:
    _, education = sql
    rows = await education.rows("SELECT npsn, kode_wilayah FROM sekolah WHERE kode_wilayah LIKE '350311%' ORDER BY npsn")
    answer = await gateway.query(
        '{ region(code: "35.03.11") { name schools { npsn region { code parent { name } } } } }'
    )
    region = answer["data"]["region"]
    assert region["name"] == "Trenggalek"
    assert [s["npsn"] for s in region["schools"]] == [r[0] for r in rows]
    for school, (_, digits) in zip(region["schools"], rows, strict=True):
        assert school["region"]["code"] == f"{digits[:2]}.{digits[2:4]}.{digits[4:6]}.{digits[6:]}"
        assert school["region"]["parent"]["name"] == "Trenggalek"


async def test_cross_source_join_by_nik_shows_registry_and_school_side_by_side(
    gateway: Gateway, sql: tuple[Sql, Sql]
) -> None:
    registry, education = sql
    known = {r[0] for r in await registry.rows("SELECT nik FROM penduduk")}
    pupils = await education.rows("SELECT nisn, nik, nama FROM peserta_didik WHERE nik IS NOT NULL ORDER BY nisn")
    unknown = [p for p in pupils if p[1] not in known]
    matched = [p for p in pupils if p[1] in known]
    assert unknown and matched, "the demo plants pupils whose NIK the registry does not know"
    for nisn, nik, _ in unknown[:3] + matched[:3]:
        answer = await gateway.query(
            "query($nisn: NISN!) { student(nisn: $nisn) { nik person { nik student { nisn } } } }", {"nisn": nisn}
        )
        student = answer["data"]["student"]
        assert student["nik"] == nik
        if nik in known:
            assert student["person"] == {"nik": nik, "student": {"nisn": nisn}}
        else:
            assert student["person"] is None
