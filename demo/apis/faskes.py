"""The regency's health facilities: 22 puskesmas and 2 RSUD, with each puskesmas's working area.

Names come from the domain brief §4.2 (22 puskesmas: 19 with inpatient care, 3 outpatient-only);
each stands in the desa of its name. Where no desa carries the name (Tugu, Kampak, Bendungan,
Trenggalek) the desa is INVENTED, as are the facility codes, the addresses, the telephone
numbers, which three puskesmas are outpatient-only and the working areas (wilayah kerja): no
published desa-to-puskesmas mapping was found (brief §2.4, §5 q5). Here every desa of a kecamatan
belongs to its puskesmas; where a kecamatan has two, each desa goes to the one whose desa is
nearer in the code order (an approximation of "nearer on the map").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from demo.regions import digits, dotted, kecamatan, villages

PUSKESMAS_RAWAT_INAP = "PUSKESMAS_RAWAT_INAP"
PUSKESMAS_NON_RAWAT_INAP = "PUSKESMAS_NON_RAWAT_INAP"
RSUD = "RSUD"
KINDS = (PUSKESMAS_RAWAT_INAP, PUSKESMAS_NON_RAWAT_INAP, RSUD)

# (name, desa where it stands, inpatient care?) in kecamatan code order.
_PUSKESMAS: tuple[tuple[str, str, bool], ...] = (
    ("Panggul", "35.03.01.2008", True),
    ("Bodag", "35.03.01.2009", True),
    ("Munjungan", "35.03.02.2008", True),
    ("Pule", "35.03.03.2006", True),
    ("Dongko", "35.03.04.2007", True),
    ("Pandean", "35.03.04.2004", True),
    ("Tugu", "35.03.05.2012", True),  # Gondang (INVENTED placement)
    ("Pucanganak", "35.03.05.2004", True),
    ("Karangan", "35.03.06.2003", True),
    ("Kampak", "35.03.07.2004", True),  # Bendoagung (INVENTED placement)
    ("Watulimo", "35.03.08.2009", True),
    ("Slawe", "35.03.08.2007", True),
    ("Bendungan", "35.03.09.2006", True),  # Dompyong (INVENTED placement)
    ("Gandusari", "35.03.10.2006", True),
    ("Karanganyar", "35.03.10.2008", False),
    ("Trenggalek", "35.03.11.1007", True),  # Sumbergedong (INVENTED placement)
    ("Rejowinangun", "35.03.11.2010", False),
    ("Pogalan", "35.03.12.2004", True),
    ("Ngulankulon", "35.03.12.2005", False),
    ("Durenan", "35.03.13.2006", True),
    ("Baruharjo", "35.03.13.2013", True),
    ("Suruh", "35.03.14.2006", True),
)

# (code, name, desa, street address); hospitals have no working area.
_HOSPITALS: tuple[tuple[str, str, str, str], ...] = (
    ("R3503110001", "RSUD dr. Soedomo", "35.03.11.1007", "Jl. Dr. Sutomo No. 2"),
    ("R3503010001", "RSUD Panggul", "35.03.01.2008", "Jl. Raya Panggul - Munjungan"),
)


@dataclass(frozen=True)
class Facility:
    """One health facility (codes and region codes in the health office's undotted form)."""

    kode_faskes: str
    nama: str
    jenis: str
    kode_wilayah: str  # desa where it stands, 10 digits
    alamat: str
    telepon: str
    wilayah_kerja: tuple[str, ...] = field(default=())  # desa codes, 10 digits

    def as_json(self) -> dict[str, Any]:
        return {
            "kode_faskes": self.kode_faskes,
            "nama": self.nama,
            "jenis": self.jenis,
            "kode_wilayah": self.kode_wilayah,
            "wilayah_kerja": list(self.wilayah_kerja),
            "alamat": self.alamat,
            "telepon": self.telepon,
        }


def _phone(name: str) -> str:
    # Trenggalek's area code is 0355; the number itself is INVENTED but stable.
    n = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big") % 10_000
    return f"(0355) 79{n:04d}"


@lru_cache(maxsize=1)
def facilities() -> tuple[Facility, ...]:
    """All 24 facilities, puskesmas first (by code), then the two RSUD. Independent of any seed."""

    desa_names = {v.code: (v.name, v.level) for v in villages()}
    kec_names = {k.code: k.name for k in kecamatan()}
    by_kec: dict[str, list[tuple[str, str, bool]]] = {}
    for entry in _PUSKESMAS:
        by_kec.setdefault(entry[1][:8], []).append(entry)

    result: list[Facility] = []
    for kec, entries in sorted(by_kec.items()):
        in_kec = [v.code for v in villages() if v.parent_code == kec]
        homes = [in_kec.index(desa) for _, desa, _ in entries]
        areas: list[list[str]] = [[] for _ in entries]
        for position, desa in enumerate(in_kec):
            nearest = min(range(len(entries)), key=lambda k: (abs(position - homes[k]), k))
            areas[nearest].append(digits(desa))
        for number, ((name, desa, inpatient), area) in enumerate(zip(entries, areas, strict=True), start=1):
            desa_name, level = desa_names[desa]
            where = "Kel." if level == "kelurahan" else "Desa"
            code = f"P{digits(kec)}{number:02d}01"  # P + kecamatan + number in it + 01 (INVENTED scheme)
            result.append(
                Facility(
                    kode_faskes=code,
                    nama=f"Puskesmas {name}",
                    jenis=PUSKESMAS_RAWAT_INAP if inpatient else PUSKESMAS_NON_RAWAT_INAP,
                    kode_wilayah=digits(desa),
                    alamat=f"Jl. Raya {desa_name} No. {int(_phone(name)[-2:]) % 40 + 1}, {where} {desa_name}, Kec. {kec_names[kec]}",
                    telepon=_phone(name),
                    wilayah_kerja=tuple(area),
                )
            )
    for code, name, desa, street in _HOSPITALS:
        desa_name, level = desa_names[desa]
        where = "Kel." if level == "kelurahan" else "Desa"
        result.append(
            Facility(
                code,
                name,
                RSUD,
                digits(desa),
                f"{street}, {where} {desa_name}, Kec. {kec_names[desa[:8]]}",
                _phone(name),
            )
        )
    return tuple(result)


@lru_cache(maxsize=1)
def covering() -> dict[str, str]:
    """Desa code (dotted) -> code of the puskesmas whose working area includes it."""

    return {dotted(desa): f.kode_faskes for f in facilities() for desa in f.wilayah_kerja}
