"""The demo's access policy, clients and audit log: the ``[policy]``, ``[[clients]]`` and
``[audit]`` tables that ``satudata demo`` writes into its config.

The policy is the worked example of UU 27/2022 in configuration: every vocabulary field
that is personal data has a sensitivity class (personal, or the "specific" health,
disability and children), and each demo role is granted, shown masked, or refused each
class, for the purposes it declares. The API keys below are **demo credentials**,
published in the README; a real deployment makes its own with ``satudata keygen-client``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoClient:
    """One demo credential: an API key for one role."""

    id: str
    role: str
    key: str
    who: str
    purpose: str
    #: Principal attributes for row scope: ``school`` (NPSN) or ``region`` (kode wilayah).
    attributes: dict[str, str]

    def toml(self) -> str:
        lines = ["[[clients]]", f"id = {json.dumps(self.id)}", f"role = {json.dumps(self.role)}"]
        lines.append(f"key_sha256 = {json.dumps(hashlib.sha256(self.key.encode()).hexdigest())}")
        lines.extend(f"{name} = {json.dumps(value)}" for name, value in self.attributes.items())
        return "\n".join(lines) + "\n"


#: Watulimo: the demo puskesmas officer's and facilitator's working area.
DEMO_KECAMATAN = "35.03.08"


def demo_clients(school_npsn: str | None, facilitator_region: str | None = None) -> list[DemoClient]:
    """The demo credentials; the school operator works at ``school_npsn`` (a school of the demo data),
    the programme facilitator in ``facilitator_region`` (default: Watulimo)."""

    clients = [
        DemoClient("smart-center", "smart_center_analyst", "sd_demo_analyst_YDiFdlTho_SqEPA7a0Jegjn-",
                   "Smart Center analyst (masked personal data, aggregates)", "statistik", {}),
        DemoClient("dukcapil-petugas", "registry_officer", "sd_demo_registry_G3Dy7sx8nV9Ak4sViiZPNTRD",
                   "Dispendukcapil officer (the registry in full)", "administrasi-kependudukan", {}),
        DemoClient("puskesmas-watulimo", "health_officer", "sd_demo_dinkes_-mxlZzMflYZXAOP7RPP_jtwd",
                   "Dinkes / puskesmas officer (residents and health data of Watulimo)", "pelayanan-kesehatan",
                   {"region": DEMO_KECAMATAN}),
        DemoClient("sepeda-keren-watulimo", "programme_facilitator", "sd_demo_sepeda_dueSoFI-y3VrkQ2XNTIpVEYZ",
                   "Sepeda Keren facilitator (participants living in their kecamatan)", "pendampingan-program",
                   {"region": facilitator_region or DEMO_KECAMATAN}),
        DemoClient("portal-jatim", "neighbour_portal", "sd_demo_portal_BghwRsDAMIhaJpQeaWsxIXdQ",
                   "A neighbouring portal (masked personal data)", "layanan-publik", {}),
    ]
    if school_npsn:
        clients.append(
            DemoClient("operator-sekolah", "school_operator", "sd_demo_school_jg2q6WLw7tkYPvLe1DLUikg2",
                       "School operator (the pupils of their own school)", "administrasi-sekolah",
                       {"school": school_npsn})
        )
    return clients


#: The class of a discrepancy's values, by the record the discrepancy is about (``resolvers.truth``):
#: the class of that record's own fields.
DISCREPANCY_VALUE_CLASSES = {
    "StudentDiscrepancyValue": "children",  # a Dapodik pupil: like Student
    "HealthRecordDiscrepancyValue": "health",  # a health office patient: like HealthRecord
    "HealthInsuranceDiscrepancyValue": "personal",  # a JKN membership: like HealthInsurance
    "ProgrammeParticipationDiscrepancyValue": "disability",  # a Sepeda Keren enrolment: like ProgrammeParticipation
}


def _discrepancy_value_fields() -> str:
    """The policy entries of each type of discrepancy value: its class, masked as a person's fields are."""

    lines: list[str] = []
    for type_name, cls in DISCREPANCY_VALUE_CLASSES.items():
        lines.append(f'"{type_name}.*" = "{cls}"')
        lines += [f'"{type_name}.{field}" = "public"' for field in ("source", "system", "authoritative", "agency")]
        for field, mask in (("name", "initials"), ("nik", "nik"), ("record", "nik"), ("birthDate", "year"), ("birthYear", "year")):
            lines.append(f'"{type_name}.{field}" = {{ class = "{cls}", mask = "{mask}" }}')
    return "\n".join(lines) + "\n"


