"""Citizen feedback (SP4N-LAPOR!-like, run by Diskominfo): complaints, suggestions, aspirations, questions.

Style: English-ish snake_case keys, Django-REST-like offset pagination (``?offset=0&limit=50`` ->
``{"count", "next", "previous", "results"}`` with absolute ``next``/``previous`` URLs, null at the
ends), dotted Kemendagri region codes, ISO datetimes in WIB (+07:00), newest report first.

Reports run from 2025-01-01 to ``as_of``, about 4 per 1,000 residents of the dataset (so they scale
with it), on the real topics of Trenggalek's complaint channels (brief §2.6: mistargeted social aid,
roads and drainage, people with mental illness left on the street, health services, ...). Title and
body come from templates and never name a person; the reporter is a real adult resident (their
NIK) or nobody (anonymous, ~30%). A report gets its ``agency`` (the OPD it is disposed to) once
Diskominfo has verified and dispatched it: BARU and DIVERIFIKASI reports have ``agency: null``.

Each planted school outbreak of the education dataset draws a parent's complaint to the health
office and a question to the education office; :func:`lapor_ground_truth` lists them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from demo.attendance import Outbreak
from demo.dataset import Dataset
from demo.education import S_NIK, S_NISN
from demo.regions import dotted
from demo.registry import P_LAHIR, P_NIK, P_WILAYAH

from .common import (
    JSON,
    ORJSONResponse,
    Query,
    create_service_app,
    error_responses,
    json_response,
    not_found,
    nullable,
    offset_envelope,
    openapi_document,
    parameter,
)
from .faskes import covering, facilities
from .people import SYMPTOMS, WIB, Residents, keyed_rng, outbreak_diseases, wib, years_before

SERVICE = "lapor"
DEFAULT_PORT = 8103
MAX_LIMIT = 100
FIRST_DAY = date(2025, 1, 1)
#: Reports per resident of the dataset over the whole period (~4 per 1,000).
REPORT_RATE = 0.004

REGION_DOTTED = re.compile(r"\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?")
NIK_RE = re.compile(r"\d{16}")

STATUSES = ("BARU", "DIVERIFIKASI", "DIDISPOSISI", "DITINDAKLANJUTI", "SELESAI")
KINDS = ("COMPLAINT", "SUGGESTION", "ASPIRATION", "INFORMATION_REQUEST")
CHANNELS = ("WEB", "WHATSAPP", "SMS", "HOTLINE", "MEDSOS")
_CHANNEL_WEIGHTS = (30, 40, 7, 8, 15)
#: Share of anonymous reports by channel (~30% overall).
_ANONYMOUS = {"WEB": 0.25, "WHATSAPP": 0.28, "SMS": 0.45, "HOTLINE": 0.35, "MEDSOS": 0.45}

AGENCIES: dict[str, str] = {
    "BPBD": "Badan Penanggulangan Bencana Daerah",
    "DINDIKPORA": "Dinas Pendidikan, Pemuda dan Olahraga",
    "DINKES": "Dinas Kesehatan, Pengendalian Penduduk dan Keluarga Berencana",
    "DINSOS": "Dinas Sosial, Pemberdayaan Perempuan dan Perlindungan Anak",
    "DISDUKCAPIL": "Dinas Kependudukan dan Pencatatan Sipil",
    "DISHUB": "Dinas Perhubungan",
    "DISKOMINFO": "Dinas Komunikasi dan Informatika",
    "DISPERINAKER": "Dinas Perindustrian dan Tenaga Kerja",
    "DISPERTAPA": "Dinas Pertanian dan Pangan",
    "DPMPTSP": "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu",
    "PERKIMLH": "Dinas Perumahan, Kawasan Permukiman dan Lingkungan Hidup",
    "PUPR": "Dinas Pekerjaan Umum dan Penataan Ruang",
    "SATPOLPP": "Satuan Polisi Pamong Praja dan Kebakaran",
}

_WHEN = (
    "sejak dua minggu terakhir",
    "sudah lebih dari sebulan",
    "sejak awal musim hujan",
    "sudah berbulan-bulan",
    "sejak tiga hari lalu",
    "sejak minggu lalu",
)
_CLOSING = ("Mohon segera ditindaklanjuti.", "Terima kasih atas perhatiannya.", "Mohon perhatian dinas terkait.", "")


@dataclass(frozen=True)
class Category:
    """A complaint topic, the OPD it is disposed to, how often it comes, and its (kind, title, body) templates."""

    name: str
    agency: str
    weight: float
    templates: tuple[tuple[str, str, str], ...]


# Placeholders: {lokasi} {desa} {kec} {waktu} {puskesmas} {sekolah} {desa_lain}.
CATEGORIES: tuple[Category, ...] = (
    Category(
        "Jalan rusak",
        "PUPR",
        16,
        (
            (
                "COMPLAINT",
                "Jalan rusak di {desa}",
                "Jalan di {lokasi} rusak parah dan berlubang {waktu}. Saat hujan tergenang air dan "
                "sudah ada pengendara motor yang jatuh.",
            ),
            (
                "COMPLAINT",
                "Aspal jalan {desa} mengelupas",
                "Aspal jalan poros desa di {lokasi} mengelupas {waktu}, truk pengangkut hasil panen sering terperosok.",
            ),
            (
                "SUGGESTION",
                "Usulan pengaspalan jalan {desa}",
                "Kami mengusulkan jalan di {lokasi} diaspal ulang tahun ini karena menjadi akses utama anak sekolah.",
            ),
            (
                "ASPIRATION",
                "Jalan tembus {desa} - {desa_lain}",
                "Warga {desa} berharap jalan tembus ke {desa_lain} segera dibangun agar "
                "hasil panen lebih mudah diangkut.",
            ),
        ),
    ),
    Category(
        "Jembatan dan drainase",
        "PUPR",
        6,
        (
            (
                "COMPLAINT",
                "Saluran air tersumbat di {desa}",
                "Saluran drainase di {lokasi} tersumbat {waktu}; setiap hujan air meluap ke jalan dan rumah warga.",
            ),
            (
                "COMPLAINT",
                "Jembatan penghubung di {desa} retak",
                "Jembatan kecil di {lokasi} retak dan pagarnya hilang {waktu}, berbahaya bagi anak sekolah.",
            ),
        ),
    ),
    Category(
        "Penerangan jalan",
        "DISHUB",
        5,
        (
            (
                "COMPLAINT",
                "Lampu PJU mati di {desa}",
                "Lampu penerangan jalan umum di {lokasi} mati {waktu}, jalan gelap dan rawan kecelakaan.",
            ),
            (
                "SUGGESTION",
                "Penambahan lampu jalan di {desa}",
                "Mohon dipasang lampu jalan di tikungan dekat {lokasi} karena sering terjadi kecelakaan malam hari.",
            ),
        ),
    ),
    Category(
        "Adminduk/KTP",
        "DISDUKCAPIL",
        10,
        (
            (
                "COMPLAINT",
                "KTP-el belum jadi",
                "Sudah rekam KTP-el di Kecamatan {kec} {waktu} tetapi sampai sekarang belum dicetak "
                "dengan alasan blangko habis.",
            ),
            (
                "COMPLAINT",
                "Antrean layanan Dukcapil",
                "Antrean layanan di kantor Dukcapil sangat panjang, datang pagi baru dilayani siang.",
            ),
            (
                "INFORMATION_REQUEST",
                "Syarat akta kelahiran",
                "Mohon informasi syarat mengurus akta kelahiran untuk anak yang lahir di luar Trenggalek.",
            ),
            (
                "INFORMATION_REQUEST",
                "Prosedur pindah domisili",
                "Bagaimana prosedur pindah domisili dari {desa} ke kabupaten lain, apakah bisa diurus secara daring?",
            ),
        ),
    ),
    Category(
        "Bantuan sosial salah sasaran",
        "DINSOS",
        14,
        (
            (
                "COMPLAINT",
                "Bansos tidak tepat sasaran di {desa}",
                "Di {lokasi} ada penerima bantuan PKH/BPNT yang tergolong mampu, "
                "sementara warga yang benar-benar miskin belum menerima. "
                "Mohon pendataan ulang.",
            ),
            (
                "COMPLAINT",
                "Warga lansia tidak menerima bantuan",
                "Ada warga lansia hidup sendiri di {lokasi} yang belum pernah menerima bantuan apa pun {waktu}.",
            ),
            (
                "INFORMATION_REQUEST",
                "Cara cek desil DTSEN",
                "Bagaimana cara mengecek apakah keluarga kami sudah masuk DTSEN dan di desil berapa?",
            ),
        ),
    ),
    Category(
        "ODGJ terlantar",
        "SATPOLPP",
        7,
        (
            (
                "COMPLAINT",
                "ODGJ berkeliaran di {desa}",
                "Ada orang dengan gangguan jiwa berkeliaran di sekitar {lokasi} {waktu} dan "
                "meresahkan warga. Mohon dibantu penanganannya.",
            ),
        ),
    ),
    Category(
        "Pelayanan puskesmas",
        "DINKES",
        6,
        (
            (
                "COMPLAINT",
                "Antrean lama di {puskesmas}",
                "Antrean di {puskesmas} sangat lama, pasien datang pukul tujuh baru dilayani menjelang siang.",
            ),
            (
                "COMPLAINT",
                "Obat kosong di {puskesmas}",
                "Beberapa obat di {puskesmas} kosong {waktu}, pasien diminta membeli sendiri di apotek.",
            ),
            (
                "SUGGESTION",
                "Layanan sore di {puskesmas}",
                "Kami mengusulkan {puskesmas} membuka layanan sore agar warga yang bekerja bisa berobat.",
            ),
        ),
    ),
    Category(
        "Wabah/penyakit menular",
        "DINKES",
        2,
        (
            (
                "COMPLAINT",
                "Banyak warga {desa} demam berdarah",
                "Beberapa warga di {lokasi} terkena demam berdarah {waktu}. "
                "Mohon dilakukan fogging dan pemeriksaan jentik.",
            ),
        ),
    ),
    Category(
        "Sekolah/PPDB",
        "DINDIKPORA",
        6,
        (
            (
                "COMPLAINT",
                "Atap kelas {sekolah} bocor",
                "Atap ruang kelas {sekolah} bocor {waktu}; saat hujan murid dipindah ke teras.",
            ),
            (
                "COMPLAINT",
                "Zonasi PPDB",
                "Anak kami tidak diterima di {sekolah} padahal rumah kami di {desa} termasuk dekat.",
            ),
            (
                "INFORMATION_REQUEST",
                "Jadwal PPDB",
                "Kapan jadwal pendaftaran PPDB SD dan SMP untuk tahun ajaran baru di Kecamatan {kec}?",
            ),
        ),
    ),
    Category(
        "Air bersih",
        "PERKIMLH",
        6,
        (
            (
                "COMPLAINT",
                "Air bersih tidak mengalir di {desa}",
                "Air HIPPAM di {lokasi} tidak mengalir {waktu}, warga harus membeli air jeriken.",
            ),
            (
                "ASPIRATION",
                "Sumur bor untuk {desa}",
                "Warga {desa} berharap dibangun sumur bor karena setiap kemarau kekurangan air bersih.",
            ),
        ),
    ),
    Category(
        "Sampah",
        "PERKIMLH",
        5,
        (
            (
                "COMPLAINT",
                "Sampah menumpuk di {desa}",
                "Tumpukan sampah di {lokasi} tidak diangkut {waktu} dan menimbulkan bau.",
            ),
            (
                "SUGGESTION",
                "Bank sampah di {desa}",
                "Kami mengusulkan pendampingan untuk membentuk bank sampah di {desa}.",
            ),
        ),
    ),
    Category(
        "Pupuk bersubsidi",
        "DISPERTAPA",
        5,
        (
            (
                "COMPLAINT",
                "Pupuk subsidi langka di {desa}",
                "Petani di {lokasi} kesulitan mendapatkan pupuk bersubsidi {waktu}, kios resmi selalu kosong.",
            ),
            (
                "INFORMATION_REQUEST",
                "Kuota pupuk subsidi",
                "Mohon informasi cara mendaftar e-RDKK agar bisa mendapat pupuk bersubsidi.",
            ),
        ),
    ),
    Category(
        "Perizinan",
        "DPMPTSP",
        3,
        (
            (
                "COMPLAINT",
                "Izin usaha lama diproses",
                "Pengajuan PBG untuk usaha kami di {desa} belum selesai {waktu} tanpa kejelasan.",
            ),
            (
                "INFORMATION_REQUEST",
                "Syarat NIB usaha mikro",
                "Apa saja syarat mendapatkan NIB untuk usaha mikro rumahan?",
            ),
        ),
    ),
    Category(
        "Bencana/tanah longsor",
        "BPBD",
        4,
        (
            (
                "COMPLAINT",
                "Longsor di {desa}",
                "Tebing di {lokasi} longsor setelah hujan deras dan menutup sebagian jalan. Mohon segera dibersihkan.",
            ),
            (
                "ASPIRATION",
                "Talud penahan tebing di {desa}",
                "Warga {desa} berharap dibangun talud penahan tebing sebelum musim hujan.",
            ),
        ),
    ),
    Category(
        "Ketenagakerjaan",
        "DISPERINAKER",
        3,
        (
            (
                "INFORMATION_REQUEST",
                "Pelatihan kerja BLK",
                "Mohon informasi jadwal pelatihan kerja di BLK dan syarat pendaftarannya.",
            ),
            (
                "COMPLAINT",
                "Upah di bawah UMK",
                "Beberapa pekerja di sebuah usaha di Kecamatan {kec} dibayar di bawah UMK {waktu}.",
            ),
        ),
    ),
    Category(
        "Layanan informasi publik",
        "DISKOMINFO",
        2,
        (
            (
                "COMPLAINT",
                "Website desa tidak bisa diakses",
                "Website Desa {desa} tidak bisa dibuka {waktu}, informasi APBDes tidak dapat dilihat warga.",
            ),
            (
                "INFORMATION_REQUEST",
                "Data penerima bantuan desa",
                "Bagaimana cara memperoleh informasi daftar penerima bantuan di {desa} sesuai UU KIP?",
            ),
        ),
    ),
)
CATEGORY = {c.name: c for c in CATEGORIES}


@dataclass
class LaporData:
    """Every report, newest first, plus the planted outbreak reports' tracking IDs."""

    seed: int
    as_of: date
    reports: list[JSON]
    by_id: dict[str, JSON]
    outbreak_reports: list[JSON]

    def counts(self) -> dict[str, int]:
        return {"reports": len(self.reports), "agencies": len(AGENCIES)}

    def ground_truth(self) -> JSON:
        """The planted outbreak reports, JSON-ready."""

        return {
            "seed": self.seed,
            "as_of": self.as_of.isoformat(),
            "outbreak_reports": self.outbreak_reports,
            "counts": self.counts(),
        }


