"""The gateway config that ``satudata demo`` writes beside the demo databases.

It is the worked example of onboarding an OPD by configuration: each vocabulary field is
mapped to the Indonesian column the OPD's own system uses. Copy it, point a ``url`` at a
real database (``env:VAR`` keeps credentials out of the file), and serve it with
``satudata serve --config FILE``.
"""

from __future__ import annotations

import json
import sqlite3
import tomllib
from contextlib import closing
from pathlib import Path

from .access_config import DemoClient, demo_clients, example_headers, render_access
from .api_config import (
    DINSOS,
    FEEDBACK_AGENCIES,
    FEEDBACK_EXAMPLES,
    LAPOR,
    PROGRAMME_EXAMPLE,
    SEPEDA_KEREN,
    AgencyEntry,
    sample_participant,
)
from .load import create_private_file
from .portal_config import JKN, JKN_AGENCY, PORTAL_EXAMPLE
from .regions import kecamatan_of

REGISTRY_FILE = "dispendukcapil.sqlite"
EDUCATION_FILE = "dinas-pendidikan.sqlite"

_TEMPLATE = '''\
# Satu Data Trenggalek gateway configuration (written by `satudata demo`).
# Each [sources.NAME] is one OPD system, read live; nothing is copied into the gateway.
# Point `url` at a real database to onboard it, e.g. url = "env:SIAK_DB_URL" with
# SIAK_DB_URL=postgresql+asyncpg://user@host/siak in the environment.

[gateway]
title = "Satu Data Trenggalek (demo)"{cursor_key}

# Abuse limits (see README "Abuse limits"): the defaults, with list lengths that match the data.
# The cost estimate multiplies each list's assumed length into what hangs under it, so a list
# without a size argument is assumed as long as the demo data makes it at scale 1.0 (Trenggalek's
# real size: `python -m demo --scale 1.0`; `satudata demo`'s default 0.1 has 81 schools and fewer
# SKDR lines, otherwise the same shape). Measured from demo/ (education.py, registry.py,
# regions.py, apis/faskes.py, apis/dinkes.py, apis/sepeda_keren.py) with seed 3503.
[limits]
max_representations = 100     # entities one query may ask of `_entities`; a router sends batches

[limits.list_sizes]
# Where a length depends on the parent, the largest: a client can always ask for that parent.
"Region.children" = 17        # desa of the largest kecamatan (the regency has 14 kecamatan)
"Region.schools" = 805        # every school of the regency 35.03 (SD 500, MI 120, SMP 90, MTs 40, SMA 30, SMK 25)
"Region.healthFacilities" = 22  # puskesmas covering the regency (the 2 RSUD have no working area)
"Region.caseReports" = {{ each = 526, from = "fromWeek", to = "toWeek" }}  # SKDR lines of the regency in its busiest week, per week asked
"HealthFacility.coverage" = 12  # desa in the largest puskesmas working area
"HealthFacility.caseReports" = {{ each = 41, from = "fromWeek", to = "toWeek" }}  # SKDR lines of one puskesmas in its busiest week
"School.attendance" = {{ each = 1, from = "from", to = "to", most = 98 }}  # one row per day asked; the term holds 98 school days
# Lists reached through many parents: the mean, because the estimate multiplies it by the number
# of parents (50 schools x 150.3 pupils is what a page of 50 schools holds); the largest single
# school (1,189 pupils) or family (8) is far inside max_cost on its own.
"School.students" = 150.3     # 120,980 pupils in 805 schools (largest 1,189; 95th percentile 394)
"Family.members" = 3.3        # 750,000 residents on 224,435 family cards (largest 8)
"Person.programmes" = 2       # Sepeda Keren classes of the most-enrolled participant
"ProgrammeParticipation.attendance" = 11  # sessions of the longest class
"Programme.sessions" = 11     # sessions of the longest class
"Programme.modules" = 8       # modules of the longest curriculum
"Query.agencies" = 14         # agencies with every demo API configured
"Agency.sources" = 1          # each demo agency runs one system
"Region.residentCounts" = 6   # counts by sex (2) x status (3) in the registry
"School.pupilCounts" = 12     # counts by grade (6 at an SD or MI) x sex (2)
"Discrepancy.values" = 2      # both sides of a discrepancy: the authority and the other agency
"Person.discrepancies" = 8    # a pupil's record on five facts, and alive or dead in the three other systems
"Query.discrepancyCounts" = 112  # Dapodik's five facts x kecamatan (14), and ALIVE x kecamatan for the three other systems
"DiscrepancyConnection.comparisons" = 4  # Dapodik, the health office, the JKN portal, Sepeda Keren
"Query.absenceAlerts" = 60    # alerts over a whole term: 6 at scale 0.1, the regency at 1.0 taken as ten times that
"AbsenceAlert.desaSpread" = 36  # at most one desa per pupil counted: the largest class (an SMA's 36)
"AbsenceAlert.pupils" = 36     # the pupils counted: at most the largest class (an SMA's 36)
"AbsenceAlert.healthFacilities" = 1  # one puskesmas covers each desa
"AbsenceAlert.caseReports" = 130  # two weeks of a kecamatan: 20 lines a week at scale 0.1, ~65 estimated at 1.0

[[agencies]]
code = "DISDUKCAPIL"
name = "Dinas Kependudukan dan Pencatatan Sipil"
short_name = "Dispendukcapil"
description = "Civil registry: residents (NIK), family cards (KK), addresses, civil status."

[[agencies]]
code = "DINDIKPORA"
name = "Dinas Pendidikan, Pemuda dan Olahraga"
short_name = "Dinas Pendidikan"
description = "Schools (NPSN), pupils (NISN) and their daily attendance."

[sources.siak]
kind = "sql"
agency = "DISDUKCAPIL"
system = "SIAK"
description = "Population register of Kabupaten Trenggalek (SIAK-like), with the Kemendagri region list."
url = {registry_url}
timeout_s = 5

[sources.siak.entities.Person]
table = "penduduk"
key = "nik"
[sources.siak.entities.Person.fields]
nik = "nik"
kk = "no_kk"
name = "nama_lengkap"
sex = {{ column = "jenis_kelamin", values = {{ L = "MALE", P = "FEMALE" }} }}
birthPlace = "tempat_lahir"
birthDate = "tanggal_lahir"
religion = {{ column = "agama", values = {{ ISLAM = "ISLAM", KRISTEN = "PROTESTANT", KATOLIK = "CATHOLIC", HINDU = "HINDU", BUDHA = "BUDDHIST", KONGHUCU = "CONFUCIAN", KEPERCAYAAN = "BELIEF" }} }}
maritalStatus = {{ column = "status_perkawinan", values = {{ "BELUM KAWIN" = "SINGLE", KAWIN = "MARRIED", "CERAI HIDUP" = "DIVORCED", "CERAI MATI" = "WIDOWED" }} }}
familyRelation = {{ column = "shdk", values = {{ "KEPALA KELUARGA" = "HEAD", ISTRI = "SPOUSE", SUAMI = "SPOUSE", ANAK = "CHILD", MENANTU = "CHILD_IN_LAW", CUCU = "GRANDCHILD", "ORANG TUA" = "PARENT", MERTUA = "PARENT_IN_LAW", "FAMILI LAIN" = "OTHER_RELATIVE", LAINNYA = "OTHER" }} }}
occupation = "pekerjaan"
regionCode = "kode_wilayah"
status = {{ column = "status_penduduk", values = {{ HIDUP = "ALIVE", MATI = "DECEASED", PINDAH = "MOVED_AWAY" }} }}
updatedAt = "tgl_update"

[sources.siak.entities.Family]
table = "keluarga"
key = "kk"
[sources.siak.entities.Family.fields]
kk = "no_kk"
headNik = "nik_kepala"
address = "alamat"
rt = "rt"
rw = "rw"
regionCode = "kode_wilayah"
issuedOn = "tgl_terbit"
updatedAt = "tgl_update"

[sources.siak.entities.Region]
table = "wilayah"
key = "code"
[sources.siak.entities.Region.fields]
code = "kode"
name = "nama"
level = {{ column = "tingkat", values = {{ provinsi = "PROVINCE", kabupaten = "REGENCY", kecamatan = "DISTRICT", desa = "VILLAGE", kelurahan = "URBAN_VILLAGE" }} }}
parentCode = "kode_induk"

[sources.dapodik]
kind = "sql"
agency = "DINDIKPORA"
system = "Dapodik"
description = "School and pupil records (Dapodik-like) with daily attendance per pupil."
url = {education_url}
timeout_s = 5

[sources.dapodik.entities.School]
table = "sekolah"
key = "npsn"
[sources.dapodik.entities.School.fields]
npsn = "npsn"
name = "nama"
level = {{ column = "bentuk_pendidikan", values = {{ SD = "SD", MI = "MI", SMP = "SMP", MTs = "MTS", SMA = "SMA", SMK = "SMK" }} }}
ownership = {{ column = "status_sekolah", values = {{ NEGERI = "PUBLIC", SWASTA = "PRIVATE" }} }}
address = "alamat_jalan"
# Dapodik writes the Kemendagri code without dots (3503082011); the vocabulary uses 35.03.08.2011.
regionCode = {{ column = "kode_wilayah", transform = "region_code_digits" }}

[sources.dapodik.entities.Student]
table = "peserta_didik"
key = "nisn"
[sources.dapodik.entities.Student.fields]
nisn = "nisn"
nik = "nik"
name = "nama"
sex = {{ column = "jenis_kelamin", values = {{ L = "MALE", P = "FEMALE" }} }}
birthPlace = "tempat_lahir"
birthDate = "tanggal_lahir"
school = "npsn"
grade = "tingkat_pendidikan"
className = "nama_rombel"
enrolledOn = "tanggal_masuk_sekolah"

[sources.dapodik.entities.Attendance]
table = "kehadiran"
key = "nisn"
# The pupil's class and NIK beside each attendance row, so absence can be counted per class (rombel)
# at the source (absenceAlerts); a LEFT JOIN on the pupil's key, dropped by the database when unused.
join = {{ table = "peserta_didik", on = {{ nisn = "nisn" }} }}
[sources.dapodik.entities.Attendance.fields]
nisn = "nisn"
school = "npsn"
date = "tanggal"
status = {{ column = "status", values = {{ H = "PRESENT", S = "SICK", I = "PERMITTED", A = "ABSENT" }} }}
className = "peserta_didik.nama_rombel"
nik = "peserta_didik.nik"

# Where the OPDs' records of one person disagree (the `discrepancies` report), which system is
# the authority for each fact: the civil registry for identity. The other side is the one to
# correct (README, "One truth"). A fact left out falls to the system answering Person.
[discrepancies.authority]
NAME = "siak"
BIRTH_DATE = "siak"
SEX = "siak"
REGION = "siak"
ALIVE = "siak"
NIK = "siak"
'''

