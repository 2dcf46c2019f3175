"""Daily attendance (``kehadiran``): one row per pupil per school day, generated lazily.

At full scale there are ~12 million rows, so they are never held in memory: each school's
rows come from their own RNG stream (seeded by the dataset seed and the NPSN), which makes
any one school reproducible on its own and the whole table identical on every run.

Most days a pupil is present (~94%). Illness lasts a few days (a sick pupil is likely sick
again the next day) and is twice as common in the rainy season; a few pupils are absent
far more often than the rest. Planted outbreaks force a group of classmates to ``S`` on the
same 3-5 consecutive November school days.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from .education import S_NISN, S_NPSN, S_ROMBEL, Education
from .school_calendar import RAINY_MONTHS

#: Chance per day that a pupil who is not yet sick falls sick, by season.
SICK_ONSET = {"dry": 0.0125, "rainy": 0.025}
#: Chance that a pupil who was sick yesterday is still sick today.
SICK_CONTINUES = 0.45
PERMITTED = 0.015  # izin
ABSENT = 0.015  # alpa (without notice)
#: Most pupils are absent less than average, a few much more (weights, multipliers).
PROPENSITY = ((0.8, 0.75), (0.15, 1.6), (0.05, 3.5))


@dataclass(frozen=True)
class Outbreak:
    """Classmates off sick together on consecutive school days (planted, for the ground truth)."""

    npsn: str
    school: str
    kode_wilayah: str  # the school's desa, Kemendagri dotted code
    rombel: str
    dates: tuple[date, ...]
    nisn: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "npsn": self.npsn,
            "school": self.school,
            "kode_wilayah": self.kode_wilayah,
            "kode_wilayah_sekolah": self.kode_wilayah.replace(".", ""),
            "rombel": self.rombel,
            "dates": [d.isoformat() for d in self.dates],
            "nisn": list(self.nisn),
        }


def plan_outbreaks(rng: random.Random, education: Education, days: Sequence[date]) -> list[Outbreak]:
    """2 outbreak clusters (3 when there are 5,000+ pupils) in different schools, in November if possible."""

    if not days or not education.peserta_didik:
        return []
    classes: dict[tuple[str, str], list[str]] = {}
    for row in education.peserta_didik:
        classes.setdefault((row[S_NPSN], row[S_ROMBEL]), []).append(row[S_NISN])
    wanted = 3 if len(education.peserta_didik) >= 5000 else 2
    # Outbreaks show best in sizeable classes; prefer those with 8+ pupils.
    ranked = sorted(classes, key=lambda k: (len(classes[k]) < 8, rng.random()))
    window = [d for d in days if d.month == 11] or list(days[-15:])
    schools = {s.npsn: s for s in education.schools}
    outbreaks: list[Outbreak] = []
    used: set[str] = set()
    for npsn, rombel in ranked:
        if len(outbreaks) == wanted:
            break
        if npsn in used:
            continue
        used.add(npsn)
        members = classes[(npsn, rombel)]
        length = min(len(window), rng.randint(3, 5))
        start = rng.randrange(len(window) - length + 1)
        sick = sorted(rng.sample(members, min(len(members), rng.randint(5, 9))))
        school = schools[npsn]
        outbreaks.append(Outbreak(npsn, school.nama, school.village.region.code, rombel,
                                  tuple(window[start : start + length]), tuple(sick)))
    return sorted(outbreaks, key=lambda o: (o.dates[0], o.npsn))


def school_attendance(
    seed: int,
    npsn: str,
    nisns: Sequence[str],
    days: Sequence[date],
    outbreaks: Sequence[Outbreak] = (),
    day_value: Callable[[date], Any] | None = None,
) -> Iterator[tuple[str, Any, str, str]]:
    """``(npsn, tanggal, nisn, status)`` for every pupil of one school and day, by day then NISN.

    ``day_value`` turns each date into what the caller wants in the row (e.g. an ISO string
    for SQLite); it is called once per day, not per row.
    """

    rng = random.Random(f"demo/{seed}/kehadiran/{npsn}")
    rnd = rng.random
    weights = [w for w, _ in PROPENSITY]
    factors = [f for _, f in PROPENSITY]
    propensity = [rng.choices(factors, weights)[0] for _ in nisns]
    forced: dict[date, set[int]] = {}
    position = {nisn: k for k, nisn in enumerate(nisns)}
    for outbreak in outbreaks:
        if outbreak.npsn == npsn:
            for day in outbreak.dates:
                forced.setdefault(day, set()).update(position[n] for n in outbreak.nisn if n in position)
    sick = [False] * len(nisns)
    season = ""
    sick_below: list[float] = []
    permitted_below: list[float] = []
    absent_below: list[float] = []
    for day in days:
        now = "rainy" if day.month in RAINY_MONTHS else "dry"
        if now != season:
            season = now
            sick_below = [SICK_ONSET[season] * f for f in propensity]
            permitted_below = [s + PERMITTED * f for s, f in zip(sick_below, propensity, strict=True)]
            absent_below = [p + ABSENT * f for p, f in zip(permitted_below, propensity, strict=True)]
        value = day_value(day) if day_value else day
        off_sick = forced.get(day, ())
        for k, nisn in enumerate(nisns):
            if k in off_sick or (sick[k] and rnd() < SICK_CONTINUES):
                status = "S"
            else:
                r = rnd()
                status = "H" if r >= absent_below[k] else "S" if r < sick_below[k] else "I" if r < permitted_below[k] else "A"
            sick[k] = status == "S"
            yield (npsn, value, nisn, status)