class _Writer:
    """Turns (when, where, who, topic) into report records."""

    def __init__(self, ds: Dataset, seed: int, residents: Residents) -> None:
        self.ds = ds
        self.seed = seed
        self.residents = residents
        self.now = wib(ds.as_of, 17 * 3600)
        self.families: dict[str, list[tuple[Any, ...]]] = {}
        for row in ds.keluarga:
            self.families.setdefault(row[5], []).append(row)
        self.schools: dict[str, list[str]] = {}
        for _npsn, nama, _bentuk, _status, kode, _alamat in ds.sekolah:
            self.schools.setdefault(dotted(kode)[:8], []).append(nama)
        self.puskesmas = {f.kode_faskes: f.nama for f in facilities()}
        self.cover = covering()

    def place(self, rng: random.Random, desa: str) -> str:
        """A street or hamlet with RT/RW in the desa (from a real household's address, without house number)."""

        names = self.residents.names
        kind = "Kel." if desa.split(".")[-1].startswith("1") else "Desa"
        families = self.families.get(desa)
        if not families:
            return f"{kind} {names[desa]}, Kec. {names[desa[:8]]}"
        _kk, _head, alamat, rt, rw, *_ = rng.choice(families)
        street = alamat.split(" No.")[0]
        return f"{street} RT {rt}/RW {rw}, {kind} {names[desa]}, Kec. {names[desa[:8]]}"

    def fill(self, rng: random.Random, desa: str, location: str) -> dict[str, str]:
        """Values for a report's template placeholders, drawn once so title and body agree."""

        names = self.residents.names
        kec = desa[:8]
        others = [v for v in self.residents.villages if v.startswith(kec + ".") and v != desa] or [desa]
        schools = self.schools.get(kec) or ["SD Negeri 1 " + names[desa]]
        return {
            "lokasi": location,
            "desa": names[desa],
            "kec": names[kec],
            "waktu": rng.choice(_WHEN),
            "desa_lain": names[rng.choice(others)],
            "puskesmas": self.puskesmas[self.cover[desa]],
            "sekolah": rng.choice(schools),
        }

    def progress(self, rng: random.Random, submitted: datetime) -> tuple[str, datetime]:
        """Status and last update, by how long ago the report came in (older ones are mostly closed)."""

        age = (self.now - submitted).total_seconds() / 86400
        if age > 60:
            weights = (0, 1, 2, 5, 92)
        elif age > 14:
            weights = (0, 5, 10, 25, 60)
        elif age > 1:
            weights = (20, 25, 25, 18, 12)
        else:
            weights = (70, 30, 0, 0, 0)
        status = rng.choices(STATUSES, weights)[0]
        delay_hours = {
            "BARU": (0, 0),
            "DIVERIFIKASI": (1, 48),
            "DIDISPOSISI": (24, 96),
            "DITINDAKLANJUTI": (48, 480),
            "SELESAI": (72, 1080),
        }[status]
        updated = submitted + timedelta(seconds=round(rng.uniform(*delay_hours) * 3600))
        return status, max(submitted, min(updated, self.now - timedelta(minutes=rng.randint(1, 90))))

    def record(
        self,
        rng: random.Random,
        *,
        submitted: datetime,
        channel: str,
        category: Category,
        kind: str,
        title: str,
        body: str,
        desa: str,
        location: str,
        reporter: str | None,
    ) -> JSON:
        status, updated = self.progress(rng, submitted)
        return {
            "tracking_id": "",
            "channel": channel,
            "kind": kind,
            "category": category.name,
            "title": title,
            "body": body,
            "agency": None if status in ("BARU", "DIVERIFIKASI") else category.agency,
            "region": desa,
            "location": location,
            "status": status,
            "submitted_at": submitted,
            "updated_at": updated,
            "reporter_nik": reporter,
        }