#: (title, query, {variable: sample key}) of each preloaded GraphiQL example.
Example = tuple[str, str, dict[str, str]]

_EXAMPLES: list[Example] = [
    (
        "A resident and their family",
        """query Person($nik: NIK!) {
  person(nik: $nik) {
    name
    sex
    birthDate
    status
    region { name parent { name } }
    family {
      kk
      address
      members { nik name familyRelation birthDate }
    }
  }
}
""",
        {"nik": "nik"},
    ),
    (
        "A school's pupils, across registry and Dapodik",
        """query SchoolPupils($npsn: NPSN!) {
  school(npsn: $npsn) {
    name
    level
    students {
      nisn
      name
      birthYear
    }
    region { name parent { name } }
  }
}
""",
        {"npsn": "npsn"},
    ),
    (
        "Daily attendance at a school",
        """query Attendance($npsn: NPSN!) {
  school(npsn: $npsn) {
    name
    attendance(from: "2026-11-02", to: "2026-11-27") { date present sick permitted absent total }
  }
}
""",
        {"npsn": "npsn"},
    ),
    (
        "Schools of a kecamatan, paged",
        """query Schools($first: Int, $after: String) {
  schools(first: $first, after: $after, filter: { region: "35.03.08" }) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { npsn name level ownership } }
  }
}
""",
        {"first": "first"},
    ),
    (
        "Agencies and their sources",
        """query Agencies {
  agencies { code name shortName sources { name kind system entities } }
}
""",
        {},
    ),
]


