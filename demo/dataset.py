"""``build_dataset``: both OPD databases' rows, built deterministically from a seed."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from . import progress
from .attendance import Outbreak, plan_outbreaks, school_attendance
from .education import PESERTA_DIDIK_COLUMNS, S_NISN, S_NPSN, SEKOLAH_COLUMNS, generate_education
from .quirks import plant_agency_quirks, plant_quirks
from .regions import load_regions
from .registry import KELUARGA_COLUMNS, PENDUDUK_COLUMNS, generate_registry
from .school_calendar import school_days

#: Bump when the generator's output (or the tables' indexes) changes, so cached demo databases are rebuilt.
GENERATOR_VERSION = 4

Row = tuple[Any, ...]


@dataclass
class Dataset:
    """Rows of the Dispendukcapil and Dinas Pendidikan tables (tuples in column order), plus metadata.

    ``kehadiran`` is not stored: :meth:`kehadiran` regenerates it lazily, school by school.
    """

    COLUMNS: ClassVar[dict[str, tuple[str, ...]]] = {
        "wilayah": ("kode", "nama", "tingkat", "kode_induk"),
        "keluarga": KELUARGA_COLUMNS,
        "penduduk": PENDUDUK_COLUMNS,
        "sekolah": SEKOLAH_COLUMNS,
        "peserta_didik": PESERTA_DIDIK_COLUMNS,
        "kehadiran": ("npsn", "tanggal", "nisn", "status"),
    }
    REGISTRY_TABLES: ClassVar[tuple[str, ...]] = ("wilayah", "keluarga", "penduduk")
    EDUCATION_TABLES: ClassVar[tuple[str, ...]] = ("sekolah", "peserta_didik", "kehadiran")

    seed: int
    scale: float
    as_of: date
    term_start: date
    wilayah: list[Row]
    keluarga: list[Row]
    penduduk: list[Row]
    sekolah: list[Row]
    peserta_didik: list[Row]
    school_days: list[date]
    outbreaks: list[Outbreak]
    quirks: dict[str, list[dict[str, Any]]]
    #: Deaths the health office, the JKN portal or Sepeda Keren were not told of (``demo.quirks``).
    agency_quirks: dict[str, list[dict[str, Any]]]
    #: NPSN -> its pupils' NISNs, sorted: the attendance roster of each school.
    rosters: dict[str, tuple[str, ...]] = field(repr=False, default_factory=dict)

    def rows(self, table: str) -> list[Row] | Iterator[Row]:
        """The rows of ``table`` (a generator for ``kehadiran``)."""

        if table == "kehadiran":
            return self.kehadiran()
        if table not in self.COLUMNS:
            raise KeyError(f"unknown table {table!r}; tables: {', '.join(self.COLUMNS)}")
        rows: list[Row] = getattr(self, table)
        return rows

    def records(self, table: str) -> Iterator[dict[str, Any]]:
        """The rows of ``table`` as dicts keyed by column name."""

        columns = self.COLUMNS[table]
        for row in self.rows(table):
            yield dict(zip(columns, row, strict=True))

    def kehadiran(self, npsn: str | None = None, *, day_value: Callable[[date], Any] | None = None) -> Iterator[Row]:
        """Attendance rows ``(npsn, tanggal, nisn, status)`` in primary-key order, for one school or all.

        ``day_value`` maps each date to the value put in the rows (e.g. ``date.isoformat``).
        """

        for school in [npsn] if npsn is not None else sorted(self.rosters):
            yield from school_attendance(
                self.seed, school, self.rosters[school], self.school_days, self.outbreaks, day_value
            )

    def count(self, table: str) -> int:
        """Number of rows of ``table`` (computed for ``kehadiran``: pupils x school days)."""

        if table == "kehadiran":
            return sum(len(r) for r in self.rosters.values()) * len(self.school_days)
        return len(self.rows(table))  # type: ignore[arg-type]

    def counts(self) -> dict[str, int]:
        """Row count of every table."""

        return {table: self.count(table) for table in self.COLUMNS}

    def ground_truth(self) -> dict[str, Any]:
        """What was planted, for tests and demos: quirks, outbreaks, counts, parameters (JSON-ready)."""

        return {
            "generator_version": GENERATOR_VERSION,
            "seed": self.seed,
            "scale": self.scale,
            "as_of": self.as_of.isoformat(),
            "term_start": self.term_start.isoformat(),
            "school_days": len(self.school_days),
            "counts": self.counts(),
            "quirks": {kind: [dict(q) for q in entries] for kind, entries in self.quirks.items()},
            "agency_quirks": {kind: [dict(q) for q in entries] for kind, entries in self.agency_quirks.items()},
            "outbreaks": [o.as_dict() for o in self.outbreaks],
        }


def build_dataset(
    scale: float = 0.1,
    seed: int = 3503,
    *,
    as_of: date = date(2026, 11, 27),
    term_start: date = date(2026, 7, 13),
) -> Dataset:
    """Generate both OPD databases' rows. ``scale=1.0`` is Trenggalek's real size (~750,000 residents).

    The same ``scale`` and ``seed`` always give identical rows. Attendance runs from
    ``term_start`` to ``as_of`` (school days only); ``as_of`` is also "today" for ages and dates.
    """

    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale!r}")
    if term_start > as_of:
        raise ValueError(f"term_start {term_start} is after as_of {as_of}")

    # One stream per stage, so a change in one stage does not reshuffle the others.
    def stream(stage: str) -> random.Random:
        return random.Random(f"demo/{seed}/{stage}")

    progress.step("dataset", "generating residents and families (registry)")
    registry = generate_registry(stream("registry"), scale, as_of, term_start)
    progress.step("dataset", "generating schools and pupils (education)")
    education = generate_education(stream("education"), registry, scale, term_start)
    progress.step("dataset", "planting quirks and outbreaks")
    quirks = plant_quirks(stream("quirks"), registry, education, as_of)
    agency_quirks = plant_agency_quirks(stream("agency-quirks"), registry, education, as_of)
    days = school_days(term_start, as_of)
    outbreaks = plan_outbreaks(stream("outbreaks"), education, days)
    progress.end("dataset")

    rosters: dict[str, list[str]] = {s.npsn: [] for s in education.schools}
    for row in education.peserta_didik:
        rosters[row[S_NPSN]].append(row[S_NISN])
    wilayah = [(r.code, r.name, _tingkat(r.code, r.level), r.parent_code) for r in load_regions()]
    return Dataset(
        seed=seed,
        scale=scale,
        as_of=as_of,
        term_start=term_start,
        wilayah=wilayah,
        keluarga=registry.keluarga,
        penduduk=registry.penduduk,
        sekolah=education.sekolah,
        peserta_didik=[tuple(row) for row in education.peserta_didik],
        school_days=days,
        outbreaks=outbreaks,
        quirks=quirks,
        agency_quirks=agency_quirks,
        rosters={npsn: tuple(sorted(nisns)) for npsn, nisns in rosters.items()},
    )


def _tingkat(code: str, level: str) -> str:
    """Villages whose 4-digit suffix starts with 1 are kelurahan (urban), the rest desa."""

    if level in ("desa", "kelurahan"):
        return "kelurahan" if code.rsplit(".", 1)[1].startswith("1") else "desa"
    return level