def build_lapor(ds: Dataset, seed: int | None = None) -> LaporData:
    """The complaint system's reports for ``ds`` (``seed`` defaults to the dataset's)."""

    seed = ds.seed if seed is None else seed
    rng = random.Random(f"demo-apis/{seed}/lapor")
    residents = Residents(ds)
    writer = _Writer(ds, seed, residents)
    living = [i for i in range(len(residents.rows)) if residents.alive(i)]
    span = int((writer.now - wib(FIRST_DAY)).total_seconds())
    weights = [c.weight for c in CATEGORIES]

    reports: list[JSON] = []
    for _ in range(max(20, round(len(residents.rows) * REPORT_RATE))):
        submitted = wib(FIRST_DAY) + timedelta(seconds=rng.randrange(span))
        if not 6 <= submitted.hour <= 22 and rng.random() < 0.8:  # fewer reports at night
            submitted -= timedelta(hours=9)
            submitted = max(submitted, wib(FIRST_DAY, 7 * 3600))
        while True:  # someone 17+ who lived here when they wrote
            person = living[rng.randrange(len(living))]
            if residents.rows[person][P_LAHIR] <= years_before(submitted.date(), 17):
                break
        home = residents.rows[person][P_WILAYAH]
        desa = (
            home if rng.random() < 0.8 else rng.choice([v for v in residents.villages if v.startswith(home[:8] + ".")])
        )
        channel = rng.choices(CHANNELS, _CHANNEL_WEIGHTS)[0]
        reporter = None if rng.random() < _ANONYMOUS[channel] else residents.rows[person][P_NIK]
        category = rng.choices(CATEGORIES, weights)[0]
        kind, title, body = rng.choice(category.templates)
        location = writer.place(rng, desa)
        values = writer.fill(rng, desa, location)
        closing = rng.choice(_CLOSING)
        reports.append(
            writer.record(
                rng,
                submitted=submitted,
                channel=channel,
                category=category,
                kind=kind,
                title=title.format(**values),
                body=(body.format(**values) + " " + closing).strip(),
                desa=desa,
                location=location,
                reporter=reporter,
            )
        )

    planted = _outbreak_reports(ds, seed, residents, writer)
    reports.extend(r for r, _ in planted)

    # Tracking numbers count up per year in order of arrival.
    reports.sort(key=lambda r: (r["submitted_at"], r["title"]))
    per_year: dict[int, int] = {}
    for r in reports:
        year = r["submitted_at"].year
        per_year[year] = per_year.get(year, 0) + 1
        r["tracking_id"] = f"TRK-{year}-{per_year[year]:06d}"
    reports.reverse()  # newest first
    truth = [
        {
            **meta,
            "tracking_id": r["tracking_id"],
            "agency": CATEGORY[r["category"]].agency,
            "category": r["category"],
            "submitted_at": r["submitted_at"].isoformat(),
            "reporter_nik": r["reporter_nik"],
        }
        for r, meta in planted
    ]
    return LaporData(seed, ds.as_of, reports, {r["tracking_id"]: r for r in reports}, truth)