POLICY = '''
# ---------------------------------------------------------------------------------------
# Access policy (UU 27/2022 PDP). Fields not listed are public. Classes: personal, and the
# "specific" health, disability and children. Masks: nik, initials, year, hide.
# A role sees a class in full (grant), masked (mask), or not at all; any non-public field
# also needs a purpose (X-Satudata-Purpose header) from the role's list.
#
# Three rules follow from these classes (README, "Who may see what"):
# - an argument (key, filter, search term, _entities representation) may test a field only
#   where the role reads that field in full: a masked NIK cannot be looked up;
# - a link from an object about a person (Person.student, Person.healthRecord, ...) has the
#   class of what it leads to, and cannot be masked: where its class is masked, it is refused;
# - row scopes hold on every entity that belongs to a place or a person.
# ---------------------------------------------------------------------------------------
[policy.fields]
"Query.person" = "personal"
"Query._entities" = "personal"
"Query.persons" = "personal"
# That a resident of a desa was born, died or moved, and when: about someone even without the person.
"Subscription.residentChanges" = "personal"
# Born, died, moved away: the change's kind tells the resident's status, as Person.status does. The
# change's person is the resident whose status changed: a read of Person.status (resolvers/arguments.py,
# CHOSEN_BY), so a role with the status withheld gets the change without the person.
"ResidentChange.kind" = "personal"
"Query.family" = "personal"
"Query.student" = "children"
"Query.students" = "children"
"Region.residents" = "personal"
"School.students" = "children"
"Programme.facilitator" = "personal"
"Programme.participants" = "disability"
# Counts of a desa's residents by sex and status, of a school's pupils by grade and sex: no person
# in them, but small cells (one deceased man in a desa) are about someone, so only for roles that
# see the class at least masked — the statistics the analyst reads instead of filtering persons.
"Region.residentCounts" = "personal"
"School.pupilCounts" = "children"
# Absence alerts (issue 12) are counts of a class's sick pupils: no person in them, but a class of
# five is about someone, so like pupilCounts; the alert's desa spread likewise.
"Query.absenceAlerts" = "children"
# The same alerts as each school's day is recorded (absenceAlertRaised): the same class.
"Subscription.absenceAlertRaised" = "children"
# The pupils behind an alert: a link to children's records, like School.students. They are the
# pupils of the alert's class, so the list also reads Student.className (resolvers/arguments.py,
# CHOSEN_BY): only for roles that read the class in full, not the analyst, who has it withheld.
"AbsenceAlert.pupils" = "children"
"Person.*" = "personal"
"Person.nik" = { class = "personal", mask = "nik" }
"Person.name" = { class = "personal", mask = "initials" }
"Person.birthDate" = { class = "personal", mask = "year" }   # masked: withheld, the year is birthYear
"Person.birthYear" = { class = "personal", mask = "year" }
# The desa of residence goes with the person to every role that may see the person at all,
# masked or not: a generalisation like the birth year, and what statistics are counted by.
"Person.region" = "public"
"Person.student" = "children"
"Person.healthFacility" = "health"
"Person.healthRecord" = "health"
"Person.healthInsurance" = "personal"
"HealthInsurance.*" = "personal"
"HealthInsurance.cardNumber" = { class = "personal", mask = "nik" }
"Person.programmes" = "disability"
"Family.*" = "personal"
"Family.kk" = { class = "personal", mask = "nik" }
"Student.*" = "children"
"Student.nisn" = { class = "children", mask = "nik" }
"Student.nik" = { class = "children", mask = "nik" }
"Student.name" = { class = "children", mask = "initials" }
"Student.birthDate" = { class = "children", mask = "year" }
"Student.birthYear" = { class = "children", mask = "year" }
"HealthRecord.*" = "health"
"ProgrammeParticipation.*" = "disability"
"SessionAttendance.*" = "disability"
# Discrepancies between agencies' records of one person (issue 12). Each is about one record of an
# OPD's system compared with the registry: a Dapodik pupil's, a health office patient's, a JKN
# membership's or a Sepeda Keren enrolment's. Both its values (the registry's side too) have that
# record's type and class, and are masked like the record's own fields, so each OPD's officer gets
# its own system's persons, both sides: the school operator its pupils (children), the health
# officer its patients (health), the facilitator its participants (disability), the registry
# officer the JKN memberships (personal); the analyst (and the neighbour portal, JKN only) the
# classes it sees masked, masked. The report, its counts and a person's discrepancies are open to a
# role that may see any of those classes; the walk compares only the systems whose values the
# role may see, through its row scopes as any list of their records (the operator's school, the
# officers' kecamatan), and the counts count that walk: no count covers records its reader may
# not see, so the analyst counts Dapodik and the JKN portal, not the health office or Sepeda Keren.
# A discrepancy links to the resident in the registry: personal data, and a link cannot be masked.
# An item is listed only to a role shown something of its fact's field in the value's type (name,
# birthDate, sex, region, alive, nik): an ALIVE item says the registry records a death, so a role
# with `alive` withheld (hidden: the analyst, the neighbour portal) would learn, by the item's masked
# NIK and desa and the residents it lists masked, which of them died; a SEX item likewise tells
# two withheld sexes differ. Such facts are counted for it, not listed (discrepancyCounts: per
# kecamatan, at the finest a desa, as residentCounts' deceased per desa). Masked name, birth date
# and NIK items are listed, both sides masked: they add only that the two whole values differ.
"Query.discrepancies" = ["personal", "health", "disability", "children"]
"Query.discrepancyCounts" = ["personal", "health", "disability", "children"]
"Person.discrepancies" = ["personal", "health", "disability", "children"]
"Discrepancy.*" = "personal"
"Discrepancy.fact" = "public"
"Discrepancy.authority" = "public"
"Discrepancy.region" = "public"
"Discrepancy.values" = "public"     # the list itself: each value's fields are decided one by one
''' + _discrepancy_value_fields() + '''
"Feedback.reporter" = "personal"
"Feedback.body" = "personal"
# Where, in words, down to RT/RW: with the desa and the date it can name the reporter.
"Feedback.location" = "personal"

[policy.lookups]
# Distinct persons (NIK, KK, NISN keys, also as _entities representations) a client may look
# up per window; a registry officer's day is a few hundred, a guessing run many thousands.
window_s = 3600
default_budget = 500

[policy.roles.smart_center_analyst]
description = "Smart Center analyst: aggregates, and registry and school data masked."
mask = ["personal", "children"]
purposes = ["statistik", "perencanaan"]

[policy.roles.registry_officer]
description = "Dispendukcapil officer: the civil registry in full."
grant = ["personal"]
purposes = ["administrasi-kependudukan"]
lookup_budget = 2000
may = ["federation", "operations"]

[policy.roles.health_officer]
description = "Dinkes / puskesmas officer: residents and their health data in the officer's working area."
grant = ["personal", "health"]
purposes = ["pelayanan-kesehatan", "surveilans"]
[policy.roles.health_officer.row_scope]
Person = { field = "regionCode", within = "region" }
Family = { field = "regionCode", within = "region" }
Patient = { subject = "nik" }
HealthInsurance = { subject = "nik" }
Feedback = { field = "regionCode", within = "region", fields = ["body", "reporter", "location"] }

[policy.roles.programme_facilitator]
description = "Sepeda Keren facilitator: participants living in the facilitator's area, with their vulnerability data."
grant = ["personal", "disability"]
purposes = ["pendampingan-program"]
[policy.roles.programme_facilitator.row_scope]
Person = { field = "regionCode", within = "region" }
Family = { field = "regionCode", within = "region" }
ProgrammeParticipant = { subject = "nik" }
ProgrammeAttendance = { subject = "nik" }
HealthInsurance = { subject = "nik" }
Feedback = { field = "regionCode", within = "region", fields = ["body", "reporter", "location"] }

[policy.roles.school_operator]
description = "School operator: the pupils of the operator's own school (Dapodik data only)."
grant = ["children"]
purposes = ["administrasi-sekolah"]
[policy.roles.school_operator.row_scope]
Student = { field = "school", equals = "school" }

[policy.roles.neighbour_portal]
description = "A neighbouring government portal: public data and masked registry data."
mask = ["personal"]
purposes = ["layanan-publik"]
may = ["federation"]

[audit]
path = "audit.sqlite"
# Entries name persons by a keyed pseudonym of their NIK. This key is public, like the demo's API
# keys; a real deployment takes its own from the environment ("env:SATUDATA_AUDIT_SUBJECT_KEY").
subject_key = "demo-only-audit-subject-key-trenggalek-3503"
# The chain head, signed, outside the log: `satudata audit verify` notices a cut-off tail. A real
# deployment keeps it on another machine or in Redis, with its own key from the environment.
checkpoint = "file:audit-checkpoint.json"
checkpoint_key = "demo-only-audit-checkpoint-key-trenggalek-3503"

[ratelimit]
requests_per_minute = 600
burst = 100
'''


