"""The demo's change simulators: the registry's civil events as SIAK writes them, and schools'
daily attendance as Dapodik records it.

``satudata demo`` runs it beside the gateway (``--changes-per-minute``, 0 turns it off), so the
``residentChanges`` subscription has something to show. Each event is one transaction on the
demo registry database: the ``penduduk`` row (inserted or updated, ``tgl_update`` set to the
moment of the event) and a line in ``mutasi``, the registry's own record of civil events, with
the same ``tgl_mutasi``. A move writes the old and the new desa there: the resident's row keeps
only the new one, and the gateway's change capture reads the old one from ``mutasi`` (the
gateway stores no copy of any row).

Only the simulator creates ``mutasi`` (``ensure_mutation_table``): the generated demo data has
no event history, and a registry that keeps none simply gets no ``MOVED_OUT`` for the old desa.

``AttendanceSimulator`` records a school's next school day, as a school operator's entry in
Dapodik does: one ``kehadiran`` row per pupil and, in the same transaction, the day's line in
``rekap_kehadiran`` (the school's daily register: its desa, and ``last_update``), which the
gateway's change capture watches (``AttendanceDay`` ``RECORDED`` notices, keyed
``{npsn}:{YYYY-MM-DD}``). Now and then it records an outbreak instead: most of one class off
sick, the same pupils on three school days running, which is what ``absenceAlertRaised`` reports. The generated
data has no register lines (``ensure_attendance_register`` creates the empty table): only days
recorded from now on are announced.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CHAR,
    Column,
    Date,
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

from .attendance import ABSENT, PERMITTED, SICK_ONSET
from .names import person_name
from .regions import villages
from .school_calendar import HOLIDAYS, RAINY_MONTHS
from .schema import kehadiran, peserta_didik, penduduk, sekolah

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

    await _create_missing(url, mutation_metadata, TGL_UPDATE_INDEX)


async def _create_missing(url: str, metadata: MetaData, *indexes: Index) -> None:
    """Create ``metadata``'s tables and ``indexes`` in the database at ``url`` where missing."""

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: metadata.create_all(sync, checkfirst=True))
            for index in indexes:
                await conn.run_sync(lambda sync, index=index: index.create(sync, checkfirst=True))
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


