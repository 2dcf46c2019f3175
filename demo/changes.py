"""The registry change simulator: births, deaths, moves and corrections, written as SIAK would.

``satudata demo`` runs it beside the gateway (``--changes-per-minute``, 0 turns it off), so the
``residentChanges`` subscription has something to show. Each event is one transaction on the
demo registry database: the ``penduduk`` row (inserted or updated, ``tgl_update`` set to the
moment of the event) and a line in ``mutasi``, the registry's own record of civil events, with
the same ``tgl_mutasi``. A move writes the old and the new desa there: the resident's row keeps
only the new one, and the gateway's change capture reads the old one from ``mutasi`` (the
gateway stores no copy of any row).

Only the simulator creates ``mutasi`` (``ensure_mutation_table``): the generated demo data has
no event history, and a registry that keeps none simply gets no ``MOVED_OUT`` for the old desa.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CHAR,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    func,
    select,
)
from sqlalchemy import Table as SqlTable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .names import person_name
from .regions import villages
from .schema import penduduk

WIB = ZoneInfo("Asia/Jakarta")

log = logging.getLogger("satudata.demo.changes")

mutation_metadata = MetaData()
mutasi = SqlTable(
    "mutasi",
    mutation_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("nik", CHAR(16), nullable=False),
    Column("jenis", String(20), nullable=False),  # LAHIR, MATI, PINDAH, PERBAIKAN
    Column("dari_wilayah", String(13), nullable=True),
    Column("ke_wilayah", String(13), nullable=True),
    Column("tgl_mutasi", DateTime, nullable=False),
    Index("ix_mutasi_nik_tgl", "nik", "tgl_mutasi"),
)
#: An index on the change column makes each watermark poll a range scan, not a table scan.
TGL_UPDATE_INDEX = Index("ix_penduduk_tgl_update", penduduk.c.tgl_update, penduduk.c.nik)

#: Relative weights of the simulated events.
WEIGHTS = {"birth": 3, "death": 1, "move": 2, "correction": 4}

_OCCUPATIONS = ("PETANI/PEKEBUN", "WIRASWASTA", "KARYAWAN SWASTA", "PEDAGANG", "BURUH HARIAN LEPAS", "GURU")


async def ensure_mutation_table(url: str) -> None:
    """Create ``mutasi`` and the ``tgl_update`` index in the registry at ``url`` if missing."""

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: mutation_metadata.create_all(sync, checkfirst=True))
            await conn.run_sync(lambda sync: TGL_UPDATE_INDEX.create(sync, checkfirst=True))
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class SimulatedEvent:
    """What one step wrote: the kind of event, the resident's NIK and the desa (old, new)."""

    event: str
    nik: str
    region: str
    old_region: str | None = None
    at: datetime | None = None