#: What an example's X-API-Key header shows in GraphiQL (the gateway puts it in place of any key too).
API_KEY_PLACEHOLDER = "<your API key>"

#: Which demo credential each preloaded GraphiQL example is sent with (none: anonymous).
EXAMPLE_ROLES = {
    "A resident and their family": "registry_officer",
    "A family's health insurance, from the province's portal": "registry_officer",
    "A school's pupils, across registry and Dapodik": "smart_center_analyst",
    "A resident's Sepeda Keren classes": "programme_facilitator",
    "Citizens' reports in a kecamatan": "neighbour_portal",
    "Discrepancies between Dapodik and the registry": "school_operator",
    "Deaths the health office was not told of": "health_officer",
    "Discrepancy counts per agency and kecamatan": "smart_center_analyst",
    "Absence alerts with the clinics' reports": "smart_center_analyst",
    "Live: absence alerts as schools record their days": "smart_center_analyst",
    "Live: residents' changes in the regency": "registry_officer",
}


def example_headers(title: str, clients: list[DemoClient], extra: dict[str, str]) -> dict[str, str]:
    """The GraphiQL headers of an example: its role's purpose, and a placeholder for the key.

    The page is served to whoever opens it, so it never carries a key, not even a demo one;
    ``satudata demo`` prints the keys on the terminal (``credentials_banner``) to paste in.
    """

    role = EXAMPLE_ROLES.get(title)
    client = next((c for c in clients if c.role == role), None)
    if client is None:
        return extra
    return {"X-API-Key": API_KEY_PLACEHOLDER, "X-Satudata-Purpose": client.purpose, **extra}


