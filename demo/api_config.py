"""Config tables for two API-only OPDs: Sepeda Keren (Dinas Sosial) and LAPOR! (Diskominfo).

``demo.gateway_config.render_config`` appends these when it is given the services' URLs. They
are the worked example of mapping APIs that answer a list per key (a class's sessions, a
session's attendance), one person per call (no batch), and nested lists (a participant's
enrolments), plus the agencies a citizen's report can be disposed to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class AgencyEntry:
    code: str
    name: str
    short_name: str
    description: str

    def toml(self) -> str:
        return (
            f"\n[[agencies]]\ncode = {json.dumps(self.code)}\nname = {json.dumps(self.name)}\n"
            f"short_name = {json.dumps(self.short_name)}\ndescription = {json.dumps(self.description)}\n"
        )


DINSOS = AgencyEntry(
    "DINSOS",
    "Dinas Sosial, Pemberdayaan Perempuan dan Perlindungan Anak",
    "Dinsos P3A",
    "Social services, women's empowerment and child protection; runs Sepeda Keren.",
)
DISKOMINFO = AgencyEntry(
    "DISKOMINFO",
    "Dinas Komunikasi dan Informatika",
    "Diskominfo",
    "Communication and informatics; runs the citizens' complaint channel (SP4N-LAPOR!).",
)

#: Every OPD LAPOR! disposes reports to, so that ``Feedback.agency`` resolves for each; the
#: gateway reads no system of most of them. Codes already declared elsewhere are skipped.
FEEDBACK_AGENCIES: tuple[AgencyEntry, ...] = (
    AgencyEntry("BPBD", "Badan Penanggulangan Bencana Daerah", "BPBD", "Disaster management."),
    AgencyEntry("DINDIKPORA", "Dinas Pendidikan, Pemuda dan Olahraga", "Dinas Pendidikan", "Schools (NPSN), pupils (NISN) and their daily attendance."),
    AgencyEntry(
        "DINKES",
        "Dinas Kesehatan, Pengendalian Penduduk dan Keluarga Berencana",
        "Dinkes PPKB",
        "Health facilities, disease surveillance, family planning.",
    ),
    DINSOS,
    AgencyEntry("DISDUKCAPIL", "Dinas Kependudukan dan Pencatatan Sipil", "Dispendukcapil", "Civil registry."),
    AgencyEntry("DISHUB", "Dinas Perhubungan", "Dishub", "Transport and street lighting."),
    DISKOMINFO,
    AgencyEntry("DISPERINAKER", "Dinas Perindustrian dan Tenaga Kerja", "Disperinaker", "Industry, employment and job training."),
    AgencyEntry("DISPERTAPA", "Dinas Pertanian dan Pangan", "Dispertapa", "Agriculture and food."),
    AgencyEntry(
        "DPMPTSP",
        "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu",
        "DPMPTSP",
        "Investment and one-stop permits.",
    ),
    AgencyEntry(
        "PERKIMLH",
        "Dinas Perumahan, Kawasan Permukiman dan Lingkungan Hidup",
        "Perkim LH",
        "Housing, settlements, water supply, waste and environment.",
    ),
    AgencyEntry("PUPR", "Dinas Pekerjaan Umum dan Penataan Ruang", "PUPR", "Roads, bridges, drainage and spatial planning."),
    AgencyEntry("SATPOLPP", "Satuan Polisi Pamong Praja dan Kebakaran", "Satpol PP", "Public order and fire service."),
)

SEPEDA_KEREN = '''
# Sepeda Keren's API lists classes, a class's sessions and a session's attendance, but people
# only one at a time (no batch): lookups by NIK are one call each, bounded by max_concurrency.
[sources.sepeda_keren]
kind = "rest"
agency = "DINSOS"
system = "Sepeda Keren (demo API)"
description = "Sepeda Keren classes for women, people with disabilities, children and other vulnerable groups: sessions, attendance, participants by NIK."
base_url = {sepeda_keren_url}
timeout_s = 3
retries = 1
max_concurrency = 8

[sources.sepeda_keren.entities.Programme]
path = "/v1/cohorts"
key = "code"
records = "items"
pagination = {{ style = "cursor", cursor_param = "cursor", limit_param = "limit", size = 100, next_cursor = "nextCursor" }}
lookup = {{ code = "/v1/cohorts/{{value}}" }}
[sources.sepeda_keren.entities.Programme.fields]
code = "cohortId"
name = "name"
year = "year"
pilot = "pilot"
startDate = {{ column = "startDate", type = "date" }}
endDate = {{ column = "endDate", type = "date" }}
status = {{ column = "status", values = {{ BERJALAN = "RUNNING", SELESAI = "COMPLETED" }} }}
regionCode = "desaCode"
facilitatorNik = "facilitatorNik"
participantCount = "participantCount"
sessionCount = "sessionCount"
# A path through a list reads each item: one code, name and kind per module, in order.
moduleCodes = "modules.code"
moduleNames = "modules.name"
moduleKinds = {{ column = "modules.kind", values = {{ DASAR = "BASIC", TEMATIK = "THEMATIC" }} }}

# No list of every session: the API lists them per class, at a path that names the class.
[sources.sepeda_keren.entities.ProgrammeSession]
path = "/v1/cohorts/{{value}}/sessions"
key = "code"
records = "items"
pagination = {{ style = "cursor", cursor_param = "cursor", limit_param = "limit", size = 100, next_cursor = "nextCursor" }}
list_lookup = {{ programme = "/v1/cohorts/{{value}}/sessions" }}
[sources.sepeda_keren.entities.ProgrammeSession.fields]
code = "sessionId"
programme = "cohortId"
date = {{ column = "date", type = "date" }}
moduleCode = "module"
moduleName = "moduleName"
regionCode = "desaCode"

# Attendance is listed per session and, as the class recap, per class: a class's participants
# cost one list per class instead of one per session. Rows do not repeat what their path names
# (a session's rows their session, a recap's rows their class); list_lookup fills it in.
# An API without the recap would say how to get there through the sessions instead:
#   through = {{ programme = {{ entity = "ProgrammeSession", link = "programme", key = "code", field = "session" }} }}
[sources.sepeda_keren.entities.ProgrammeAttendance]
path = "/v1/sessions/{{value}}/attendance"
key = "nik"
records = "items"
pagination = {{ style = "cursor", cursor_param = "cursor", limit_param = "limit", size = 100, next_cursor = "nextCursor" }}
list_lookup = {{ session = "/v1/sessions/{{value}}/attendance", programme = "/v1/cohorts/{{value}}/attendance" }}
[sources.sepeda_keren.entities.ProgrammeAttendance.fields]
session = "sessionId"
programme = "cohortId"
nik = "nik"
present = "present"

[sources.sepeda_keren.entities.ProgrammeParticipant]
path = "/v1/participants"
key = "nik"
lookup = {{ nik = "/v1/participants/{{value}}" }}
[sources.sepeda_keren.entities.ProgrammeParticipant.fields]
nik = "nik"
categories = {{ column = "categories", values = {{ PEREMPUAN = "WOMAN", DISABILITAS = "DISABILITY", ANAK = "CHILD", LANSIA = "ELDERLY", PEKERJA_MIGRAN = "FORMER_MIGRANT_WORKER", LAINNYA = "OTHER" }} }}
disabilityType = {{ column = "disabilityType", values = {{ FISIK = "PHYSICAL", SENSORIK_NETRA = "VISUAL", SENSORIK_RUNGU_WICARA = "HEARING_SPEECH", INTELEKTUAL = "INTELLECTUAL", MENTAL = "MENTAL", GANDA = "MULTIPLE" }} }}
# One entry per enrolment, in the same order in each list.
programmes = "cohorts.cohortId"
enrolledOn = {{ column = "cohorts.enrolledOn", type = "date" }}
enrolmentStatus = {{ column = "cohorts.status", values = {{ AKTIF = "ACTIVE", LULUS = "GRADUATED", KELUAR = "LEFT" }} }}
startUpCapital = "cohorts.japriCapital"
'''

LAPOR = '''
# The complaint system pages by offset and filters by agency, region (and everything inside it),
# status, kind, category and submission time itself; the gateway pushes those filters down.
[sources.lapor]
kind = "rest"
agency = "DISKOMINFO"
system = "SP4N-LAPOR! (demo API)"
description = "Citizens' complaints, suggestions, aspirations and questions, with the agency each is disposed to."
base_url = {lapor_url}
timeout_s = 3
retries = 1
max_concurrency = 8

[sources.lapor.entities.Feedback]
path = "/api/reports"
key = "trackingId"
records = "results"
pagination = {{ style = "offset", offset_param = "offset", limit_param = "limit", size = 100, next = "next" }}
lookup = {{ trackingId = "/api/reports/{{value}}" }}
params = {{ agency = "agency", regionCode = {{ param = "region", op = "prefix" }}, status = "status", kind = "kind", category = "category", reporterNik = "reporter_nik", submittedAt = [{{ param = "submitted_from", op = "gte" }}, {{ param = "submitted_to", op = "lte" }}] }}
[sources.lapor.entities.Feedback.fields]
trackingId = "tracking_id"
kind = {{ column = "kind", values = {{ COMPLAINT = "COMPLAINT", SUGGESTION = "SUGGESTION", ASPIRATION = "ASPIRATION", INFORMATION_REQUEST = "INFORMATION_REQUEST" }} }}
category = {{ column = "category", values = {{ "Jalan rusak" = "ROADS", "Jembatan dan drainase" = "BRIDGES_AND_DRAINAGE", "Penerangan jalan" = "STREET_LIGHTING", "Adminduk/KTP" = "CIVIL_REGISTRATION", "Bantuan sosial salah sasaran" = "MISTARGETED_SOCIAL_AID", "ODGJ terlantar" = "NEGLECTED_MENTAL_ILLNESS", "Pelayanan puskesmas" = "HEALTH_SERVICES", "Wabah/penyakit menular" = "OUTBREAK", "Sekolah/PPDB" = "SCHOOLS", "Air bersih" = "CLEAN_WATER", "Sampah" = "WASTE", "Pupuk bersubsidi" = "SUBSIDISED_FERTILISER", "Perizinan" = "PERMITS", "Bencana/tanah longsor" = "DISASTER", "Ketenagakerjaan" = "EMPLOYMENT", "Layanan informasi publik" = "PUBLIC_INFORMATION" }} }}
title = "title"
body = "body"
location = "location"
channel = {{ column = "channel", values = {{ WEB = "WEB", WHATSAPP = "WHATSAPP", SMS = "SMS", HOTLINE = "HOTLINE", MEDSOS = "SOCIAL_MEDIA" }} }}
status = {{ column = "status", values = {{ BARU = "NEW", DIVERIFIKASI = "VERIFIED", DIDISPOSISI = "DISPATCHED", DITINDAKLANJUTI = "IN_PROGRESS", SELESAI = "RESOLVED" }} }}
agency = "agency"
regionCode = "region"
submittedAt = {{ column = "submitted_at", type = "datetime" }}
updatedAt = {{ column = "updated_at", type = "datetime" }}
reporterNik = "reporter_nik"
'''

PROGRAMME_EXAMPLE = (
    "A resident's Sepeda Keren classes",
    """query Programmes($nik: NIK!) {
  person(nik: $nik) {
    name
    programmes {
      programme { code name year region { name } facilitator { name } }
      enrolledOn
      status
      sessionsAttended
      sessionsExpected
    }
  }
}
""",
    {"nik": "participant"},
)

FEEDBACK_EXAMPLES = (
    (
        "Citizens' reports in a kecamatan",
        """query RegionFeedback {
  region(code: "35.03.08") {
    name
    feedback(first: 5, filter: { kind: COMPLAINT }) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { trackingId category title status submittedAt agency { shortName } region { name } anonymous } }
    }
  }
}
""",
        {},
    ),
    (
        "Reports disposed to the health office",
        """query AgencyFeedback {
  agency(code: "DINKES") {
    name
    feedback(first: 5, filter: { submittedFrom: "2026-01-01" }) {
      totalCount
      edges { node { trackingId category title status submittedAt region { name parent { name } } } }
    }
  }
}
""",
        {},
    ),
)


def sample_participant(sepeda_keren_url: str) -> str | None:
    """The NIK of someone on the first class's first attendance list, asked of the running API."""

    with httpx.Client(base_url=sepeda_keren_url, timeout=10) as api:
        cohorts = api.get("/v1/cohorts", params={"limit": 1}).json()["items"]
        if not cohorts:
            return None
        sessions = api.get(f"/v1/cohorts/{cohorts[0]['cohortId']}/sessions", params={"limit": 1}).json()["items"]
        if not sessions:
            return None
        rows = api.get(f"/v1/sessions/{sessions[0]['sessionId']}/attendance", params={"limit": 1}).json()["items"]
    return str(rows[0]["nik"]) if rows else None
