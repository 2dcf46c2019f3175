"""Dinas Kesehatan, Pengendalian Penduduk dan KB (Dinkes PPKB): facilities, SKDR weekly reports, patients.

Style: snake_case Indonesian keys, page-number pagination (``?page=1&per_page=50`` ->
``{"data": [...], "meta": {page, per_page, total, total_pages}}``), region codes WITHOUT dots
(SATUSEHAT's habit), and a batch patient lookup by NIK (``?nik=a,b,c``, at most 100).

- Facilities (``faskes``): :mod:`demo.apis.faskes`.
- SKDR (brief §2.4): one line per desa, disease and epidemiological week (Sunday-Saturday) of 2026
  up to ``as_of``, for the lines with at least one case. Baseline counts follow each desa's living
  population in the registry (so they scale with the dataset), more in the rainy season; the week
  containing ``as_of`` is still open and marked ``SEMENTARA`` (provisional). Planted spikes: one per
  school outbreak of the education dataset (its desa, the epidemiological weeks of its dates, and a
  smaller tail the week after), plus a community dengue cluster with no school absence behind it.
  :func:`dinkes_ground_truth` lists them.
- Patients (SATUSEHAT-like, brief §2.3): most residents have a record, derived per NIK from the seed;
  ``meninggal`` follows the registry's deaths, except the ones the office was not told of
  (``Dataset.agency_quirks["deceased_patient_alive"]``, planted by ``demo.quirks``).

The SKDR letters after H (J = ILI, K = suspected measles, ...) and every threshold after H are this
demo's table, not checked against the current Pedoman SKDR (brief §2.4).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from demo.dataset import Dataset
from demo.regions import digits, dotted, neighbours
from demo.registry import P_LAHIR, P_STATUS, P_WILAYAH
from demo.school_calendar import RAINY_MONTHS, age_on

from .common import (
    JSON,
    ApiError,
    ORJSONResponse,
    Query,
    bad_request,
    create_service_app,
    error_responses,
    json_response,
    not_found,
    nullable,
    openapi_document,
    page_envelope,
    parameter,
)
from .faskes import KINDS, Facility, covering, facilities
from .people import Residents, disability, keyed_rng, outbreak_diseases, unit

SERVICE = "dinkes"
DEFAULT_PORT = 8101
YEAR = 2026
MAX_BATCH = 100
MAX_PER_PAGE = 100
#: SATUSEHAT patient records start with the platform's roll-out.
SATUSEHAT_START = date(2022, 3, 1)

REGION_DIGITS = re.compile(r"\d{2}|\d{4}|\d{6}|\d{10}")
NIK_RE = re.compile(r"\d{16}")


@dataclass(frozen=True)
class Disease:
    """An SKDR disease or syndrome: code, name, weekly alert threshold, baseline visits per 1,000 per week."""

    code: str
    name: str
    threshold: int
    rate: float
    rainy: float = 1.0  # rainy-season multiplier


DISEASES: tuple[Disease, ...] = (
    Disease("A", "Diare akut", 15, 0.9, 1.3),
    Disease("B", "Malaria konfirmasi", 1, 0.0003),
    Disease("C", "Suspek demam dengue", 5, 0.03, 3.0),
    Disease("D", "Pneumonia", 5, 0.12, 1.3),
    Disease("E", "Diare berdarah/disentri", 5, 0.03),
    Disease("F", "Suspek demam tifoid", 3, 0.07),
    Disease("G", "Sindrom jaundice akut", 3, 0.004),
    Disease("H", "Suspek chikungunya", 1, 0.0008, 2.0),
    Disease("J", "ILI (influenza-like illness)", 10, 0.5, 1.6),
    Disease("K", "Suspek campak", 1, 0.0008),
    Disease("L", "Suspek difteri", 1, 0.0005),
    Disease("M", "Suspek pertusis", 1, 0.0008),
    Disease("N", "AFP (lumpuh layuh akut)", 1, 0.0002),
    Disease("P", "Gigitan hewan penular rabies", 1, 0.003),
    Disease("R", "Suspek leptospirosis", 1, 0.002, 3.0),
)
DISEASE = {d.code: d for d in DISEASES}

_BLOOD = (("O", 37.0), ("B", 28.0), ("A", 24.0), ("AB", 6.0), (None, 25.0))
# (condition, minimum age, probability by age band <45, 45-59, 60+)
_CHRONIC = (
    ("hipertensi", 30, (0.08, 0.22, 0.38)),
    ("diabetes melitus tipe 2", 30, (0.02, 0.08, 0.12)),
    ("asma", 5, (0.03, 0.03, 0.04)),
    ("penyakit jantung koroner", 40, (0.005, 0.02, 0.05)),
    ("stroke", 45, (0.0, 0.01, 0.03)),
    ("PPOK", 45, (0.0, 0.01, 0.04)),
    ("gagal ginjal kronik", 40, (0.002, 0.006, 0.012)),
)


# -- epidemiological weeks -----------------------------------------------------------------


def epi_week_one(year: int) -> date:
    """The Sunday that starts epidemiological week 1: the Sunday-Saturday week containing 4 January."""

    jan4 = date(year, 1, 4)
    return jan4 - timedelta(days=(jan4.weekday() + 1) % 7)


def epi_week(day: date) -> tuple[int, int]:
    """``(year, week)`` of the epidemiological week (Sunday-Saturday) containing ``day``."""

    year = day.year
    if day >= epi_week_one(year + 1):
        return year + 1, 1
    if day < epi_week_one(year):
        year -= 1
    return year, (day - epi_week_one(year)).days // 7 + 1


def epi_week_start(year: int, week: int) -> date:
    """The Sunday that starts week ``week`` of ``year``."""

    return epi_week_one(year) + timedelta(weeks=week - 1)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # normal approximation, never needed below scale ~5
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# -- the health office's data ---------------------------------------------------------------


@dataclass
class DinkesData:
    """Everything the Dinkes API serves, built once from the dataset (patients are derived per NIK on request)."""

    seed: int
    as_of: date
    residents: Residents
    facilities: tuple[Facility, ...]
    skdr: list[JSON]
    current_week: int
    spikes: list[JSON] = field(default_factory=list)
    other_spikes: list[JSON] = field(default_factory=list)
    #: NIKs of residents whose death the office was not told of (``demo.quirks``' ``deceased_patient_alive``).
    untold_deaths: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.faskes_json = [f.as_json() for f in self.facilities]
        self.faskes_by_code = {f["kode_faskes"]: f for f in self.faskes_json}
        self.cover = covering()
        self.puskesmas_near: dict[str, list[str]] = {}
        for kec in self.residents.kecamatan:
            near = (kec, *neighbours()[kec])
            self.puskesmas_near[kec] = [
                f.kode_faskes for f in self.facilities if f.jenis != "RSUD" and dotted(f.kode_wilayah)[:8] in near
            ]

    def patient(self, nik: str) -> JSON | None:
        """The SATUSEHAT-like record of a resident, or ``None`` (unknown NIK, or no record)."""

        i = self.residents.index.get(nik)
        if i is None:
            return None
        row = self.residents.rows[i]
        status = row[P_STATUS]
        # A death the office was not told of (demo.quirks): the patient is on record, still alive.
        untold = nik in self.untold_deaths
        if not untold and unit(self.seed, "satusehat", nik) >= {"HIDUP": 0.9, "MATI": 0.7}.get(status, 0.6):
            return None
        birth: date = row[P_LAHIR]
        end = self.residents.recorded_on(i)
        rng = keyed_rng(self.seed, "pasien", nik)
        if birth >= SATUSEHAT_START:
            registered = birth + timedelta(days=rng.randint(0, 45))
        else:
            span = (end - SATUSEHAT_START).days
            if span < 0:
                return None  # died or moved away before SATUSEHAT
            registered = SATUSEHAT_START + timedelta(days=int(span * rng.random() ** 2))
        registered = min(registered, end)

        desa = row[P_WILAYAH]
        facility = self.cover[desa]
        if rng.random() < 0.06:  # registered at another puskesmas nearby (BPJS lets people choose)
            facility = rng.choice(self.puskesmas_near[desa[:8]])
        blood = rng.choices([b for b, _ in _BLOOD], [w for _, w in _BLOOD])[0]
        age = age_on(birth, end)
        band = 0 if age < 45 else 1 if age < 60 else 2
        chronic = [name for name, minimum, p in _CHRONIC if age >= minimum and rng.random() < p[band]]
        kind = disability(self.seed, nik, birth, self.as_of)
        return {
            "nik": nik,
            "ihs_number": f"P{(i * 7_919_366_341 + 20_483_377_111 + self.seed) % 10**11:011d}",
            "kode_faskes_terdaftar": facility,
            "golongan_darah": blood,
            "tanggal_registrasi": registered,
            "penyakit_kronis": chronic,
            "status_disabilitas": kind is not None,
            "jenis_disabilitas": kind,
            "meninggal": status == "MATI" and not untold,
        }

    def ground_truth(self) -> JSON:
        """The planted SKDR spikes (school outbreaks and one community cluster), JSON-ready."""

        return {
            "seed": self.seed,
            "as_of": self.as_of.isoformat(),
            "tahun": YEAR,
            "current_week": {"tahun": YEAR, "minggu_epid": self.current_week, "status_laporan": "SEMENTARA"},
            "outbreak_spikes": self.spikes,
            "other_spikes": self.other_spikes,
            "counts": self.counts(),
        }

    def counts(self) -> dict[str, int]:
        return {
            "faskes": len(self.facilities),
            "skdr_laporan_mingguan": len(self.skdr),
            "penduduk_terindeks": len(self.residents.rows),
        }


def build_dinkes(ds: Dataset, seed: int | None = None) -> DinkesData:
    """The health office's data for ``ds`` (``seed`` defaults to the dataset's)."""

    seed = ds.seed if seed is None else seed
    residents = Residents(ds)
    year, current = epi_week(ds.as_of)
    if year != YEAR:
        raise ValueError(f"as_of {ds.as_of} is not in epidemiological year {YEAR}")
    planted, spikes, others = _plant_spikes(ds, seed, residents, current)

    rng = random.Random(f"demo-apis/{seed}/skdr")
    cover = covering()
    population = {desa: residents.population(desa) for desa in residents.villages}
    rows: list[JSON] = []
    for week in range(1, current + 1):
        start = epi_week_start(YEAR, week)
        end = start + timedelta(days=6)
        rainy = (start + timedelta(days=3)).month in RAINY_MONTHS
        open_week = end > ds.as_of
        fraction = ((ds.as_of - start).days + 1) / 7 if open_week else 1.0
        for desa in residents.villages:
            per_thousand = population[desa] / 1000 * fraction
            for disease in DISEASES:
                mean = per_thousand * disease.rate * (disease.rainy if rainy else 1.0)
                cases = _poisson(rng, mean) + planted.get((desa, week, disease.code), 0)
                if cases:
                    rows.append(
                        {
                            "kode_faskes": cover[desa],
                            "kode_wilayah": digits(desa),
                            "tahun": YEAR,
                            "minggu_epid": week,
                            "tanggal_mulai": start,
                            "tanggal_akhir": end,
                            "kode_penyakit": disease.code,
                            "nama_penyakit": disease.name,
                            "jumlah_kasus": cases,
                            "ambang": disease.threshold,
                            "status_alert": cases >= disease.threshold,
                            "status_laporan": "SEMENTARA" if open_week else "FINAL",
                        }
                    )
    rows.sort(key=lambda r: (r["tahun"], r["minggu_epid"], r["kode_faskes"], r["kode_wilayah"], r["kode_penyakit"]))
    untold = frozenset(q["nik"] for q in ds.agency_quirks.get("deceased_patient_alive", ()))
    return DinkesData(seed, ds.as_of, residents, facilities(), rows, current, spikes, others, untold)


def _plant_spikes(
    ds: Dataset, seed: int, residents: Residents, current: int
) -> tuple[dict[tuple[str, int, str], int], list[JSON], list[JSON]]:
    """Cases added on top of the baseline: ``{(desa, week, disease): cases}`` and their ground truth."""

    rng = random.Random(f"demo-apis/{seed}/skdr-spikes")
    cover = covering()
    planted: Counter[tuple[str, int, str]] = Counter()
    spikes: list[JSON] = []
    for outbreak, code in zip(ds.outbreaks, outbreak_diseases(ds, seed), strict=True):
        disease = DISEASE[code]
        desa = outbreak.kode_wilayah
        weeks = sorted({w for y, w in map(epi_week, outbreak.dates) if y == YEAR and w <= current})
        planted_weeks = []
        for week in weeks:
            cases = disease.threshold + rng.randint(1, 6) if disease.threshold > 1 else rng.randint(3, 7)
            planted[(desa, week, code)] += cases
            planted_weeks.append({"minggu_epid": week, "planted_cases": cases})
        tail = None
        if weeks and weeks[-1] < current:
            cases = rng.randint(1, max(1, disease.threshold // 3))
            planted[(desa, weeks[-1] + 1, code)] += cases
            tail = {"minggu_epid": weeks[-1] + 1, "planted_cases": cases}
        spikes.append(
            {
                "npsn": outbreak.npsn,
                "school": outbreak.school,
                "kode_wilayah": desa,
                "kode_wilayah_digits": digits(desa),
                "kode_faskes": cover[desa],
                "dates": [d.isoformat() for d in outbreak.dates],
                "kode_penyakit": code,
                "nama_penyakit": disease.name,
                "ambang": disease.threshold,
                "tahun": YEAR,
                "weeks": planted_weeks,
                "tail": tail,
            }
        )

    # A dengue cluster among adults: an alert with no school absence behind it.
    taken = {o.kode_wilayah for o in ds.outbreaks}
    desa = rng.choice([v for v in residents.villages if v not in taken])
    first = rng.randint(max(1, current - 8), max(1, current - 2))
    weeks = [w for w in (first, first + 1) if w <= current]
    dengue = DISEASE["C"]
    planted_weeks = []
    for week in weeks:
        cases = dengue.threshold + rng.randint(1, 5)
        planted[(desa, week, "C")] += cases
        planted_weeks.append({"minggu_epid": week, "planted_cases": cases})
    others = [
        {
            "kind": "community dengue cluster (no school absence)",
            "kode_wilayah": desa,
            "kode_wilayah_digits": digits(desa),
            "kode_faskes": cover[desa],
            "kode_penyakit": "C",
            "nama_penyakit": dengue.name,
            "ambang": dengue.threshold,
            "tahun": YEAR,
            "weeks": planted_weeks,
        }
    ]
    return dict(planted), spikes, others


def dinkes_ground_truth(ds: Dataset, seed: int | None = None) -> JSON:
    """What :func:`create_dinkes_app` planted in its SKDR data, for tests and demos (JSON-ready)."""

    return build_dinkes(ds, seed).ground_truth()


# -- HTTP ----------------------------------------------------------------------------------


def _paging(q: Query, default: int = 50) -> tuple[int, int]:
    page = q.integer("page", 1, minimum=1)
    per_page = q.integer("per_page", default, minimum=1, maximum=MAX_PER_PAGE)
    assert page is not None and per_page is not None
    return page, per_page


def _conditional(request: Request, envelope: JSON) -> Response:
    """The answer with an ``ETag``, or ``304 Not Modified`` when the caller already holds it:
    a gateway polling for new SKDR reports (change capture) costs the office a hash, not a body."""

    body = orjson.dumps(envelope)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


def create_dinkes_app(ds: Dataset, seed: int | None = None) -> Starlette:
    """The Dinkes PPKB API over ``ds`` as a Starlette app (``app.state.data`` holds its :class:`DinkesData`)."""

    data = build_dinkes(ds, seed)

    async def list_faskes(request: Request) -> Response:
        q = Query(request)
        region = q.matching("kode_wilayah", REGION_DIGITS, "a region code without dots (2, 4, 6 or 10 digits)")
        kind = q.choice("jenis", KINDS)
        page, per_page = _paging(q)
        rows = [
            f
            for f in data.faskes_json
            if (region is None or f["kode_wilayah"].startswith(region)) and (kind is None or f["jenis"] == kind)
        ]
        return ORJSONResponse(page_envelope(rows, page, per_page))

    async def get_faskes(request: Request) -> Response:
        code = request.path_params["kode_faskes"]
        found = data.faskes_by_code.get(code)
        if found is None:
            raise not_found(f"No health facility with kode_faskes {code!r}.")
        return ORJSONResponse({"data": found})

    async def list_penyakit(request: Request) -> Response:
        page, per_page = _paging(Query(request))
        rows = [{"kode_penyakit": d.code, "nama_penyakit": d.name, "ambang": d.threshold} for d in DISEASES]
        return ORJSONResponse(page_envelope(rows, page, per_page))

    async def list_skdr(request: Request) -> Response:
        q = Query(request)
        facility = q.text("kode_faskes")
        region = q.matching("kode_wilayah", REGION_DIGITS, "a region code without dots (2, 4, 6 or 10 digits)")
        year = q.integer("tahun", minimum=2000, maximum=2100)
        first = q.integer("minggu_mulai", minimum=1, maximum=53)
        last = q.integer("minggu_akhir", minimum=1, maximum=53)
        if first is not None and last is not None and first > last:
            raise bad_request("minggu_mulai must not be after minggu_akhir.", parameter="minggu_mulai")
        codes = [c.upper() for c in q.csv("kode_penyakit")]
        unknown = [c for c in codes if c not in DISEASE]
        if unknown:
            raise bad_request(
                f"Unknown kode_penyakit {', '.join(unknown)}; see /api/v1/skdr/penyakit.", parameter="kode_penyakit"
            )
        page, per_page = _paging(q)
        wanted = set(codes)
        rows = [
            r
            for r in data.skdr
            if (facility is None or r["kode_faskes"] == facility)
            and (region is None or r["kode_wilayah"].startswith(region))
            and (year is None or r["tahun"] == year)
            and (first is None or r["minggu_epid"] >= first)
            and (last is None or r["minggu_epid"] <= last)
            and (not wanted or r["kode_penyakit"] in wanted)
        ]
        return _conditional(request, page_envelope(rows, page, per_page))

    async def list_pasien(request: Request) -> Response:
        q = Query(request)
        niks = q.csv("nik")
        if not niks:
            raise bad_request(
                "nik is required: one or more NIKs, comma separated (patients are only looked up by NIK).",
                parameter="nik",
            )
        if len(niks) > MAX_BATCH:
            raise ApiError(
                400,
                "TOO_MANY_NIKS",
                f"At most {MAX_BATCH} NIKs per request; got {len(niks)}.",
                {"parameter": "nik", "max": MAX_BATCH},
            )
        malformed = [n for n in niks if not NIK_RE.fullmatch(n)]
        if malformed:
            raise ApiError(
                400, "INVALID_NIK", "Every NIK must be 16 digits.", {"parameter": "nik", "invalid": malformed[:10]}
            )
        page, per_page = _paging(q, default=MAX_BATCH)
        found = [p for p in map(data.patient, niks) if p is not None]
        return ORJSONResponse(page_envelope(found, page, per_page))

    routes = [
        Route("/api/v1/faskes", list_faskes, methods=["GET"]),
        Route("/api/v1/faskes/{kode_faskes}", get_faskes, methods=["GET"]),
        Route("/api/v1/skdr/penyakit", list_penyakit, methods=["GET"]),
        Route("/api/v1/skdr/laporan-mingguan", list_skdr, methods=["GET"]),
        Route("/api/v1/pasien", list_pasien, methods=["GET"]),
    ]
    app = create_service_app(
        service=SERVICE, routes=routes, openapi=openapi_spec(), counts=data.counts(), as_of=data.as_of
    )
    app.state.data = data
    return app


# -- OpenAPI -------------------------------------------------------------------------------

_PAGE = parameter("page", "query", {"type": "integer", "minimum": 1, "default": 1}, "Page number, from 1.")


def _per_page(default: int = 50) -> JSON:
    return parameter(
        "per_page",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": default},
        f"Records per page (at most {MAX_PER_PAGE}).",
    )


def _page_of(item: str) -> JSON:
    return {
        "type": "object",
        "required": ["data", "meta"],
        "additionalProperties": False,
        "properties": {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "meta": {"$ref": "#/components/schemas/Meta"},
        },
    }


def openapi_spec() -> JSON:
    """The OpenAPI 3.1 description of the Dinkes API."""

    region_param = parameter(
        "kode_wilayah",
        "query",
        {"type": "string", "pattern": r"^(\d{2}|\d{4}|\d{6}|\d{10})$"},
        "Kemendagri region code WITHOUT dots; matches every record whose code starts with it "
        "(`3503` regency, `350308` kecamatan, `3503082011` desa).",
        example="350308",
    )
    schemas: JSON = {
        "Meta": {
            "type": "object",
            "required": ["page", "per_page", "total", "total_pages"],
            "additionalProperties": False,
            "properties": {
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1},
                "total": {"type": "integer", "minimum": 0, "description": "Records matching the filters."},
                "total_pages": {"type": "integer", "minimum": 0, "description": "0 when nothing matches."},
            },
        },
        "Faskes": {
            "type": "object",
            "description": "A health facility (fasilitas kesehatan).",
            "required": ["kode_faskes", "nama", "jenis", "kode_wilayah", "wilayah_kerja", "alamat", "telepon"],
            "additionalProperties": False,
            "properties": {
                "kode_faskes": {
                    "type": "string",
                    "description": "Facility code, e.g. `P3503080201` (puskesmas) or `R3503110001` (RSUD).",
                },
                "nama": {"type": "string", "example": "Puskesmas Slawe"},
                "jenis": {"type": "string", "enum": list(KINDS)},
                "kode_wilayah": {
                    "type": "string",
                    "pattern": r"^\d{10}$",
                    "description": "Desa where the facility stands (10 digits).",
                },
                "wilayah_kerja": {
                    "type": "array",
                    "items": {"type": "string", "pattern": r"^\d{10}$"},
                    "description": "Desa codes of the working area; together the puskesmas cover every desa once. Empty for RSUD.",
                },
                "alamat": {"type": "string"},
                "telepon": {"type": "string", "example": "(0355) 791234"},
            },
        },
        "FaskesPage": _page_of("Faskes"),
        "FaskesDetail": {
            "type": "object",
            "required": ["data"],
            "additionalProperties": False,
            "properties": {"data": {"$ref": "#/components/schemas/Faskes"}},
        },
        "Penyakit": {
            "type": "object",
            "required": ["kode_penyakit", "nama_penyakit", "ambang"],
            "additionalProperties": False,
            "properties": {
                "kode_penyakit": {"type": "string", "enum": [d.code for d in DISEASES]},
                "nama_penyakit": {"type": "string"},
                "ambang": {"type": "integer", "description": "Weekly alert threshold."},
            },
        },
        "PenyakitPage": _page_of("Penyakit"),
        "LaporanMingguan": {
            "type": "object",
            "description": "One SKDR (form W2) line: cases of one disease in one desa in one epidemiological week.",
            "required": [
                "kode_faskes",
                "kode_wilayah",
                "tahun",
                "minggu_epid",
                "tanggal_mulai",
                "tanggal_akhir",
                "kode_penyakit",
                "nama_penyakit",
                "jumlah_kasus",
                "ambang",
                "status_alert",
                "status_laporan",
            ],
            "additionalProperties": False,
            "properties": {
                "kode_faskes": {
                    "type": "string",
                    "description": "Reporting puskesmas (the one whose working area holds the desa).",
                },
                "kode_wilayah": {
                    "type": "string",
                    "pattern": r"^\d{10}$",
                    "description": "Desa of the cases (10 digits).",
                },
                "tahun": {"type": "integer"},
                "minggu_epid": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 53,
                    "description": "Epidemiological week (Sunday-Saturday).",
                },
                "tanggal_mulai": {"type": "string", "format": "date", "description": "The week's Sunday."},
                "tanggal_akhir": {"type": "string", "format": "date", "description": "The week's Saturday."},
                "kode_penyakit": {"type": "string", "enum": [d.code for d in DISEASES]},
                "nama_penyakit": {"type": "string"},
                "jumlah_kasus": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Cases; lines with no case are not stored.",
                },
                "ambang": {"type": "integer", "description": "Alert threshold for the disease."},
                "status_alert": {"type": "boolean", "description": "`jumlah_kasus >= ambang`."},
                "status_laporan": {
                    "type": "string",
                    "enum": ["FINAL", "SEMENTARA"],
                    "description": "SEMENTARA: the week is not over yet.",
                },
            },
        },
        "LaporanMingguanPage": _page_of("LaporanMingguan"),
        "Pasien": {
            "type": "object",
            "description": "A patient record (SATUSEHAT-like). Health data: specific personal data under UU PDP.",
            "required": [
                "nik",
                "ihs_number",
                "kode_faskes_terdaftar",
                "golongan_darah",
                "tanggal_registrasi",
                "penyakit_kronis",
                "status_disabilitas",
                "jenis_disabilitas",
                "meninggal",
            ],
            "additionalProperties": False,
            "properties": {
                "nik": {"type": "string", "pattern": r"^\d{16}$"},
                "ihs_number": {"type": "string", "pattern": r"^P\d{11}$", "description": "SATUSEHAT patient number."},
                "kode_faskes_terdaftar": {
                    "type": "string",
                    "description": "Puskesmas where the patient is registered.",
                },
                "golongan_darah": nullable({"type": "string", "enum": ["A", "B", "AB", "O"]}),
                "tanggal_registrasi": {"type": "string", "format": "date"},
                "penyakit_kronis": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Recorded chronic conditions (often empty).",
                },
                "status_disabilitas": {"type": "boolean"},
                "jenis_disabilitas": nullable(
                    {
                        "type": "string",
                        "enum": ["FISIK", "SENSORIK_NETRA", "SENSORIK_RUNGU_WICARA", "INTELEKTUAL", "MENTAL", "GANDA"],
                    }
                ),
                "meninggal": {"type": "boolean", "description": "Whether the patient is recorded as deceased."},
            },
        },
        "PasienPage": _page_of("Pasien"),
    }
    ref = "#/components/schemas/"
    paths: JSON = {
        "/api/v1/faskes": {
            "get": {
                "operationId": "listFaskes",
                "summary": "Health facilities: the 22 puskesmas and 2 RSUD.",
                "parameters": [
                    {**region_param, "description": "Desa/kecamatan prefix (no dots) of where the facility stands."},
                    parameter("jenis", "query", {"type": "string", "enum": list(KINDS)}, "Facility kind."),
                    _PAGE,
                    _per_page(),
                ],
                "responses": {
                    "200": json_response("A page of facilities.", {"$ref": ref + "FaskesPage"}),
                    **error_responses(400),
                },
            }
        },
        "/api/v1/faskes/{kode_faskes}": {
            "get": {
                "operationId": "getFaskes",
                "summary": "One facility by its code.",
                "parameters": [
                    parameter("kode_faskes", "path", {"type": "string"}, "Facility code.", example="P3503080201")
                ],
                "responses": {
                    "200": json_response("The facility.", {"$ref": ref + "FaskesDetail"}),
                    **error_responses(404),
                },
            }
        },
        "/api/v1/skdr/penyakit": {
            "get": {
                "operationId": "listPenyakit",
                "summary": "SKDR disease codes and their weekly alert thresholds.",
                "parameters": [_PAGE, _per_page()],
                "responses": {
                    "200": json_response("A page of diseases.", {"$ref": ref + "PenyakitPage"}),
                    **error_responses(400),
                },
            }
        },
        "/api/v1/skdr/laporan-mingguan": {
            "get": {
                "operationId": "listLaporanMingguan",
                "summary": "SKDR weekly reports (W2) by desa, disease and epidemiological week; lines with no case are omitted.",
                "parameters": [
                    parameter("kode_faskes", "query", {"type": "string"}, "Reporting puskesmas."),
                    region_param,
                    parameter(
                        "tahun", "query", {"type": "integer"}, "Year of the epidemiological weeks.", example=2026
                    ),
                    parameter(
                        "minggu_mulai",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 53},
                        "First week (inclusive).",
                    ),
                    parameter(
                        "minggu_akhir",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 53},
                        "Last week (inclusive).",
                    ),
                    parameter(
                        "kode_penyakit",
                        "query",
                        {"type": "string"},
                        "Disease code(s), comma separated, e.g. `J` or `A,J,K`.",
                    ),
                    _PAGE,
                    _per_page(),
                    parameter(
                        "If-None-Match",
                        "header",
                        {"type": "string"},
                        "The `ETag` of an earlier answer: the answer is then 304 Not Modified, without a body, when the "
                        "page is unchanged.",
                    ),
                ],
                "responses": {
                    "200": json_response("A page of report lines.", {"$ref": ref + "LaporanMingguanPage"}),
                    **error_responses(400),
                },
            }
        },
        "/api/v1/pasien": {
            "get": {
                "operationId": "listPasien",
                "summary": f"Batch patient lookup by NIK (1 to {MAX_BATCH}); unknown NIKs are simply absent from `data`.",
                "parameters": [
                    parameter(
                        "nik",
                        "query",
                        {"type": "string"},
                        f"Comma-separated NIKs (16 digits each), at most {MAX_BATCH}.",
                        required=True,
                        example="3503125708909901,3503080503129902",
                    ),
                    _PAGE,
                    _per_page(MAX_BATCH),
                ],
                "responses": {
                    "200": json_response("The records found, in the order asked.", {"$ref": ref + "PasienPage"}),
                    **error_responses(400),
                },
            }
        },
    }
    return openapi_document(
        title="Dinkes PPKB Kabupaten Trenggalek API (demo)",
        description=__doc__ or "",
        version="1.4.0",
        paths=paths,
        schemas=schemas,
        server=f"http://127.0.0.1:{DEFAULT_PORT}",
    )
