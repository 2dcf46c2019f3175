"""GraphQL scalars for the shared identifiers: checked when a query arrives, not at the source.

The Python types are plain ``NewType``s of ``str``; ``SCALAR_MAP`` (given to the schema's
``StrawberryConfig``) says how each is described, parsed and validated.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from .identifiers import validate_disease_code, validate_kk, validate_nik, validate_nisn, validate_npsn, validate_region_code

NIK = NewType("NIK", str)
KK = NewType("KK", str)
NPSN = NewType("NPSN", str)
NISN = NewType("NISN", str)
RegionCode = NewType("RegionCode", str)
DiseaseCode = NewType("DiseaseCode", str)

#: The regency's time zone. The registries keep local times without an offset (SIAK's
#: ``tgl_update`` is a ``TIMESTAMP WITHOUT TIME ZONE`` in WIB); the answer states it.
WIB = timezone(timedelta(hours=7), "WIB")


def serialize_datetime(value: Any) -> str:
    """ISO 8601 with an offset, always: a source's local time without one is read as WIB."""

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"DateTime cannot represent {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=WIB)
    return value.isoformat()


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 date-time given as an argument; without an offset it is WIB."""

    if not isinstance(value, str):
        raise TypeError("DateTime must be an ISO 8601 string such as \"2026-11-30T08:15:00+07:00\".")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=WIB)

SCALAR_MAP: dict[object, ScalarDefinition] = {
    datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "A point in time, ISO 8601 with its UTC offset, e.g. `2026-11-30T08:15:00+07:00`. Always carries an offset: "
            "a source that keeps local times without one is read as WIB (+07:00), the regency's time zone."
        ),
        serialize=serialize_datetime,
        parse_value=parse_datetime,
    ),
    NIK: strawberry.scalar(
        name="NIK",
        description=(
            "Nomor Induk Kependudukan: the 16-digit national resident number, `PPKKCCDDMMYYSSSS` (region of first "
            "registration, birth date with 40 added to the day for women, serial). Personal data."
        ),
        serialize=str,
        parse_value=validate_nik,
    ),
    KK: strawberry.scalar(
        name="KK",
        description="Nomor Kartu Keluarga: the 16-digit family card number issued by Dispendukcapil.",
        serialize=str,
        parse_value=validate_kk,
    ),
    NPSN: strawberry.scalar(
        name="NPSN",
        description="Nomor Pokok Sekolah Nasional: the 8-character national school number (opaque; not an integer).",
        serialize=str,
        parse_value=validate_npsn,
    ),
    NISN: strawberry.scalar(
        name="NISN",
        description="Nomor Induk Siswa Nasional: the 10-digit national student number (leading zeros matter).",
        serialize=str,
        parse_value=validate_nisn,
    ),
    RegionCode: strawberry.scalar(
        name="RegionCode",
        description=(
            "A Kemendagri region code, dotted: province `35`, regency `35.03`, kecamatan `35.03.08`, "
            "desa/kelurahan `35.03.08.2011`."
        ),
        serialize=str,
        parse_value=validate_region_code,
    ),
    DiseaseCode: strawberry.scalar(
        name="DiseaseCode",
        description=(
            "An SKDR disease or syndrome code as the health office writes it: one to three capital letters, "
            "e.g. `A` (acute diarrhoea), `J` (influenza-like illness). Case-sensitive: `a` is refused, not matched."
        ),
        serialize=str,
        parse_value=validate_disease_code,
    ),
}
