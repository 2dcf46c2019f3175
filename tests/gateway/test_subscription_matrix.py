"""The subscription policy matrix: every role of the demo policy (and anonymous) x every
subscription field x in and out of the role's row scope (issue 11).

What must happen is derived, not listed: the roles and the classes, grants, masks, ``may`` and
row scopes come from the demo policy's own text (``demo.access_config.POLICY``, read with
``tomllib``, never through ``gateway.access``), the subscription fields and what each event
selects from the exported schema (every field of the event type, every field of the objects it
leads to). A role or a subscription field added to the policy or the schema adds cells here, or
fails here until ``SPECS`` says how to raise its event.

For each cell the test subscribes over GraphQL over SSE (the transports are tested on their own
in ``test_subscriptions_protocol`` and ``test_subscriptions_npm_clients``) to a real gateway with
the demo policy, publishes change notices straight into its feed, and checks:

- a role the policy does not let see the field is refused at subscribe, with the code the same
  role's query of the same data gets (``FORBIDDEN`` / ``UNAUTHENTICATED``), and nothing subscribes;
- otherwise each delivered event's objects are exactly what the same role's query of the same
  record answers (values, masks, and the ``FORBIDDEN`` / ``WITHHELD`` errors at the same places):
  ``persons(filter: {region})`` for a resident, ``region.caseReports`` for an SKDR line,
  ``school(npsn)`` and its ``attendance`` for a school's day, ``absenceAlerts`` of the day for the
  alert a school's recorded day raises (an outbreak the matrix records at the school operator's
  school, so its pupils are that role's own and nobody else's);
- a notice about a record outside the role's row scope is not delivered (nor audited), one inside is;
- each delivered event that discloses personal data leaves one audit record, with the same
  persons, fields and masked fields as the same role's query of the same record.

Every cell is written three ways (the plain root field, in an inline fragment, in a fragment
spread): a check that reads only the top level of the document is a way around it. Purposes are
checked per role too: none, or another role's, is refused as the same query is.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from graphql import get_named_type, is_leaf_type, is_non_null_type
from graphql.pyutils import Undefined

from connectors import Change, shuffled_position
from demo.access_config import POLICY, demo_clients
from demo.changes import AttendanceSimulator, ensure_attendance_register
from demo.gateway_config import render_config
from gateway import GatewaySettings, create_app
from gateway.server import server_config
from resolvers import build_schema
from resolvers.arguments import CHOSEN_BY
from resolvers.cursors import CursorSeal, new_cursor_key

from ..conftest import Backend, serve_api
from ..support.server import free_port, serve_in_thread
from ..support.sqlite import sqlite_file
from .audit_reading import audit_records
from .test_subscriptions_npm_clients import ServerLoopFeed, change

SCHEMA = build_schema()._schema
POLICY_TABLE = tomllib.loads(POLICY)["policy"]
#: Every role of the policy, and the caller without a credential.
ROLES = ["anonymous", *POLICY_TABLE["roles"]]
#: Every subscription field of the schema.
FIELDS = list(SCHEMA.subscription_type.fields)  # type: ignore[union-attr]
PUBLIC = "public"
#: The region every subscription asks for: the whole regency, so only the row scope can drop a notice.
REGENCY = "35.03"
#: The matrix gateway's cursor key, whence its lists' order salts (``cursor_before``).
MATRIX_CURSOR_KEY = new_cursor_key()
WATULIMO = "35.03.08"
ELSEWHERE = "35.03.01"


# -- the policy, read as written --------------------------------------------------------------------


def policy_class(name: str) -> str:
    """The class the policy gives ``Type.field`` (its own entry, else ``Type.*``, else public)."""

    fields = POLICY_TABLE["fields"]
    entry = fields.get(name, fields.get(name.split(".")[0] + ".*", PUBLIC))
    return entry["class"] if isinstance(entry, dict) else entry


def role_table(role: str) -> dict[str, Any]:
    return POLICY_TABLE["roles"].get(role, {})


def reads_in_full(role: str, cls: str) -> bool:
    """Whether ``role`` reads the class unmasked."""

    return cls == PUBLIC or cls in role_table(role).get("grant", ())


def sees(role: str, cls: str) -> bool:
    """Whether ``role`` sees the class at all (in full or masked)."""

    table = role_table(role)
    return cls == PUBLIC or cls in table.get("grant", ()) or cls in table.get("mask", ())


# -- what each subscription field's events are, and how the same data is asked by a query --------------

#: Arguments for fields whose arguments are required, in the selections below (``$d``: the event's day).
REQUIRED_ARGUMENTS = {"School.attendance": "(from: $d, to: $d)", "HealthFacility.caseReports": "(year: 2026, fromWeek: 48, toWeek: 48)"}


def selection(type_name: str) -> str:
    """Every field of ``type_name``: leaves as they are, links down to their ``__typename`` (what a
    link discloses is that it leads somewhere; the query matrices hold the fields beyond it)."""

    parts = []
    for name, definition in SCHEMA.type_map[type_name].fields.items():  # type: ignore[union-attr]
        key = f"{type_name}.{name}"
        required = [a for a, arg in definition.args.items() if is_non_null_type(arg.type) and arg.default_value is Undefined]
        arguments = ""
        if required:
            assert key in REQUIRED_ARGUMENTS, f"{key} needs {required}: say in REQUIRED_ARGUMENTS how the matrix gives them"
            arguments = REQUIRED_ARGUMENTS[key]
        inner = "" if is_leaf_type(get_named_type(definition.type)) else " { __typename }"
        parts.append(f"{name}{arguments}{inner}")
    return " ".join(parts)


@dataclass(frozen=True)
class Oracle:
    """The same role's query of what an event's object holds: the document, its variables, and the
    path from the answer's root to the object (``0``: a list's first item)."""

    query: str
    variables: dict[str, Any]
    path: tuple[str | int, ...]
    #: Variables for a role whose list is in another order (a masked NIK's: shuffled), by role.
    by_role: dict[str, dict[str, Any]] = field(default_factory=dict)

    def variables_for(self, role: str) -> dict[str, Any]:
        return self.by_role.get(role, self.variables)


@dataclass
class Case:
    """One notice to publish, what the event's leaves must say, and where its objects' data comes from."""

    notice: Change
    #: The vocabulary entity and region the notice places the record in, for row scopes (``None``: no place).
    entity: str | None
    region: str | None
    leaves: dict[str, Any]
    oracles: dict[str, Oracle]
    #: The person the event is about (the audit must name them), if any.
    subject: str | None = None


@dataclass(frozen=True)
class Spec:
    """How to raise events of a subscription field in the matrix's world."""

    entity: str
    #: Declarations and values of the subscription's variables besides its field's own arguments.
    variables: str
    arguments: str
    cases: Callable[[Picks], list[Case]]
    #: A ``may`` of the policy the role needs besides the field's class (issue 11: sourceStatus is for operators).
    may: str | None = None

    def values(self, picks: Picks) -> dict[str, Any]:
        """The subscription's variables: the whole regency, and the day ``REQUIRED_ARGUMENTS`` asks for."""

        values: dict[str, Any] = {"region": REGENCY} if "$region" in self.variables else {}
        if "$d" in self.variables:
            values["d"] = picks.attendance[1]
        return values

    def document(self, name: str, shape: str = "field") -> str:
        event = get_named_type(SCHEMA.subscription_type.fields[name].type)  # type: ignore[union-attr]
        parts = []
        for field_name, definition in event.fields.items():  # type: ignore[union-attr]
            target = get_named_type(definition.type)
            parts.append(field_name if is_leaf_type(target) else f"{field_name} {{ {selection(target.name)} }}")
        declarations = f"({self.variables})" if self.variables else ""
        root = f"{name}{self.arguments} {{ {' '.join(parts)} }}"
        if shape == "inline fragment":
            return f"subscription{declarations} {{ ... on Subscription {{ {root} }} }}"
        if shape == "fragment spread":
            return f"subscription{declarations} {{ ...Live }} fragment Live on Subscription {{ {root} }}"
        assert shape == "field", shape
        return f"subscription{declarations} {{ {root} }}"