#: The Smart Center screen (/status) reads the graph as the analyst's client (README, "The Smart Center screen").
STATUS_SCREEN = '[status]\nclient = "smart-center"\npurpose = "statistik"\n'


def render_access(clients: list[DemoClient]) -> str:
    """The TOML tables of the demo's access control (appended to the demo config)."""

    status = STATUS_SCREEN if any(c.id == "smart-center" for c in clients) else ""
    return POLICY + "\n" + "\n".join(c.toml() for c in clients) + "\n" + status


def credentials_banner(clients_in_config: list[dict[str, object]]) -> str:
    """What ``satudata demo`` prints: each demo credential of the written config, with its purpose,
    and which GraphiQL examples need it (their X-API-Key header holds a placeholder to replace)."""

    known = {c.id: c for c in demo_clients("-", None)}
    lines = ["satudata: demo credentials (send as X-API-Key, with X-Satudata-Purpose):"]
    for entry in clients_in_config:
        client = known.get(str(entry.get("id")))
        if client is not None:
            scope = ", ".join(f"{k}={v}" for k, v in entry.items() if k in ("school", "region"))
            lines.append(f"  {client.role:<22} {client.key}  purpose: {client.purpose}  {client.who}" + (f" [{scope}]" if scope else ""))
            examples = [title for title, role in EXAMPLE_ROLES.items() if role == client.role]
            if examples:
                lines.append(f"  {'':<22} GraphiQL: paste it over {API_KEY_PLACEHOLDER} in " + "; ".join(f'"{t}"' for t in examples))
    lines.append("  (no key: anonymous, public data only)")
    return "\n".join(lines)
