"""The gateway config that ``satudata demo`` writes beside the demo databases.

It is the worked example of onboarding an OPD by configuration: each vocabulary field is
mapped to the Indonesian column the OPD's own system uses. Copy it, point a ``url`` at a
real database (``env:VAR`` keeps credentials out of the file), and serve it with
``satudata serve --config FILE``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

REGISTRY_FILE = "dispendukcapil.sqlite"
EDUCATION_FILE = "dinas-pendidikan.sqlite"

_TEMPLATE = '''\
# Satu Data Trenggalek gateway configuration (written by `satudata demo`).
# Each [sources.NAME] is one OPD system, read live; nothing is copied into the gateway.
# Point `url` at a real database to onboard it, e.g. url = "env:SIAK_DB_URL" with
# SIAK_DB_URL=postgresql+asyncpg://user@host/siak in the environment.

[gateway]
title = "Satu Data Trenggalek (demo)"

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
[sources.dapodik.entities.Attendance.fields]
nisn = "nisn"
school = "npsn"
date = "tanggal"
status = {{ column = "status", values = {{ H = "PRESENT", S = "SICK", I = "PERMITTED", A = "ABSENT" }} }}
'''

_EXAMPLES = [
    (
        "A resident, their family and schooling",
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
    student { nisn grade school { name level } }
  }
}
""",
        "nik",
    ),
    (
        "A school's pupils, across registry and Dapodik",
        """query SchoolPupils($npsn: NPSN!) {
  school(npsn: $npsn) {
    name
    level
    region { name }
    students {
      nisn
      name
      birthDate
      person { name birthDate status }
    }
  }
}
""",
        "npsn",
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
        "npsn",
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
        "first",
    ),
    (
        "Agencies and their sources",
        """query Agencies {
  agencies { code name shortName sources { name kind system entities } }
}
""",
        None,
    ),
]


def sample_keys(data_dir: Path) -> dict[str, object]:
    """A NIK, NPSN and NISN from the demo data for the preloaded examples: a pupil in a family of 3+."""

    with sqlite3.connect(data_dir / EDUCATION_FILE) as conn:
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


def render_config(*, registry_url: str, education_url: str, samples: dict[str, object] | None = None) -> str:
    """The demo gateway config as TOML text."""

    text = _TEMPLATE.format(registry_url=json.dumps(registry_url), education_url=json.dumps(education_url))
    for title, query, variable in _EXAMPLES:
        text += f"\n[[graphiql.examples]]\ntitle = {json.dumps(title)}\nquery = '''\n{query}'''\n"
        if variable is not None and samples and variable in samples:
            text += f"variables = {json.dumps(json.dumps({variable: samples[variable]}))}\n"
    return text


def write_demo_config(data_dir: Path) -> Path:
    """Write ``gateway.toml`` into ``data_dir`` (SQLite paths relative to it, so the folder can move)."""

    path = data_dir / "gateway.toml"
    path.write_text(
        render_config(
            registry_url=f"sqlite+aiosqlite:///{REGISTRY_FILE}",
            education_url=f"sqlite+aiosqlite:///{EDUCATION_FILE}",
            samples=sample_keys(data_dir),
        ),
        encoding="utf-8",
    )
    return path