@dataclass
class Picks:
    """Records of the demo data the notices are about (read once per module)."""

    inside: tuple[str, str]  # (NIK, desa) of a resident of Watulimo
    outside: tuple[str, str]  # ... of a resident of another kecamatan
    case_report: dict[str, Any]  # year, week, disease, region of an SKDR line
    attendance: tuple[str, str, str]  # (NPSN, day, desa) of a school's recorded day
    alert: tuple[str, str, str, dict[str, Any]]  # (NPSN, day, desa, the alert's leaves) of a day that raises an alert
    #: (role, NIK) -> the cursor after which that role's list of the resident's desa holds the resident
    #: next, for each role that lists residents shuffled (it does not read NIKs in full).
    after: dict[tuple[str, str], str | None] = field(default_factory=dict)


PERSON_ORACLE = "query($r: RegionCode!, $a: String) {{ persons(first: 1, after: $a, filter: {{region: $r}}) {{ nodes {{ {} }} }} }}"


def resident_cases(picks: Picks) -> list[Case]:
    cases = []
    for (nik, desa), kind in ((picks.outside, "MOVED_OUT"), (picks.inside, "UPDATED")):
        notice = change(nik, kind, desa)
        # The resident is the desa's first in NIK order; a role that sees NIKs masked lists them shuffled,
        # and asks after the cursor of the one before (picked for it beforehand, see pick).
        by_role = {role: {"r": desa, "a": after} for (role, subject), after in picks.after.items() if subject == nik}
        oracle = Oracle(PERSON_ORACLE.format(selection("Person")), {"r": desa, "a": None}, ("persons", "nodes", 0), by_role)
        cases.append(Case(notice, "Person", desa, {"kind": kind, "at": notice.at}, {"person": oracle}, subject=nik))
    return cases


def case_report_cases(picks: Picks) -> list[Case]:
    line = picks.case_report
    notice = change(f"{line['year']}:{line['week']}:{line['disease']}", "ADDED", line["region"], entity="CaseReport")
    query = (
        "query($r: RegionCode!, $y: Int!, $w: Int!, $x: DiseaseCode) { region(code: $r) { "
        f"caseReports(year: $y, fromWeek: $w, toWeek: $w, disease: $x) {{ {selection('CaseReport')} }} }} }}"
    )
    variables = {"r": line["region"], "y": line["year"], "w": line["week"], "x": line["disease"]}
    return [Case(notice, "CaseReport", line["region"], {"at": notice.at}, {"report": Oracle(query, variables, ("region", "caseReports", 0))})]