_SIGNAL_EXAMPLE: Example = (
    "Sick pupils and case reports in the school's desa",
    """query Signal($npsn: NPSN!) {
  school(npsn: $npsn) {
    name
    region {
      name
      healthFacilities { name }
      caseReports(year: 2026, fromWeek: 44, toWeek: 47) { week disease diseaseName cases alert }
    }
    attendance(from: "2026-11-02", to: "2026-11-27") { date sick absent total }
  }
}
""",
    {"npsn": "npsn"},
)


#: The registry's change capture (issue 11; docs/change-capture.md): a watermark poll of
#: ``penduduk.tgl_update`` every 2 s, the kinds from SIAK's own ``mutasi`` records (which the demo's
#: change simulator writes, as SIAK would), the position in ``changes.sqlite`` beside this file.
REGISTRY_CHANGES = """
[sources.siak.changes]
kind = "poll"
entity = "Person"
table = "penduduk"
key = "nik"
change = "tgl_update"
region = "kode_wilayah"
interval_s = 2
status_column = "status_penduduk"
died_values = ["MATI"]
moved_away_values = ["PINDAH"]
born_column = "tanggal_lahir"

[sources.siak.changes.events]
table = "mutasi"
key = "nik"
at_column = "tgl_mutasi"
from_column = "dari_wilayah"
to_column = "ke_wilayah"
kind_column = "jenis"
kinds = { LAHIR = "BORN", MATI = "DIED", PINDAH = "MOVED", PERBAIKAN = "UPDATED" }
"""

