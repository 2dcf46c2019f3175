"""What the screen reads of the graph, read as any caller would: through the gateway's own execution.

Each document runs through ``Operations.open`` (the path the transports use: prepared documents,
limits, the policy on every field and argument, the row scope, and the audit record of what the
answer disclosed), as the ``[status] client`` with its purpose. Nothing here reaches a source
directly, so what the screen may show is exactly what the policy lets that client read; the
documents ask only for aggregates (alert counts per class, discrepancy counts per agency), never
for a person.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers

from core import ConfigError, SatudataError

from ..access import AccessControl, Admission
from ..access.auth import ANONYMOUS, AuthSettings, Principal
from ..http import GraphQLParams
from ..subscriptions.operations import Carrier, Operations, Single

#: The regency's kecamatan, and the school days with attendance up to today (a few schools suffice:
#: every school of the regency keeps the same calendar).
DAY_QUERY = """query StatusScreenCalendar($region: RegionCode!, $since: Date!, $until: Date!) {
  region(code: $region) { code name children { code name } }
  schools(first: 3, filter: {region: $region}) { nodes { attendance(from: $since, to: $until) { date } } }
}"""

ALERTS_QUERY = """query StatusScreenAlerts($day: Date!, $region: RegionCode!) {
  absenceAlerts(from: $day, to: $day, region: $region) {
    date rombel count threshold
    school { npsn name region { code } }
  }
}"""

DISCREPANCIES_QUERY = """query StatusScreenDiscrepancies {
  discrepancyCounts { fact count agency { code name shortName } }
}"""

#: How far back "auto" looks for the latest school day with attendance (School.attendance's longest range).
CALENDAR_DAYS = 365


class GraphRefused(Exception):
    """A document of the screen came back with errors and no usable data (the message is the first error's)."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Regency:
    code: str
    name: str
    #: (code, name) of each kecamatan, in code order.
    kecamatan: list[tuple[str, str]]
    #: The latest school day with attendance on or before the day asked about, if any.
    latest_school_day: date | None


@dataclass(frozen=True)
class Alert:
    date: str
    npsn: str
    school: str
    rombel: str | None
    count: int
    threshold: int
    kecamatan: str | None

    def as_json(self) -> dict[str, Any]:
        return {"date": self.date, "npsn": self.npsn, "school": self.school, "rombel": self.rombel,
                "count": self.count, "threshold": self.threshold, "kecamatan": self.kecamatan}


@dataclass(frozen=True)
class AgencyDiscrepancies:
    code: str
    name: str
    total: int
    by_fact: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"agency": self.code, "name": self.name, "total": self.total, "byFact": self.by_fact}


class StatusReader:
    """Runs the screen's documents as one configured principal (``None`` without a policy: no access layer)."""

    def __init__(
        self,
        operations: Operations,
        access: AccessControl | None,
        principal: Principal | None,
        purpose: str | None,
    ) -> None:
        self.operations = operations
        self.access = access
        self.principal = principal
        self.purpose = purpose
        self._carrier = Carrier({"type": "http", "method": "POST", "path": "/status", "client": None}, Headers())

    @property
    def role(self) -> str | None:
        return None if self.access is None else (self.principal or ANONYMOUS).role

    def admission(self) -> Admission | None:
        """A fresh admission per document: an access context collects what one answer disclosed."""

        if self.access is None:
            return None
        return self.access.admission(self.principal or ANONYMOUS, self.purpose)

    async def run(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The document's ``data``; raises ``GraphRefused`` when it has errors (a refusal, a source down)."""

        params = GraphQLParams(query, dict(variables or {}), None, None)
        try:
            opened = await self.operations.open(self._carrier, params, self.admission())
        except SatudataError as exc:
            raise GraphRefused(exc.message, exc.code) from None
        assert isinstance(opened, Single), "the screen runs queries only"
        errors = opened.body.get("errors") or []
        if errors:
            first = errors[0]
            raise GraphRefused(str(first.get("message")), (first.get("extensions") or {}).get("code"))
        return opened.body.get("data") or {}

    async def regency(self, region: str, until: date) -> Regency:
        data = await self.run(
            DAY_QUERY, {"region": region, "since": (until - timedelta(days=CALENDAR_DAYS)).isoformat(),
                        "until": until.isoformat()}
        )
        found = data.get("region") or {}
        days = [
            date.fromisoformat(day["date"])
            for school in ((data.get("schools") or {}).get("nodes") or [])
            for day in (school.get("attendance") or [])
        ]
        kecamatan = sorted((c["code"], c["name"]) for c in (found.get("children") or []))
        return Regency(found.get("code") or region, found.get("name") or region, kecamatan, max(days, default=None))

    async def alerts(self, day: date, region: str) -> list[Alert]:
        data = await self.run(ALERTS_QUERY, {"day": day.isoformat(), "region": region})
        out: list[Alert] = []
        for a in data.get("absenceAlerts") or []:
            school = a.get("school") or {}
            desa = (school.get("region") or {}).get("code")
            out.append(Alert(a["date"], school.get("npsn") or "", school.get("name") or "", a.get("rombel"),
                             int(a["count"]), int(a["threshold"]), kecamatan_of(desa)))
        return out

    async def discrepancies(self) -> list[AgencyDiscrepancies]:
        data = await self.run(DISCREPANCIES_QUERY)
        return per_agency(data.get("discrepancyCounts") or [])


def per_agency(counts: list[Mapping[str, Any]]) -> list[AgencyDiscrepancies]:
    """``discrepancyCounts`` (per fact, agency and kecamatan) summed per agency, by fact; largest first."""

    facts: dict[str, Counter[str]] = defaultdict(Counter)
    names: dict[str, str] = {}
    for row in counts:
        agency = row.get("agency") or {}
        code = agency.get("code") or "?"
        names[code] = agency.get("shortName") or agency.get("name") or code
        facts[code][row["fact"]] += int(row["count"])
    rows = [
        AgencyDiscrepancies(code, names[code], sum(c.values()), dict(sorted(c.items()))) for code, c in facts.items()
    ]
    return sorted(rows, key=lambda r: (-r.total, r.code))


def kecamatan_of(code: str | None) -> str | None:
    """``35.03.08.2011`` -> ``35.03.08``."""

    if not code or code.count(".") < 2:
        return None
    return ".".join(code.split(".")[:3])


def configured_principal(
    raw: Mapping[str, Any], client: str | None, *, base_dir: Path | None = None
) -> Principal | None:
    """The principal of the ``[[clients]]`` entry whose id is ``client`` (``None`` for none)."""

    if client is None:
        return None
    for entry in AuthSettings.from_dict(raw, base_dir=base_dir).clients:
        if entry.principal.client_id == f"api-key:{client}":
            return entry.principal
    raise ConfigError(f"status.client is {client!r}, which no [[clients]] entry has as its id")