def attendance_cases(picks: Picks) -> list[Case]:
    npsn, day, desa = picks.attendance
    notice = change(f"{npsn}:{day}", "RECORDED", desa, entity="AttendanceDay")
    school = Oracle(f"query($n: NPSN!, $d: Date!) {{ school(npsn: $n) {{ {selection('School')} }} }}", {"n": npsn, "d": day}, ("school",))
    totals = Oracle(
        f"query($n: NPSN!, $d: Date!) {{ school(npsn: $n) {{ attendance(from: $d, to: $d) {{ {selection('AttendanceDay')} }} }} }}",
        {"n": npsn, "d": day}, ("school", "attendance", 0),
    )
    return [Case(notice, "School", desa, {"at": notice.at, "date": day}, {"school": school, "totals": totals})]


def alert_cases(picks: Picks) -> list[Case]:
    npsn, day, desa, leaves = picks.alert
    notice = change(f"{npsn}:{day}", "RECORDED", desa, entity="AttendanceDay")
    objects = [n for n, d in SCHEMA.type_map["AbsenceAlert"].fields.items() if not is_leaf_type(get_named_type(d.type))]  # type: ignore[union-attr]
    oracles = {}
    for name in objects:
        target = get_named_type(SCHEMA.type_map["AbsenceAlert"].fields[name].type).name  # type: ignore[union-attr]
        inner = selection(target)
        days = ", $d: Date!" if "$d" in inner else ""  # what REQUIRED_ARGUMENTS gives, declared where used
        query = f"query($a: Date!, $r: RegionCode{days}) {{ absenceAlerts(from: $a, to: $a, region: $r) {{ {name} {{ {inner} }} }} }}"
        variables = {"a": day, "r": desa, **({"d": picks.attendance[1]} if days else {})}
        oracles[name] = Oracle(query, variables, ("absenceAlerts", 0, name))
    return [Case(notice, "School", desa, leaves, oracles)]


def source_status_cases(picks: Picks) -> list[Case]:
    notice = change("siak", "DEGRADED", "", entity="SourceStatus")
    # The breaker and failures are the source's health as the gateway holds it when the event is sent.
    leaves = {"at": notice.at, "source": "siak", "state": "DEGRADED", "breaker": "CLOSED", "consecutiveFailures": 0, "lastErrorCode": None}
    return [Case(notice, None, None, leaves, {})]


SPECS: dict[str, Spec] = {
    "residentChanges": Spec("Person", "$region: RegionCode!", "(region: $region)", resident_cases),
    "caseReportsAdded": Spec("CaseReport", "$region: RegionCode!", "(region: $region)", case_report_cases),
    "attendanceRecorded": Spec("AttendanceDay", "$region: RegionCode!, $d: Date!", "(region: $region)", attendance_cases),
    "absenceAlertRaised": Spec("AttendanceDay", "$region: RegionCode!, $d: Date!", "(region: $region)", alert_cases),
    "sourceStatus": Spec("SourceStatus", "", "", source_status_cases, may="operations"),
}


# -- the world: one gateway with the demo policy for the module ------------------------------------


