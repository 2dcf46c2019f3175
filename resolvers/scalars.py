"""GraphQL scalars for the shared identifiers: checked when a query arrives, not at the source.

The Python types are plain ``NewType``s of ``str``; ``SCALAR_MAP`` (given to the schema's
``StrawberryConfig``) says how each is described, parsed and validated.
"""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from .identifiers import validate_kk, validate_nik, validate_nisn, validate_npsn, validate_region_code

NIK = NewType("NIK", str)
KK = NewType("KK", str)
NPSN = NewType("NPSN", str)
NISN = NewType("NISN", str)
RegionCode = NewType("RegionCode", str)

SCALAR_MAP: dict[object, ScalarDefinition] = {
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
}