#: Schools' recorded days (issue 12, ``absenceAlertRaised``): a watermark poll of Dapodik's daily register
#: (``rekap_kehadiran.last_update``, one line per school and day, written with the pupils' ``kehadiran``
#: rows; the demo's attendance simulator records days as a school operator would), every 2 s. Each line
#: is an ``AttendanceDay`` ``RECORDED`` notice keyed ``{npsn}:{YYYY-MM-DD}`` in the school's desa.
EDUCATION_CHANGES = """
[sources.dapodik.changes]
kind = "poll"
entity = "AttendanceDay"
table = "rekap_kehadiran"
key = ["npsn", "tanggal"]
change = "last_update"
region = "kode_wilayah"
region_transform = "region_code_digits"
default_kind = "RECORDED"
interval_s = 2
"""

#: Births, deaths, moves and corrections in the regency as the registry records them (the demo's
#: change simulator writes some every minute), read live under the registry officer's policy.
RESIDENT_CHANGES_EXAMPLE: Example = (
    "Live: residents' changes in the regency",
    """subscription ResidentChanges {
  residentChanges(region: "35.03") {
    kind
    at
    person { nik name birthDate region { name parent { name } } }
  }
}
""",
    {},
)


#: What the alert examples show of each alert (the query adds the clinics' case reports).
_ALERT_FIELDS = """
    date
    school { npsn name region { name parent { name } } }
    rombel
    count
    threshold
    expected
    dayFactor
    samePupils
    baseline { mean sd days }
    method
    desaSpread { count region { name } }
    healthFacilities { name }"""


#: The Smart Center's early warnings (issue 12): classes with pupils off sick beyond their own baseline,
#: each with the health office's reports of its kecamatan, as the Smart Center analyst reads them.
ALERT_EXAMPLE: Example = (
    "Absence alerts with the clinics' reports",
    f"""query AbsenceAlerts {{
  absenceAlerts(from: "2026-11-02", to: "2026-11-27") {{{_ALERT_FIELDS}
    caseReports {{ week disease diseaseName cases alert region {{ name }} facility {{ name }} }}
  }}
}}
""",
    {},
)


#: Early warnings as they are raised: each alert the moment a school's day is recorded (the demo's
#: attendance simulator records an outbreak now and then), as the Smart Center analyst reads it.
ALERT_RAISED_EXAMPLE: Example = (
    "Live: absence alerts as schools record their days",
    f"""subscription AbsenceAlertRaised {{
  absenceAlertRaised(region: "35.03") {{{_ALERT_FIELDS}
  }}
}}
""",
    {},
)


