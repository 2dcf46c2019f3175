"""Dinas Pendidikan (Dapodik-like): schools (``sekolah``) and pupils (``peserta_didik``).

Schools are placed where the children live: SD and MI in desa, the secondary schools in
kecamatan, in numbers proportional to the pupils of their level. Every pupil is a registry
resident of school age who goes to a school of the right level in their own desa or
kecamatan, or a neighbouring one if theirs has none; a few cross the regency for an SMA
or SMK in another kecamatan.
"""

from __future__ import annotations

import math
import random
import uuid
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate

from .identifiers import nisn as mint_nisn
from .identifiers import npsn_list
from .regions import REGENCY_NAME, kecamatan, neighbours
from .registry import P_AGAMA, P_LAHIR, P_NAMA, P_NIK, P_SEX, P_TEMPAT, P_WILAYAH, STREETS, Registry, Village
from .school_calendar import LEVEL_GRADES, level_of_grade, school_year, year_start

SEKOLAH_COLUMNS = ("npsn", "nama", "bentuk_pendidikan", "status_sekolah", "kode_wilayah", "alamat_jalan")
PESERTA_DIDIK_COLUMNS = (
    "peserta_didik_id", "nisn", "nik", "nama", "jenis_kelamin", "tempat_lahir", "tanggal_lahir", "npsn",
    "tingkat_pendidikan", "nama_rombel", "tanggal_masuk_sekolah",
)
# Positions in a peserta_didik row, for the modules that read or patch rows.
S_ID, S_NISN, S_NIK, S_NAMA, S_SEX, S_TEMPAT, S_LAHIR, S_NPSN, S_GRADE, S_ROMBEL, S_MASUK = range(11)

#: Schools of the regency at scale 1.0 (rounded, from the brief).
SCHOOL_COUNTS = {"SD": 500, "MI": 120, "SMP": 90, "MTs": 40, "SMA": 30, "SMK": 25}
#: Share of each type run by the state (the rest are private: foundations, PGRI, Muhammadiyah ...).
NEGERI_SHARE = {"SD": 0.94, "MI": 0.04, "SMP": 0.62, "MTs": 0.15, "SMA": 0.5, "SMK": 0.36}
#: How strongly each type draws pupils, per school (makes MI/MTs the smaller schools they are).
TYPE_PULL = {"SD": 1.0, "MI": 0.75, "SMP": 1.0, "MTs": 0.85, "SMA": 1.0, "SMK": 1.25}
LEVEL_TYPES = {"primary": ("SD", "MI"), "lower": ("SMP", "MTs"), "upper": ("SMA", "SMK")}
#: Pupils per class (rombongan belajar) before a second class of the grade is opened.
CLASS_SIZE = {"primary": 28, "lower": 32, "upper": 36}

FOUNDATIONS = (
    "Al-Hidayah", "Darul Ulum", "Miftahul Huda", "Nurul Huda", "Al-Falah", "Hidayatul Mubtadiin",
    "Roudlotul Ulum", "Bahrul Ulum", "Darussalam", "Nurul Iman", "Al-Muttaqin", "Miftahul Ulum",
    "Sabilul Muttaqin", "Al-Ikhlas", "Nurul Islam", "Tarbiyatul Islamiyah", "Hasyim Asy'ari", "Al-Amin",
    "Baitul Hikmah", "Manbaul Ulum", "Fathul Ulum", "Sunan Kalijaga", "Al-Ma'arif", "Darul Falah", "Al-Furqon",
)
SMK_MAJORS = ("TKJ", "AKL", "OTKP", "TSM", "TKR", "BDP", "RPL", "TBSM", "MM")
ROMAN = {10: "X", 11: "XI", 12: "XII"}


@dataclass
class School:
    npsn: str
    nama: str
    bentuk: str
    negeri: bool
    village: Village
    alamat: str
    pull: float
    majors: tuple[str, ...] = ()

    @property
    def row(self) -> tuple:  # type: ignore[type-arg]
        return (self.npsn, self.nama, self.bentuk, "NEGERI" if self.negeri else "SWASTA",
                self.village.region.digits, self.alamat)


@dataclass
class Education:
    """Generated Dapodik tables; ``pupil_person[i]`` is the registry row of ``peserta_didik[i]``."""

    schools: list[School] = field(default_factory=list)
    peserta_didik: list[list] = field(default_factory=list)  # type: ignore[type-arg]
    pupil_person: list[int] = field(default_factory=list)

    @property
    def sekolah(self) -> list[tuple]:  # type: ignore[type-arg]
        return [s.row for s in self.schools]