def _outbreak_reports(ds: Dataset, seed: int, residents: Residents, writer: _Writer) -> list[tuple[JSON, JSON]]:
    """For each school outbreak: a parent's complaint to Dinkes and a question to Dindikpora."""

    pupil_nik = {row[S_NISN]: row[S_NIK] for row in ds.peserta_didik}
    names = residents.names
    planted: list[tuple[JSON, JSON]] = []
    for outbreak, code in zip(ds.outbreaks, outbreak_diseases(ds, seed), strict=True):
        rng = keyed_rng(seed, "lapor-outbreak", outbreak.npsn)
        desa = outbreak.kode_wilayah
        symptoms = SYMPTOMS[code]
        meta = {"npsn": outbreak.npsn, "school": outbreak.school, "kode_wilayah": desa, "kode_penyakit": code}
        first_day = outbreak.dates[0]
        location = f"{outbreak.school}, {'Kel.' if desa.split('.')[-1].startswith('1') else 'Desa'} {names[desa]}, Kec. {names[desa[:8]]}"

        parent = _parent_of_sick_pupil(rng, outbreak, pupil_nik, residents)
        day = outbreak.dates[min(1, len(outbreak.dates) - 1)]
        submitted = wib(day, rng.randint(18 * 3600, 21 * 3600))
        if submitted < writer.now:
            body = (
                f"Sejak {first_day.day} {_MONTHS[first_day.month]} banyak murid {outbreak.school} tidak masuk karena {symptoms}. "
                f"Anak kami juga sakit. Mohon puskesmas memeriksa dan memberi penyuluhan."
            )
            planted.append(
                (
                    writer.record(
                        rng,
                        submitted=submitted,
                        channel="WHATSAPP",
                        category=CATEGORY["Wabah/penyakit menular"],
                        kind="COMPLAINT",
                        title=f"Banyak murid {outbreak.school} sakit",
                        body=body,
                        desa=desa,
                        location=location,
                        reporter=parent,
                    ),
                    meta,
                )
            )

        day = outbreak.dates[-1]
        submitted = wib(day, rng.randint(7 * 3600, 12 * 3600))
        if submitted < writer.now:
            body = (
                f"Apakah kegiatan belajar di {outbreak.school} akan diliburkan? Banyak siswa kelas {outbreak.rombel} sakit "
                f"{symptoms} sejak beberapa hari ini."
            )
            planted.append(
                (
                    writer.record(
                        rng,
                        submitted=submitted,
                        channel=rng.choice(("WEB", "MEDSOS")),
                        category=CATEGORY["Sekolah/PPDB"],
                        kind="INFORMATION_REQUEST",
                        title=f"Murid {outbreak.school} banyak yang sakit",
                        body=body,
                        desa=desa,
                        location=location,
                        reporter=parent if rng.random() < 0.5 else None,
                    ),
                    meta,
                )
            )
    return planted


