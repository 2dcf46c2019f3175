"""A small SIAK-like registry for the change capture tests: ``penduduk`` and ``mutasi`` with a few residents."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from connectors.changes.settings import CaptureSettings
from demo.changes import ensure_mutation_table
from demo.regions import villages
from demo.schema import penduduk

DESA = [v.code for v in villages()]
#: Seed rows' change time: long before any test's "now".
SEEDED_AT = datetime(2026, 1, 5, 9, 0, 0)


def resident(nik: str, region: str, *, born: date, shdk: str = "KEPALA KELUARGA", status: str = "HIDUP",
             updated: datetime = SEEDED_AT, sex: str = "L") -> dict[str, Any]:
    return {
        "nik": nik, "no_kk": "3503010101260001", "nama_lengkap": "WARGA UJI", "jenis_kelamin": sex,
        "tempat_lahir": "TRENGGALEK", "tanggal_lahir": born, "agama": "ISLAM", "status_perkawinan": "KAWIN",
        "shdk": shdk, "pekerjaan": "PETANI/PEKEBUN", "kode_wilayah": region, "status_penduduk": status,
        "tgl_update": updated,
    }


async def make_registry(url: str, *, people: int = 12) -> None:
    """Create ``penduduk`` (with ``people`` residents, half of them wives, some old) and ``mutasi``."""

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: penduduk.drop(sync, checkfirst=True))
            await conn.run_sync(lambda sync: penduduk.create(sync))
            rows = [
                resident(
                    f"350301{10 + i:02d}0170{i:04d}", DESA[i % 5], born=date(1940 + 4 * i, 1, 1),
                    shdk="ISTRI" if i % 2 else "KEPALA KELUARGA", sex="P" if i % 2 else "L",
                )
                for i in range(people)
            ]
            await conn.execute(penduduk.insert(), rows)
    finally:
        await engine.dispose()
    await ensure_mutation_table(url)


def resident_capture(url: str, *, source: str = "siak", batch: int = 500, kind: str = "poll",
                     events: bool = True) -> CaptureSettings:
    """The demo's own ``[sources.siak.changes]`` for ``url``."""

    raw: dict[str, Any] = {
        "kind": kind, "entity": "Person", "table": "penduduk", "key": "nik", "change": "tgl_update",
        "region": "kode_wilayah", "interval_s": 0.2, "batch": batch, "born_column": "tanggal_lahir",
        "status_column": "status_penduduk", "died_values": ["MATI"], "moved_away_values": ["PINDAH"],
    }
    if events:
        raw["events"] = {
            "table": "mutasi", "key": "nik", "at_column": "tgl_mutasi", "from_column": "dari_wilayah",
            "to_column": "ke_wilayah", "kind_column": "jenis",
            "kinds": {"LAHIR": "BORN", "MATI": "DIED", "PINDAH": "MOVED", "PERBAIKAN": "UPDATED"},
        }
    return CaptureSettings.from_source(source, {"kind": "sql", "url": url, "changes": raw})  # type: ignore[return-value]


class Clock:
    """A clock the simulator reads: each call a second later, so every event has its own time."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now