class Simulator:
    """An OPD's own system writing into its database: its clock, its engine, a paced ``run``."""

    #: What one step writes, for the log.
    writes = "an event"

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
        # The OPDs write their times as Trenggalek's wall clock (WIB), naive, whatever the host's zone.
        self.clock = clock if clock is not None else (lambda: datetime.now(WIB))
        self._owns_engine = engine is None
        self._engine = engine if engine is not None else create_async_engine(url)

    async def once(self) -> object:
        """One step of ``run``."""

        raise NotImplementedError

    async def run(self, per_minute: float) -> None:
        """``per_minute`` steps a minute (spaced at random) until cancelled."""

        while True:
            await asyncio.sleep(self.rng.expovariate(per_minute / 60.0))
            try:
                await self.once()
            except Exception as exc:  # a busy database: the next step comes anyway
                log.warning("%s could not write %s: %s", type(self).__name__, self.writes, type(exc).__name__)

    async def aclose(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()


class RegistrySimulator(Simulator):
    """Writes one civil event per ``step()``; ``run(per_minute)`` until cancelled."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
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

    async def once(self) -> SimulatedEvent:
        return await self.step()

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
    await _run_until_cancelled(RegistrySimulator(url, seed=seed), per_minute)


async def _run_until_cancelled(simulator: Simulator, per_minute: float) -> None:
    try:
        await simulator.run(per_minute)
    finally:
        await simulator.aclose()


# -- attendance, as Dapodik records it ---------------------------------------------------------

register_metadata = MetaData()
rekap_kehadiran = SqlTable(
    "rekap_kehadiran",
    register_metadata,
    Column("npsn", CHAR(8), primary_key=True),
    Column("tanggal", Date, primary_key=True),
    # The school's desa as Dapodik writes it (digits, 3503082011), so the day can be placed.
    Column("kode_wilayah", String(10), nullable=False),
    Column("last_update", DateTime, nullable=False),
    # Each watermark poll is a range scan on the change column.
    Index("ix_rekap_kehadiran_last_update", "last_update", "npsn", "tanggal"),
)

#: An outbreak: this share of the class off sick (at least ``OUTBREAK_MIN_SICK``), the same pupils on
#: ``OUTBREAK_DAYS`` school days running (an alert needs two days above the limit and the same pupils
#: off on three: ``resolvers.signals.detection``).
OUTBREAK_SHARE = 0.7
OUTBREAK_MIN_SICK = 8
OUTBREAK_DAYS = 3
#: Of the days the demo's attendance simulator records, this share is an outbreak's (``OUTBREAK_DAYS`` each).
OUTBREAK_CHANCE = 0.2


async def ensure_attendance_register(url: str) -> None:
    """Create ``rekap_kehadiran`` in the education database at ``url`` if missing."""

    await _create_missing(url, register_metadata)


@dataclass(frozen=True)
class RecordedDay:
    """What one recording wrote: the school, its desa (dotted), the day, and pupils off sick per class."""

    npsn: str
    region: str
    day: date
    sick: dict[str, int]

    @property
    def key(self) -> str:
        """The ``AttendanceDay`` notice's key."""

        return f"{self.npsn}:{self.day.isoformat()}"


class AttendanceSimulator(Simulator):
    """Records one school day per ``record()`` (``outbreak()``: two, with one class off sick); ``run``."""

    writes = "a school day"

    async def record(self, npsn: str | None = None, *, day: date | None = None, sick: dict[str, int] | None = None) -> RecordedDay:
        """Record a school's day (``npsn``: drawn when not given; ``day``: its next school day).

        Pupils' statuses are drawn at the generated data's rates; ``sick`` forces that many pupils
        of each named class off sick: the first of the class in an order fixed per school and class, so
        the same children stay home day after day, as in an outbreak (and more of them are a superset).
        A day recorded again replaces its rows, as a corrected entry does.
        """

        async with self._engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("PRAGMA busy_timeout = 5000")
            npsn = npsn or await self._school(conn)
            region = (await conn.execute(select(sekolah.c.kode_wilayah).where(sekolah.c.npsn == npsn))).scalar_one()
            if day is None:
                last = (await conn.execute(select(func.max(kehadiran.c.tanggal)).where(kehadiran.c.npsn == npsn))).scalar()
                # (max() of a Date column is a date on every driver: the column's type is the result's.)
                day = next_school_day(last if last is not None else self.clock().date() - timedelta(days=1))
            pupils = (
                await conn.execute(
                    select(peserta_didik.c.nisn, peserta_didik.c.nama_rombel)
                    .where(peserta_didik.c.npsn == npsn)
                    .order_by(peserta_didik.c.nisn)
                )
            ).all()
            statuses = self._statuses(npsn, [(str(n), str(r)) for n, r in pupils], day, sick or {})
            await conn.execute(kehadiran.delete().where(kehadiran.c.npsn == npsn, kehadiran.c.tanggal == day))
            await conn.execute(
                kehadiran.insert(), [{"npsn": npsn, "tanggal": day, "nisn": n, "status": st} for n, st in statuses.items()]
            )
            await conn.execute(rekap_kehadiran.delete().where(rekap_kehadiran.c.npsn == npsn, rekap_kehadiran.c.tanggal == day))
            await conn.execute(
                rekap_kehadiran.insert().values(
                    npsn=npsn, tanggal=day, kode_wilayah=region, last_update=self.clock().replace(tzinfo=None)
                )
            )
        counts: dict[str, int] = {}
        for nisn, rombel in pupils:
            if statuses[str(nisn)] == "S":
                counts[str(rombel)] = counts.get(str(rombel), 0) + 1
        dotted = f"{region[:2]}.{region[2:4]}.{region[4:6]}.{region[6:]}"
        return RecordedDay(npsn, dotted, day, counts)

    async def outbreak(self, npsn: str | None = None, rombel: str | None = None) -> list[RecordedDay]:
        """``OUTBREAK_DAYS`` school days running on which most of one class (the school's largest) is off sick."""

        async with self._engine.connect() as conn:
            npsn = npsn or await self._school(conn)
            sizes = (
                await conn.execute(
                    select(peserta_didik.c.nama_rombel, func.count())
                    .where(peserta_didik.c.npsn == npsn)
                    .group_by(peserta_didik.c.nama_rombel)
                )
            ).all()
        size_of = {str(r): int(n) for r, n in sizes}
        rombel = rombel or max(sorted(size_of), key=lambda r: size_of[r])
        sick = min(size_of[rombel], max(OUTBREAK_MIN_SICK, round(size_of[rombel] * OUTBREAK_SHARE)))
        return [await self.record(npsn, sick={rombel: sick}) for _ in range(OUTBREAK_DAYS)]

    async def once(self) -> list[RecordedDay]:
        """A school's next day; now and then (``OUTBREAK_CHANCE``) an outbreak's days."""

        if self.rng.random() < OUTBREAK_CHANCE:
            return await self.outbreak()
        return [await self.record()]

    async def _school(self, conn: AsyncConnection) -> str:
        """A school with a class of ``OUTBREAK_MIN_SICK`` pupils or more (so an outbreak can show)."""

        query = (
            select(peserta_didik.c.npsn)
            .group_by(peserta_didik.c.npsn, peserta_didik.c.nama_rombel)
            .having(func.count() >= OUTBREAK_MIN_SICK)
            .distinct()
            .order_by(peserta_didik.c.npsn)
        )
        schools = [str(n) for (n,) in (await conn.execute(query)).all()]
        if not schools:
            raise LookupError("no school with a class large enough in the education database")
        return self.rng.choice(schools)

    def _statuses(self, npsn: str, pupils: list[tuple[str, str]], day: date, sick: dict[str, int]) -> dict[str, str]:
        onset = SICK_ONSET["rainy" if day.month in RAINY_MONTHS else "dry"]
        statuses: dict[str, str] = {}
        for nisn, _ in pupils:
            r = self.rng.random()
            statuses[nisn] = "S" if r < onset else "I" if r < onset + PERMITTED else "A" if r < onset + PERMITTED + ABSENT else "H"
        for rombel, count in sick.items():
            members = [n for n, r in pupils if r == rombel]
            random.Random(f"{npsn}/{rombel}").shuffle(members)  # the class's order of falling ill
            for nisn in members[:count]:
                statuses[nisn] = "S"
        return statuses


def next_school_day(after: date) -> date:
    """The first Monday-Friday after ``after`` that is not a holiday."""

    day = after + timedelta(days=1)
    while day.weekday() >= 5 or day in HOLIDAYS:
        day += timedelta(days=1)
    return day


async def run_attendance_simulator(url: str, per_minute: float, *, seed: int | None = None) -> None:
    """``ensure_attendance_register``, then school days at ``per_minute`` until cancelled (the demo's task)."""

    await ensure_attendance_register(url)
    await _run_until_cancelled(AttendanceSimulator(url, seed=seed), per_minute)


__all__ = [
    "AttendanceSimulator",
    "RecordedDay",
    "RegistrySimulator",
    "SimulatedEvent",
    "ensure_attendance_register",
    "ensure_mutation_table",
    "mutasi",
    "next_school_day",
    "rekap_kehadiran",
    "run_attendance_simulator",
    "run_simulator",
]