class RegistrySimulator:
    """Writes one civil event per ``step()``; ``run(per_minute)`` until cancelled."""

    def __init__(
        self,
        url: str,
        *,
        seed: int | None = None,
        clock: Callable[[], datetime] | None = None,
        engine: AsyncEngine | None = None,
    ) -> None:
        self.url = url
        self.rng = random.Random(seed)
        # SIAK writes its times as Trenggalek's wall clock (WIB), naive, whatever the host's zone.
        self.clock = clock if clock is not None else (lambda: datetime.now(WIB))
        self._owns_engine = engine is None
        self._engine = engine if engine is not None else create_async_engine(url)
        self._desa = [v.code for v in villages()]

    async def step(self, event: str | None = None) -> SimulatedEvent:
        """Write one event (``birth``, ``death``, ``move``, ``correction``; drawn by ``WEIGHTS`` if not given)."""

        if event is None:
            event = self.rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
        async with self._engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("PRAGMA busy_timeout = 5000")
            now = self.clock().replace(tzinfo=None)
            return await getattr(self, f"_{event}")(conn, now)

    async def run(self, per_minute: float) -> None:
        """Write ``per_minute`` events a minute (spaced at random) until cancelled."""

        while True:
            await asyncio.sleep(self.rng.expovariate(per_minute / 60.0))
            try:
                await self.step()
            except Exception as exc:  # a busy database: the next event comes anyway
                log.warning("the registry simulator could not write an event: %s", type(exc).__name__)

    async def aclose(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()

    async def _pick(self, conn: AsyncConnection, *where: object) -> tuple[str, str, str, date, str] | None:
        p = penduduk.c
        query = select(p.nik, p.no_kk, p.kode_wilayah, p.tanggal_lahir, p.jenis_kelamin).where(
            p.status_penduduk == "HIDUP", *where
        )
        count = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar() or 0
        if not count:
            return None
        row = (await conn.execute(query.order_by(p.nik).offset(self.rng.randrange(count)).limit(1))).first()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]), row[3], str(row[4]))

    async def _note(self, conn: AsyncConnection, nik: str, jenis: str, old: str | None, new: str | None, now: datetime) -> None:
        await conn.execute(mutasi.insert().values(nik=nik, jenis=jenis, dari_wilayah=old, ke_wilayah=new, tgl_mutasi=now))

    async def _birth(self, conn: AsyncConnection, now: datetime) -> SimulatedEvent:
        mother = await self._pick(conn, penduduk.c.shdk == "ISTRI")
        if mother is None:
            raise LookupError("no mother to be found in the registry")
        _, no_kk, region, _, _ = mother
        female = self.rng.random() < 0.49
        born = now.date()
        kecamatan = region.replace(".", "")[:6]
        prefix = f"{kecamatan}{born.day + 40 if female else born.day:02d}{born.month:02d}{born.year % 100:02d}"
        taken = (
            await conn.execute(select(func.max(penduduk.c.nik)).where(penduduk.c.nik.like(prefix + "%")))
        ).scalar()
        serial = int(str(taken)[12:]) + 1 if taken else 1
        nik = f"{prefix}{serial:04d}"
        religion = (
            await conn.execute(select(penduduk.c.agama).where(penduduk.c.no_kk == no_kk).limit(1))
        ).scalar() or "ISLAM"
        await conn.execute(
            penduduk.insert().values(
                nik=nik, no_kk=no_kk, nama_lengkap=person_name(self.rng, female, born.year, 1),
                jenis_kelamin="P" if female else "L", tempat_lahir="TRENGGALEK", tanggal_lahir=born,
                agama=religion, status_perkawinan="BELUM KAWIN", shdk="ANAK", pekerjaan="BELUM/TIDAK BEKERJA",
                kode_wilayah=region, status_penduduk="HIDUP", tgl_update=now,
            )
        )
        await self._note(conn, nik, "LAHIR", None, region, now)
        return SimulatedEvent("birth", nik, region, at=now)

    async def _death(self, conn: AsyncConnection, now: datetime) -> SimulatedEvent:
        # Mostly the old; anyone when the registry has no one over 60.
        elderly = date(now.year - 60, now.month, min(now.day, 28))
        person = await self._pick(conn, penduduk.c.tanggal_lahir < elderly) or await self._pick(conn)
        if person is None:
            raise LookupError("no living resident in the registry")
        nik, _, region, _, _ = person
        await conn.execute(
            penduduk.update().where(penduduk.c.nik == nik).values(status_penduduk="MATI", tgl_update=now)
        )
        await self._note(conn, nik, "MATI", region, None, now)
        return SimulatedEvent("death", nik, region, at=now)

    async def _move(self, conn: AsyncConnection, now: datetime) -> SimulatedEvent:
        person = await self._pick(conn)
        if person is None:
            raise LookupError("no living resident in the registry")
        nik, _, old, _, _ = person
        new = self.rng.choice([d for d in self._desa if d != old])
        await conn.execute(penduduk.update().where(penduduk.c.nik == nik).values(kode_wilayah=new, tgl_update=now))
        await self._note(conn, nik, "PINDAH", old, new, now)
        return SimulatedEvent("move", nik, new, old_region=old, at=now)

    async def _correction(self, conn: AsyncConnection, now: datetime) -> SimulatedEvent:
        person = await self._pick(conn)
        if person is None:
            raise LookupError("no living resident in the registry")
        nik, _, region, _, _ = person
        await conn.execute(
            penduduk.update()
            .where(penduduk.c.nik == nik)
            .values(pekerjaan=self.rng.choice(_OCCUPATIONS), tgl_update=now)
        )
        await self._note(conn, nik, "PERBAIKAN", region, region, now)
        return SimulatedEvent("correction", nik, region, at=now)


async def run_simulator(url: str, per_minute: float, *, seed: int | None = None) -> None:
    """``ensure_mutation_table``, then events at ``per_minute`` until cancelled (the demo's task)."""

    await ensure_mutation_table(url)
    simulator = RegistrySimulator(url, seed=seed)
    try:
        await simulator.run(per_minute)
    finally:
        await simulator.aclose()


__all__ = ["RegistrySimulator", "SimulatedEvent", "ensure_mutation_table", "mutasi", "run_simulator"]
