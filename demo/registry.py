"""The civil registry (SIAK-like): families (``keluarga``) and residents (``penduduk``).

Households are built the way they look on a Kartu Keluarga: a couple with the children who
still live at home (grown children leave), sometimes a widowed grandparent or another
relative; widows and young singles living alone; single parents. The age pyramid comes out
of that: mothers' ages are drawn, children are born at plausible ages of the mother, and
older cohorts had more children.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import accumulate

from .identifiers import SerialMint
from .names import person_name
from .regions import COASTAL_KECAMATAN, KECAMATAN_POPULATION, Region, digits, kecamatan, villages
from .school_calendar import level_of_grade, nominal_grade, school_year

KELUARGA_COLUMNS = ("no_kk", "nik_kepala", "alamat", "rt", "rw", "kode_wilayah", "tgl_terbit", "tgl_update")
PENDUDUK_COLUMNS = (
    "nik", "no_kk", "nama_lengkap", "jenis_kelamin", "tempat_lahir", "tanggal_lahir", "agama",
    "status_perkawinan", "shdk", "pekerjaan", "kode_wilayah", "status_penduduk", "tgl_update",
)
# Positions in a penduduk row, for the modules that read or patch rows.
P_NIK, P_KK, P_NAMA, P_SEX, P_TEMPAT, P_LAHIR, P_AGAMA, P_KAWIN, P_SHDK, P_KERJA, P_WILAYAH, P_STATUS, P_UPDATE = range(13)

#: Residents of the whole regency at scale 1.0.
POPULATION = 750_000
DAYS_PER_YEAR = 365.2425

KEPALA, ISTRI, ANAK, ORANG_TUA, FAMILI_LAIN = "KEPALA KELUARGA", "ISTRI", "ANAK", "ORANG TUA", "FAMILI LAIN"
BELUM, KAWIN, CERAI_HIDUP, CERAI_MATI = "BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI"
PELAJAR, TIDAK_BEKERJA = "PELAJAR/MAHASISWA", "BELUM/TIDAK BEKERJA"

# East Java is ~97% Muslim; a family shares one religion.
_RELIGIONS = ("ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDHA", "KONGHUCU")
_RELIGION_CUM = list(accumulate((97.3, 1.5, 0.9, 0.15, 0.1, 0.05)))

_BIRTHPLACES = ("TRENGGALEK", "TULUNGAGUNG", "PONOROGO", "PACITAN", "BLITAR", "KEDIRI", "SURABAYA",
                "MALANG", "MADIUN", "NGANJUK", "JAKARTA", "SIDOARJO")
_BIRTHPLACE_CUM = list(accumulate((80, 6, 3, 2, 2, 2, 1.5, 1, 0.8, 0.5, 0.7, 0.5)))

# Wife's age in a couple household: (from, to) years and relative weight.
_WIFE_AGES = [(18, 20, 0.25), (20, 25, 0.8), (25, 55, 1.0), (55, 60, 0.85), (60, 65, 0.65), (65, 70, 0.45),
              (70, 75, 0.28), (75, 80, 0.14), (80, 88, 0.04)]
_WIFE_AGE_CUM = list(accumulate(w * (b - a) for a, b, w in _WIFE_AGES))

_OCCUPATIONS_MALE = [
    ("PETANI/PEKEBUN", 27), ("WIRASWASTA", 17), ("KARYAWAN SWASTA", 12), ("BURUH HARIAN LEPAS", 10),
    ("BURUH TANI/PERKEBUNAN", 6), ("PEDAGANG", 5), ("PNS", 3), ("GURU", 2.5), ("SOPIR", 2), ("TUKANG BATU", 2),
    ("PERANGKAT DESA", 1), ("KEPOLISIAN RI", 0.5), ("TENTARA NASIONAL INDONESIA", 0.5), (TIDAK_BEKERJA, 5),
]
_OCCUPATIONS_FEMALE = [
    ("MENGURUS RUMAH TANGGA", 38), ("PETANI/PEKEBUN", 14), ("WIRASWASTA", 12), ("PEDAGANG", 9),
    ("KARYAWAN SWASTA", 9), ("BURUH HARIAN LEPAS", 4), ("BURUH TANI/PERKEBUNAN", 3), ("GURU", 4), ("PNS", 2),
    ("PERAWAT", 0.8), ("BIDAN", 0.7), (TIDAK_BEKERJA, 5),
]
_OCCUPATIONS_OLD = [
    ("PETANI/PEKEBUN", 35), (TIDAK_BEKERJA, 30), ("PENSIUNAN", 8), ("WIRASWASTA", 5), ("PEDAGANG", 4),
]
_NELAYAN = ("NELAYAN", 14)

STREETS = (
    "Jl. Soekarno-Hatta", "Jl. Panglima Sudirman", "Jl. Mayjend Sungkono", "Jl. Brigjend Soetran",
    "Jl. Ki Hajar Dewantara", "Jl. Pahlawan", "Jl. R.A. Kartini", "Jl. Diponegoro", "Jl. Imam Bonjol",
    "Jl. Veteran", "Jl. Dr. Sutomo", "Jl. Yos Sudarso", "Jl. Ahmad Yani", "Jl. Supriyadi", "Jl. Wahid Hasyim",
    "Jl. Ronggowarsito", "Jl. Pattimura", "Jl. Cut Nyak Dien", "Jl. Gajah Mada", "Jl. Kapten Tendean",
)
DUSUN = (
    "Karanganyar", "Sumberejo", "Ngrejo", "Kedungsari", "Sidomulyo", "Ngemplak", "Jati", "Gondang", "Bakalan",
    "Tambakrejo", "Ngrandu", "Sumberagung", "Kebonsari", "Tegalrejo", "Ngasem", "Wonorejo", "Sukorejo",
    "Ketanon", "Bendo", "Salam", "Nglaran", "Kalianyar", "Tumpak", "Ngampel", "Mlaten", "Gebang", "Blimbing",
    "Ngadirejo", "Plosorejo", "Tanjungsari", "Kauman", "Kedungringin", "Ngrayung", "Sawahan", "Pucung",
)


def _table(pairs: Sequence[tuple[str, float]]) -> tuple[tuple[str, ...], list[float]]:
    return tuple(p[0] for p in pairs), list(accumulate(p[1] for p in pairs))


@dataclass
class Village:
    """A desa or kelurahan with the dusun (hamlets) families are spread over; dusun i is RW i+1."""

    region: Region
    kecamatan_digits: str
    dusun: list[str]
    rt_per_rw: list[int]

    @property
    def is_kelurahan(self) -> bool:
        return self.region.level == "kelurahan"


@dataclass
class Registry:
    """Generated SIAK tables plus what the school generator needs to know about residents."""

    keluarga: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    penduduk: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    #: (index into ``penduduk``, grade 1-12) of every resident who attends school this year.
    pupils: list[tuple[int, int]] = field(default_factory=list)
    mint: SerialMint = field(default_factory=SerialMint)
    villages: list[Village] = field(default_factory=list)


def generate_registry(rng: random.Random, scale: float, as_of: date, term_start: date) -> Registry:
    """Families and residents of all 157 desa, about ``750,000 * scale`` people in total."""

    villages_ = [_village(rng, v) for v in villages()]
    targets = _village_targets(rng, villages_, round(POPULATION * scale))
    builder = _FamilyBuilder(rng, as_of, school_year(term_start))
    surplus = 0  # people beyond the targets so far: the last family of a village overshoots
    for village, target in zip(villages_, targets, strict=True):
        people = 0
        while people < target - surplus or people == 0:
            people += builder.add_family(village)
        surplus += people - target
    builder.registry.villages = villages_
    return builder.registry


def _village(rng: random.Random, region: Region) -> Village:
    n = 2 if region.level == "kelurahan" else rng.randint(3, 6)
    # Most desa call their central hamlet "Krajan".
    dusun = ["Krajan", *rng.sample(DUSUN, n - 1)]
    return Village(region, digits(region.parent_code or "")[:6], dusun, [rng.randint(3, 9) for _ in dusun])


def _village_targets(rng: random.Random, villages_: list[Village], total: int) -> list[int]:
    """Split ``total`` residents over villages: by kecamatan size, then by a random village weight."""

    kec_total = sum(KECAMATAN_POPULATION.values())
    weights = []
    for v in villages_:
        kec = v.region.parent_code or ""
        in_kec = [u for u in villages_ if u.region.parent_code == kec]
        weights.append(KECAMATAN_POPULATION[kec] / kec_total / len(in_kec) * rng.lognormvariate(0, 0.35))
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    targets = [int(x) for x in raw]
    # Largest remainders get the people lost to rounding down.
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - targets[i], reverse=True)[: total - sum(targets)]:
        targets[i] += 1
    return targets


class _FamilyBuilder:
    def __init__(self, rng: random.Random, as_of: date, year: int) -> None:
        self.rng = rng
        self.as_of = as_of
        self.today = as_of.toordinal()
        self.year = year
        self.registry = Registry()
        self.kecamatan_digits = [digits(k.code) for k in kecamatan()]
        self.male_jobs = _table(_OCCUPATIONS_MALE)
        self.male_jobs_coast = _table([*_OCCUPATIONS_MALE, _NELAYAN])
        self.female_jobs = _table(_OCCUPATIONS_FEMALE)
        self.old_jobs = _table(_OCCUPATIONS_OLD)
        self.siak_era = date(2006, 1, 1).toordinal()

    # -- household composition ---------------------------------------------------------
    def _born(self, age: float) -> int:
        """Birth ordinal of someone ``age`` years old today."""

        return self.today - int(age * DAYS_PER_YEAR)

    def _children(self, mother_birth: int, mother_age: float) -> list[list]:  # type: ignore[type-arg]
        rng = self.rng
        birth_year = 1970 + (mother_birth - 719163) // 365  # 719163 = 1970-01-01
        if birth_year < 1960:
            wanted = rng.choices((0, 1, 2, 3, 4, 5, 6), (4, 8, 20, 28, 20, 12, 8))[0]
        elif birth_year < 1980:
            wanted = rng.choices((0, 1, 2, 3, 4, 5), (4, 10, 32, 32, 15, 7))[0]
        else:
            wanted = rng.choices((0, 1, 2, 3, 4), (4, 17, 42, 27, 10))[0]
        kids = []
        at = rng.uniform(19, 29)
        for order in range(1, wanted + 1):
            if at >= mother_age or at > 44:
                break
            born = mother_birth + int(at * DAYS_PER_YEAR)
            age = (self.today - born) / DAYS_PER_YEAR
            # Grown children marry and leave; some stay on the parents' KK.
            stays = 1.0 if age < 18 else 0.9 if age < 21 else 0.7 if age < 25 else 0.45 if age < 30 else 0.15
            if born < self.today and rng.random() < stays:
                kids.append([rng.random() < 0.49, born, ANAK, BELUM, order])
            at += max(1.3, rng.gauss(3.8, 1.8))
        return kids

    def _members(self) -> list[list]:  # type: ignore[type-arg]
        """Members as ``[female, birth ordinal, shdk, marital status, birth order]``, head first."""

        rng = self.rng
        r = rng.random()
        if r < 0.05:  # an elderly widow or widower on their own
            age = 60 + 32 * rng.random() ** 1.6
            return [[rng.random() < 0.75, self._born(age), KEPALA, CERAI_MATI, 0]]
        if r < 0.07:  # a young single adult (or divorced) on their own KK
            age = rng.uniform(20, 45)
            return [[rng.random() < 0.4, self._born(age), KEPALA, BELUM if rng.random() < 0.7 else CERAI_HIDUP, 0]]
        if r < 0.14:  # single parent with children
            age = rng.uniform(28, 68)
            female = rng.random() < 0.8
            status = CERAI_MATI if rng.random() < 0.3 + age / 150 else CERAI_HIDUP
            mother_age = age if female else age - rng.uniform(2, 7)
            head = [female, self._born(age), KEPALA, status, 0]
            return [head, *self._children(self._born(mother_age), mother_age)]
        # A married couple; the husband heads the KK.
        x = rng.random() * _WIFE_AGE_CUM[-1]
        for (lo, hi, w), cum in zip(_WIFE_AGES, _WIFE_AGE_CUM, strict=True):
            if x <= cum:
                wife_age = hi - (cum - x) / w
                break
        husband_age = max(19.0, wife_age + min(15.0, max(-3.0, rng.gauss(4, 3.5))))
        wife_birth = self._born(wife_age)
        members = [[False, self._born(husband_age), KEPALA, KAWIN, 0], [True, wife_birth, ISTRI, KAWIN, 0]]
        members += self._children(wife_birth, wife_age)
        if 25 <= wife_age <= 58 and len(members) < 7 and rng.random() < 0.2:
            parent_age = min(96.0, max(wife_age, husband_age) + rng.uniform(22, 34))
            if rng.random() < 0.15:  # both parents of one spouse
                members.append([False, self._born(parent_age + rng.uniform(0, 5)), ORANG_TUA, KAWIN, 0])
                members.append([True, self._born(parent_age), ORANG_TUA, KAWIN, 0])
            else:
                members.append([rng.random() < 0.78, self._born(parent_age), ORANG_TUA, CERAI_MATI, 0])
        if len(members) < 7 and rng.random() < 0.06:  # a nephew, niece or cousin
            members.append([rng.random() < 0.5, self._born(rng.uniform(3, 30)), FAMILI_LAIN, BELUM, 0])
        return members

    # -- one family on the register --------------------------------------------------
    def add_family(self, village: Village) -> int:
        """Register one household in ``village``; returns its number of members."""

        rng = self.rng
        today = self.today
        members = self._members()
        kec = village.kecamatan_digits
        code = village.region.code
        coastal = village.region.parent_code in COASTAL_KECAMATAN
        religion = _RELIGIONS[_pick(rng, _RELIGION_CUM)]

        # The KK was last (re)issued after the youngest member's birth, at some point since 2005.
        youngest = max(m[1] for m in members)
        issued = max(today - rng.randrange(12 * 365), youngest + rng.randint(14, 200), self.siak_era)
        issued = min(issued, today - 1)
        issued_on = date.fromordinal(issued)
        no_kk = self.registry.mint.kk(kec, issued_on)
        kk_updated = self._timestamp(issued, today)

        dusun = rng.randrange(len(village.dusun))
        rw = f"{dusun + 1:03d}"
        rt = f"{rng.randint(1, village.rt_per_rw[dusun]):03d}"
        if village.is_kelurahan or (dusun == 0 and rng.random() < 0.35):
            street = rng.choice(STREETS) if village.is_kelurahan else f"Jl. Raya {village.region.name}"
            alamat = f"{street} No. {rng.randint(1, 120)}"
        else:
            alamat = f"Dusun {village.dusun[dusun]}"

        head_nik = ""
        rows = self.registry.penduduk
        for female, born, shdk, kawin, order in members:
            birth = date.fromordinal(born)
            age = (today - born) / DAYS_PER_YEAR
            # A NIK records the kecamatan of first registration: usually where the family lives.
            local = 0.95 if shdk == ANAK else 0.8
            first_kec = kec if rng.random() < local else rng.choice(self.kecamatan_digits)
            nik = self.registry.mint.nik(first_kec, birth, female)
            if shdk == KEPALA:
                head_nik = nik
            grade = self._grade(birth) if age < 21 and shdk in (ANAK, FAMILI_LAIN) else None
            status, updated = "HIDUP", None
            if grade is None:
                status, updated = self._status(age, max(born, issued))
            if grade is not None:
                self.registry.pupils.append((len(rows), grade))
            rows.append((
                nik, no_kk, person_name(rng, female, birth.year, order), "P" if female else "L",
                self._birthplace(age), birth, religion, kawin, shdk,
                self._occupation(age, female, kawin, coastal, grade is not None), code, status,
                updated or self._timestamp(max(born, issued), today),
            ))
        self.registry.keluarga.append((no_kk, head_nik, alamat, rt, rw, code, issued_on, kk_updated))
        return len(members)

    def _grade(self, birth: date) -> int | None:
        """The grade this child attends this school year, or ``None`` if not in school."""

        rng = self.rng
        grade = nominal_grade(birth, self.year)
        r = rng.random()
        if r < 0.07:
            grade -= 1  # started late or repeated a year
        elif r < 0.09 and grade >= 1:
            grade += 1  # started early
        if not 1 <= grade <= 12:
            return None
        enrolled = {"primary": 0.985, "lower": 0.93, "upper": 0.74}[level_of_grade(grade)]
        return grade if rng.random() < enrolled else None

    def _status(self, age: float, since: int) -> tuple[str, datetime | None]:
        """HIDUP, or MATI (mostly the old) / PINDAH (mostly young adults) with the date it was recorded."""

        rng = self.rng
        r = rng.random()
        p_dead = 0.075 if age >= 80 else 0.025 if age >= 70 else 0.008 if age >= 60 else 0.0015 if age >= 40 else 0.0004
        if r < p_dead:
            status = "MATI"
        elif r < p_dead + (0.026 if 18 <= age < 40 else 0.004):
            status = "PINDAH"
        else:
            return "HIDUP", None
        event = max(since, self.today - rng.randrange(3 * 365))
        return status, self._timestamp(event, self.today)

    def _birthplace(self, age: float) -> str:
        if age < 25 and self.rng.random() < 0.6:
            return "TRENGGALEK"
        return _BIRTHPLACES[_pick(self.rng, _BIRTHPLACE_CUM)]

    def _occupation(self, age: float, female: bool, kawin: str, coastal: bool, pupil: bool) -> str:
        rng = self.rng
        if pupil:
            return PELAJAR
        if age < 16:
            return TIDAK_BEKERJA
        if age < 23 and kawin == BELUM and rng.random() < 0.4:
            return PELAJAR if rng.random() < 0.6 else TIDAK_BEKERJA
        if age >= 65:
            if female and rng.random() < 0.4:
                return "MENGURUS RUMAH TANGGA"
            names, cum = self.old_jobs
        elif female:
            names, cum = self.female_jobs
        else:
            names, cum = self.male_jobs_coast if coastal else self.male_jobs
        return names[_pick(rng, cum)]

    def _timestamp(self, first: int, last: int) -> datetime:
        """A moment during office hours on a day between the two ordinals (inclusive)."""

        rng = self.rng
        day = date.fromordinal(rng.randint(min(first, last), last))
        seconds = rng.randrange(7 * 3600 + 1800, 15 * 3600 + 1800)
        return datetime.combine(day, time(seconds // 3600, seconds // 60 % 60, seconds % 60))


def _pick(rng: random.Random, cum: list[float]) -> int:
    """Index drawn from cumulative weights (``rng.choices`` without the per-call overhead)."""

    x = rng.random() * cum[-1]
    for i, c in enumerate(cum):
        if x < c:
            return i
    return len(cum) - 1
