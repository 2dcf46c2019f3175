"""Validation of the shared Indonesian identifiers, before any source is asked.

Rules follow the domain brief (../shared/domain-brief.md, section 1): a NIK is
``PP KK CC DDMMYY SSSS`` with 40 added to the day for women; an NPSN is an opaque
8-character string; a NISN is 10 digits; a Kemendagri region code is ``NN``,
``NN.NN``, ``NN.NN.NN`` or ``NN.NN.NN.NNNN``. A NIK whose date disagrees with the
person's recorded birth date is still valid (it never changes): only impossible
dates are refused.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from functools import cache
from pathlib import Path

from .errors import InvalidInput

#: Province codes in use by Kemendagri (38 provinces, including the 2022 Papua splits).
PROVINCES = frozenset(
    "11 12 13 14 15 16 17 18 19 21 31 32 33 34 35 36 51 52 53 61 62 63 64 65 "
    "71 72 73 74 75 76 81 82 91 92 93 94 95 96".split()
)
#: The regency this gateway serves. Its code list (with its province) is complete, so any other
#: well-formed code, inside the regency or outside it, is refused as ``UNKNOWN_REGION``: one
#: rule for ``region(code:)`` and every region filter, never a silent null or an empty list.
HOME_REGENCY = "35.03"

_REGION_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
_NPSN = re.compile(r"^[0-9A-Z][0-9]{7}$")
_DISEASE = re.compile(r"^[A-Z]{1,3}$")
_REFERENCE = Path(__file__).parent / "reference" / "trenggalek-wilayah.csv"


@cache
def home_region_codes() -> frozenset[str]:
    """Every Kemendagri code of the home regency (from the shipped reference list)."""

    with _REFERENCE.open(newline="", encoding="utf-8") as f:
        return frozenset(row["code"] for row in csv.DictReader(f))


def _digits(value: str, length: int, argument: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{argument} must be a string of {length} digits.", argument=argument, reason="MALFORMED")
    value = value.strip()
    if len(value) != length:
        raise InvalidInput(
            f"{argument} must have {length} digits; {value!r} has {len(value)}.", argument=argument, reason="LENGTH"
        )
    if not value.isascii() or not value.isdigit():
        raise InvalidInput(f"{argument} must contain only digits 0-9; got {value!r}.", argument=argument, reason="NOT_DIGITS")
    return value


def _known_province(value: str, argument: str) -> None:
    if value[:2] not in PROVINCES:
        raise InvalidInput(
            f"{argument} {value!r} starts with {value[:2]!r}, which is not a Kemendagri province code.",
            argument=argument,
            reason="UNKNOWN_REGION",
        )


def validate_nik(value: str) -> str:
    """Return the NIK if it is well formed, else raise ``InvalidInput`` saying what is wrong."""

    nik = _digits(value, 16, "NIK")
    _known_province(nik, "NIK")
    day, month = int(nik[6:8]), int(nik[8:10])
    if day > 40:
        day -= 40  # women: day of birth + 40
    if not 1 <= month <= 12 or not _possible_day(day, month):
        raise InvalidInput(
            f"NIK {nik!r} encodes an impossible birth date (day {nik[6:8]}, month {nik[8:10]}).",
            argument="NIK",
            reason="IMPOSSIBLE_DATE",
        )
    if nik[12:] == "0000":
        raise InvalidInput(f"NIK {nik!r} has serial 0000; serials start at 0001.", argument="NIK", reason="MALFORMED")
    return nik


def _possible_day(day: int, month: int) -> bool:
    try:
        date(2000, month, day)  # a leap year: 29 February is a possible birthday
    except ValueError:
        return False
    return True


def validate_kk(value: str) -> str:
    """A family card number (No. KK): 16 digits starting with a known province code."""

    kk = _digits(value, 16, "KK")
    _known_province(kk, "KK")
    return kk


def validate_nisn(value: str) -> str:
    """A NISN: 10 digits, kept as a string (leading zeros matter)."""

    return _digits(value, 10, "NISN")


def validate_npsn(value: str) -> str:
    """An NPSN: 8 characters, digits with an optional leading letter (non-formal units)."""

    if not isinstance(value, str):
        raise InvalidInput("NPSN must be a string of 8 characters.", argument="NPSN", reason="MALFORMED")
    npsn = value.strip().upper()
    if len(npsn) != 8:
        raise InvalidInput(f"NPSN must have 8 characters; {value!r} has {len(npsn)}.", argument="NPSN", reason="LENGTH")
    if not _NPSN.match(npsn):
        raise InvalidInput(
            f"NPSN {value!r} must be 8 digits, or a letter followed by 7 digits.", argument="NPSN", reason="NOT_DIGITS"
        )
    return npsn


def validate_region_code(value: str) -> str:
    """A dotted Kemendagri code at any level, naming a region the gateway knows (see ``HOME_REGENCY``)."""

    if not isinstance(value, str):
        raise InvalidInput("A region code must be a string such as \"35.03.08\".", argument="RegionCode", reason="MALFORMED")
    code = value.strip()
    if not _REGION_CODE.match(code):
        raise InvalidInput(
            f"Region code {value!r} is not a Kemendagri code: use NN, NN.NN, NN.NN.NN or NN.NN.NN.NNNN "
            "(e.g. \"35.03.08.2011\").",
            argument="RegionCode",
            reason="MALFORMED",
        )
    if code[:2] not in PROVINCES:
        raise InvalidInput(
            f"Region code {value!r}: {code[:2]!r} is not a province code.", argument="RegionCode", reason="UNKNOWN_REGION"
        )
    if code not in home_region_codes():
        where = "Kabupaten Trenggalek's Kemendagri code list" if code.startswith(HOME_REGENCY + ".") else "this gateway"
        raise InvalidInput(
            f"Region code {value!r} does not exist in {where}: it knows the province 35, the regency 35.03 "
            "and every kecamatan, desa and kelurahan in it.",
            argument="RegionCode",
            reason="UNKNOWN_REGION",
        )
    return code


def validate_disease_code(value: str) -> str:
    """An SKDR disease code: one to three capital letters (``A`` acute diarrhoea, ``J`` ILI).

    Codes are case-sensitive at the health office, so ``"a"`` is refused (with the code it
    probably meant) rather than matching nothing; whether a well-formed code exists is the
    source's to say (an unknown one is ``REJECTED_BY_SOURCE``).
    """

    if not isinstance(value, str):
        raise InvalidInput("An SKDR disease code must be a string such as \"A\".", argument="DiseaseCode", reason="MALFORMED")
    if not _DISEASE.match(value):
        hint = f' (did you mean "{value.strip().upper()}"?)' if _DISEASE.match(value.strip().upper()) else ""
        raise InvalidInput(
            f"SKDR disease code {value!r} is not one to three capital letters{hint}.", argument="DiseaseCode", reason="MALFORMED"
        )
    return value