_MONTHS = {
    1: "Januari",
    2: "Februari",
    3: "Maret",
    4: "April",
    5: "Mei",
    6: "Juni",
    7: "Juli",
    8: "Agustus",
    9: "September",
    10: "Oktober",
    11: "November",
    12: "Desember",
}


def _parent_of_sick_pupil(
    rng: random.Random, outbreak: Outbreak, pupil_nik: dict[str, str | None], residents: Residents
) -> str | None:
    """The NIK of an adult on the family card of one of the sick pupils, or of an adult of the school's desa."""

    for nisn in rng.sample(outbreak.nisn, len(outbreak.nisn)):
        i = residents.index.get(pupil_nik.get(nisn) or "")
        if i is None:
            continue  # the pupil's NIK is missing or unknown to the registry (a planted quirk)
        adults = [j for j in residents.family(i) if residents.alive(j) and residents.age(j) >= 25]
        if adults:
            return str(residents.rows[rng.choice(adults)][P_NIK])
    adults = [
        j for j in residents.by_desa.get(outbreak.kode_wilayah, []) if residents.alive(j) and residents.age(j) >= 25
    ]
    return str(residents.rows[rng.choice(adults)][P_NIK]) if adults else None


def lapor_ground_truth(ds: Dataset, seed: int | None = None) -> JSON:
    """The reports :func:`create_lapor_app` planted about the school outbreaks (JSON-ready)."""

    return build_lapor(ds, seed).ground_truth()