def generate_education(rng: random.Random, registry: Registry, scale: float, term_start: date) -> Education:
    """Schools for about ``805 * scale`` (at least one of each type) and every registered pupil in one."""

    people = registry.penduduk
    by_code = {v.region.code: v for v in registry.villages}
    year = school_year(term_start)
    # Pupils per (level, village), to place schools where the children are.
    demand: dict[tuple[str, str], int] = {}
    for index, grade in registry.pupils:
        key = (level_of_grade(grade), people[index][P_WILAYAH])
        demand[key] = demand.get(key, 0) + 1

    namer = _SchoolNamer(rng)
    schools: list[School] = []
    for bentuk, real in SCHOOL_COUNTS.items():
        level = level_of_grade(LEVEL_GRADES[bentuk].start)
        count = max(1, math.floor(real * scale + 0.5))
        for village in _place(rng, bentuk, level, count, registry.villages, demand):
            negeri = rng.random() < NEGERI_SHARE[bentuk]
            pull = rng.lognormvariate(0, 0.4) * TYPE_PULL[bentuk] * (1.4 if negeri and level != "primary" else 1.0)
            majors = tuple(rng.sample(SMK_MAJORS, rng.randint(2, 4))) if bentuk == "SMK" else ()
            schools.append(School("", namer.name(bentuk, negeri, village), bentuk, negeri, village,
                                  namer.address(village), pull, majors))
    for school, npsn in zip(schools, npsn_list(rng, len(schools)), strict=True):
        school.npsn = npsn
    schools.sort(key=lambda s: s.npsn)

    chooser = _SchoolChooser(schools)
    taken: set[str] = set()
    enrolled: list[tuple[School, int, int]] = []  # (school, person index, grade)
    for index, grade in registry.pupils:
        person = people[index]
        village = by_code[person[P_WILAYAH]]
        muslim = person[P_AGAMA] == "ISLAM"
        enrolled.append((chooser.choose(rng, level_of_grade(grade), village, muslim), index, grade))

    education = Education(schools=schools)
    rows: list[tuple[str, str, list, int]] = []  # type: ignore[type-arg]
    for school, index, grade in enrolled:
        person = people[index]
        first_grade = LEVEL_GRADES[school.bentuk].start
        entered = year_start(year - (grade - first_grade))
        if grade != first_grade and rng.random() < 0.04:  # moved in from another school
            entered += timedelta(days=rng.randint(30, 300))
        pid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        row = [pid, mint_nisn(rng, person[P_LAHIR], taken), person[P_NIK], person[P_NAMA], person[P_SEX],
               person[P_TEMPAT], person[P_LAHIR], school.npsn, grade, "", min(entered, term_start)]
        rows.append((school.npsn, row[S_NISN], row, index))
    rows.sort(key=lambda r: (r[0], r[1]))
    education.peserta_didik = [r[2] for r in rows]
    education.pupil_person = [r[3] for r in rows]
    _assign_classes(rng, education)
    return education


def _place(
    rng: random.Random, bentuk: str, level: str, count: int, villages_: list[Village], demand: dict[tuple[str, str], int]
) -> list[Village]:
    """``count`` villages for new schools of this type, proportional to the pupils of their level."""

    if level == "primary":
        # Primary schools stand in the desa themselves.
        weights = {v.region.code: float(demand.get((level, v.region.code), 0)) for v in villages_}
        return [_by_code(villages_, code) for code in _apportion(rng, weights, count)]
    # Secondary schools: share out by kecamatan, then put each in one of its desa.
    kec_weights: dict[str, float] = {}
    for v in villages_:
        kec = v.region.parent_code or ""
        kec_weights[kec] = kec_weights.get(kec, 0.0) + demand.get((level, v.region.code), 0)
    placed = []
    for kec in _apportion(rng, kec_weights, count):
        in_kec = [v for v in villages_ if v.region.parent_code == kec]
        w = [demand.get((level, v.region.code), 0) + 1 for v in in_kec]
        placed.append(rng.choices(in_kec, w)[0])
    return placed


def _apportion(rng: random.Random, weights: dict[str, float], count: int) -> list[str]:
    """Keys repeated by their share of ``count`` (largest remainder; ties broken at random)."""

    total = sum(weights.values()) or 1.0
    quotas = {k: w * count / total for k, w in weights.items()}
    seats = {k: int(q) for k, q in quotas.items()}
    order = sorted(quotas, key=lambda k: (quotas[k] - seats[k], rng.random()), reverse=True)
    for k in order[: count - sum(seats.values())]:
        seats[k] += 1
    return [k for k in weights for _ in range(seats[k])]


def _by_code(villages_: list[Village], code: str) -> Village:
    return next(v for v in villages_ if v.region.code == code)


