"""The registry's residents as the API services see them, and traits several services must agree on.

The services are separate systems, but they describe the same people: whoever has a disability
in the health office's records is the same person Sepeda Keren counts under DISABILITAS, and the
disease of a planted school outbreak is the one both the SKDR spike and the citizens' complaints
talk about. Such traits are derived from a hash of the seed and the NIK (or the outbreak), so every
service computes the same answer on its own, in any order, without a shared store.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from demo.dataset import Dataset
from demo.registry import P_KK, P_LAHIR, P_NIK, P_SEX, P_SHDK, P_STATUS, P_UPDATE, P_WILAYAH
from demo.school_calendar import age_on

#: Western Indonesia Time, the regency's clock.
WIB = timezone(timedelta(hours=7), "WIB")


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by ``parts`` (same on every run, machine and process)."""

    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def keyed_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded by ``parts`` (deterministic; not affected by ``PYTHONHASHSEED``)."""

    return random.Random(hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).digest())


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""

    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def wib(day: date, seconds: int = 0) -> datetime:
    """``day`` at ``seconds`` after midnight, Western Indonesia Time."""

    return datetime.combine(day, time(0, 0), tzinfo=WIB) + timedelta(seconds=seconds)


# -- disability: one truth for Dinkes and Sepeda Keren -------------------------------------

#: Kinds of disability (UU 8/2016: fisik, intelektual, mental, sensorik; GANDA = multiple), with weights.
DISABILITY_TYPES: tuple[tuple[str, float], ...] = (
    ("FISIK", 45),
    ("SENSORIK_NETRA", 14),
    ("SENSORIK_RUNGU_WICARA", 14),
    ("INTELEKTUAL", 12),
    ("MENTAL", 11),
    ("GANDA", 4),
)


def disability(seed: int, nik: str, birth: date, as_of: date) -> str | None:
    """The person's kind of disability, or ``None`` (about 0.7% of residents, more among the old)."""

    age = age_on(birth, as_of)
    p = 0.003 if age < 18 else 0.005 if age < 60 else 0.02
    u = unit(seed, "disability", nik)
    if u >= p:
        return None
    x = u / p * sum(w for _, w in DISABILITY_TYPES)
    for kind, weight in DISABILITY_TYPES:
        if x < weight:
            return kind
        x -= weight
    return DISABILITY_TYPES[-1][0]


def former_migrant_worker(seed: int, nik: str, female: bool) -> bool:
    """Whether the person once worked abroad (purna PMI); Trenggalek's migrant workers are mostly women."""

    return unit(seed, "pmi", nik) < (0.05 if female else 0.02)


# -- outbreaks: one disease per planted cluster, for SKDR and LAPOR alike -------------------

#: Diseases a school outbreak is planted as (SKDR codes): ILI, acute diarrhoea, suspected measles.
OUTBREAK_DISEASES = ("J", "A", "K")

#: How parents describe each outbreak disease.
SYMPTOMS = {
    "J": "demam, batuk dan pilek",
    "A": "diare dan muntah-muntah",
    "K": "demam tinggi disertai ruam merah di kulit",
}


def outbreak_diseases(ds: Dataset, seed: int) -> list[str]:
    """The SKDR disease code of each of ``ds.outbreaks`` (in their order): different diseases where possible."""

    order = random.Random(f"demo-apis/{seed}/outbreak-diseases").sample(OUTBREAK_DISEASES, len(OUTBREAK_DISEASES))
    return [order[i % len(order)] for i in range(len(ds.outbreaks))]


# -- residents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """Residents (indices into ``penduduk``) sorted by birth date, so an age band is one slice."""

    indices: tuple[int, ...]
    births: tuple[int, ...]  # ordinals, ascending

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]], indices: list[int]) -> Pool:
        ordered = sorted(indices, key=lambda i: (rows[i][P_LAHIR], rows[i][P_NIK]))
        return cls(tuple(ordered), tuple(rows[i][P_LAHIR].toordinal() for i in ordered))

    def aged(self, day: date, youngest: int, oldest: int | None = None) -> tuple[int, ...]:
        """Those aged ``youngest`` to ``oldest`` years (inclusive) on ``day``."""

        hi = bisect_right(self.births, years_before(day, youngest).toordinal())
        lo = 0 if oldest is None else bisect_right(self.births, years_before(day, oldest + 1).toordinal())
        return self.indices[lo:hi]

    def born_before(self, day: date) -> tuple[int, ...]:
        return self.indices[: bisect_left(self.births, day.toordinal())]


class Residents:
    """Read-only view of the registry's residents: by NIK, by desa and kecamatan, with ages."""

    def __init__(self, ds: Dataset) -> None:
        self.rows = ds.penduduk
        self.as_of = ds.as_of
        self.index = {row[P_NIK]: i for i, row in enumerate(self.rows)}
        self.by_desa: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            self.by_desa.setdefault(row[P_WILAYAH], []).append(i)
        self.villages = sorted(code for code, _name, level, _parent in ds.wilayah if level in ("desa", "kelurahan"))
        self.names = {code: name for code, name, _level, _parent in ds.wilayah}
        self.kecamatan = sorted(code for code, _name, level, _parent in ds.wilayah if level == "kecamatan")

    def row(self, nik: str) -> tuple[Any, ...] | None:
        i = self.index.get(nik)
        return None if i is None else self.rows[i]

    def alive(self, i: int) -> bool:
        return bool(self.rows[i][P_STATUS] == "HIDUP")

    def in_kecamatan(self, kecamatan_code: str, *, alive: bool = True) -> list[int]:
        """Residents whose desa lies in the kecamatan (alive and still registered there, by default)."""

        prefix = kecamatan_code + "."
        found = [i for desa, members in self.by_desa.items() if desa.startswith(prefix) for i in members]
        return sorted(i for i in found if not alive or self.alive(i))

    def population(self, desa: str) -> int:
        """Living residents registered in the desa."""

        return sum(1 for i in self.by_desa.get(desa, ()) if self.alive(i))

    def age(self, i: int, day: date | None = None) -> int:
        return age_on(self.rows[i][P_LAHIR], day or self.as_of)

    def female(self, i: int) -> bool:
        return bool(self.rows[i][P_SEX] == "P")

    def family(self, i: int) -> list[int]:
        """Everyone on the same family card (KK), the person included."""

        kk = self.rows[i][P_KK]
        return [j for j in self.by_desa[self.rows[i][P_WILAYAH]] if self.rows[j][P_KK] == kk]

    def recorded_on(self, i: int) -> date:
        """When a status other than HIDUP (MATI, PINDAH) was recorded; ``as_of`` for the living."""

        if self.alive(i):
            return self.as_of
        updated: datetime = self.rows[i][P_UPDATE]
        return updated.date()

    def relation(self, i: int) -> str:
        return str(self.rows[i][P_SHDK])