#: The discrepancy report, as the owning OPD's officer reads it (a school operator: its own pupils in
#: Dapodik against the registry), and the counts the Smart Center analyst reads instead.
DISCREPANCY_EXAMPLES: list[Example] = [
    (
        "Discrepancies between Dapodik and the registry",
        """query Discrepancies($first: Int) {
  discrepancies(first: $first) {
    pageInfo { hasNextPage endCursor }
    comparisons { source complete agency { shortName } }
    nodes {
      fact
      authority
      region { name parent { name } }
      values {
        source
        authoritative
        record
        updatedAt
        name
        birthDate
        sex
        alive
        nik
        agency { shortName }
      }
    }
  }
}
""",
        {"first": "first"},
    ),
    (
        "Discrepancy counts per agency and kecamatan",
        """query DiscrepancyCounts {
  discrepancyCounts { fact count agency { shortName } region { name } }
}
""",
        {},
    ),
]


#: The health office's side of the report, as its own officer reads it (the demo's puskesmas officer:
#: Watulimo's residents whom the registry records as dead while a patient record of theirs is active).
PATIENT_DISCREPANCY_EXAMPLE: Example = (
    "Deaths the health office was not told of",
    """query PatientsRecordedDead($first: Int) {
  discrepancies(first: $first, fact: ALIVE, agency: "DINKES") {
    totalCount
    comparisons { source complete }
    nodes {
      region { name parent { name } }
      person { nik name }
      values { source authoritative record alive updatedAt agency { shortName } }
    }
  }
}
""",
    {"first": "first"},
)


def sample_keys(data_dir: Path) -> dict[str, object]:
    """A NIK, NPSN and NISN from the demo data for the preloaded examples: a pupil in a family of 3+."""

    # closing(): sqlite3's own `with` ends a transaction but leaves the connection open.
    with closing(sqlite3.connect(data_dir / EDUCATION_FILE)) as conn:
        conn.execute("ATTACH DATABASE ? AS siak", (str(data_dir / REGISTRY_FILE),))
        row = conn.execute(
            """
            SELECT pd.nik, pd.npsn, pd.nisn FROM peserta_didik pd
            JOIN siak.penduduk p ON p.nik = pd.nik
            WHERE (SELECT count(*) FROM siak.penduduk m WHERE m.no_kk = p.no_kk) >= 3
            ORDER BY pd.nisn LIMIT 1
            """
        ).fetchone()
    nik, npsn, nisn = row
    return {"nik": nik, "npsn": npsn, "nisn": nisn, "first": 5}


def _kecamatan_of(data_dir: Path, nik: object) -> str | None:
    """The kecamatan (``35.03.08``) where the resident with this NIK lives, from the demo registry."""

    if not isinstance(nik, str):
        return None
    with closing(sqlite3.connect(data_dir / REGISTRY_FILE)) as conn:
        row = conn.execute("SELECT kode_wilayah FROM penduduk WHERE nik = ?", (nik,)).fetchone()
    return None if row is None else kecamatan_of(str(row[0]))