class _SchoolNamer:
    """Real naming patterns ("SD Negeri 2 Prigi", "MTs Darul Ulum Pule"), unique across the regency."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _numbered(self, pattern: str) -> str:
        n = 1
        while pattern.format(n=n) in self.used:
            n += 1
        return pattern.format(n=n)

    def _founded(self, pattern: str) -> str:
        for foundation in self.rng.sample(FOUNDATIONS, len(FOUNDATIONS)):
            name = pattern.format(f=foundation)
            if name not in self.used:
                return name
        return self._numbered(pattern.format(f=FOUNDATIONS[0]) + " {n}")

    def name(self, bentuk: str, negeri: bool, village: Village) -> str:
        rng = self.rng
        desa = village.region.name
        kec = _KECAMATAN_NAMES[village.region.parent_code or ""]
        if negeri:
            if bentuk in ("MI", "MTs"):  # state madrasah are numbered across the regency
                name = self._numbered(f"{bentuk} Negeri {{n}} {REGENCY_NAME}")
            else:
                name = self._numbered(f"{bentuk} Negeri {{n}} {desa if bentuk == 'SD' else kec}")
        elif bentuk == "SD":
            name = rng.choice((
                lambda: self._founded(f"SD Islam {{f}} {desa}"),
                lambda: self._numbered(f"SD Muhammadiyah {{n}} {kec}"),
                lambda: self._founded(f"SD IT {{f}} {kec}"),
            ))()
        elif bentuk == "MI":
            name = self._founded(f"MI {{f}} {desa}")
        elif bentuk == "MTs":
            name = self._founded(f"MTs {{f}} {kec}")
        else:
            name = rng.choice((
                lambda: self._numbered(f"{bentuk} PGRI {{n}} {kec}"),
                lambda: self._numbered(f"{bentuk} Muhammadiyah {{n}} {kec}"),
                lambda: self._founded(f"{bentuk} Islam {{f}} {kec}"),
            ))()
        self.used.add(name)
        return name

    def address(self, village: Village) -> str:
        rng = self.rng
        if village.is_kelurahan:
            return f"{rng.choice(STREETS)} No. {rng.randint(1, 90)}"
        if rng.random() < 0.6:
            return f"Jl. Raya {village.region.name} No. {rng.randint(1, 90)}"
        dusun = rng.randrange(len(village.dusun))
        return f"Dusun {village.dusun[dusun]} RT {rng.randint(1, village.rt_per_rw[dusun]):03d} RW {dusun + 1:03d}"


_KECAMATAN_NAMES = {k.code: k.name for k in kecamatan()}


class _SchoolChooser:
    """Picks a school for a pupil: near home, of the right level, weighted by how much it draws."""

    def __init__(self, schools: list[School]) -> None:
        self.schools = schools
        self.cache: dict[tuple[str, str, bool, str], tuple[list[School], list[float]]] = {}

    def _candidates(self, level: str, village: Village, muslim: bool, scope: str) -> tuple[list[School], list[float]]:
        key = (level, village.region.code, muslim, scope)
        if key in self.cache:
            return self.cache[key]
        kec = village.region.parent_code or ""
        types = LEVEL_TYPES[level] if muslim else LEVEL_TYPES[level][:1]
        fitting = [s for s in self.schools if s.bentuk in types]
        if not fitting:  # non-Muslim pupils where only madrasah exist at this scale
            fitting = [s for s in self.schools if s.bentuk in LEVEL_TYPES[level]]
        near = (kec,) if scope == "home" else (kec, *neighbours()[kec])
        chosen = [s for s in fitting if s.village.region.parent_code in near] if scope != "regency" else []
        if not chosen and scope == "home":
            chosen = [s for s in fitting if s.village.region.parent_code in (kec, *neighbours()[kec])]
        if not chosen:
            chosen = fitting
        # Primary pupils strongly prefer the school in their own desa.
        weights = [s.pull * (6.0 if level == "primary" and s.village is village else 1.0) for s in chosen]
        result = (chosen, list(accumulate(weights)))
        self.cache[key] = result
        return result

    def choose(self, rng: random.Random, level: str, village: Village, muslim: bool) -> School:
        r = rng.random()
        scope = "regency" if level == "upper" and r < 0.1 else ("near" if level != "primary" and r < 0.25 else "home")
        schools, cum = self._candidates(level, village, muslim, scope)
        return schools[min(bisect_right(cum, rng.random() * cum[-1]), len(schools) - 1)]


def _assign_classes(rng: random.Random, education: Education) -> None:
    """Split each school's grade into classes of at most ``CLASS_SIZE`` pupils: "7B", "XI-2", "X TKJ 1"."""

    by_school = {s.npsn: s for s in education.schools}
    groups: dict[tuple[str, int], list[list]] = {}  # type: ignore[type-arg]
    for row in education.peserta_didik:
        groups.setdefault((row[S_NPSN], row[S_GRADE]), []).append(row)
    for (npsn, grade), rows in groups.items():
        school = by_school[npsn]
        level = level_of_grade(grade)
        n = max(1, math.ceil(len(rows) / CLASS_SIZE[level]))
        if school.bentuk == "SMK":
            n = max(n, len(school.majors)) if len(rows) >= 2 * len(school.majors) else n
        order = list(range(len(rows)))
        rng.shuffle(order)
        for position, i in enumerate(order):
            rows[i][S_ROMBEL] = _class_name(school, grade, position % n)


def _class_name(school: School, grade: int, k: int) -> str:
    if school.bentuk == "SMA":
        return f"{ROMAN[grade]}-{k + 1}"
    if school.bentuk == "SMK":
        majors = school.majors
        return f"{ROMAN[grade]} {majors[k % len(majors)]} {k // len(majors) + 1}"
    letter = chr(ord("A") + k) if k < 26 else str(k + 1)
    return f"{grade}{letter}"
