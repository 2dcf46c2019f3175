"""The five representative queries and, for each, how to make its variables from the key pools."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from connectors import Filter
from gateway.access import cursor_binding
from gateway.access.auth import ANONYMOUS
from resolvers.cursors import CursorSeal, new_cursor_key
from resolvers.enums import ResidentStatus
from resolvers.pagination import list_scope
from resolvers.query import PersonFilter, SchoolFilter, person_conditions, school_conditions

from .keys import PERSON_PAGE, SCHOOL_PAGE, KeyPools, draw

#: School days with attendance records in the demo data (``demo.build_dataset`` defaults).
TERM_START = date(2026, 7, 13)
TERM_END = date(2026, 11, 27)
#: "A month" of attendance: 30 days, inclusive.
MONTH_DAYS = 30

Variables = dict[str, Any]


@dataclass(frozen=True)
class BenchQuery:
    """One benchmarked GraphQL operation."""

    name: str
    title: str
    text: str
    #: Source round-trips the batching design predicts, as a (low, high) range.
    expected_round_trips: tuple[int, int]
    #: ``(rng, pools, k) -> k`` variable sets.
    make_variables: Callable[[random.Random, KeyPools, int], list[Variables]]
    #: ``data -> None`` if the answer looks right, else what is missing (a wrong key, not a gateway error).
    check: Callable[[dict[str, Any]], str | None]


#: The benchmarked gateway's ``[gateway] cursor_key``: the bench seals its own page cursors with it.
CURSOR_KEY = new_cursor_key()
_CURSORS = CursorSeal.from_text(CURSOR_KEY)


def _cursor(key: str, entity: str, conditions: Sequence[Filter] = ()) -> str:
    """The gateway's cursor for "after ``key``" in the list of ``entity`` under ``conditions``, as the
    gateway makes it for the bench's (anonymous) caller: bound to the list and to the role."""

    return _CURSORS.bound(cursor_binding(ANONYMOUS.role)).seal(key, list_scope(entity, conditions))


def _person_vars(rng: random.Random, pools: KeyPools, k: int) -> list[Variables]:
    return [{"nik": nik} for nik in draw(rng, pools.family_niks, k)]


def _school_vars(rng: random.Random, pools: KeyPools, k: int) -> list[Variables]:
    return [{"npsn": npsn} for npsn in draw(rng, pools.npsns_with_pupils, k)]


def _deep_vars(rng: random.Random, pools: KeyPools, k: int) -> list[Variables]:
    # Start positions that leave a full page of SCHOOL_PAGE schools; position 0 is the first page.
    starts = list(range(max(1, len(pools.npsns) - SCHOOL_PAGE + 1)))
    return [
        {"first": SCHOOL_PAGE, "after": _cursor(pools.npsns[i - 1], "School", school_conditions(SchoolFilter())) if i > 0 else None} for i in draw(rng, starts, k)
    ]


def _persons_vars(rng: random.Random, pools: KeyPools, k: int) -> list[Variables]:
    kecamatan = [kec for kec, niks in pools.alive_by_kecamatan.items() if niks]
    out: list[Variables] = []
    for kec in draw(rng, kecamatan, k):
        niks = pools.alive_by_kecamatan[kec]
        i = rng.randrange(max(1, len(niks) - PERSON_PAGE))
        out.append({"region": kec, "first": PERSON_PAGE, "after": _cursor(niks[i - 1], "Person", _alive_in(kec)) if i > 0 else None})
    return out


def _alive_in(kecamatan: str) -> list[Filter]:
    """The conditions of the persons query below (``filter: { region, status: ALIVE }``)."""

    return person_conditions(PersonFilter(region=kecamatan, status=ResidentStatus.ALIVE))


def _attendance_vars(rng: random.Random, pools: KeyPools, k: int) -> list[Variables]:
    span = max(0, (TERM_END - TERM_START).days - (MONTH_DAYS - 1))
    out: list[Variables] = []
    for npsn in draw(rng, pools.npsns_with_pupils, k):
        start = TERM_START + timedelta(days=rng.randint(0, span))
        end = min(TERM_END, start + timedelta(days=MONTH_DAYS - 1))
        out.append({"npsn": npsn, "from": start.isoformat(), "to": end.isoformat()})
    return out


def _check_person(data: dict[str, Any]) -> str | None:
    p = data.get("person")
    if not p:
        return "person is null"
    if not p.get("family") or len(p["family"].get("members") or []) < 3:
        return "family with fewer than 3 members"
    return None


def _check_school_pupils(data: dict[str, Any]) -> str | None:
    s = data.get("school")
    if not s or not s.get("students"):
        return "school null or without pupils"
    return None


def _check_deep(data: dict[str, Any]) -> str | None:
    edges = (data.get("schools") or {}).get("edges") or []
    return None if edges else "no schools"


def _check_persons(data: dict[str, Any]) -> str | None:
    page = data.get("persons") or {}
    return None if page.get("edges") and page.get("totalCount") else "empty page"


def _check_attendance(data: dict[str, Any]) -> str | None:
    s = data.get("school")
    return None if s and s.get("attendance") else "no attendance days"


PERSON = BenchQuery(
    name="person",
    title="(a) person(nik) with family members",
    text="""query Person($nik: NIK!) {
  person(nik: $nik) {
    nik name
    family { kk members { nik name familyRelation } }
    student { nisn school { name } }
  }
}""",
    expected_round_trips=(4, 5),  # person, family, members, student by NIK (+ school when the person is a pupil)
    make_variables=_person_vars,
    check=_check_person,
)

SCHOOL_PUPILS = BenchQuery(
    name="school_pupils",
    title="(b) school's pupils with registry person",
    text="""query SchoolPupils($npsn: NPSN!) {
  school(npsn: $npsn) {
    name
    students { nisn name person { nik name birthDate } }
  }
}""",
    expected_round_trips=(3, 3),  # school, students, persons
    make_variables=_school_vars,
    check=_check_school_pupils,
)

DEEP = BenchQuery(
    name="deep_nested",
    title="(c) 50 schools → pupils → person → family members",
    text="""query Deep($first: Int, $after: String) {
  schools(first: $first, after: $after) {
    totalCount
    edges { node { npsn students { nisn person { nik family { kk members { nik name } } } } } }
  }
}""",
    expected_round_trips=(6, 6),  # page, count, students, persons, families, members
    make_variables=_deep_vars,
    check=_check_deep,
)

PERSONS_PAGE = BenchQuery(
    name="persons_page",
    title="(d) persons in a kecamatan, first 20, totalCount",
    text="""query Persons($region: RegionCode!, $first: Int, $after: String) {
  persons(first: $first, after: $after, filter: { region: $region, status: ALIVE }) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { nik name birthDate } }
  }
}""",
    expected_round_trips=(2, 2),  # page, count
    make_variables=_persons_vars,
    check=_check_persons,
)

ATTENDANCE = BenchQuery(
    name="attendance_month",
    title="(e) school attendance over a month",
    text="""query Attendance($npsn: NPSN!, $from: Date!, $to: Date!) {
  school(npsn: $npsn) {
    name
    attendance(from: $from, to: $to) { date present sick permitted absent total }
  }
}""",
    expected_round_trips=(2, 2),  # school, grouped attendance counts
    make_variables=_attendance_vars,
    check=_check_attendance,
)

QUERIES: tuple[BenchQuery, ...] = (PERSON, SCHOOL_PUPILS, DEEP, PERSONS_PAGE, ATTENDANCE)