_DINKES = '''
[[agencies]]
code = "DINKES"
name = "Dinas Kesehatan, Pengendalian Penduduk dan Keluarga Berencana"
short_name = "Dinkes PPKB"
description = "Health facilities (puskesmas, RSUD), SKDR weekly case reports, patient records (SATUSEHAT-like)."

# An OPD with only an HTTP API: JSON field names are mapped like columns (dotted paths).
[sources.dinkes]
kind = "rest"
agency = "DINKES"
system = "SIKDA / SKDR / SATUSEHAT (demo API)"
description = "The health office's API: facilities and their working areas, weekly SKDR reports, patients by NIK."
base_url = {dinkes_url}
timeout_s = 3
retries = 1
max_concurrency = 8

[sources.dinkes.entities.HealthFacility]
path = "/api/v1/faskes"
key = "code"
records = "data"
record = "data"
pagination = {{ style = "page", page_param = "page", size_param = "per_page", size = 100, total_pages = "meta.total_pages" }}
lookup = {{ code = "/api/v1/faskes/{{value}}" }}
params = {{ regionCode = {{ param = "kode_wilayah", op = "prefix" }}, kind = "jenis" }}
[sources.dinkes.entities.HealthFacility.fields]
code = "kode_faskes"
name = "nama"
kind = {{ column = "jenis", values = {{ PUSKESMAS_RAWAT_INAP = "PUSKESMAS_INPATIENT", PUSKESMAS_NON_RAWAT_INAP = "PUSKESMAS_OUTPATIENT", RSUD = "HOSPITAL" }} }}
address = "alamat"
phone = "telepon"
regionCode = {{ column = "kode_wilayah", transform = "region_code_digits" }}
coverage = {{ column = "wilayah_kerja", transform = "region_code_digits" }}

[sources.dinkes.entities.CaseReport]
path = "/api/v1/skdr/laporan-mingguan"
key = "week"
records = "data"
pagination = {{ style = "page", page_param = "page", size_param = "per_page", size = 100, total_pages = "meta.total_pages" }}
params = {{ facility = "kode_faskes", year = "tahun", disease = "kode_penyakit", regionCode = {{ param = "kode_wilayah", op = "prefix" }}, week = [{{ param = "minggu_mulai", op = "gte" }}, {{ param = "minggu_akhir", op = "lte" }}] }}
[sources.dinkes.entities.CaseReport.fields]
facility = "kode_faskes"
regionCode = {{ column = "kode_wilayah", transform = "region_code_digits" }}
year = "tahun"
week = "minggu_epid"
disease = "kode_penyakit"
diseaseName = "nama_penyakit"
cases = "jumlah_kasus"
threshold = "ambang"
alert = "status_alert"

[sources.dinkes.entities.Patient]
path = "/api/v1/pasien"
key = "nik"
records = "data"
batch = {{ nik = {{ param = "nik", max = 100 }} }}
[sources.dinkes.entities.Patient.fields]
nik = "nik"
ihsNumber = "ihs_number"
facility = "kode_faskes_terdaftar"
bloodType = "golongan_darah"
registeredOn = {{ column = "tanggal_registrasi", type = "date" }}
chronicConditions = "penyakit_kronis"
hasDisability = "status_disabilitas"
disabilityType = {{ column = "jenis_disabilitas", values = {{ FISIK = "PHYSICAL", SENSORIK_NETRA = "VISUAL", SENSORIK_RUNGU_WICARA = "HEARING_SPEECH", INTELEKTUAL = "INTELLECTUAL", MENTAL = "MENTAL", GANDA = "MULTIPLE" }} }}
# Whether the office records the patient as dead: compared with the registry's deaths (discrepancies).
deceased = "meninggal"
'''


