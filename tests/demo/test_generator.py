"""The demo generator: deterministic, realistic by the registry's own rules, loadable on every dialect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from demo import Dataset, build_dataset, ensure_sqlite_demo, load_dataset
from demo.education import LEVEL_TYPES
from demo.regions import digits, dotted, kecamatan, load_regions, neighbours, villages
from demo.schema import TABLES
from demo.school_calendar import LEVEL_GRADES, level_of_grade, nominal_grade, school_days

from ..support.sqlite import sqlite_file

SCALE = 0.02
SEED = 3503
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return build_dataset(scale=SCALE, seed=SEED)


def by_column(ds: Dataset, table: str) -> list[dict[str, Any]]:
    return list(ds.records(table))


def quirk_nisns(ds: Dataset, *kinds: str) -> set[str]:
    return {q["nisn"] for kind in kinds for q in ds.quirks[kind]}


def unreachable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable at 127.0.0.1 ({type(exc).__name__}: {exc})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must run this test against the real server", pytrace=False)
    pytest.skip(message)


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_data(ds: Dataset) -> None:
    again = build_dataset(scale=SCALE, seed=SEED)
    assert again.ground_truth() == ds.ground_truth()
    for table in ("wilayah", "keluarga", "penduduk", "sekolah", "peserta_didik"):
        assert again.rows(table) == ds.rows(table), table
    first = list(zip(range(5000), ds.kehadiran(), strict=False))
    assert list(zip(range(5000), again.kehadiran(), strict=False)) == first
    assert json.dumps(again.ground_truth(), sort_keys=True) == json.dumps(ds.ground_truth(), sort_keys=True)


def test_another_seed_gives_other_data(ds: Dataset) -> None:
    other = build_dataset(scale=SCALE, seed=SEED + 1)
    assert other.penduduk[:20] != ds.penduduk[:20]
    assert other.ground_truth()["quirks"] != ds.ground_truth()["quirks"]
    assert other.wilayah == ds.wilayah  # the real code list does not depend on the seed


def test_one_school_attendance_is_reproducible_on_its_own(ds: Dataset) -> None:
    npsn = next(n for n, pupils in sorted(ds.rosters.items()) if pupils)
    alone = list(ds.kehadiran(npsn))
    in_full = [r for r in ds.kehadiran() if r[0] == npsn]
    assert alone == in_full
    assert len(alone) == len(ds.rosters[npsn]) * len(ds.school_days)


# -- the registry --------------------------------------------------------------------------


def test_every_nik_is_valid_and_matches_sex_and_birth_date(ds: Dataset) -> None:
    kecamatan_codes = {digits(k.code) for k in kecamatan()}
    serials: dict[str, list[int]] = defaultdict(list)
    for p in by_column(ds, "penduduk"):
        nik = p["nik"]
        assert len(nik) == 16 and nik.isdigit(), nik
        assert nik[:6] in kecamatan_codes, nik
        dd, mm, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
        born: date = p["tanggal_lahir"]
        assert (p["jenis_kelamin"] == "P") == (dd > 40), (nik, p["jenis_kelamin"])
        assert (dd - 40 if dd > 40 else dd, mm, yy) == (born.day, born.month, born.year % 100), (nik, born)
        assert nik[12:] != "0000"
        serials[nik[:12]].append(int(nik[12:]))
    # Serials count up from 0001 for each identical 12-digit prefix.
    for prefix, numbers in serials.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), prefix
    assert len({p[0] for p in ds.penduduk}) == len(ds.penduduk)


def test_most_niks_were_first_registered_where_people_live(ds: Dataset) -> None:
    same = sum(p["nik"][:6] == digits(p["kode_wilayah"])[:6] for p in by_column(ds, "penduduk"))
    assert 0.7 < same / len(ds.penduduk) < 0.97


def test_family_cards_are_unique_and_hold_every_resident_once(ds: Dataset) -> None:
    desa_codes = {v.code for v in villages()}
    families = {k["no_kk"]: k for k in by_column(ds, "keluarga")}
    assert len(families) == len(ds.keluarga)
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in by_column(ds, "penduduk"):
        assert p["no_kk"] in families, p["nik"]
        members[p["no_kk"]].append(p)
    assert members.keys() == families.keys()
    for kk, family in families.items():
        assert len(kk) == 16 and kk.isdigit()
        assert kk[:6] == digits(family["kode_wilayah"])[:6], "a KK is issued in the family's kecamatan"
        issued = date(2000 + int(kk[10:12]), int(kk[8:10]), int(kk[6:8]))
        assert issued == family["tgl_terbit"] and issued <= ds.as_of
        assert family["kode_wilayah"] in desa_codes
        assert family["tgl_update"].date() >= family["tgl_terbit"]
        assert len(family["rt"]) == len(family["rw"]) == 3 and family["rt"].isdigit()
        people = members[kk]
        assert {p["kode_wilayah"] for p in people} == {family["kode_wilayah"]}
        heads = [p for p in people if p["shdk"] == "KEPALA KELUARGA"]
        assert [h["nik"] for h in heads] == [family["nik_kepala"]]
        assert 1 <= len(people) <= 8
        assert all(p["tanggal_lahir"] <= family["tgl_terbit"] for p in people), "the card lists everyone born"
    sizes = [len(m) for m in members.values()]
    assert 3.1 < sum(sizes) / len(sizes) < 3.7


def test_families_look_real(ds: Dataset) -> None:
    people = by_column(ds, "penduduk")
    by_kk: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in people:
        by_kk[p["no_kk"]].append(p)
    for family in by_kk.values():
        head = next(p for p in family if p["shdk"] == "KEPALA KELUARGA")
        wives = [p for p in family if p["shdk"] == "ISTRI"]
        for wife in wives:
            assert head["jenis_kelamin"] == "L" and wife["jenis_kelamin"] == "P"
            assert head["status_perkawinan"] == wife["status_perkawinan"] == "KAWIN"
        parents = [head, *wives]
        for child in (p for p in family if p["shdk"] == "ANAK"):
            youngest_parent = max(p["tanggal_lahir"] for p in parents)
            assert (child["tanggal_lahir"] - youngest_parent).days > 15 * 365, "parents are 15+ years older"
            assert child["status_perkawinan"] == "BELUM KAWIN"
        for elder in (p for p in family if p["shdk"] == "ORANG TUA"):
            assert elder["tanggal_lahir"] < head["tanggal_lahir"]


def test_population_shape_is_plausible(ds: Dataset) -> None:
    people = by_column(ds, "penduduk")
    n = len(people)
    assert abs(n - 750_000 * SCALE) / (750_000 * SCALE) < 0.01
    ages = [(ds.as_of - p["tanggal_lahir"]).days / 365.25 for p in people]
    assert 0.16 < sum(a < 15 for a in ages) / n < 0.30
    assert 0.05 < sum(a >= 65 for a in ages) / n < 0.16
    assert max(ages) < 100 and min(ages) >= 0
    religion = Counter(p["agama"] for p in people)
    assert 0.95 < religion["ISLAM"] / n < 0.99
    assert set(religion) <= {"ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDHA", "KONGHUCU"}
    status = Counter(p["status_penduduk"] for p in people)
    assert 0.002 < status["MATI"] / n < 0.01 and 0.005 < status["PINDAH"] / n < 0.02
    assert Counter(p["jenis_kelamin"] for p in people).keys() == {"L", "P"}
    assert {p["shdk"] for p in people} == {"KEPALA KELUARGA", "ISTRI", "ANAK", "ORANG TUA", "FAMILI LAIN"}
    assert {p["status_perkawinan"] for p in people} == {"BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI"}
    for p, age in zip(people, ages, strict=True):
        assert len(p["nama_lengkap"].split()) in (1, 2, 3)
        if age < 15:
            assert p["pekerjaan"] in ("BELUM/TIDAK BEKERJA", "PELAJAR/MAHASISWA"), p
        if p["pekerjaan"] in ("PNS", "GURU", "PETANI/PEKEBUN", "NELAYAN", "MENGURUS RUMAH TANGGA", "PENSIUNAN"):
            assert age >= 16, p
        assert p["tgl_update"].date() >= p["tanggal_lahir"] and p["tgl_update"].date() <= ds.as_of


def test_region_table_is_the_real_code_list(ds: Dataset) -> None:
    rows = by_column(ds, "wilayah")
    assert len(rows) == len(load_regions()) == 173
    levels = Counter(r["tingkat"] for r in rows)
    assert levels == {"provinsi": 1, "kabupaten": 1, "kecamatan": 14, "desa": 152, "kelurahan": 5}
    for r in rows:
        if r["tingkat"] in ("desa", "kelurahan"):
            assert (r["tingkat"] == "kelurahan") == r["kode"].split(".")[-1].startswith("1")
    codes = {r["kode"] for r in rows}
    assert all(r["kode_induk"] in codes for r in rows if r["kode_induk"] is not None)


# -- Dapodik -------------------------------------------------------------------------------


def test_schools_have_real_formats_and_every_level(ds: Dataset) -> None:
    desa_digits = {digits(v.code) for v in villages()}
    schools = by_column(ds, "sekolah")
    assert len({s["npsn"] for s in schools}) == len(schools) >= 5
    assert len({s["nama"] for s in schools}) == len(schools)
    assert set(Counter(s["bentuk_pendidikan"] for s in schools)) == {"SD", "MI", "SMP", "MTs", "SMA", "SMK"}
    for s in schools:
        assert len(s["npsn"]) == 8 and s["npsn"].isdigit() and s["npsn"].startswith("2")
        assert s["kode_wilayah"] in desa_digits, "Dapodik writes the desa code without dots"
        assert s["status_sekolah"] in ("NEGERI", "SWASTA")
        assert s["nama"].startswith(s["bentuk_pendidikan"] + " ")


def test_pupils_are_residents_in_the_right_grade_and_school(ds: Dataset) -> None:
    people = {p["nik"]: p for p in by_column(ds, "penduduk")}
    schools = {s["npsn"]: s for s in by_column(ds, "sekolah")}
    moved_birthday = quirk_nisns(ds, "birth_date_mismatch")
    renamed = quirk_nisns(ds, "name_mismatch")
    unlinked = quirk_nisns(ds, "unknown_nik", "null_nik")
    dead = quirk_nisns(ds, "deceased_enrolled")
    pupils = by_column(ds, "peserta_didik")
    assert len({p["nisn"] for p in pupils}) == len(pupils)
    assert len({p["peserta_didik_id"] for p in pupils}) == len(pupils)
    schools_in: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in schools.values():
        schools_in[dotted(s["kode_wilayah"][:6])].append(s)
    near = has_own = 0
    for pupil in pupils:
        school = schools[pupil["npsn"]]
        grade = pupil["tingkat_pendidikan"]
        assert grade in LEVEL_GRADES[school["bentuk_pendidikan"]], (pupil, school)
        assert str(uuid.UUID(pupil["peserta_didik_id"])) == pupil["peserta_didik_id"]
        assert len(pupil["nisn"]) == 10 and pupil["nisn"].isdigit()
        assert pupil["nama_rombel"].startswith({10: "X", 11: "XI", 12: "XII"}.get(grade, str(grade)))
        assert pupil["tanggal_masuk_sekolah"] <= ds.term_start
        if pupil["nisn"] not in moved_birthday:
            assert abs(grade - nominal_grade(pupil["tanggal_lahir"], 2026)) <= 1, pupil
            assert 5 <= (ds.as_of - pupil["tanggal_lahir"]).days / 365.25 < 20
        if pupil["nisn"] in unlinked:
            assert pupil["nik"] not in people
            continue
        person = people[pupil["nik"]]
        assert person["status_penduduk"] == ("MATI" if pupil["nisn"] in dead else "HIDUP")
        assert person["pekerjaan"] == "PELAJAR/MAHASISWA"
        assert pupil["jenis_kelamin"] == person["jenis_kelamin"]
        assert pupil["tempat_lahir"] == person["tempat_lahir"]
        assert (pupil["nama"] == person["nama_lengkap"]) == (pupil["nisn"] not in renamed)
        assert (pupil["tanggal_lahir"] == person["tanggal_lahir"]) == (pupil["nisn"] not in moved_birthday)
        home, at = person["kode_wilayah"][:8], dotted(school["kode_wilayah"][:6])
        if any(s["bentuk_pendidikan"] in LEVEL_TYPES[level_of_grade(grade)] for s in schools_in[home]):
            has_own += 1
            near += at == home or at in neighbours()[home]
    assert near / has_own > 0.8, "pupils go to school in their own kecamatan or next door when there is one"
    assert sum(p["nisn"][:3] == f"{p['tanggal_lahir'].year % 1000:03d}" for p in pupils) / len(pupils) > 0.9


def test_every_level_has_pupils_of_school_age_in_proportion(ds: Dataset) -> None:
    pupils = by_column(ds, "peserta_didik")
    grades = Counter(p["tingkat_pendidikan"] for p in pupils)
    assert set(grades) == set(range(1, 13))
    assert 0.12 < len(pupils) / len(ds.penduduk) < 0.2  # ~120,000 of ~750,000 at full scale
    assert 2 * sum(grades[g] for g in range(1, 7)) > sum(grades[g] for g in range(7, 13))


# -- planted quirks and outbreaks ----------------------------------------------------------


def test_each_quirk_is_listed_and_present_in_the_data(ds: Dataset) -> None:
    people = {p["nik"]: p for p in by_column(ds, "penduduk")}
    pupils = {p["nisn"]: p for p in by_column(ds, "peserta_didik")}
    truth = ds.ground_truth()["quirks"]
    assert set(truth) == {"name_mismatch", "birth_date_mismatch", "unknown_nik", "deceased_enrolled", "null_nik"}
    all_nisns = [q["nisn"] for entries in truth.values() for q in entries]
    assert len(all_nisns) == len(set(all_nisns)), "each pupil carries at most one quirk"
    for kind, entries in truth.items():
        assert len(entries) >= 2, kind
        for q in entries:
            pupil, person = pupils[q["nisn"]], people[q["nik"]]
            assert pupil["npsn"] == q["npsn"]
            if kind == "name_mismatch":
                assert q["registry"] == person["nama_lengkap"] != pupil["nama"] == q["dapodik"]
            elif kind == "birth_date_mismatch":
                assert q["registry"] == person["tanggal_lahir"].isoformat() != pupil["tanggal_lahir"].isoformat()
                assert q["dapodik"] == pupil["tanggal_lahir"].isoformat()
            elif kind == "unknown_nik":
                assert pupil["nik"] == q["dapodik"] not in people and q["registry"] == q["nik"]
                assert len(pupil["nik"]) == 16 and pupil["nik"][12:] != "0000"
                assert pupil["nik"][:12] == person["nik"][:12], "a well-formed NIK for the same person"
            elif kind == "deceased_enrolled":
                assert person["status_penduduk"] == "MATI" and pupil["nik"] == person["nik"]
                assert date.fromisoformat(q["died_on"]) <= ds.as_of
            elif kind == "null_nik":
                assert pupil["nik"] is None and q["dapodik"] is None
    clean = [p for p in pupils.values() if p["nisn"] not in set(all_nisns)]
    assert all(p["nik"] in people and people[p["nik"]]["nama_lengkap"] == p["nama"] for p in clean)


def test_outbreaks_are_classmates_sick_on_consecutive_november_days(ds: Dataset) -> None:
    truth = ds.ground_truth()["outbreaks"]
    assert 2 <= len(truth) <= 3
    assert len({o["npsn"] for o in truth}) == len(truth)
    days = school_days(ds.term_start, ds.as_of)
    pupils = {p["nisn"]: p for p in by_column(ds, "peserta_didik")}
    for outbreak in truth:
        dates = [date.fromisoformat(d) for d in outbreak["dates"]]
        assert 3 <= len(dates) <= 5 and all(d.month == 11 for d in dates)
        first = days.index(dates[0])
        assert days[first : first + len(dates)] == dates, "consecutive school days"
        assert len(outbreak["nisn"]) >= 5
        assert {pupils[n]["npsn"] for n in outbreak["nisn"]} == {outbreak["npsn"]}
        assert {pupils[n]["nama_rombel"] for n in outbreak["nisn"]} == {outbreak["rombel"]}
        school = next(s for s in ds.sekolah if s[0] == outbreak["npsn"])
        assert school[4] == outbreak["kode_wilayah_sekolah"] == digits(outbreak["kode_wilayah"])
        statuses = {(r[1], r[2]): r[3] for r in ds.kehadiran(outbreak["npsn"])}
        for day in dates:
            for nisn in outbreak["nisn"]:
                assert statuses[(day, nisn)] == "S"
            sick = sum(s == "S" for (d, _), s in statuses.items() if d == day)
            assert sick >= len(outbreak["nisn"])


def test_attendance_is_mostly_present_and_sicker_in_the_rainy_season(ds: Dataset) -> None:
    by_month: dict[int, Counter[str]] = defaultdict(Counter)
    total = 0
    for _, day, _, status in ds.kehadiran():
        by_month[day.month][status] += 1
        total += 1
    assert total == ds.count("kehadiran")
    overall: Counter[str] = sum(by_month.values(), Counter())
    assert 0.92 < overall["H"] / total < 0.96
    assert set(overall) == {"H", "S", "I", "A"}
    dry = sum((by_month[m] for m in (7, 8, 9, 10)), Counter())
    assert by_month[11]["S"] / by_month[11].total() > 1.4 * dry["S"] / dry.total()
    days = {day for day in ds.school_days}
    assert date(2026, 8, 17) not in days and all(d.weekday() < 5 for d in days)


# -- scale ---------------------------------------------------------------------------------


def test_scale_0_1_has_the_regencys_shape_at_a_tenth() -> None:
    ds = build_dataset(scale=0.1)
    counts = Counter(s[2] for s in ds.sekolah)
    assert counts == {"SD": 50, "MI": 12, "SMP": 9, "MTs": 4, "SMA": 3, "SMK": 3}
    assert len(ds.sekolah) >= 60
    assert 70_000 < len(ds.penduduk) < 80_000
    assert 10_000 < len(ds.peserta_didik) < 14_000
    assert len(ds.outbreaks) == 3


def test_a_tiny_scale_still_has_every_kind_of_school() -> None:
    ds = build_dataset(scale=0.002)
    assert Counter(s[2] for s in ds.sekolah) == {b: 1 for b in ("SD", "MI", "SMP", "MTs", "SMA", "SMK")}
    assert all(len(v) >= 2 for v in ds.quirks.values())


def test_rejects_a_non_positive_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        build_dataset(scale=0)


# -- loading into real databases -----------------------------------------------------------


def test_dataset_columns_are_the_tables_columns(ds: Dataset) -> None:
    for table, columns in Dataset.COLUMNS.items():
        assert columns == tuple(c.name for c in TABLES[table].columns)
        rows = ds.rows(table)
        first = next(iter(rows))
        assert len(first) == len(columns)


async def test_load_into_sqlite_gives_the_datasets_counts(ds: Dataset, tmp_path: Path) -> None:
    registry, education = tmp_path / "siak.sqlite", tmp_path / "dapodik.sqlite"
    await load_dataset(
        ds, registry_url=f"sqlite+aiosqlite:///{registry}", education_url=f"sqlite+aiosqlite:///{education}"
    )
    counts = {}
    for path, tables in ((registry, Dataset.REGISTRY_TABLES), (education, Dataset.EDUCATION_TABLES)):
        with sqlite_file(path) as conn:
            for table in tables:
                counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert {i.name for t in tables for i in TABLES[t].indexes} <= indexes
    assert counts == ds.counts()

    # Dates and timestamps read back through SQLAlchemy as the generator made them.
    engine = create_async_engine(f"sqlite+aiosqlite:///{registry}")
    try:
        async with engine.connect() as conn:
            penduduk = TABLES["penduduk"]
            row = (await conn.execute(sa.select(penduduk).where(penduduk.c.nik == ds.penduduk[0][0]))).one()
        assert tuple(row) == ds.penduduk[0]
    finally:
        await engine.dispose()
    # Loading again replaces the tables rather than adding to them.
    await load_dataset(
        ds, registry_url=f"sqlite+aiosqlite:///{registry}", education_url=f"sqlite+aiosqlite:///{education}"
    )
    with sqlite_file(education) as conn:
        assert conn.execute("SELECT count(*) FROM kehadiran").fetchone()[0] == ds.count("kehadiran")


@pytest.fixture
def pg_databases() -> Iterator[tuple[str, str]]:
    import asyncio

    import asyncpg

    names = [f"satudata_test_demo_{uuid.uuid4().hex[:10]}" for _ in range(2)]

    async def admin(statements: list[str]) -> None:
        conn = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(admin([f'CREATE DATABASE "{n}"' for n in names]))
    except (OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError) as exc:
        unreachable("PostgreSQL", exc)
    try:
        yield (names[0], names[1])
    finally:
        asyncio.run(admin([f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names]))


async def test_load_into_postgresql_gives_the_datasets_counts(ds: Dataset, pg_databases: tuple[str, str]) -> None:
    import asyncpg

    registry, education = pg_databases
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/{}"
    await load_dataset(ds, registry_url=url.format(registry), education_url=url.format(education))
    counts = {}
    for name, tables in ((registry, Dataset.REGISTRY_TABLES), (education, Dataset.EDUCATION_TABLES)):
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            for table in tables:
                counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
            first = await conn.fetchrow("SELECT * FROM penduduk ORDER BY nik LIMIT 1") if name == registry else None
        finally:
            await conn.close()
        if first is not None:
            assert tuple(first) == min(ds.penduduk)
    assert counts == ds.counts()


@pytest.fixture
def mariadb_databases() -> Iterator[tuple[str, str]]:
    import asyncio

    import aiomysql

    names = [f"satudata_test_demo_{uuid.uuid4().hex[:10]}" for _ in range(2)]

    async def admin(statements: list[str]) -> None:
        conn = await aiomysql.connect(**MARIADB, connect_timeout=5)
        try:
            async with conn.cursor() as cur:
                for statement in statements:
                    await cur.execute(statement)
        finally:
            conn.close()

    try:
        asyncio.run(admin([f"CREATE DATABASE `{n}` CHARACTER SET utf8mb4" for n in names]))
    except (OSError, aiomysql.OperationalError) as exc:
        unreachable("MariaDB", exc)
    try:
        yield (names[0], names[1])
    finally:
        asyncio.run(admin([f"DROP DATABASE IF EXISTS `{n}`" for n in names]))


async def test_load_into_mariadb_gives_the_datasets_counts(ds: Dataset, mariadb_databases: tuple[str, str]) -> None:
    import aiomysql

    registry, education = mariadb_databases
    url = "mysql+aiomysql://root@127.0.0.1:3306/{}?charset=utf8mb4"
    await load_dataset(ds, registry_url=url.format(registry), education_url=url.format(education))
    counts = {}
    for name, tables in ((registry, Dataset.REGISTRY_TABLES), (education, Dataset.EDUCATION_TABLES)):
        conn = await aiomysql.connect(**MARIADB, db=name)
        try:
            async with conn.cursor() as cur:
                for table in tables:
                    await cur.execute(f"SELECT count(*) FROM {table}")
                    counts[table] = (await cur.fetchone())[0]
                if name == registry:
                    await cur.execute("SELECT * FROM penduduk ORDER BY nik LIMIT 1")
                    assert tuple(await cur.fetchone()) == min(ds.penduduk)
        finally:
            conn.close()
    assert counts == ds.counts()


# -- the cached SQLite demo and the command line ---------------------------------------------


async def test_ensure_sqlite_demo_generates_once_per_scale_and_seed(tmp_path: Path) -> None:
    # Called from inside a running event loop, as the gateway's startup would.
    urls = ensure_sqlite_demo(tmp_path, scale=0.005, seed=7)
    registry = tmp_path / "dispendukcapil.sqlite"
    assert urls == (f"sqlite+aiosqlite:///{registry}", f"sqlite+aiosqlite:///{tmp_path / 'dinas-pendidikan.sqlite'}")
    truth = json.loads((tmp_path / "ground-truth.json").read_text(encoding="utf-8"))
    assert truth == build_dataset(scale=0.005, seed=7).ground_truth()
    stamp = registry.stat().st_mtime_ns

    assert ensure_sqlite_demo(tmp_path, scale=0.005, seed=7) == urls
    assert registry.stat().st_mtime_ns == stamp, "same scale and seed: reused, not regenerated"

    ensure_sqlite_demo(tmp_path, scale=0.005, seed=8)
    truth = json.loads((tmp_path / "ground-truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo-manifest.json", "dinas-pendidikan.sqlite", "dispendukcapil.sqlite", "ground-truth.json",
    ]
    with sqlite_file(registry) as conn:
        assert conn.execute("SELECT count(*) FROM penduduk").fetchone()[0] == truth["counts"]["penduduk"]


def test_ensure_sqlite_demo_regenerates_after_an_interrupted_run(tmp_path: Path) -> None:
    ensure_sqlite_demo(tmp_path, scale=0.005, seed=7)
    (tmp_path / "dinas-pendidikan.sqlite").write_bytes(b"half a database")
    (tmp_path / "demo-manifest.json").unlink()
    ensure_sqlite_demo(tmp_path, scale=0.005, seed=7)
    with sqlite_file(tmp_path / "dinas-pendidikan.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM sekolah").fetchone()[0] > 0


def test_command_line_generates_and_prints_counts(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--scale", "0.005", "--seed", "11", "--data-dir", str(tmp_path)],
        cwd=root, capture_output=True, text=True, timeout=120, check=True,
    )
    ds = build_dataset(scale=0.005, seed=11)
    assert f"{ds.count('penduduk'):,}" in result.stdout and f"{ds.count('kehadiran'):,}" in result.stdout
    assert " s" in result.stderr and "total" in result.stderr
    assert (tmp_path / "dispendukcapil.sqlite").is_file() and (tmp_path / "ground-truth.json").is_file()


def test_timestamps_are_naive_and_fixed_by_the_seed(ds: Dataset) -> None:
    stamps = [p[12] for p in ds.penduduk] + [k[7] for k in ds.keluarga]
    assert all(isinstance(s, datetime) and s.tzinfo is None for s in stamps)
    assert max(stamps).date() <= ds.as_of
