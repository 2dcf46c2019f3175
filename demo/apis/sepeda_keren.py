"""Dinas Sosial P3A, Sepeda Keren (Sekolah Perempuan, Disabilitas, Anak dan Kelompok Rentan): cohorts, sessions, participants.

Style: camelCase JSON, dotted Kemendagri codes, cursor pagination (``?cursor=...&limit=20`` ->
``{"items": [...], "nextCursor": "..." | null}``) and ONLY one-by-one person lookups
(``/v1/participants/{nik}``, 404 when the person never took part): there is no batch endpoint.
Attendance is listed per session and, as the programme's class recap (rekap presensi), per
cohort: every session's list in session order, each row naming its session.

Programme facts from the domain brief §4.1: launched 21 Nov 2019 with pilots in Durenan, Watulimo,
Dongko and Pule (one pilot desa each; Pule's in Jombok); Panggul's cadres graduated in 2021 and
many received JAPRI start-up capital; basic modules (governance, women's leadership, advocacy,
communication, M&E) and thematic ones (vulnerable groups, children, disability, migrant workers,
women). Everything else (later roll-out, cohort sizes, dates, people) is INVENTED from the seed.

Participants are living residents of the cohort's kecamatan who fit their categories on the day
they enrolled: adult women, children aged 10-17, elderly people (60+), people whose disability the
health office also records (:func:`demo.apis.people.disability`), former migrant workers, and a few
others. Categories and the disability type are specific personal data (UU PDP Pasal 4, 25, 26).
A few participants of running classes have died since enrolling and the programme was not told
(``Dataset.agency_quirks["deceased_participant_active"]``, planted by ``demo.quirks``): still AKTIF.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from demo.dataset import Dataset
from demo.registry import P_LAHIR, P_NIK, P_WILAYAH

from .common import (
    JSON,
    ApiError,
    ORJSONResponse,
    Query,
    create_service_app,
    cursor_envelope,
    error_responses,
    json_response,
    not_found,
    nullable,
    openapi_document,
    parameter,
)
from .people import DISABILITY_TYPES, Pool, Residents, disability, former_migrant_worker, unit

SERVICE = "sepeda-keren"
DEFAULT_PORT = 8102
MAX_LIMIT = 100
LAST_YEAR = 2026
LAUNCH = date(2019, 11, 21)

KECAMATAN_CODE = re.compile(r"35\.03\.\d{2}")
NIK_RE = re.compile(r"\d{16}")

CATEGORIES = ("PEREMPUAN", "DISABILITAS", "ANAK", "LANSIA", "PEKERJA_MIGRAN", "LAINNYA")
STATUSES = ("AKTIF", "LULUS", "KELUAR")

# (code, name, kind): the basic modules every cohort takes, then the thematic ones.
MODULES: tuple[tuple[str, str, str], ...] = (
    ("TATA_KELOLA", "Tata kelola pemerintahan desa", "DASAR"),
    ("KEPEMIMPINAN_PEREMPUAN", "Kepemimpinan perempuan", "DASAR"),
    ("KOMUNIKASI", "Komunikasi publik", "DASAR"),
    ("ADVOKASI", "Advokasi kebijakan dan anggaran desa", "DASAR"),
    ("MONEV", "Pemantauan dan evaluasi", "DASAR"),
    ("KELOMPOK_RENTAN", "Kelompok rentan", "TEMATIK"),
    ("ANAK", "Perlindungan dan partisipasi anak", "TEMATIK"),
    ("DISABILITAS", "Disabilitas dan inklusi", "TEMATIK"),
    ("PEKERJA_MIGRAN", "Pekerja migran dan keluarganya", "TEMATIK"),
    ("PEREMPUAN", "Pemberdayaan perempuan", "TEMATIK"),
)
MODULE = {code: (name, kind) for code, name, kind in MODULES}

#: Year each kecamatan's first cohort started: the four pilots, then the roll-out (INVENTED after 2019).
START_YEAR = {
    "35.03.03": 2019,
    "35.03.04": 2019,
    "35.03.08": 2019,
    "35.03.13": 2019,  # pilots: Pule, Dongko, Watulimo, Durenan
    "35.03.11": 2020,
    "35.03.12": 2020,  # Trenggalek, Pogalan
    "35.03.01": 2021,
    "35.03.02": 2021,
    "35.03.06": 2021,
    "35.03.14": 2021,  # Panggul (graduated Nov 2021), ...
    "35.03.05": 2022,
    "35.03.07": 2022,
    "35.03.09": 2022,
    "35.03.10": 2022,
}
#: Pule's pilot desa was Jombok (brief §4.1); the other pilots' desa are drawn from the seed.
PILOT_DESA = {"35.03.03": "35.03.03.2009"}

# Slot categories of a cohort's seats, with weights.
_SLOTS = (("PEREMPUAN", 58), ("ANAK", 12), ("LANSIA", 10), ("DISABILITAS", 8), ("PEKERJA_MIGRAN", 6), ("LAINNYA", 6))
_JAPRI = (500_000, 750_000, 1_000_000, 1_500_000, 2_000_000, 2_500_000)


@dataclass
class _Enrolment:
    person: int
    enrolled: date
    status: str
    left_after: int | None  # index of the last session attended before leaving (KELUAR)
    japri: int | None
    categories: tuple[str, ...]
    propensity: float
    #: The day the participant died, for a death the programme was not told of (``demo.quirks``).
    died: date | None = None


@dataclass
class _Cohort:
    cohort_id: str
    name: str
    kecamatan: str
    desa: str
    year: int
    pilot: bool
    start: date
    planned: list[date]
    modules: list[str]
    session_desa: list[str]
    facilitator: int = -1
    enrolments: list[_Enrolment] = field(default_factory=list)

    def held(self, as_of: date) -> list[date]:
        return [d for d in self.planned if d <= as_of]


@dataclass
class SepedaKerenData:
    """Everything the Sepeda Keren API serves, built once from the dataset."""

    seed: int
    as_of: date
    cohorts: list[JSON]
    cohort_by_id: dict[str, JSON]
    sessions: dict[str, list[JSON]]  # cohortId -> sessions
    attendance: dict[str, list[JSON]]  # sessionId -> rows
    participants: dict[str, JSON]  # NIK -> participant

    def counts(self) -> dict[str, int]:
        return {
            "cohorts": len(self.cohorts),
            "sessions": sum(len(s) for s in self.sessions.values()),
            "participants": len(self.participants),
            "enrolments": sum(len(p["cohorts"]) for p in self.participants.values()),
            "attendance": sum(len(a) for a in self.attendance.values()),
        }


def build_sepeda_keren(ds: Dataset, seed: int | None = None) -> SepedaKerenData:
    """The programme's records for ``ds`` (``seed`` defaults to the dataset's)."""

    seed = ds.seed if seed is None else seed
    rng = random.Random(f"demo-apis/{seed}/sepeda-keren")
    residents = Residents(ds)
    as_of = ds.as_of
    rows = residents.rows

    people: dict[str, _People] = {}
    for kec in sorted(START_YEAR):
        members = residents.in_kecamatan(kec)
        people[kec] = _People(
            women=Pool.of(rows, [i for i in members if residents.female(i)]),
            men=Pool.of(rows, [i for i in members if not residents.female(i)]),
            everyone=Pool.of(rows, members),
            disabled=[i for i in members if disability(seed, rows[i][P_NIK], rows[i][P_LAHIR], as_of)],
            migrants=[i for i in members if former_migrant_worker(seed, rows[i][P_NIK], residents.female(i))],
        )

    cohorts: list[_Cohort] = []
    for year in range(2019, LAST_YEAR + 1):
        for kec in sorted(START_YEAR):
            first = START_YEAR[kec]
            if year < first or (year > first and rng.random() > 0.75):
                continue
            count = 2 if (kec, year) == ("35.03.01", 2021) else 1
            for number in range(1, count + 1):
                cohort = _plan_cohort(rng, residents, kec, year, number, pilot=year == 2019)
                if cohort.start <= as_of:
                    cohorts.append(cohort)

    participated: dict[int, list[tuple[_Cohort, _Enrolment]]] = {}
    for cohort in cohorts:
        _enrol(rng, seed, residents, people[cohort.kecamatan], cohort, participated, as_of)
    for q in ds.agency_quirks.get("deceased_participant_active", ()):
        _enrol_untold_death(seed, residents, cohorts, participated, q["nik"], date.fromisoformat(q["died_on"]), as_of)

    return _publish(seed, as_of, residents, cohorts, participated)


@dataclass
class _People:
    women: Pool
    men: Pool
    everyone: Pool
    disabled: list[int]
    migrants: list[int]


def _plan_cohort(rng: random.Random, residents: Residents, kec: str, year: int, number: int, *, pilot: bool) -> _Cohort:
    in_kec = [v for v in residents.villages if v.startswith(kec + ".")]
    if pilot:
        desa = PILOT_DESA.get(kec) or rng.choice(in_kec)
        start = LAUNCH + timedelta(days=rng.randint(4, 14))
        gaps = (10, 20)
        name = f"Sepeda Keren {residents.names[desa]} {year} (Percontohan)"
    else:
        desa = rng.choice(in_kec)
        start = date(year, rng.randint(3, 8), rng.randint(1, 28))
        gaps = (14, 28)
        suffix = f" {'AB'[number - 1]}" if number > 1 or (kec, year) == ("35.03.01", 2021) else ""
        name = f"Sepeda Keren {residents.names[kec]} {year}{suffix}"
    thematic = rng.sample([c for c, _, kind in MODULES if kind == "TEMATIK"], rng.randint(2, 3))
    basic = [c for c, _, kind in MODULES if kind == "DASAR" and c != "MONEV"]
    modules = [*basic, *thematic, "MONEV"]
    # A few modules take two sessions.
    order = list(modules)
    for extra in rng.sample(["ADVOKASI", "KEPEMIMPINAN_PEREMPUAN", *thematic], rng.randint(1, 3)):
        order.insert(order.index(extra) + 1, extra)
    if start.weekday() == 6:  # no classes on Sunday
        start += timedelta(days=1)
    planned: list[date] = []
    day = start
    for _ in order:
        if day.weekday() == 6:  # no classes on Sunday
            day += timedelta(days=1)
        planned.append(day)
        day += timedelta(days=rng.randint(*gaps))
    hosts = [desa, *rng.sample([v for v in in_kec if v != desa], min(len(in_kec) - 1, rng.randint(1, 3)))]
    session_desa = [desa if rng.random() < (0.7 if pilot else 0.5) else rng.choice(hosts) for _ in order]
    cohort_id = f"SK-{year}-{kec[-2:]}-{number:02d}"
    return _Cohort(cohort_id, name, kec, desa, year, pilot, start, planned, order, session_desa)


def _categories(residents: Residents, seed: int, i: int, day: date, disabled: bool) -> tuple[str, ...]:
    age = residents.age(i, day)
    found = set()
    if residents.female(i) and age >= 18:
        found.add("PEREMPUAN")
    if disabled:
        found.add("DISABILITAS")
    if age < 18:
        found.add("ANAK")
    if age >= 60:
        found.add("LANSIA")
    if age >= 18 and former_migrant_worker(seed, residents.rows[i][P_NIK], residents.female(i)):
        found.add("PEKERJA_MIGRAN")
    return tuple(c for c in CATEGORIES if c in found) or ("LAINNYA",)


def _enrol(
    rng: random.Random,
    seed: int,
    residents: Residents,
    pool: _People,
    cohort: _Cohort,
    participated: dict[int, list[tuple[_Cohort, _Enrolment]]],
    as_of: date,
) -> None:
    start = cohort.start
    held = cohort.held(as_of)
    finished = len(held) == len(cohort.planned)
    disabled = set(pool.disabled)
    candidates: dict[str, Callable[[], Sequence[int]]] = {
        "PEREMPUAN": lambda: pool.women.aged(start, 18, 59),
        "ANAK": lambda: pool.everyone.aged(start, 10, 17),
        "LANSIA": lambda: pool.everyone.aged(start, 60),
        "DISABILITAS": lambda: [i for i in pool.disabled if residents.age(i, start) >= 10],
        "PEKERJA_MIGRAN": lambda: [i for i in pool.migrants if 20 <= residents.age(i, start) <= 50],
        "LAINNYA": lambda: pool.men.aged(start, 18, 59),
    }
    cache: dict[str, Sequence[int]] = {}
    chosen: set[int] = set()
    seats = rng.randint(25, 35)
    kinds = rng.choices([k for k, _ in _SLOTS], [w for _, w in _SLOTS], k=seats)
    for kind in kinds:
        if kind not in cache:
            cache[kind] = candidates[kind]()
        options = cache[kind]
        if not options:
            continue
        for _ in range(20):
            i = options[rng.randrange(len(options))]
            if i in chosen:
                continue
            if i in participated and rng.random() > 0.3:  # most seats go to newcomers
                continue
            chosen.add(i)
            break
    for i in sorted(chosen, key=lambda j: residents.rows[j][P_NIK]):
        late = len(held) > 3 and rng.random() < 0.1
        enrolled = held[rng.randint(1, 2)] if late else start
        first = cohort.planned.index(enrolled)
        status, left_after = ("LULUS" if finished else "AKTIF"), None
        sessions_open = len(held) - 1 - first
        if rng.random() < (0.15 if finished else 0.1) and sessions_open >= 1:
            status = "KELUAR"
            left_after = first + rng.randint(0, sessions_open - 1)
        adult = residents.age(i, enrolled) >= 18
        japri = None
        if status == "LULUS" and adult and cohort.year >= 2021:
            chance = 0.9 if (cohort.kecamatan, cohort.year) == ("35.03.01", 2021) else 0.25
            if rng.random() < chance:
                japri = rng.choice(_JAPRI)
        enrolment = _Enrolment(
            i,
            enrolled,
            status,
            left_after,
            japri,
            _categories(residents, seed, i, enrolled, i in disabled),
            rng.uniform(0.7, 0.97),
        )
        cohort.enrolments.append(enrolment)
        participated.setdefault(i, []).append((cohort, enrolment))

    # The facilitator: often a graduate of an earlier cohort here, else an adult of the kecamatan.
    graduates = sorted(
        {
            i
            for i, history in participated.items()
            for c, e in history
            if c.kecamatan == cohort.kecamatan
            and c.start < start
            and e.status == "LULUS"
            and 22 <= residents.age(i, start) <= 60
            and i not in chosen
        }
    )
    if graduates and rng.random() < 0.6:
        cohort.facilitator = rng.choice(graduates)
    else:
        adults = [i for i in (pool.women if rng.random() < 0.7 else pool.men).aged(start, 25, 55) if i not in chosen]
        adults = adults or [i for i in pool.everyone.aged(start, 25, 55) if i not in chosen]
        cohort.facilitator = rng.choice(adults)


def _enrol_untold_death(
    seed: int,
    residents: Residents,
    cohorts: list[_Cohort],
    participated: dict[int, list[tuple[_Cohort, _Enrolment]]],
    nik: str,
    died: date,
    as_of: date,
) -> None:
    """Enrol a resident who has since died (the registry says so; the programme was not told) in a
    class still running: of their kecamatan if one runs, else the nearest by code. Still AKTIF."""

    i = residents.index[nik]
    kecamatan = residents.rows[i][P_WILAYAH][:8]
    running = [c for c in cohorts if len(c.held(as_of)) < len(c.planned) and c.start < died]
    if not running:
        raise ValueError(f"no Sepeda Keren class runs on {as_of} to plant a participant's untold death in")
    cohort = min(running, key=lambda c: (c.kecamatan != kecamatan, abs(int(c.kecamatan[-2:]) - int(kecamatan[-2:])), c.cohort_id))
    categories = _categories(residents, seed, i, cohort.start, disability(seed, nik, residents.rows[i][P_LAHIR], as_of) is not None)
    enrolment = _Enrolment(i, cohort.start, "AKTIF", None, None, categories, 0.85, died)
    cohort.enrolments.append(enrolment)
    cohort.enrolments.sort(key=lambda e: residents.rows[e.person][P_NIK])
    participated.setdefault(i, []).append((cohort, enrolment))


def _publish(
    seed: int,
    as_of: date,
    residents: Residents,
    cohorts: list[_Cohort],
    participated: dict[int, list[tuple[_Cohort, _Enrolment]]],
) -> SepedaKerenData:
    rng = random.Random(f"demo-apis/{seed}/sepeda-keren/attendance")
    rows = residents.rows
    names = residents.names
    cohort_json: list[JSON] = []
    sessions: dict[str, list[JSON]] = {}
    attendance: dict[str, list[JSON]] = {}
    for cohort in cohorts:
        held = cohort.held(as_of)
        finished = len(held) == len(cohort.planned)
        cohort_json.append(
            {
                "cohortId": cohort.cohort_id,
                "name": cohort.name,
                "kecamatanCode": cohort.kecamatan,
                "kecamatanName": names[cohort.kecamatan],
                "desaCode": cohort.desa,
                "desaName": names[cohort.desa],
                "year": cohort.year,
                "pilot": cohort.pilot,
                "startDate": cohort.start,
                "endDate": cohort.planned[-1] if finished else None,
                "status": "SELESAI" if finished else "BERJALAN",
                "facilitatorNik": rows[cohort.facilitator][P_NIK],
                "modules": [
                    {"code": c, "name": MODULE[c][0], "kind": MODULE[c][1]} for c in dict.fromkeys(cohort.modules)
                ],
                "participantCount": len(cohort.enrolments),
                "sessionCount": len(held),
            }
        )
        cohort_sessions = []
        for k, day in enumerate(held):
            session_id = f"{cohort.cohort_id}-S{k + 1:02d}"
            module = cohort.modules[k]
            cohort_sessions.append(
                {
                    "sessionId": session_id,
                    "cohortId": cohort.cohort_id,
                    "date": day,
                    "module": module,
                    "moduleName": MODULE[module][0],
                    "desaCode": cohort.session_desa[k],
                }
            )
            attendance[session_id] = [
                {"nik": rows[e.person][P_NIK], "present": _present(rng, seed, e, rows[e.person][P_NIK], day)}
                for e in cohort.enrolments
                if e.enrolled <= day and (e.left_after is None or k <= e.left_after)
            ]
        sessions[cohort.cohort_id] = cohort_sessions

    participants: dict[str, JSON] = {}
    for i in sorted(participated, key=lambda j: rows[j][P_NIK]):
        history = participated[i]
        found = {c for _, e in history for c in e.categories}
        categories = [c for c in CATEGORIES if c in found]
        if len(categories) > 1 and "LAINNYA" in categories:
            categories.remove("LAINNYA")
        nik = rows[i][P_NIK]
        participants[nik] = {
            "nik": nik,
            "categories": categories,
            "disabilityType": disability(seed, nik, rows[i][P_LAHIR], as_of) if "DISABILITAS" in categories else None,
            "cohorts": [
                {"cohortId": c.cohort_id, "enrolledOn": e.enrolled, "status": e.status, "japriCapital": e.japri}
                for c, e in sorted(history, key=lambda ce: (ce[0].start, ce[0].cohort_id))
            ],
        }
    cohort_json.sort(key=lambda c: (c["year"], c["kecamatanCode"], c["cohortId"]))
    return SepedaKerenData(
        seed, as_of, cohort_json, {c["cohortId"]: c for c in cohort_json}, sessions, attendance, participants
    )


def _present(rng: random.Random, seed: int, e: _Enrolment, nik: str, day: date) -> bool:
    """Whether the participant came to the session on ``day``. A participant planted with an untold
    death draws from a stream of their own, so the other rows are what they would be without them."""

    if e.died is None:
        return rng.random() < e.propensity
    return day < e.died and unit(seed, "sepeda-keren/present", nik, day) < e.propensity


# -- HTTP ----------------------------------------------------------------------------------


def _limit(q: Query) -> int:
    limit = q.integer("limit", 20, minimum=1, maximum=MAX_LIMIT)
    assert limit is not None
    return limit


def create_sepeda_keren_app(ds: Dataset, seed: int | None = None) -> Starlette:
    """The Sepeda Keren API over ``ds`` as a Starlette app (``app.state.data`` holds its :class:`SepedaKerenData`)."""

    data = build_sepeda_keren(ds, seed)

    async def list_cohorts(request: Request) -> Response:
        q = Query(request)
        kec = q.matching("kecamatanCode", KECAMATAN_CODE, "a dotted kecamatan code such as 35.03.12")
        year = q.integer("year", minimum=2000, maximum=2100)
        limit = _limit(q)
        rows = [
            c
            for c in data.cohorts
            if (kec is None or c["kecamatanCode"] == kec) and (year is None or c["year"] == year)
        ]
        return ORJSONResponse(cursor_envelope(rows, q.text("cursor"), limit))

    def cohort_or_404(request: Request) -> JSON:
        cohort_id = request.path_params["cohortId"]
        cohort = data.cohort_by_id.get(cohort_id)
        if cohort is None:
            raise not_found(f"No cohort {cohort_id!r}.")
        return cohort

    async def get_cohort(request: Request) -> Response:
        return ORJSONResponse(cohort_or_404(request))

    async def list_sessions(request: Request) -> Response:
        cohort = cohort_or_404(request)
        q = Query(request)
        return ORJSONResponse(cursor_envelope(data.sessions[cohort["cohortId"]], q.text("cursor"), _limit(q)))

    async def get_participant(request: Request) -> Response:
        nik = request.path_params["nik"]
        if not NIK_RE.fullmatch(nik):
            raise ApiError(400, "INVALID_NIK", f"A NIK is 16 digits, not {nik!r}.", {"parameter": "nik"})
        participant = data.participants.get(nik)
        if participant is None:
            raise not_found("This person has never taken part in Sepeda Keren.")
        return ORJSONResponse(participant)

    # The class recap: each session's attendance rows, in session order, naming their session.
    recap = {
        cohort_id: [{"sessionId": s["sessionId"], **row} for s in cohort_sessions for row in data.attendance[s["sessionId"]]]
        for cohort_id, cohort_sessions in data.sessions.items()
    }

    async def list_cohort_attendance(request: Request) -> Response:
        cohort = cohort_or_404(request)
        q = Query(request)
        return ORJSONResponse(cursor_envelope(recap[cohort["cohortId"]], q.text("cursor"), _limit(q)))

    async def list_attendance(request: Request) -> Response:
        session_id = request.path_params["sessionId"]
        rows = data.attendance.get(session_id)
        if rows is None:
            raise not_found(f"No session {session_id!r}.")
        q = Query(request)
        return ORJSONResponse(cursor_envelope(rows, q.text("cursor"), _limit(q)))

    routes = [
        Route("/v1/cohorts", list_cohorts, methods=["GET"]),
        Route("/v1/cohorts/{cohortId}", get_cohort, methods=["GET"]),
        Route("/v1/cohorts/{cohortId}/sessions", list_sessions, methods=["GET"]),
        Route("/v1/cohorts/{cohortId}/attendance", list_cohort_attendance, methods=["GET"]),
        Route("/v1/participants/{nik}", get_participant, methods=["GET"]),
        Route("/v1/sessions/{sessionId}/attendance", list_attendance, methods=["GET"]),
    ]
    app = create_service_app(
        service=SERVICE, routes=routes, openapi=openapi_spec(), counts=data.counts(), as_of=data.as_of
    )
    app.state.data = data
    return app


# -- OpenAPI -------------------------------------------------------------------------------


def _cursor_page(item: str) -> JSON:
    return {
        "type": "object",
        "required": ["items", "nextCursor"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "nextCursor": nullable(
                {"type": "string", "description": "Pass as `cursor` for the next page; null on the last page."}
            ),
        },
    }


def openapi_spec() -> JSON:
    """The OpenAPI 3.1 description of the Sepeda Keren API."""

    cursor = parameter("cursor", "query", {"type": "string"}, "Opaque cursor from the previous page's `nextCursor`.")
    limit = parameter(
        "limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20}, "Items per page."
    )
    dotted_desa = {"type": "string", "pattern": r"^35\.03\.\d{2}\.\d{4}$"}
    schemas: JSON = {
        "Module": {
            "type": "object",
            "required": ["code", "name", "kind"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "enum": [c for c, _, _ in MODULES]},
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": ["DASAR", "TEMATIK"], "description": "Basic or thematic module."},
            },
        },
        "Cohort": {
            "type": "object",
            "description": "One class of Sepeda Keren in a kecamatan (or, for the 2019 pilots, a desa) and year.",
            "required": [
                "cohortId",
                "name",
                "kecamatanCode",
                "kecamatanName",
                "desaCode",
                "desaName",
                "year",
                "pilot",
                "startDate",
                "endDate",
                "status",
                "facilitatorNik",
                "modules",
                "participantCount",
                "sessionCount",
            ],
            "additionalProperties": False,
            "properties": {
                "cohortId": {"type": "string", "example": "SK-2024-12-01"},
                "name": {"type": "string", "example": "Sepeda Keren Pogalan 2024"},
                "kecamatanCode": {"type": "string", "pattern": r"^35\.03\.\d{2}$"},
                "kecamatanName": {"type": "string"},
                "desaCode": {**dotted_desa, "description": "Desa hosting the class."},
                "desaName": {"type": "string"},
                "year": {"type": "integer", "minimum": 2019},
                "pilot": {"type": "boolean", "description": "One of the 2019 pilot classes."},
                "startDate": {"type": "string", "format": "date"},
                "endDate": nullable(
                    {"type": "string", "format": "date", "description": "Last session; null while running."}
                ),
                "status": {"type": "string", "enum": ["BERJALAN", "SELESAI"]},
                "facilitatorNik": {
                    "type": "string",
                    "pattern": r"^\d{16}$",
                    "description": "NIK of the class's facilitator (pendamping).",
                },
                "modules": {"type": "array", "items": {"$ref": "#/components/schemas/Module"}},
                "participantCount": {"type": "integer", "minimum": 0},
                "sessionCount": {"type": "integer", "minimum": 0, "description": "Sessions held so far."},
            },
        },
        "CohortPage": _cursor_page("Cohort"),
        "Session": {
            "type": "object",
            "required": ["sessionId", "cohortId", "date", "module", "moduleName", "desaCode"],
            "additionalProperties": False,
            "properties": {
                "sessionId": {"type": "string", "example": "SK-2024-12-01-S03"},
                "cohortId": {"type": "string"},
                "date": {"type": "string", "format": "date"},
                "module": {"type": "string", "enum": [c for c, _, _ in MODULES]},
                "moduleName": {"type": "string"},
                "desaCode": {**dotted_desa, "description": "Desa where the session was held."},
            },
        },
        "SessionPage": _cursor_page("Session"),
        "Attendance": {
            "type": "object",
            "required": ["nik", "present"],
            "additionalProperties": False,
            "properties": {"nik": {"type": "string", "pattern": r"^\d{16}$"}, "present": {"type": "boolean"}},
        },
        "AttendancePage": _cursor_page("Attendance"),
        "SessionAttendance": {
            "type": "object",
            "required": ["sessionId", "nik", "present"],
            "additionalProperties": False,
            "properties": {
                "sessionId": {"type": "string"},
                "nik": {"type": "string", "pattern": r"^\d{16}$"},
                "present": {"type": "boolean"},
            },
        },
        "SessionAttendancePage": _cursor_page("SessionAttendance"),
        "Enrolment": {
            "type": "object",
            "required": ["cohortId", "enrolledOn", "status", "japriCapital"],
            "additionalProperties": False,
            "properties": {
                "cohortId": {"type": "string"},
                "enrolledOn": {"type": "string", "format": "date"},
                "status": {"type": "string", "enum": list(STATUSES)},
                "japriCapital": nullable(
                    {"type": "integer", "description": "JAPRI start-up capital received, in rupiah."}
                ),
            },
        },
        "Participant": {
            "type": "object",
            "description": "A person who took part. Categories (disability, child) are specific personal data.",
            "required": ["nik", "categories", "disabilityType", "cohorts"],
            "additionalProperties": False,
            "properties": {
                "nik": {"type": "string", "pattern": r"^\d{16}$"},
                "categories": {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}, "minItems": 1},
                "disabilityType": nullable(
                    {
                        "type": "string",
                        "enum": [k for k, _ in DISABILITY_TYPES],
                        "description": "Set when `categories` has DISABILITAS.",
                    }
                ),
                "cohorts": {"type": "array", "items": {"$ref": "#/components/schemas/Enrolment"}, "minItems": 1},
            },
        },
    }
    ref = "#/components/schemas/"
    cohort_id = parameter("cohortId", "path", {"type": "string"}, "Cohort identifier.", example="SK-2019-03-01")
    paths: JSON = {
        "/v1/cohorts": {
            "get": {
                "operationId": "listCohorts",
                "summary": "Cohorts (classes) of Sepeda Keren, 2019 onwards.",
                "parameters": [
                    parameter(
                        "kecamatanCode",
                        "query",
                        {"type": "string", "pattern": r"^35\.03\.\d{2}$"},
                        "Dotted kecamatan code.",
                        example="35.03.12",
                    ),
                    parameter("year", "query", {"type": "integer"}, "Cohort year."),
                    cursor,
                    limit,
                ],
                "responses": {
                    "200": json_response("A page of cohorts.", {"$ref": ref + "CohortPage"}),
                    **error_responses(400),
                },
            }
        },
        "/v1/cohorts/{cohortId}": {
            "get": {
                "operationId": "getCohort",
                "summary": "One cohort.",
                "parameters": [cohort_id],
                "responses": {"200": json_response("The cohort.", {"$ref": ref + "Cohort"}), **error_responses(404)},
            }
        },
        "/v1/cohorts/{cohortId}/sessions": {
            "get": {
                "operationId": "listCohortSessions",
                "summary": "The sessions a cohort has held, in date order.",
                "parameters": [cohort_id, cursor, limit],
                "responses": {
                    "200": json_response("A page of sessions.", {"$ref": ref + "SessionPage"}),
                    **error_responses(400, 404),
                },
            }
        },
        "/v1/cohorts/{cohortId}/attendance": {
            "get": {
                "operationId": "listCohortAttendance",
                "summary": "The class recap: every session's attendance list, in session order, each row naming its session.",
                "parameters": [cohort_id, cursor, limit],
                "responses": {
                    "200": json_response("A page of attendance rows.", {"$ref": ref + "SessionAttendancePage"}),
                    **error_responses(400, 404),
                },
            }
        },
        "/v1/participants/{nik}": {
            "get": {
                "operationId": "getParticipant",
                "summary": "One participant by NIK (one person per call; there is no batch lookup).",
                "parameters": [
                    parameter("nik", "path", {"type": "string", "pattern": r"^\d{16}$"}, "The person's NIK.")
                ],
                "responses": {
                    "200": json_response("The participant and their cohorts.", {"$ref": ref + "Participant"}),
                    **error_responses(400, 404),
                },
            }
        },
        "/v1/sessions/{sessionId}/attendance": {
            "get": {
                "operationId": "listSessionAttendance",
                "summary": "Who was expected at a session (enrolled and not yet left) and whether they came.",
                "parameters": [
                    parameter(
                        "sessionId", "path", {"type": "string"}, "Session identifier.", example="SK-2019-03-01-S01"
                    ),
                    cursor,
                    limit,
                ],
                "responses": {
                    "200": json_response("A page of attendance rows.", {"$ref": ref + "AttendancePage"}),
                    **error_responses(400, 404),
                },
            }
        },
    }
    return openapi_document(
        title="Sepeda Keren API, Dinas Sosial P3A Kabupaten Trenggalek (demo)",
        description=__doc__ or "",
        version="0.9.2",
        paths=paths,
        schemas=schemas,
        server=f"http://127.0.0.1:{DEFAULT_PORT}",
    )
