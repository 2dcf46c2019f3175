"""Planted disagreements between Dapodik and the registry, as real data has them.

Each kind touches a small, disjoint set of pupils and is recorded for the ground truth with
the pupil's NISN, the registry NIK of the person, and both sides' values:

- ``name_mismatch``: Dapodik spells the name differently (MUHAMMAD -> MOH., a typo, ...);
- ``birth_date_mismatch``: Dapodik has another birth date (day/month swapped, a digit off);
- ``unknown_nik``: Dapodik holds a well-formed NIK the registry has never issued;
- ``deceased_enrolled``: the registry records the pupil as dead (MATI), Dapodik still enrols them;
- ``null_nik``: Dapodik has no NIK for the pupil.

The other agencies' systems hold one fact of a person beside the NIK they are asked by: whether
the person is alive (the health office's patient record says ``meninggal``; a JKN membership
stays ``AKTIF`` only for the living; a Sepeda Keren enrolment is ``AKTIF`` while its class runs).
``plant_agency_quirks`` picks deaths the registry holds (MATI, none of a pupil) that one of them
was not told of, so that its record still says alive. The registry itself is left as it is (no
one else's records change). Each is recorded with the NIK, the agency, and both sides' values:

- ``deceased_patient_alive``: the health office's patient record is not marked ``meninggal``;
- ``deceased_insured_active``: the JKN membership is still ``AKTIF``;
- ``deceased_participant_active``: the person is still enrolled (``AKTIF``) in a running Sepeda
  Keren class they joined before dying (the programme's own service puts them in one,
  ``demo.apis.sepeda_keren``); these are deaths of the last ``RECENT_DAYS``.

The services read these lists from the dataset (``Dataset.agency_quirks``) and otherwise record
every death the registry holds, so nothing else disagrees.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from .education import S_LAHIR, S_MASUK, S_NAMA, S_NIK, S_NISN, S_NPSN, Education
from .identifiers import parse_nik
from .registry import P_LAHIR, P_NIK, P_STATUS, P_UPDATE, Registry
from .school_calendar import age_on

#: Share of pupils per kind; every kind gets at least ``MIN_EACH`` pupils.
RATES = {
    "name_mismatch": 0.01,
    "birth_date_mismatch": 0.005,
    "unknown_nik": 0.005,
    "deceased_enrolled": 0.002,
    "null_nik": 0.004,
}
MIN_EACH = 2

#: Share of the registry's deaths per kind of agency quirk; every kind gets at least ``MIN_EACH``.
AGENCY_RATES = {
    "deceased_patient_alive": 0.07,
    "deceased_insured_active": 0.07,
    "deceased_participant_active": 0.01,
}
#: The agency (its code) and system whose record each agency quirk is in, and its field there.
AGENCY_OF = {
    "deceased_patient_alive": ("DINKES", "dinkes", "meninggal", False),
    "deceased_insured_active": ("JKN_JATIM", "jkn", "status", "AKTIF"),
    "deceased_participant_active": ("DINSOS", "sepeda_keren", "cohorts.status", "AKTIF"),
}
#: Deaths a kind is planted on: recorded at most this many days before ``as_of`` (``None``: any).
#: A running class's participant died recently: after the class began.
RECENT_DAYS = {"deceased_participant_active": 90}
#: The youngest a kind's residents were when their death was recorded (Sepeda Keren takes adults and children from 10).
MIN_AGE = {"deceased_participant_active": 18}

# Abbreviations and spelling variants clerks really use.
_ABBREVIATIONS = {
    "MUHAMMAD": ("MOH.", "M.", "MUH.", "MUHAMAD", "MOCHAMMAD"),
    "MOCHAMAD": ("MOCH.", "M.", "MOHAMAD"),
    "SITI": ("ST.",),
    "ABDUL": ("ABD.",),
    "AHMAD": ("ACHMAD", "AHMAT"),
    "NUR": ("NUUR",),
}
_SPELLINGS = (
    ("RIZKY", "RIZKI"), ("PUTRI", "PUTERI"), ("SAPUTRA", "SAPUTERA"), ("FAJAR", "FADJAR"), ("JOKO", "DJOKO"),
    ("SYAH", "SAH"), ("KHOIR", "HOIR"), ("NUGROHO", "NUGRAHA"), ("SU", "SOE"), ("DEWI", "DEWY"),
    ("YULI", "YULY"), ("TRI", "TRY"), ("FITRI", "FITRIE"), ("AULIA", "AULYA"), ("ZAHRA", "ZAHROH"),
)


def plant_quirks(rng: random.Random, registry: Registry, education: Education, as_of: date) -> dict[str, list[dict[str, Any]]]:
    """Alter pupils (and, for deaths, registry rows) in place; return the ground-truth lists."""

    pupils = education.peserta_didik
    wanted = {kind: max(MIN_EACH, round(rate * len(pupils))) for kind, rate in RATES.items()}
    if sum(wanted.values()) > len(pupils):
        raise ValueError(f"only {len(pupils)} pupils: too few to plant {sum(wanted.values())} quirks; raise the scale")
    chosen = rng.sample(range(len(pupils)), sum(wanted.values()))
    quirks: dict[str, list[dict[str, Any]]] = {}
    for kind, n in wanted.items():
        picked, chosen = sorted(chosen[:n], key=lambda i: pupils[i][S_NISN]), chosen[n:]
        quirks[kind] = [_plant(kind, rng, registry, education, i, as_of) for i in picked]
    return quirks


def plant_agency_quirks(
    rng: random.Random, registry: Registry, education: Education, as_of: date
) -> dict[str, list[dict[str, Any]]]:
    """Pick deaths in the registry that another agency was not told of; return their lists (nothing is changed).

    One quirk per resident, none of a pupil (a pupil's quirks are Dapodik's), in NIK order per kind.
    """

    pupils = set(education.pupil_person)
    rows = registry.penduduk
    dead = [i for i, row in enumerate(rows) if row[P_STATUS] == "MATI" and i not in pupils]
    wanted = {kind: max(MIN_EACH, round(rate * len(dead))) for kind, rate in AGENCY_RATES.items()}
    taken: set[int] = set()
    quirks: dict[str, list[dict[str, Any]]] = {}
    for kind, n in wanted.items():
        recent, youngest = RECENT_DAYS.get(kind), MIN_AGE.get(kind, 0)
        fits = [
            i
            for i in dead
            if i not in taken
            and (recent is None or (as_of - rows[i][P_UPDATE].date()).days <= recent)
            and age_on(rows[i][P_LAHIR], rows[i][P_UPDATE].date()) >= youngest
        ]
        if len(fits) < n:
            raise ValueError(f"only {len(fits)} deaths fit {kind}: too few to plant {n}; raise the scale")
        picked = sorted(rng.sample(fits, n), key=lambda i: rows[i][P_NIK])
        taken.update(picked)
        quirks[kind] = [_untold_death(kind, rows[i]) for i in picked]
    return quirks


def _untold_death(kind: str, row: tuple[Any, ...]) -> dict[str, Any]:
    agency, system, field, value = AGENCY_OF[kind]
    return {
        "nik": row[P_NIK],
        "agency": agency,
        "system": system,
        "field": field,
        "registry": "MATI",
        system: value,
        # The registry keeps when it recorded the death; the day itself is not in SIAK's table.
        "died_on": row[P_UPDATE].date().isoformat(),
    }


def _plant(kind: str, rng: random.Random, registry: Registry, education: Education, i: int, as_of: date) -> dict[str, Any]:
    row = education.peserta_didik[i]
    entry: dict[str, Any] = {"nisn": row[S_NISN], "nik": row[S_NIK], "npsn": row[S_NPSN]}
    if kind == "name_mismatch":
        original = row[S_NAMA]
        row[S_NAMA] = misspell(rng, original)
        entry.update(field="nama", registry=original, dapodik=row[S_NAMA])
    elif kind == "birth_date_mismatch":
        born = row[S_LAHIR]
        row[S_LAHIR] = _other_birth_date(rng, born)
        entry.update(field="tanggal_lahir", registry=born.isoformat(), dapodik=row[S_LAHIR].isoformat())
    elif kind == "unknown_nik":
        parsed = parse_nik(row[S_NIK])
        assert parsed is not None
        kec, _, female = parsed
        # Same region and birth digits, but a serial the registry never reached.
        row[S_NIK] = registry.mint.nik(kec, row[S_LAHIR], female)
        entry.update(field="nik", registry=entry["nik"], dapodik=row[S_NIK])
    elif kind == "deceased_enrolled":
        person = education.pupil_person[i]
        # Died after enrolling (a ghost pupil), some weeks to a year before as_of.
        enrolled_days = (as_of - row[S_MASUK]).days
        died = as_of - timedelta(days=rng.randint(min(20, enrolled_days), max(20, min(400, enrolled_days))))
        moment = datetime.combine(died + timedelta(days=rng.randint(1, 14)), time(9, rng.randrange(60)))
        patched = list(registry.penduduk[person])
        patched[P_STATUS], patched[P_UPDATE] = "MATI", min(moment, datetime.combine(as_of, time(9)))
        registry.penduduk[person] = tuple(patched)
        entry.update(field="status_penduduk", registry="MATI", dapodik="AKTIF", died_on=died.isoformat())
    elif kind == "null_nik":
        row[S_NIK] = None
        entry.update(field="nik", registry=entry["nik"], dapodik=None)
    return entry


def misspell(rng: random.Random, name: str) -> str:
    """The name as a school clerk might have typed it: abbreviated, respelt, or with a typo."""

    words = name.split()
    options = []
    for w, word in enumerate(words):
        for variant in _ABBREVIATIONS.get(word, ()):
            options.append((w, variant))
        for old, new in _SPELLINGS:
            if old in word and len(word) > len(old) // 2:
                options.append((w, word.replace(old, new, 1)))
    if len(words) >= 2 and len(words[-1]) > 2:
        options.append((len(words) - 1, words[-1][0] + "."))  # DWI AYU LESTARI -> DWI AYU L.
    if options and rng.random() < 0.7:
        w, variant = rng.choice(options)
        result = " ".join([*words[:w], variant, *words[w + 1 :]])
    else:
        result = _typo(rng, name)
    return result if result != name else _typo(rng, name)


def _typo(rng: random.Random, name: str) -> str:
    for _ in range(20):
        i = rng.randrange(1, max(2, len(name) - 1))
        op = rng.randrange(3)
        if op == 0 and name[i] != name[i - 1] and name[i] != " " and name[i - 1] != " ":
            result = name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]  # swapped letters
        elif op == 1 and name[i] != " ":
            result = name[:i] + name[i + 1 :]  # dropped letter
        else:
            result = name[:i] + name[i] + name[i:]  # doubled letter
        result = " ".join(result.split())
        if result != name and result:
            return result
    return name + "H"


def _other_birth_date(rng: random.Random, born: date) -> date:
    if born.day <= 12 and born.day != born.month and rng.random() < 0.4:
        return born.replace(month=born.day, day=born.month)  # day and month swapped
    for _ in range(10):
        shift = rng.choice((-3, -2, -1, 1, 2, 3, 10, -10, 365, -365))
        other = born + timedelta(days=shift)
        if other != born:
            return other
    return born + timedelta(days=1)
