"""NIK, No. KK, NISN and NPSN minting by the real rules (domain brief §1.2-1.5)."""

from __future__ import annotations

import random
from datetime import date


class SerialMint:
    """Hands out NIKs and KK numbers whose 4-digit serial counts up per 12-digit prefix.

    SIAK gives the first person with a given region + date prefix serial 0001, the next 0002,
    and so on; minting through one object keeps every number unique.
    """

    def __init__(self) -> None:
        self._nik: dict[str, int] = {}
        self._kk: dict[str, int] = {}

    def nik(self, kecamatan_digits: str, birth: date, female: bool) -> str:
        """``PPKKCC DDMMYY SSSS``: kecamatan of first registration, birth date (women: day + 40), serial."""

        prefix = f"{kecamatan_digits}{birth.day + 40 if female else birth.day:02d}{birth.month:02d}{birth.year % 100:02d}"
        serial = self._nik.get(prefix, 0) + 1
        if serial > 9999:
            raise OverflowError(f"more than 9999 NIKs with prefix {prefix}")
        self._nik[prefix] = serial
        return f"{prefix}{serial:04d}"

    def kk(self, kecamatan_digits: str, issued: date) -> str:
        """``PPKKCC DDMMYY SSSS``: issuing kecamatan, issue date, serial."""

        prefix = f"{kecamatan_digits}{issued.day:02d}{issued.month:02d}{issued.year % 100:02d}"
        serial = self._kk.get(prefix, 0) + 1
        if serial > 9999:
            raise OverflowError(f"more than 9999 KKs with prefix {prefix}")
        self._kk[prefix] = serial
        return f"{prefix}{serial:04d}"


def nisn(rng: random.Random, birth: date, taken: set[str]) -> str:
    """A unique 10-digit NISN: last 3 digits of the birth year (for most pupils), then 7 random digits.

    About 3% get an unrelated prefix, as real NISNs do: the prefix is not a checksum.
    """

    while True:
        head = f"{birth.year % 1000:03d}" if rng.random() < 0.97 else f"{rng.randrange(1000):03d}"
        value = f"{head}{rng.randrange(10_000_000):07d}"
        if value not in taken:
            taken.add(value)
            return value


def npsn_list(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct opaque NPSNs: 8 digits, Java's leading 2, e.g. ``20514xxx``-like."""

    if n > 90_000:
        raise ValueError("too many schools for the NPSN range")
    return [f"205{x:05d}" for x in rng.sample(range(10_000, 100_000), n)]


def parse_nik(nik: str) -> tuple[str, date, bool] | None:
    """``(kecamatan digits, birth date, female)`` from a NIK, or ``None`` if it is malformed.

    The century comes from the year digits alone (<= 30 means 20xx); callers that know the
    recorded birth date should compare day and month and the last two year digits only.
    """

    if len(nik) != 16 or not nik.isdigit() or nik[12:] == "0000":
        return None
    dd, mm, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    female = dd > 40
    day = dd - 40 if female else dd
    try:
        birth = date(2000 + yy if yy <= 30 else 1900 + yy, mm, day)
    except ValueError:
        return None
    return nik[:6], birth, female
