"""Enumerations of the shared vocabulary; sources' own codes are mapped to these in config."""

from __future__ import annotations

import functools
from enum import Enum
from typing import Any, TypeVar

import strawberry

E = TypeVar("E", bound=Enum)


def enum_or_none(enum: type[E], value: Any) -> E | None:
    """The enum member for a record value, or ``None`` when the source gave none we know."""

    if value is None:
        return None
    try:
        return _members(enum).get(value)
    except TypeError:  # an unhashable value is no member's value
        return None


@functools.cache
def _members(enum: type[E]) -> dict[Any, E]:
    # A dict lookup instead of ``enum(value)``: a page of pupils' families converts hundreds of
    # thousands of values, and the enum call's machinery was a tenth of the deep query's time.
    return {member.value: member for member in enum}


@strawberry.enum(description="Sex as recorded in the civil registry.")
class Sex(Enum):
    MALE = strawberry.enum_value("MALE", description="Laki-laki.")
    FEMALE = strawberry.enum_value("FEMALE", description="Perempuan.")


@strawberry.enum(description="Religion or belief (agama/kepercayaan) as recorded in SIAK.")
class Religion(Enum):
    ISLAM = strawberry.enum_value("ISLAM", description="Islam.")
    PROTESTANT = strawberry.enum_value("PROTESTANT", description="Kristen (Protestant).")
    CATHOLIC = strawberry.enum_value("CATHOLIC", description="Katolik.")
    HINDU = strawberry.enum_value("HINDU", description="Hindu.")
    BUDDHIST = strawberry.enum_value("BUDDHIST", description="Buddha.")
    CONFUCIAN = strawberry.enum_value("CONFUCIAN", description="Khonghucu.")
    BELIEF = strawberry.enum_value("BELIEF", description="Kepercayaan terhadap Tuhan YME.")


@strawberry.enum(description="Marital status (status perkawinan).")
class MaritalStatus(Enum):
    SINGLE = strawberry.enum_value("SINGLE", description="Belum kawin.")
    MARRIED = strawberry.enum_value("MARRIED", description="Kawin.")
    DIVORCED = strawberry.enum_value("DIVORCED", description="Cerai hidup.")
    WIDOWED = strawberry.enum_value("WIDOWED", description="Cerai mati.")


@strawberry.enum(description="Relation to the head of the family on the family card (SHDK).")
class FamilyRelation(Enum):
    HEAD = strawberry.enum_value("HEAD", description="Kepala keluarga.")
    SPOUSE = strawberry.enum_value("SPOUSE", description="Suami/istri.")
    CHILD = strawberry.enum_value("CHILD", description="Anak.")
    CHILD_IN_LAW = strawberry.enum_value("CHILD_IN_LAW", description="Menantu.")
    GRANDCHILD = strawberry.enum_value("GRANDCHILD", description="Cucu.")
    PARENT = strawberry.enum_value("PARENT", description="Orang tua.")
    PARENT_IN_LAW = strawberry.enum_value("PARENT_IN_LAW", description="Mertua.")
    OTHER_RELATIVE = strawberry.enum_value("OTHER_RELATIVE", description="Famili lain.")
    OTHER = strawberry.enum_value("OTHER", description="Lainnya.")


@strawberry.enum(description="Whether the registry still counts the person as a resident.")
class ResidentStatus(Enum):
    ALIVE = strawberry.enum_value("ALIVE", description="Living resident of the regency.")
    DECEASED = strawberry.enum_value("DECEASED", description="Death recorded.")
    MOVED_AWAY = strawberry.enum_value("MOVED_AWAY", description="Moved out of the regency (pindah).")


@strawberry.enum(description="Administrative level of a Kemendagri region.")
class RegionLevel(Enum):
    PROVINCE = strawberry.enum_value("PROVINCE", description="Provinsi (code NN).")
    REGENCY = strawberry.enum_value("REGENCY", description="Kabupaten/kota (NN.NN).")
    DISTRICT = strawberry.enum_value("DISTRICT", description="Kecamatan (NN.NN.NN).")
    VILLAGE = strawberry.enum_value("VILLAGE", description="Desa (NN.NN.NN.2NNN).")
    URBAN_VILLAGE = strawberry.enum_value("URBAN_VILLAGE", description="Kelurahan (NN.NN.NN.1NNN).")


@strawberry.enum(description="Form of education (bentuk pendidikan).")
class SchoolLevel(Enum):
    SD = strawberry.enum_value("SD", description="Sekolah Dasar: primary, grades 1-6.")
    MI = strawberry.enum_value("MI", description="Madrasah Ibtidaiyah: Islamic primary, grades 1-6.")
    SMP = strawberry.enum_value("SMP", description="Sekolah Menengah Pertama: lower secondary, grades 7-9.")
    MTS = strawberry.enum_value("MTS", description="Madrasah Tsanawiyah: Islamic lower secondary, grades 7-9.")
    SMA = strawberry.enum_value("SMA", description="Sekolah Menengah Atas: upper secondary, grades 10-12.")
    SMK = strawberry.enum_value("SMK", description="Sekolah Menengah Kejuruan: vocational upper secondary, grades 10-12.")


@strawberry.enum(description="Who runs a school.")
class SchoolOwnership(Enum):
    PUBLIC = strawberry.enum_value("PUBLIC", description="Negeri: run by the state.")
    PRIVATE = strawberry.enum_value("PRIVATE", description="Swasta: run by a foundation.")


@strawberry.enum(description="A pupil's attendance on one school day.")
class AttendanceStatus(Enum):
    PRESENT = strawberry.enum_value("PRESENT", description="Hadir.")
    SICK = strawberry.enum_value("SICK", description="Sakit.")
    PERMITTED = strawberry.enum_value("PERMITTED", description="Izin: absent with permission.")
    ABSENT = strawberry.enum_value("ABSENT", description="Alpa: absent without notice.")


@strawberry.enum(description="Kind of disability, as UU 8/2016 groups them. Specific personal data (UU PDP Art. 4(2)): health data.")
class DisabilityType(Enum):
    PHYSICAL = strawberry.enum_value("PHYSICAL", description="Fisik.")
    VISUAL = strawberry.enum_value("VISUAL", description="Sensorik netra: blind or low vision.")
    HEARING_SPEECH = strawberry.enum_value("HEARING_SPEECH", description="Sensorik rungu/wicara: deaf or speech-impaired.")
    INTELLECTUAL = strawberry.enum_value("INTELLECTUAL", description="Intelektual.")
    MENTAL = strawberry.enum_value("MENTAL", description="Mental (psikososial).")
    MULTIPLE = strawberry.enum_value("MULTIPLE", description="Ganda: more than one of the above.")