def render_config(
    *,
    registry_url: str,
    education_url: str,
    dinkes_url: str | None = None,
    sepeda_keren_url: str | None = None,
    lapor_url: str | None = None,
    jkn_url: str | None = None,
    samples: dict[str, object] | None = None,
    access: bool = False,
    cursor_key: str | None = None,
    changes: bool = False,
) -> str:
    """The demo gateway config as TOML text; each API-only OPD is included when its URL is given.

    With ``access`` it carries the demo's access policy, clients and audit log
    (``demo.access_config``), as ``satudata demo`` serves it; without, every field is public
    and nothing is audited (development mode: tests of other concerns, the benchmark).

    ``samples`` fills the GraphiQL examples' variables: each example names, per variable, the
    sample key whose value it takes (``{"nik": "participant"}``); an example whose sample is
    missing is preloaded without variables.

    ``cursor_key`` becomes ``[gateway] cursor_key``, for a caller that makes its own cursors (the
    benchmark); without it the gateway seals cursors with a key of its own process.

    ``changes`` adds the registry's change capture (``[sources.siak.changes]``: the watermark poll
    of ``tgl_update`` with SIAK's ``mutasi`` records for the kinds, as ``satudata demo`` runs it
    beside the change simulator) and the ``residentChanges`` example; and Dapodik's
    (``[sources.dapodik.changes]``: its daily register, which the attendance simulator writes) with
    the ``absenceAlertRaised`` example.
    """

    text = _TEMPLATE.format(
        registry_url=json.dumps(registry_url),
        education_url=json.dumps(education_url),
        cursor_key=f"\ncursor_key = {json.dumps(cursor_key)}" if cursor_key else "",
    )
    if changes:
        text += REGISTRY_CHANGES + EDUCATION_CHANGES
    if dinkes_url is not None:
        text += _DINKES.format(dinkes_url=json.dumps(dinkes_url))
    agencies: list[AgencyEntry] = []
    if sepeda_keren_url is not None:
        text += SEPEDA_KEREN.format(sepeda_keren_url=json.dumps(sepeda_keren_url))
        agencies.append(DINSOS)
    if lapor_url is not None:
        text += LAPOR.format(lapor_url=json.dumps(lapor_url))
        agencies.extend(FEEDBACK_AGENCIES)
    if jkn_url is not None:
        text += JKN.format(jkn_url=json.dumps(jkn_url.rstrip("/") + "/graphql"))
        agencies.append(JKN_AGENCY)
    declared = {str(a["code"]) for a in tomllib.loads(text)["agencies"]}
    for agency in agencies:
        if agency.code not in declared:
            declared.add(agency.code)
            text += agency.toml()

    examples = list(_EXAMPLES)
    examples[-1:-1] = DISCREPANCY_EXAMPLES
    if dinkes_url is not None:
        examples.insert(3, _SIGNAL_EXAMPLE)
        examples.insert(4, ALERT_EXAMPLE)
    if sepeda_keren_url is not None:
        examples.insert(1, PROGRAMME_EXAMPLE)
    if lapor_url is not None:
        examples[-1:-1] = FEEDBACK_EXAMPLES
    if jkn_url is not None:
        examples.insert(2, PORTAL_EXAMPLE)
    if changes:
        examples.insert(1, RESIDENT_CHANGES_EXAMPLE)
        if dinkes_url is not None:  # beside the absenceAlerts example
            examples.insert(examples.index(ALERT_EXAMPLE) + 1, ALERT_RAISED_EXAMPLE)
    if dinkes_url is not None:  # the health office's side of the report, beside Dapodik's
        examples.insert(examples.index(DISCREPANCY_EXAMPLES[0]) + 1, PATIENT_DISCREPANCY_EXAMPLE)
    clients: list[DemoClient] = []
    if access:
        npsn, region = (samples or {}).get("npsn"), (samples or {}).get("participant_kecamatan")
        clients = demo_clients(npsn if isinstance(npsn, str) else None, region if isinstance(region, str) else None)
        text += render_access(clients)
    for title, query, variables in examples:
        text += f"\n[[graphiql.examples]]\ntitle = {json.dumps(title)}\nquery = '''\n{query}'''\n"
        values = {name: (samples or {}).get(key) for name, key in variables.items()}
        if values and all(v is not None for v in values.values()):
            text += f"variables = {json.dumps(json.dumps(values))}\n"
        headers = example_headers(title, clients, {"X-Satudata-Trace": "sources"}) if access else None
        if headers:
            text += f"headers = {json.dumps(json.dumps(headers, indent=2))}\n"
    return text


def write_demo_config(
    data_dir: Path,
    *,
    dinkes_url: str | None = None,
    sepeda_keren_url: str | None = None,
    lapor_url: str | None = None,
    jkn_url: str | None = None,
) -> Path:
    """Write ``gateway.toml`` into ``data_dir`` (SQLite paths relative to it, so the folder can move)."""

    samples = sample_keys(data_dir)
    if sepeda_keren_url is not None:
        samples["participant"] = sample_participant(sepeda_keren_url)
        samples["participant_kecamatan"] = _kecamatan_of(data_dir, samples["participant"])
    path = data_dir / "gateway.toml"
    create_private_file(path)  # it holds the audit's subject key: 0600 before the first byte
    path.write_text(
        render_config(
            registry_url=f"sqlite+aiosqlite:///{REGISTRY_FILE}",
            education_url=f"sqlite+aiosqlite:///{EDUCATION_FILE}",
            dinkes_url=dinkes_url,
            sepeda_keren_url=sepeda_keren_url,
            lapor_url=lapor_url,
            jkn_url=jkn_url,
            samples=samples,
            access=True,
            changes=True,
        ),
        encoding="utf-8",
    )
    return path