# -- HTTP ----------------------------------------------------------------------------------


def _window(q: Query) -> tuple[int, int]:
    offset = q.integer("offset", 0, minimum=0)
    limit = q.integer("limit", 50, minimum=1, maximum=MAX_LIMIT)
    assert offset is not None and limit is not None
    return offset, limit


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=WIB)  # a time without offset is local time


def create_lapor_app(ds: Dataset, seed: int | None = None) -> Starlette:
    """The complaints API over ``ds`` as a Starlette app (``app.state.data`` holds its :class:`LaporData`)."""

    data = build_lapor(ds, seed)
    agencies = [{"code": code, "name": name} for code, name in sorted(AGENCIES.items())]

    async def list_reports(request: Request) -> Response:
        q = Query(request)
        agency = q.choice("agency", tuple(AGENCIES))
        region = q.matching("region", REGION_DOTTED, "a dotted Kemendagri code such as 35.03.12 or 35.03.12.2007")
        status = q.choice("status", STATUSES)
        kind = q.choice("kind", KINDS)
        channel = q.choice("channel", CHANNELS)
        category = q.text("category")
        reporter = q.matching("reporter_nik", NIK_RE, "a 16-digit NIK")
        since = _aware(q.moment("submitted_from"))
        until = _aware(q.moment("submitted_to", end_of_day=True))
        offset, limit = _window(q)
        folded = category.casefold() if category else None
        rows = [
            r
            for r in data.reports
            if (agency is None or r["agency"] == agency)
            and (region is None or r["region"] == region or r["region"].startswith(region + "."))
            and (status is None or r["status"] == status)
            and (kind is None or r["kind"] == kind)
            and (channel is None or r["channel"] == channel)
            and (folded is None or r["category"].casefold() == folded)
            and (reporter is None or r["reporter_nik"] == reporter)
            and (since is None or r["submitted_at"] >= since)
            and (until is None or r["submitted_at"] <= until)
        ]
        return ORJSONResponse(offset_envelope(request, rows, offset, limit))

    async def get_report(request: Request) -> Response:
        tracking_id = request.path_params["tracking_id"]
        report = data.by_id.get(tracking_id)
        if report is None:
            raise not_found(f"No report with tracking_id {tracking_id!r}.")
        return ORJSONResponse(report)

    async def list_agencies(request: Request) -> Response:
        offset, limit = _window(Query(request))
        return ORJSONResponse(offset_envelope(request, agencies, offset, limit))

    routes = [
        Route("/api/reports", list_reports, methods=["GET"]),
        Route("/api/reports/{tracking_id}", get_report, methods=["GET"]),
        Route("/api/agencies", list_agencies, methods=["GET"]),
    ]
    app = create_service_app(
        service=SERVICE, routes=routes, openapi=openapi_spec(), counts=data.counts(), as_of=data.as_of
    )
    app.state.data = data
    return app


