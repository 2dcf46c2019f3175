"""The gateway config for the neighbouring portal the demo federates in: the province's JKN
(health-insurance) membership portal, a GraphQL federation subgraph (``demo.apis.jkn``).

It is the worked example of federating another government's graph in by key: no table, no
REST path, just "their ``Person`` by NIK, asked through ``_entities``, these fields".
"""

from __future__ import annotations

from .api_config import AgencyEntry

JKN_AGENCY = AgencyEntry(
    "JKN_JATIM",
    "Portal Jaminan Kesehatan Provinsi Jawa Timur",
    "Portal JKN Jatim",
    "The province's health-insurance membership portal (a neighbouring government's GraphQL API).",
)

JKN = '''
# A neighbouring portal's GraphQL API, federated in by key: the portal is an Apollo Federation
# subgraph whose Person (by NIK) carries a JKN membership. At start-up the gateway reads its
# _service {{ sdl }} and checks every mapped field exists; lookups go as one _entities call.
[sources.jkn_portal]
kind = "graphql"
agency = "JKN_JATIM"
system = "Portal JKN Jatim (demo subgraph)"
description = "The province's JKN membership portal: a person's health-insurance membership by NIK."
url = {jkn_url}
schema = "sdl"
timeout_s = 3

[sources.jkn_portal.entities.HealthInsurance]
type = "Person"
key = "nik"
lookup = {{ nik = {{ field = "_entities", max = 100 }} }}
[sources.jkn_portal.entities.HealthInsurance.fields]
nik = "nik"
cardNumber = "jkn.cardNumber"
status = {{ column = "jkn.status", values = {{ AKTIF = "ACTIVE", NONAKTIF = "INACTIVE" }} }}
segment = {{ column = "jkn.segment", values = {{ PBI_APBN = "PBI_NATIONAL", PBI_APBD = "PBI_REGIONAL", PPU = "EMPLOYEE", PBPU = "SELF_PAYING", BP = "NOT_WORKING" }} }}
careClass = "jkn.careClass"
primaryCare = "jkn.primaryCare"
memberSince = {{ column = "jkn.since", type = "date" }}
'''


PORTAL_EXAMPLE = (
    "A family's health insurance, from the province's portal",
    """query FamilyInsurance($nik: NIK!) {
  person(nik: $nik) {
    family {
      kk
      members {
        name
        familyRelation
        healthInsurance { status segment careClass primaryCare memberSince }
      }
    }
  }
}
""",
    {"nik": "nik"},
)