@dataclass
class World:
    url: str
    feed: ServerLoopFeed
    audit_db: Any
    #: Role -> (headers, principal attributes) of the demo clients in the gateway's config.
    clients: dict[str, tuple[dict[str, str], dict[str, str]]]
    http: httpx.Client
    picks: Picks = field(init=False)

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        assert role in self.clients, f"the policy has role {role!r} but the demo config no client of it: add one to demo_clients"
        return self.clients[role][0]

    def ask(self, role: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(self.url, json={"query": query, "variables": variables}, headers=self.headers(role))
        return response.json()


@contextmanager
def _jkn(dataset: Any) -> Iterator[str]:
    from demo.apis import create_jkn_app

    yield from serve_api(create_jkn_app(dataset), "JKN")


@pytest.fixture(scope="module")
def world(dataset: Any, sqlite_backend: Backend, dinkes_api: str, sepeda_keren_api: str, lapor_api: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("subscription-matrix")
    folder.chmod(0o700)
    registry, education = folder / "dispendukcapil.sqlite", folder / "dinas-pendidikan.sqlite"
    shutil.copy(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///"), registry)
    shutil.copy(sqlite_backend.education_url.removeprefix("sqlite+aiosqlite:///"), education)
    with ExitStack() as stack:
        jkn = stack.enter_context(_jkn(dataset))
        with sqlite_file(education) as conn:
            (npsn,) = conn.execute("SELECT npsn FROM sekolah ORDER BY npsn LIMIT 1").fetchone()
        config = tomllib.loads(render_config(
            registry_url=f"sqlite+aiosqlite:///{registry}", education_url=f"sqlite+aiosqlite:///{education}",
            dinkes_url=dinkes_api, sepeda_keren_url=sepeda_keren_api, lapor_url=lapor_api, jkn_url=jkn,
            samples={"npsn": npsn, "participant_kecamatan": WATULIMO}, access=True,
        ))
        config["audit"] = {"path": str(folder / "audit.sqlite")}
        config["ratelimit"] = {"requests_per_minute": 60000, "burst": 10000}
        config["gateway"]["cursor_key"] = MATRIX_CURSOR_KEY  # whence the shuffled lists' salt, which pick needs
        keys = {c.id: c for c in demo_clients(npsn)}
        clients = {}
        for entry in config["clients"]:
            demo = keys[entry["id"]]
            attributes = {k: v for k, v in entry.items() if k not in ("id", "role", "key_sha256")}
            clients[entry["role"]] = ({"X-API-Key": demo.key, "X-Satudata-Purpose": demo.purpose}, attributes)
        feed = ServerLoopFeed(max_queue=16)
        settings = GatewaySettings.from_dict(config)
        app = create_app(settings, changes=feed)
        uvicorn_config = server_config(app, settings, host="127.0.0.1", port=free_port(), log_level="warning")
        url = stack.enter_context(serve_in_thread(uvicorn_config, name="subscription-matrix", stop_timeout_s=20))
        http = stack.enter_context(httpx.Client(timeout=httpx.Timeout(30, read=10)))
        world = World(f"{url}/graphql", feed, folder / "audit.sqlite", clients, http)
        world.picks = pick(world, registry, education)
        yield world


def pick(world: World, registry: Any, education: Any) -> Picks:
    """The records the notices are about, found through the gateway as the roles that may read them."""

    def first_resident(kecamatan: str, witness: str = "") -> tuple[str, str]:
        with sqlite_file(registry) as conn:
            desas = [d for (d,) in conn.execute(
                "SELECT DISTINCT kode_wilayah FROM penduduk WHERE kode_wilayah LIKE ? ORDER BY 1", (kecamatan + ".%",))]
        found = None
        for desa in desas[:8]:
            # The registry officer reads NIKs in full; the health officer says who has a health record.
            nodes = world.ask("registry_officer", "query($r: RegionCode!) { persons(first: 1, filter: {region: $r}) { nodes { nik } } }",
                              {"r": desa})["data"]["persons"]["nodes"]
            if not nodes:
                continue
            found = found or (nodes[0]["nik"], desa)
            if witness and world.ask("health_officer", witness, {"n": nodes[0]["nik"]})["data"]["person"]["healthRecord"]:
                return nodes[0]["nik"], desa
        assert found, f"no resident in {kecamatan}"
        return found

    inside = first_resident(WATULIMO, "query($n: NIK!) { person(nik: $n) { healthRecord { __typename } } }")
    outside = first_resident(ELSEWHERE)
    case_report = None
    with sqlite_file(registry) as conn:
        desas = [d for (d,) in conn.execute(
            "SELECT DISTINCT kode_wilayah FROM penduduk WHERE kode_wilayah LIKE ? ORDER BY 1", (WATULIMO + ".%",))]
    query = "query($r: RegionCode!, $y: Int!) { region(code: $r) { caseReports(year: $y) { year week disease } } }"
    for desa, year in ((d, y) for d in desas[:6] for y in (2026, 2025, 2024)):
        answer = world.ask("anonymous", query, {"r": desa, "y": year})
        assert answer.get("data"), answer
        counts: dict[tuple[Any, ...], int] = {}
        for line in answer["data"]["region"]["caseReports"] or []:
            k = (line["year"], line["week"], line["disease"])
            counts[k] = counts.get(k, 0) + 1
        unique = [k for k, n in counts.items() if n == 1]
        if unique:
            year, week, disease = unique[0]
            case_report = {"year": year, "week": week, "disease": disease, "region": desa}
            break
    assert case_report, "no SKDR line in Watulimo: the demo data changed"
    with sqlite_file(education) as conn:
        npsn, day = conn.execute("SELECT npsn, tanggal FROM kehadiran ORDER BY npsn, tanggal LIMIT 1").fetchone()
    school = world.ask("anonymous", "query($n: NPSN!) { school(npsn: $n) { region { code } } }", {"n": npsn})
    desa = school["data"]["school"]["region"]["code"]
    operator_school = world.clients["school_operator"][1]["school"]
    where = world.ask("anonymous", "query($n: NPSN!) { school(npsn: $n) { region { code } } }", {"n": operator_school})
    alert = record_outbreak(world, education, operator_school, where["data"]["school"]["region"]["code"])
    after = {(role, nik): cursor_before(world, role, registry, nik, desa)
             for role in ROLES if not reads_in_full(role, policy_class("Person.nik")) for nik, desa in (inside, outside)}
    return Picks(inside, outside, case_report, (npsn, str(day)[:10], desa), alert, after)


def cursor_before(world: World, role: str, registry: Any, nik: str, desa: str) -> str | None:
    """The cursor of the resident listed just before ``nik`` in ``role``'s shuffled list of ``desa``."""

    with sqlite_file(registry) as conn:
        niks = [n for (n,) in conn.execute("SELECT nik FROM penduduk WHERE kode_wilayah = ?", (desa,))]
    salt = CursorSeal.from_text(MATRIX_CURSOR_KEY).order_salt("Person.nik")
    rank = sorted(niks, key=lambda n: (shuffled_position(salt, n), n)).index(nik)
    after = None
    while rank > 0:  # pages of at most 100
        page = min(rank, 100)
        answer = world.ask(role, "query($r: RegionCode!, $a: String) { persons(first: %d, after: $a, filter: {region: $r}) "
                           "{ pageInfo { endCursor } } }" % page, {"r": desa, "a": after})
        persons = (answer.get("data") or {}).get("persons")
        if persons is None or persons["pageInfo"]["endCursor"] is None:
            return None  # the role may not list them, or sees none of them: nothing to continue after
        after, rank = persons["pageInfo"]["endCursor"], rank - page
    return after


def record_outbreak(world: World, education: Any, npsn: str, desa: str) -> tuple[str, str, str, dict[str, Any]]:
    """Three school days with most of a class off sick at ``npsn`` (the school operator's school), the same
    pupils each day, written into the education database as Dapodik records days; the third day's alert,
    as the analyst's query finds it (its leaves are public: every role that may see it reads them alike)."""

    async def write() -> str:
        url = f"sqlite+aiosqlite:///{education}"
        await ensure_attendance_register(url)
        simulator = AttendanceSimulator(url, seed=3503)
        try:
            return (await simulator.outbreak(npsn))[-1].day.isoformat()
        finally:
            await simulator.aclose()

    day = asyncio.run(write())
    leaves = "date rombel count threshold dayFactor expected method statuses samePupils"
    query = f"query($a: Date!, $r: RegionCode) {{ absenceAlerts(from: $a, to: $a, region: $r) {{ {leaves} }} }}"
    found = world.ask("smart_center_analyst", query, {"a": day, "r": desa})["data"]["absenceAlerts"]
    assert len(found) == 1, f"the outbreak recorded at {npsn} on {day} raised {found}"
    return npsn, day, desa, found[0]


# -- SSE ------------------------------------------------------------------------------------------


class Stream:
    """One GraphQL-over-SSE POST (distinct connections mode), read event by event."""

    def __init__(self, world: World, document: str, variables: dict[str, Any], headers: dict[str, str], *, read_timeout_s: float) -> None:
        self._context = world.http.stream(
            "POST", world.url, json={"query": document, "variables": variables}, headers={**headers, "Accept": "text/event-stream"},
            timeout=httpx.Timeout(30, read=read_timeout_s),
        )
        self.response = self._context.__enter__()
        self.refusal: dict[str, Any] | None = None
        if not self.response.headers.get("content-type", "").startswith("text/event-stream"):
            self.refusal = json.loads(self.response.read())
        self._lines = self.response.iter_lines()

    def next(self) -> tuple[str, Any]:
        """The next ``(event, data)``; comments (keep-alives) are skipped."""

        kind = None
        for line in self._lines:
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:") and kind is not None:
                data = line.removeprefix("data:").strip()
                return kind, json.loads(data) if data else None
        raise AssertionError("the stream ended")

    def close(self) -> None:
        self._context.__exit__(None, None, None)


def codes(errors: list[dict[str, Any]]) -> set[str]:
    return {str((e.get("extensions") or {}).get("code")) for e in errors}


def relative_errors(errors: list[dict[str, Any]], prefix: tuple[str | int, ...]) -> set[tuple[str, tuple[Any, ...]]]:
    """``(code, path below prefix)`` of the errors under ``prefix``; an error elsewhere keeps its whole path."""

    found = set()
    for error in errors:
        path = tuple(error.get("path") or ())
        below = path[len(prefix):] if path[: len(prefix)] == prefix else ("outside", *path)
        found.add((str((error.get("extensions") or {}).get("code")), below))
    return found


def at(path: tuple[str | int, ...], data: Any) -> Any:
    for step in path:
        if data is None:
            return None
        if isinstance(step, int):
            data = data[step] if isinstance(data, list) and len(data) > step else None
        else:
            data = data.get(step) if isinstance(data, dict) else None
    return data


# -- the matrix -----------------------------------------------------------------------------------


def refused_at_subscribe(role: str, name: str) -> bool:
    """What the policy says: the role may not see the field's class, or lacks the ``may`` it needs."""

    spec = SPECS[name]
    if spec.may is not None and spec.may not in role_table(role).get("may", ()):
        return True
    return not sees(role, policy_class(f"Subscription.{name}"))


def in_scope(world: World, role: str, entity: str | None, region: str | None) -> bool:
    """Whether the role's row scope (as the policy writes it) lets it see a record of ``entity`` in ``region``."""

    rule = role_table(role).get("row_scope", {}).get(entity) if entity else None
    if rule is None:
        return True
    assert set(rule) <= {"field", "within"} and rule.get("field") == "regionCode", (
        f"{role}'s row scope on {entity} is {rule}: say here how the matrix places a notice for it"
    )
    area = world.clients[role][1][rule["within"]]
    return region is not None and (region == area or region.startswith(area + "."))


#: How the subscription's one root field is written: a field selected through a fragment is as selected
#: as a plain one, and every check on it must hold alike.
SHAPES = ["field", "inline fragment", "fragment spread"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("role", ROLES)
def test_subscription_matrix(world: World, role: str, name: str, shape: str) -> None:
    problems = cell_problems(world, role, name, shape)
    assert not problems, f"{role} x {name} ({shape}):\n" + "\n".join(problems)


def cell_problems(world: World, role: str, name: str, shape: str = "field") -> list[str]:
    """What is wrong with ``role``'s subscription to ``name`` written as ``shape`` (empty: nothing)."""

    assert name in SPECS, f"subscription field {name} is not in the matrix: add how to raise its events to SPECS"
    spec = SPECS[name]
    document = spec.document(name, shape)
    cases = spec.cases(world.picks)
    variables = spec.values(world.picks)
    problems: list[str] = []
    world.feed.wait_for_subscribers(0, spec.entity, exactly=True)
    before = len(audit_records(world.audit_db))
    refused = refused_at_subscribe(role, name)
    # A refusal comes at once; waiting longer for one would only wait for an event that should never come.
    stream = Stream(world, document, variables, world.headers(role), read_timeout_s=3 if refused else 10)
    try:
        if refused:
            check_refused(world, role, name, cases, stream, before, problems)
        else:
            check_delivered(world, role, name, cases, stream, before, problems)
    finally:
        stream.close()
    return problems


def check_refused(world: World, role: str, name: str, cases: list[Case], stream: Stream, before: int, problems: list[str]) -> None:
    if stream.refusal is not None:
        errors = stream.refusal.get("errors") or []
        if "data" in stream.refusal and stream.refusal["data"] is not None:
            problems.append(f"refused with data: {stream.refusal}")
    else:
        try:
            kind, body = stream.next()
        except httpx.ReadTimeout:
            problems.append("no refusal: the subscription was accepted")
            return
        if kind != "next" or not body or body.get("data") is not None or not body.get("errors"):
            problems.append(f"expected a refusal at subscribe, got {kind} {body}")
            return
        errors = body["errors"]
        if stream.next()[0] != "complete":
            problems.append("the refusal was not followed by complete")
    got = codes(errors)
    # The code a query of the same data gets from the same role (sourceStatus has no query: operators only).
    oracles = [o for case in cases for o in case.oracles.values()]
    refusals = {"FORBIDDEN", "UNAUTHENTICATED"}
    expected = codes(world.ask(role, oracles[0].query, oracles[0].variables_for(role)).get("errors") or []) & refusals if oracles else set()
    # No query to compare with, or one that is answered (the policy classes the subscription field alone).
    expected = expected or {"FORBIDDEN"}
    if got != expected:
        problems.append(f"refused with {got} where the same role's query is refused with {expected}: {errors}")
    if world.feed.subscriber_count(SPECS[name].entity):
        problems.append("a refused subscription subscribed to the feed")
    if SPECS[name].may is None:
        refusals = [r for r in audit_records(world.audit_db)[before:] if f"Subscription.{name}" in r.refused]
        if len(refusals) != 1:
            problems.append(f"{len(refusals)} audit records of the refusal (one expected)")


def check_delivered(world: World, role: str, name: str, cases: list[Case], stream: Stream, before: int, problems: list[str]) -> None:
    spec = SPECS[name]
    if stream.refusal is not None:
        problems.append(f"refused at subscribe ({stream.response.status_code}), the policy lets it: {stream.refusal}")
        return
    world.feed.wait_for_subscribers(1, spec.entity, timeout_s=10)
    placed = [(case, in_scope(world, role, case.entity, case.region)) for case in cases]
    assert any(delivered for _, delivered in placed), f"no case in {role}'s row scope: pick records inside it"
    # Notices out of scope first: the first event the subscriber gets must be the first one in scope.
    held = [case for case, delivered in placed if not delivered]
    world.feed.publish_now(*(case.notice for case in held))
    for case in (case for case, delivered in placed if delivered):
        mark = len(audit_records(world.audit_db))
        world.feed.publish_now(case.notice)
        try:
            kind, body = stream.next()
        except httpx.ReadTimeout:
            problems.append(f"no event for {case.notice.key} within the read timeout")
            return
        if kind != "next" or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            problems.append(f"expected an event for {case.notice.key}, got {kind} {body}")
            return
        event = body["data"][name]
        errors = body.get("errors") or []
        event_type = get_named_type(SCHEMA.subscription_type.fields[name].type).name  # type: ignore[union-attr]
        withheld: set[tuple[str, ...]] = set()
        for leaf, value in event.items():
            if leaf in case.oracles:
                continue
            assert leaf in case.leaves, f"{name} has a field {leaf} the matrix does not check: add it to the spec"
            if not reads_in_full(role, policy_class(f"{event_type}.{leaf}")):
                # The role sees the leaf's class masked (it could subscribe): withheld, with its error.
                withheld.add((name, leaf))
                if value is not None:
                    problems.append(f"{leaf}: {value!r}, expected it withheld from {role} (from the notice {case.notice.key})")
                continue
            expected = case.leaves[leaf]
            got = datetime.fromisoformat(value) if isinstance(expected, datetime) and value else value
            if got != expected:
                problems.append(f"{leaf}: {value!r}, expected {expected!r} (from the notice {case.notice.key})")
        said = {tuple(e.get("path") or ()) for e in errors if (e.get("extensions") or {}).get("code") == "WITHHELD"}
        if withheld - said:
            problems.append(f"withheld without a WITHHELD error: {sorted(withheld - said)}")
        event_records = audit_records(world.audit_db)[mark:]
        explained = {(obj,) for obj in case.oracles}
        unexplained = [
            e for e in errors
            if tuple(e.get("path") or ())[1:2] not in explained and tuple(e.get("path") or ()) not in withheld
        ]
        if unexplained:
            problems.append(f"errors outside the event's objects: {unexplained}")
        refused_objs = set()
        for obj, oracle in case.oracles.items():
            chosen = CHOSEN_BY.get(f"{event_type}.{obj}")
            if chosen is not None and not reads_in_full(role, policy_class(chosen[1])):
                # A link chosen by a field the role has withheld (a resident's change leads to the resident
                # whose status changed): a read of that field, refused, whatever the same role's query shows.
                refused_objs.add(f"{event_type}.{obj}")
                got = {e for e in relative_errors(errors, (name, obj)) if e[1][:1] != ("outside",)}
                if event.get(obj) is not None or got != {("FORBIDDEN", ())}:
                    problems.append(f"{obj} of {case.notice.key}: {event.get(obj)!r}, errors {sorted(got)}; "
                                    f"expected FORBIDDEN: it reads {chosen[1]}, which {role} has withheld")
                continue
            answer = world.ask(role, oracle.query, oracle.variables_for(role))
            expected_obj = at(oracle.path, answer.get("data"))
            if expected_obj is None and not relative_errors(answer.get("errors") or [], oracle.path):
                # (None with an error is the same role's query refused there: the event must say the same.)
                problems.append(f"{case.notice.key} delivered, yet the same role's query finds no {obj}: {answer}")
            if event.get(obj) != expected_obj:
                problems.append(f"{obj} of {case.notice.key}: {event.get(obj)!r}\n  the same role's query: {expected_obj!r}")
            got_errors = relative_errors(errors, (name, obj))
            got_errors = {e for e in got_errors if e[1][:1] != ("outside",)}
            query_errors = relative_errors(answer.get("errors") or [], oracle.path)
            if got_errors != query_errors:
                problems.append(f"{obj} of {case.notice.key}: errors {sorted(got_errors)}\n  the same role's query: {sorted(query_errors)}")
        query_records = audit_records(world.audit_db)[mark + len(event_records):]
        if refused_objs and len(refused_objs) == len(case.oracles):
            # Nothing of the record was disclosed: the event is on the record as a refusal, naming no one.
            refused = {f for r in event_records for f in r.refused}
            if len(event_records) != 1 or not refused_objs <= refused:
                problems.append(f"audit of the refused event {case.notice.key}: {[(r.persons, r.refused) for r in event_records]}, "
                                f"expected one record refusing {sorted(refused_objs)}")
            if case.subject is not None and any(case.subject in r.persons for r in event_records):
                problems.append(f"the refused event's audit record names {case.subject}")
        else:
            check_audit(role, name, case, event_records, query_records, problems)
    for case in held:
        if case.subject is not None and any(case.subject in r.persons for r in audit_records(world.audit_db)[before:]):
            problems.append(f"{case.subject}, outside {role}'s rows, is in the audit log")
        for oracle in case.oracles.values():
            found = at(oracle.path, world.ask(role, oracle.query, oracle.variables_for(role)).get("data"))
            if found is not None:
                problems.append(f"the policy puts {case.notice.key} outside {role}'s rows, yet its query finds it: {found}")


def check_audit(role: str, name: str, case: Case, event_records: list[Any], query_records: list[Any], problems: list[str]) -> None:
    """An event that disclosed personal data is audited, as the same role's query of the same record is."""

    # What the records say about the objects, without the containers that lead to them (the event
    # type's field, the query's root and connection), merged: an event of two objects is one answer,
    # its query two.
    containers = (f"{get_named_type(SCHEMA.subscription_type.fields[name].type).name}.", "Query.", "Subscription.")  # type: ignore[union-attr]

    def facts(records: list[Any]) -> dict[str, set[Any]]:
        def kept(names: Any) -> set[str]:
            return {n for n in names if not n.startswith(containers) and "Connection." not in n and "Edge." not in n}

        return {
            "roles": {(r.role, r.client_id) for r in records},
            "persons": {p for r in records for p in r.persons},
            "fields": kept(f for r in records for f in r.fields),
            "masked": kept(f for r in records for f in r.masked),
            "refused": kept(f for r in records for f in r.refused),
        }

    personal = policy_class(f"Subscription.{name}") != PUBLIC
    if personal and len(event_records) != 1:
        problems.append(f"{len(event_records)} audit records of the event about {case.notice.key} (one expected)")
    if personal and case.subject is not None and not any(case.subject in r.persons for r in event_records):
        problems.append(f"the audit record of the event does not name {case.subject}")
    if role != "anonymous" and any(r.role != role for r in event_records):
        problems.append(f"the event's audit record names another role: {[r.role for r in event_records]}")
    if facts(event_records) != facts(query_records):
        problems.append(f"audit of the event {facts(event_records)}\n  of the same role's query {facts(query_records)}")


#: Roles that may subscribe to some field holding personal data (which needs a purpose).
PURPOSEFUL = [r for r in ROLES if any(policy_class(f"Subscription.{n}") != PUBLIC and not refused_at_subscribe(r, n) for n in FIELDS)]


@pytest.mark.parametrize("role", PURPOSEFUL)
def test_purposes_hold_for_subscriptions_as_for_queries(world: World, role: str) -> None:
    """Without a purpose, or with one not among the role's (another role's, from the policy), a
    subscription to personal data is refused with the code the same query gets, and nothing subscribes."""

    others = sorted({p for r in POLICY_TABLE["roles"].values() for p in r.get("purposes", ())} - set(role_table(role)["purposes"]))
    problems = []
    checked = 0
    for name in FIELDS:
        if refused_at_subscribe(role, name) or policy_class(f"Subscription.{name}") == PUBLIC:
            continue
        spec = SPECS[name]
        oracle = next(o for case in spec.cases(world.picks) for o in case.oracles.values())
        for purpose in (None, others[0]):
            headers = {k: v for k, v in world.headers(role).items() if k != "X-Satudata-Purpose"}
            if purpose is not None:
                headers["X-Satudata-Purpose"] = purpose
            query = world.http.post(world.url, json={"query": oracle.query, "variables": oracle.variables_for(role)}, headers=headers).json()
            expected = codes(query.get("errors") or [])
            variables = spec.values(world.picks)
            world.feed.wait_for_subscribers(0, spec.entity, exactly=True)
            stream = Stream(world, spec.document(name), variables, headers, read_timeout_s=3)
            try:
                if stream.refusal is not None:
                    got = codes(stream.refusal.get("errors") or [])
                else:
                    try:
                        kind, body = stream.next()
                        got = codes((body or {}).get("errors") or []) if kind == "next" and not (body or {}).get("data") else {"delivered"}
                    except httpx.ReadTimeout:
                        got = {"accepted"}
            finally:
                stream.close()
            checked += 1
            if got != expected or not expected:
                problems.append(f"{name} with purpose {purpose!r}: {got}, the same query: {expected}")
    assert checked and not problems, "\n".join(problems)


def test_the_matrix_covers_every_role_and_field_of_policy_and_schema() -> None:
    """The parameters come from the policy and the schema; this says so out loud, and that each
    subscription field has a class decided by the policy or is public on purpose."""

    assert set(ROLES) == {"anonymous", *POLICY_TABLE["roles"]} and len(ROLES) > 2
    assert set(FIELDS) == set(SPECS), "SPECS must name exactly the schema's subscription fields"
    # At least one field is personal data, or the matrix's audit and scope checks check nothing.
    assert any(policy_class(f"Subscription.{f}") != PUBLIC for f in FIELDS)
    assert any(role_table(r).get("row_scope") for r in ROLES)


def test_the_matrix_catches_a_resident_announced_outside_the_row_scope(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The matrix bites: with the live read's admission check gone (the gateway runs in this process),
    a scoped role is told of a resident outside its area, and its cell says so."""

    import resolvers.subscription

    async def admits_everyone(self: Any, context: Any) -> bool:
        return True

    scoped = [r for r in ROLES if "Person" in role_table(r).get("row_scope", {}) and not refused_at_subscribe(r, "residentChanges")]
    assert scoped
    monkeypatch.setattr(resolvers.subscription.ResidentChange, "admits", admits_everyone)
    problems = cell_problems(world, scoped[0], "residentChanges")
    assert any("expected 'UPDATED'" in p for p in problems), problems


def test_the_matrix_catches_an_operator_field_open_to_everyone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.subscriptions.operations

    monkeypatch.setattr(gateway.subscriptions.operations, "OPERATOR_FIELDS", frozenset())
    role = next(r for r in ROLES if refused_at_subscribe(r, "sourceStatus") and sees(r, policy_class("Subscription.sourceStatus")))
    assert "no refusal: the subscription was accepted" in cell_problems(world, role, "sourceStatus")


KINDS_DOCUMENT = "subscription($region: RegionCode!) { residentChanges(region: $region, kinds: [DIED]) { at } }"


@pytest.mark.parametrize("role", [r for r in ROLES if not refused_at_subscribe(r, "residentChanges")])
def test_choosing_the_kinds_of_change_needs_the_residents_status_in_full(world: World, role: str) -> None:
    """``kinds: [DIED]`` tests what the change says of a resident, as a status filter on persons does: a
    role that reads ResidentChange.kind masked may not choose by it (the argument rule), and the
    refusal names the argument; a role reading it in full subscribes."""

    world.feed.wait_for_subscribers(0, "Person", exactly=True)
    stream = Stream(world, KINDS_DOCUMENT, {"region": REGENCY}, world.headers(role), read_timeout_s=3)
    try:
        refusal = stream.refusal
        if refusal is None:
            try:
                kind, body = stream.next()
            except httpx.ReadTimeout:
                kind, body = None, None
            refusal = body if kind == "next" and isinstance(body, dict) and body.get("data") is None else None
        if reads_in_full(role, policy_class("ResidentChange.kind")):
            assert refusal is None, (role, refusal)
        else:
            assert refusal is not None, f"{role} chose deaths among the changes with the status masked"
            (error,) = refusal["errors"]
            assert error["extensions"]["code"] == "FORBIDDEN" and error["extensions"].get("argument") == "kinds", error
    finally:
        stream.close()