# -- OpenAPI -------------------------------------------------------------------------------


def _offset_page(item: str) -> JSON:
    return {
        "type": "object",
        "required": ["count", "next", "previous", "results"],
        "additionalProperties": False,
        "properties": {
            "count": {"type": "integer", "minimum": 0, "description": "Records matching the filters."},
            "next": nullable(
                {"type": "string", "format": "uri", "description": "URL of the next page; null on the last."}
            ),
            "previous": nullable(
                {"type": "string", "format": "uri", "description": "URL of the previous page; null on the first."}
            ),
            "results": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
        },
    }


def openapi_spec() -> JSON:
    """The OpenAPI 3.1 description of the complaints API."""

    offset = parameter("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Records to skip.")
    limit = parameter(
        "limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}, "Page size."
    )
    schemas: JSON = {
        "Report": {
            "type": "object",
            "description": "One report (complaint, suggestion, aspiration or information request). Reporter may be anonymous.",
            "required": [
                "tracking_id",
                "channel",
                "kind",
                "category",
                "title",
                "body",
                "agency",
                "region",
                "location",
                "status",
                "submitted_at",
                "updated_at",
                "reporter_nik",
            ],
            "additionalProperties": False,
            "properties": {
                "tracking_id": {"type": "string", "pattern": r"^TRK-\d{4}-\d{6}$", "example": "TRK-2026-000123"},
                "channel": {"type": "string", "enum": list(CHANNELS)},
                "kind": {"type": "string", "enum": list(KINDS)},
                "category": {"type": "string", "enum": [c.name for c in CATEGORIES]},
                "title": {"type": "string"},
                "body": {"type": "string"},
                "agency": nullable(
                    {
                        "type": "string",
                        "enum": list(AGENCIES),
                        "description": "OPD the report is disposed to; null until dispatched (BARU, DIVERIFIKASI).",
                    }
                ),
                "region": {
                    "type": "string",
                    "pattern": r"^35\.03\.\d{2}\.\d{4}$",
                    "description": "Desa/kelurahan (dotted code).",
                },
                "location": {
                    "type": "string",
                    "description": "Where, in words (hamlet or street, RT/RW, desa, kecamatan).",
                },
                "status": {"type": "string", "enum": list(STATUSES)},
                "submitted_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "reporter_nik": nullable(
                    {"type": "string", "pattern": r"^\d{16}$", "description": "Null for anonymous reports."}
                ),
            },
        },
        "ReportPage": _offset_page("Report"),
        "Agency": {
            "type": "object",
            "required": ["code", "name"],
            "additionalProperties": False,
            "properties": {"code": {"type": "string", "enum": list(AGENCIES)}, "name": {"type": "string"}},
        },
        "AgencyPage": _offset_page("Agency"),
    }
    ref = "#/components/schemas/"
    paths: JSON = {
        "/api/reports": {
            "get": {
                "operationId": "listReports",
                "summary": "Reports, newest first.",
                "parameters": [
                    parameter("agency", "query", {"type": "string", "enum": list(AGENCIES)}, "Disposed-to OPD code."),
                    parameter(
                        "region",
                        "query",
                        {"type": "string", "pattern": r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$"},
                        "Dotted region code; matches that region and everything inside it.",
                        example="35.03.12",
                    ),
                    parameter("status", "query", {"type": "string", "enum": list(STATUSES)}, "Processing status."),
                    parameter(
                        "category",
                        "query",
                        {"type": "string", "enum": [c.name for c in CATEGORIES]},
                        "Category (case-insensitive exact match).",
                    ),
                    parameter("kind", "query", {"type": "string", "enum": list(KINDS)}, "Kind of report."),
                    parameter("channel", "query", {"type": "string", "enum": list(CHANNELS)}, "Channel it came in by."),
                    parameter(
                        "reporter_nik", "query", {"type": "string", "pattern": r"^\d{16}$"}, "Reports by this person."
                    ),
                    parameter(
                        "submitted_from",
                        "query",
                        {"type": "string"},
                        "Submitted at or after: ISO date or datetime (no offset = WIB).",
                        example="2026-11-01",
                    ),
                    parameter(
                        "submitted_to",
                        "query",
                        {"type": "string"},
                        "Submitted at or before: ISO date (whole day) or datetime.",
                        example="2026-11-27T23:59:59+07:00",
                    ),
                    offset,
                    limit,
                ],
                "responses": {
                    "200": json_response("A page of reports.", {"$ref": ref + "ReportPage"}),
                    **error_responses(400),
                },
            }
        },
        "/api/reports/{tracking_id}": {
            "get": {
                "operationId": "getReport",
                "summary": "One report by tracking ID.",
                "parameters": [
                    parameter("tracking_id", "path", {"type": "string"}, "Tracking ID.", example="TRK-2026-000123")
                ],
                "responses": {"200": json_response("The report.", {"$ref": ref + "Report"}), **error_responses(404)},
            }
        },
        "/api/agencies": {
            "get": {
                "operationId": "listAgencies",
                "summary": "OPD codes reports are disposed to.",
                "parameters": [offset, limit],
                "responses": {
                    "200": json_response("A page of agencies.", {"$ref": ref + "AgencyPage"}),
                    **error_responses(400),
                },
            }
        },
    }
    return openapi_document(
        title="Pengaduan Masyarakat (SP4N-LAPOR!) Kabupaten Trenggalek API (demo)",
        description=__doc__ or "",
        version="2.1.0",
        paths=paths,
        schemas=schemas,
        server=f"http://127.0.0.1:{DEFAULT_PORT}",
    )
