"""Trenggalek's real Kemendagri region codes, and the rough geography the generator needs.

The code list (``data/trenggalek-wilayah.csv``) is real; the populations, neighbours and
coast flags below are approximations that only give the synthetic data a plausible shape.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

WILAYAH_CSV = Path(__file__).parent / "data" / "trenggalek-wilayah.csv"

REGENCY_CODE = "35.03"
REGENCY_NAME = "Trenggalek"

#: Approximate residents per kecamatan (a few recent estimates rounded; shape only, not a statistic).
KECAMATAN_POPULATION: dict[str, int] = {
    "35.03.01": 80_000,  # Panggul
    "35.03.02": 56_000,  # Munjungan
    "35.03.03": 50_000,  # Pule
    "35.03.04": 64_000,  # Dongko
    "35.03.05": 50_000,  # Tugu
    "35.03.06": 52_000,  # Karangan
    "35.03.07": 40_000,  # Kampak
    "35.03.08": 70_000,  # Watulimo
    "35.03.09": 29_000,  # Bendungan
    "35.03.10": 58_000,  # Gandusari
    "35.03.11": 72_000,  # Trenggalek
    "35.03.12": 52_000,  # Pogalan
    "35.03.13": 56_000,  # Durenan
    "35.03.14": 28_000,  # Suruh
}

#: Kecamatan that border one another (approximate), for pupils whose own kecamatan lacks a school.
_BORDERS = [
    ("01", "02"), ("01", "04"), ("02", "04"), ("02", "07"), ("02", "08"), ("03", "04"), ("03", "14"),
    ("03", "06"), ("04", "07"), ("05", "11"), ("05", "09"), ("05", "14"), ("05", "06"), ("06", "11"),
    ("06", "14"), ("06", "10"), ("07", "08"), ("07", "10"), ("08", "10"), ("08", "13"), ("09", "11"),
    ("09", "12"), ("10", "11"), ("10", "12"), ("10", "13"), ("11", "12"), ("12", "13"),
]

#: Kecamatan on the Indian Ocean coast, where fishing (NELAYAN) is a common occupation.
COASTAL_KECAMATAN = frozenset({"35.03.01", "35.03.02", "35.03.08"})


@dataclass(frozen=True)
class Region:
    """One row of the Kemendagri code list."""

    code: str
    name: str
    level: str  # provinsi | kabupaten | kecamatan | desa | kelurahan
    parent_code: str | None

    @property
    def digits(self) -> str:
        """The code without dots, as Dapodik and SATUSEHAT write it."""

        return digits(self.code)


def digits(code: str) -> str:
    """``35.03.08.2011`` -> ``3503082011``."""

    return code.replace(".", "")


def dotted(code_digits: str) -> str:
    """``3503082011`` -> ``35.03.08.2011`` (the inverse of :func:`digits`)."""

    parts = [code_digits[:2], code_digits[2:4], code_digits[4:6], code_digits[6:]]
    return ".".join(p for p in parts if p)


def kecamatan_of(code: str) -> str:
    """The dotted kecamatan code (``35.03.08``) of a region code at or below that level, dotted or not."""

    return dotted(digits(code.strip())[:6])


@lru_cache(maxsize=1)
def load_regions() -> tuple[Region, ...]:
    """All rows of the bundled CSV, in file order (province, regency, kecamatan, desa)."""

    with WILAYAH_CSV.open(newline="", encoding="utf-8") as fh:
        return tuple(
            Region(row["code"], row["name"], row["level"], row["parent_code"] or None) for row in csv.DictReader(fh)
        )


def kecamatan() -> list[Region]:
    """The 14 kecamatan, in code order."""

    return sorted((r for r in load_regions() if r.level == "kecamatan"), key=lambda r: r.code)


def villages() -> list[Region]:
    """The 157 desa and kelurahan, in code order."""

    return sorted((r for r in load_regions() if r.level in ("desa", "kelurahan")), key=lambda r: r.code)


@lru_cache(maxsize=1)
def neighbours() -> dict[str, tuple[str, ...]]:
    """Kecamatan code -> bordering kecamatan codes (symmetric, sorted)."""

    result: dict[str, set[str]] = {k.code: set() for k in kecamatan()}
    for a, b in _BORDERS:
        ca, cb = f"{REGENCY_CODE}.{a}", f"{REGENCY_CODE}.{b}"
        result[ca].add(cb)
        result[cb].add(ca)
    return {code: tuple(sorted(codes)) for code, codes in result.items()}
