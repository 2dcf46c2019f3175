"""What the demo policy promises, stated independently of the code that enforces it.

The access matrices (``test_access_matrix``, ``test_argument_matrix``, ``test_row_scope_matrix``)
and the property test (``test_policy_properties``) take their expected answers from the tables
below, written by hand from ``demo/access_config.py``'s POLICY text and the README, never from
``gateway.access.policy`` (``Policy.decide``, ``apply_mask``) or ``resolvers.arguments``: a test that
asks the code under test what to expect cannot catch that code being wrong. If the demo policy
changes, these tables change with it, by hand, in the same commit.

The second half of the module is the world the matrices run in: the demo sources (SQLite
registry and Dapodik, the Dinkes, Sepeda Keren, LAPOR! and JKN APIs on real sockets), a gateway
with the demo policy over them and one without access control as the reference, both in an
event loop of their own (an anyio blocking portal) so that synchronous tests and hypothesis can
share them for a whole module.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resolvers.cursors import new_cursor_key

FULL, MASKED, REFUSED = "full", "masked", "refused"
PUBLIC = "public"

# -- roles ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleSpec:
    """A demo role: classes seen in full, classes seen masked (anything else refused), its row scope."""

    name: str
    full: frozenset[str] = frozenset()
    masked: frozenset[str] = frozenset()
    #: The principal attribute the role's rows are scoped by (``region`` or ``school``), if any.
    scoped_by: str | None = None


ROLES: dict[str, RoleSpec] = {
    r.name: r
    for r in (
        RoleSpec("anonymous"),
        RoleSpec("smart_center_analyst", masked=frozenset({"personal", "children"})),
        RoleSpec("registry_officer", full=frozenset({"personal"})),
        RoleSpec("health_officer", full=frozenset({"personal", "health"}), scoped_by="region"),
        RoleSpec("programme_facilitator", full=frozenset({"personal", "disability"}), scoped_by="region"),
        RoleSpec("school_operator", full=frozenset({"children"}), scoped_by="school"),
        RoleSpec("neighbour_portal", masked=frozenset({"personal"})),
    )
}
SCOPED_ROLES = [name for name, r in ROLES.items() if r.scoped_by]

# -- classes of fields ------------------------------------------------------------------------------

#: Types whose objects are about one person. A link from one of them cannot be masked.
PERSON_TYPES = frozenset(
    {"Person", "Family", "Student", "HealthRecord", "HealthInsurance", "ProgrammeParticipation", "SessionAttendance", "Feedback"}
)

#: Every non-public leaf field: ``Type.field`` -> (class, mask). Leaves not listed are public.
LEAVES: dict[str, tuple[str, str]] = {
    **{f"Person.{f}": ("personal", "hide") for f in (
        "sex", "birthPlace", "religion", "maritalStatus", "familyRelation", "occupation", "status", "updatedAt")},
    "Person.nik": ("personal", "nik"),
    "Person.name": ("personal", "initials"),
    "Person.birthDate": ("personal", "year"),
    "Person.birthYear": ("personal", "year"),
    **{f"Family.{f}": ("personal", "hide") for f in ("address", "rt", "rw", "issuedOn", "updatedAt")},
    "Family.kk": ("personal", "nik"),
    **{f"Student.{f}": ("children", "hide") for f in ("sex", "birthPlace", "grade", "className", "enrolledOn")},
    "Student.nisn": ("children", "nik"),
    "Student.nik": ("children", "nik"),
    "Student.name": ("children", "initials"),
    "Student.birthDate": ("children", "year"),
    "Student.birthYear": ("children", "year"),
    **{f"HealthRecord.{f}": ("health", "hide") for f in (
        "ihsNumber", "bloodType", "registeredOn", "chronicConditions", "hasDisability", "disabilityType")},
    **{f"HealthInsurance.{f}": ("personal", "hide") for f in ("status", "segment", "careClass", "primaryCare", "memberSince")},
    "HealthInsurance.cardNumber": ("personal", "nik"),
    **{f"ProgrammeParticipation.{f}": ("disability", "hide") for f in (
        "enrolledOn", "status", "categories", "disabilityType", "startUpCapital", "sessionsExpected", "sessionsAttended")},
    "SessionAttendance.present": ("disability", "hide"),
    "Feedback.body": ("personal", "hide"),
    "Feedback.location": ("personal", "hide"),
}

#: Leaves of person types that are public, said out loud so that a new leaf needs a decision.
PUBLIC_LEAVES = frozenset({
    "Feedback.trackingId", "Feedback.kind", "Feedback.category", "Feedback.title", "Feedback.channel",
    "Feedback.status", "Feedback.submittedAt", "Feedback.updatedAt", "Feedback.anonymous",
})

#: Every object-valued field (link) with its class; links not listed are public.
#: From a person type: the policy's own entry, else the strictest of the parent's ``Type.*`` class
#: and the classes of the leaves of what it leads to (specific classes after personal).
#: Entry points (from Query and the public types) carry the class the policy gives them.
LINKS: dict[str, str] = {
    # From objects about a person.
    "Person.family": "personal",  # Person.* and Family's leaves
    "Person.student": "children",
    "Person.healthFacility": "health",
    "Person.healthRecord": "health",
    "Person.healthInsurance": "personal",
    "Person.programmes": "disability",
    # A person's discrepancies with other OPDs' records: open to a role that sees any of their classes
    # (each item's values are classed as the record it is about); a link, so never masked.
    "Person.discrepancies": "personal|health|disability|children",
    "Family.head": "personal",
    "Family.members": "personal",
    "Family.region": "personal",  # Family.* is personal: which desa a family card is in
    "Student.school": "children",  # a child's school
    "Student.person": "children",  # children beats personal
    "HealthRecord.registeredFacility": "health",
    "ProgrammeParticipation.person": "disability",
    "ProgrammeParticipation.programme": "disability",
    "ProgrammeParticipation.attendance": "disability",
    "SessionAttendance.session": "disability",
    "Feedback.reporter": "personal",
    # Entry points: lists and lookups of persons.
    "Query.person": "personal",
    "Query._entities": "personal",
    "Query.persons": "personal",
    "Query.family": "personal",
    "Query.student": "children",
    "Query.students": "children",
    "Region.residents": "personal",
    "School.students": "children",
    "Programme.facilitator": "personal",
    "Programme.participants": "disability",
    # The discrepancy report and its counts (no person in the counts, but small cells): open to a role
    # that sees any of the classes of the records compared; what it lists and counts is decided per item.
    "Query.discrepancies": "personal|health|disability|children",
    "Query.discrepancyCounts": "personal|health|disability|children",
}
#: Links from person types that the policy makes public.
PUBLIC_LINKS = frozenset({"Person.region", "Feedback.agency", "Feedback.region"})

#: Specific classes are stricter than general personal data; between specific ones, this order.
STRICTNESS = (PUBLIC, "personal", "health", "disability", "children")


def field_class(name: str) -> str:
    """The field's class; ``a|b``: open to a role that sees any of the classes ``a``, ``b``."""

    if name in LEAVES:
        return LEAVES[name][0]
    return LINKS.get(name, PUBLIC)


def outcome(role: str, name: str) -> str:
    """``full``, ``masked`` or ``refused``: how ``role`` gets the field ``Type.field``."""

    classes = set(field_class(name).split("|"))
    spec = ROLES[role]
    if PUBLIC in classes or classes & spec.full:
        return FULL
    if classes & spec.masked:
        is_link = name in LINKS
        # A link cannot be masked: what it discloses is that it leads somewhere.
        return REFUSED if is_link and name.split(".")[0] in PERSON_TYPES else MASKED
    return REFUSED


# -- masks --------------------------------------------------------------------------------------


def mask_nik(value: str) -> str:
    """First four characters (the regency), stars, last two: ``3503**********01``."""

    return value[:4] + "*" * (len(value) - 6) + value[-2:]


def mask_initials(value: str) -> str:
    """``Siti Aminah`` -> ``S. A.``"""

    return " ".join(word[0].upper() + "." for word in re.split(r"[\s']+", value) if word and word[0].isalpha())


def mask_year(value: Any) -> Any:
    """A year shows (``birthYear``: ``1995``); a date is withheld (null, with a ``WITHHELD`` error),
    never ``"1995"`` in a ``Date`` (issue 13)."""

    return value if isinstance(value, int) else None


MASKS: dict[str, Callable[[Any], Any]] = {
    "nik": mask_nik,
    "initials": mask_initials,
    "year": mask_year,
    "hide": lambda value: None,
}


def masked_value(name: str, value: Any) -> Any:
    """``value`` (as JSON) of the leaf ``Type.field`` as a role with masked access sees it."""

    if value is None:
        return None
    mask = MASKS[LEAVES[name][1]]
    return [mask(v) for v in value] if isinstance(value, list) and LEAVES[name][1] != "hide" else mask(value)


def expected_leaf(role: str, name: str, value: Any) -> Any:
    """What ``role`` gets for a leaf whose unguarded value is ``value`` (refused: ``None``)."""

    how = outcome(role, name)
    if how == FULL:
        return value
    if how == MASKED:
        return masked_value(name, value)
    return None


# -- arguments ------------------------------------------------------------------------------------

READS, FOLLOWS, SHAPES = "reads", "follows", "shapes"

#: Every argument of the schema (``Type.field(argument[.inputField])``) -> (kind, ``Type.field``).
#: ``reads``: compared with that field's values, allowed only where the role reads it in full;
#: ``follows``: lists what that link lists, allowed where the role may follow the link;
#: ``shapes``: page size, cursor, time window: tests no record.
ARGUMENTS: dict[str, tuple[str, str]] = {
    "Query.person(nik)": (READS, "Person.nik"),
    "Query.family(kk)": (READS, "Family.kk"),
    "Query.student(nisn)": (READS, "Student.nisn"),
    "Query.school(npsn)": (READS, "School.npsn"),
    "Query.region(code)": (READS, "Region.code"),
    "Query.healthFacility(code)": (READS, "HealthFacility.code"),
    "Query.agency(code)": (READS, "Agency.code"),
    "Query.programme(code)": (READS, "Programme.code"),
    "Query.persons(filter.region)": (FOLLOWS, "Region.residents"),
    "Query.persons(filter.nameContains)": (READS, "Person.name"),
    "Query.persons(filter.status)": (READS, "Person.status"),
    "Query.persons(filter.sex)": (READS, "Person.sex"),
    "Region.residents(status)": (READS, "Person.status"),
    "Query.students(filter.school)": (FOLLOWS, "School.students"),
    "Query.students(filter.grade)": (READS, "Student.grade"),
    "Query.students(filter.nameContains)": (READS, "Student.name"),
    "School.students(grade)": (READS, "Student.grade"),
    "Query.schools(filter.region)": (READS, "School.region"),
    "Query.schools(filter.level)": (READS, "School.level"),
    "Query.schools(filter.ownership)": (READS, "School.ownership"),
    "Query.schools(filter.nameContains)": (READS, "School.name"),
    "Region.schools(level)": (READS, "School.level"),
    "Query.programmes(filter.year)": (READS, "Programme.year"),
    "Query.programmes(filter.region)": (READS, "Programme.region"),
    **{
        f"{parent}.feedback(filter.{name})": (READS, f"Feedback.{target}")
        for parent in ("Query", "Region", "Agency")
        for name, target in (("status", "status"), ("kind", "kind"), ("category", "category"), ("region", "region"),
                             ("agency", "agency"), ("submittedFrom", "submittedAt"), ("submittedTo", "submittedAt"))
    },
    **{
        f"{parent}.caseReports({name})": (READS, f"CaseReport.{target}")
        for parent in ("Region", "HealthFacility")
        for name, target in (("year", "year"), ("fromWeek", "week"), ("toWeek", "week"), ("disease", "disease"))
    },
    **{
        f"{field}({name})": (SHAPES, "")
        for field in ("Query.persons", "Query.schools", "Query.students", "Query.programmes", "Query.feedback",
                      "Region.residents", "Region.feedback", "Agency.feedback", "Programme.participants")
        for name in ("first", "after")
    },
    **{
        f"Query.{field}({name})": (READS, target)
        for field in ("discrepancies", "discrepancyCounts")
        for name, target in (("fact", "Discrepancy.fact"), ("agency", "DiscrepancyValue.agency"), ("region", "Discrepancy.region"))
    },
    "Query.discrepancies(first)": (SHAPES, ""),
    "Query.discrepancies(after)": (SHAPES, ""),
    "School.attendance(from)": (SHAPES, ""),
    "School.attendance(to)": (SHAPES, ""),
    "Query.absenceAlerts(from)": (SHAPES, ""),
    "Query.absenceAlerts(to)": (SHAPES, ""),
    "Query.absenceAlerts(region)": (FOLLOWS, "Region.schools"),
}

#: ``_entities`` representations: ``__typename`` -> the key field each one tests.
REPRESENTATIONS: dict[str, str] = {
    "Person": "Person.nik",
    "Family": "Family.kk",
    "Student": "Student.nisn",
    "School": "School.npsn",
    "Region": "Region.code",
    "Agency": "Agency.code",
}


def argument_allowed(role: str, argument: str) -> bool:
    """Whether ``role`` may give ``argument`` (a key of ``ARGUMENTS``), its field being readable."""

    kind, target = ARGUMENTS[argument]
    if kind == READS:
        return outcome(role, target) == FULL
    if kind == FOLLOWS:
        return outcome(role, target) != REFUSED
    return True


# -- row scope ------------------------------------------------------------------------------------

#: The demo officers' working area (health officer and facilitator), and its neighbour kecamatan
#: used as "outside".
WATULIMO = "35.03.08"


def in_region(code: str | None, area: str = WATULIMO) -> bool:
    return isinstance(code, str) and (code == area or code.startswith(area + "."))


REGION, SUBJECT, SCHOOL = "region", "subject", "school"

#: The demo policy's row scopes, restated by vocabulary type: which types a scoped role sees only
#: some objects of, and what places an object: the region of its own address (``region``), the
#: region of the person it is about (``subject``: a patient's record, a participant's place), or
#: the pupil's school (``school``). The policy's source entities are named by what they serve:
#: Patient -> HealthRecord, ProgrammeParticipant -> ProgrammeParticipation, ProgrammeAttendance ->
#: SessionAttendance. Out of scope, an object is absent, exactly as if the source had none.
ROW_SCOPES: dict[str, dict[str, str]] = {
    "health_officer": {"Person": REGION, "Family": REGION, "HealthRecord": SUBJECT, "HealthInsurance": SUBJECT},
    "programme_facilitator": {"Person": REGION, "Family": REGION, "ProgrammeParticipation": SUBJECT,
                              "SessionAttendance": SUBJECT, "HealthInsurance": SUBJECT},
    "school_operator": {"Student": SCHOOL},
}

#: Row scopes of the third form: the objects stay (their other fields are public data), these
#: fields of an object outside the role's area are refused.
FIELD_SCOPES: dict[str, dict[str, frozenset[str]]] = {
    role: {"Feedback": frozenset({"body", "reporter", "location"})} for role in ("health_officer", "programme_facilitator")
}


# =================================================================================================
# The world the matrices run in.
# =================================================================================================


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])

    def codes(self) -> set[str]:
        return {str((e.get("extensions") or {}).get("code")) for e in self.errors}

    def sources(self) -> dict[str, int]:
        trace = (self.body.get("extensions") or {}).get("sources") or {}
        return {name: s["calls"] for name, s in trace.items() if s["calls"]}


class PortalGateway:
    """A gateway app in an event loop of its own (an anyio portal), spoken to over httpx + ASGI."""

    def __init__(self, portal: Any, client: Any, credentials: dict[str, tuple[str, str]]) -> None:
        self.portal = portal
        self.client = client
        self.credentials = credentials

    def ask(self, role: str, query: str, variables: dict[str, Any] | None = None, *, trace: bool = False) -> Answer:
        headers = {"X-Satudata-Trace": "sources"} if trace else {}
        if role != "anonymous":
            key, purpose = self.credentials[role]
            headers |= {"X-API-Key": key, "X-Satudata-Purpose": purpose}

        async def post() -> Answer:
            response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
            return Answer(response.status_code, response.json())

        return self.portal.call(post)

    def ask_many(self, role: str, queries: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
        """Several queries at once (the gateway in process answers them concurrently)."""

        import anyio

        async def post_all() -> list[Answer]:
            results: list[Answer | None] = [None] * len(queries)
            headers = {}
            if role != "anonymous":
                key, purpose = self.credentials[role]
                headers = {"X-API-Key": key, "X-Satudata-Purpose": purpose}

            async def one(i: int, query: str, variables: dict[str, Any]) -> None:
                async with limiter:
                    response = await self.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
                results[i] = Answer(response.status_code, response.json())

            # A few at a time: enough to overlap the sources' waits, few enough that no source
            # times out (its breaker would then open and fail every later cell).
            limiter = anyio.CapacityLimiter(4)
            async with anyio.create_task_group() as group:
                for i, (query, variables) in enumerate(queries):
                    group.start_soon(one, i, query, variables)
            return [r for r in results if r is not None]

        return self.portal.call(post_all)


@dataclass(frozen=True)
class Sources:
    """Where the demo OPD systems listen, for one test session."""

    registry_url: str
    education_url: str
    dinkes: str
    sepeda: str
    lapor: str
    jkn: str


#: The cursor key of every gateway these tests start (``demo_config``).
SESSION_CURSOR_KEY = new_cursor_key()


def demo_config(sources: Sources, *, access: bool, npsn: str, audit: Path) -> dict[str, Any]:
    """The demo gateway config over ``sources``; with ``access``, the demo policy and clients
    (the school operator at ``npsn``, both officers in Watulimo), without rate limits."""

    from demo.gateway_config import render_config

    config = tomllib.loads(render_config(
        registry_url=sources.registry_url, education_url=sources.education_url, dinkes_url=sources.dinkes,
        sepeda_keren_url=sources.sepeda, lapor_url=sources.lapor, jkn_url=sources.jkn,
        samples={"npsn": npsn, "participant_kecamatan": WATULIMO}, access=access,
    ))
    if access:
        config["audit"] = {"path": str(audit)}
        config.pop("ratelimit", None)
    # These tests are about what is answered, not how fast: a source slowed by a busy machine (the
    # programme API costs one call per participant) must not turn a matrix cell into SOURCE_TIMEOUT.
    config["gateway"]["request_timeout_s"] = 60
    for source in config["sources"].values():
        source["timeout_s"] = 30
    # One cursor key for every gateway of the session, as replicas of a deployment share one: a masked
    # key's lists are shuffled with a salt derived from it, so the matrices' variants list alike.
    config["gateway"]["cursor_key"] = SESSION_CURSOR_KEY
    return config


def credentials(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Role -> (API key, purpose) of the demo clients in ``config``."""

    from demo.access_config import demo_clients

    ids = {c["id"] for c in config.get("clients", [])}
    return {c.role: (c.key, c.purpose) for c in demo_clients("20500000") if c.id in ids}


@contextmanager
def open_gateways(configs: list[dict[str, Any]]) -> Iterator[list[PortalGateway]]:
    """Start one gateway per config in a shared event loop; yields them until the block ends."""

    import httpx
    from anyio.from_thread import start_blocking_portal

    from gateway import GatewaySettings, create_app

    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal())
        gateways = []
        for config in configs:
            app = create_app(GatewaySettings.from_dict(config))
            stack.enter_context(portal.wrap_async_context_manager(app.router.lifespan_context(app)))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test", timeout=30)
            stack.enter_context(portal.wrap_async_context_manager(client))
            gateways.append(PortalGateway(portal, client, credentials(config)))
        yield gateways


@dataclass(frozen=True)
class Subjects:
    """Keys of the demo data picked so that every field has a value: inside Watulimo (``inside``)
    and in another kecamatan (``outside``), each with the links the matrices follow."""

    inside: dict[str, list[str]]
    outside: dict[str, list[str]]
    #: The school operator's school (a Watulimo school with pupils), and another school.
    npsn: str
    other_npsn: str


_DISCOVER = """query($region: RegionCode!, $after: String) {
  persons(first: 100, after: $after, filter: {region: $region}) {
    pageInfo { endCursor hasNextPage }
    nodes { nik region { code } family { kk members { nik } } student { nisn school { npsn } }
            healthRecord { chronicConditions } healthInsurance { cardNumber }
            programmes { programme { code } attendance { present } } }
  }
}"""


def smallest_schools(reference: PortalGateway, npsns: list[str]) -> list[str]:
    """``npsns`` by their number of pupils, fewest first (the lists under a school stay quick)."""

    sizes = {}
    for npsn in dict.fromkeys(npsns):
        answer = reference.ask("anonymous", "query($n: NPSN!) { school(npsn: $n) { students { nisn } } }", {"n": npsn})
        sizes[npsn] = len(answer.data["school"]["students"])
    return sorted(sizes, key=lambda n: sizes[n])


def discover(reference: PortalGateway, region: str, pages: int = 12) -> dict[str, list[str]]:
    """Keys of residents of ``region`` asked of the unguarded gateway, richest first."""

    nodes: list[dict[str, Any]] = []
    after = None
    for _ in range(pages):
        answer = reference.ask("anonymous", _DISCOVER, {"region": region, "after": after})
        assert not answer.errors, answer.errors
        page = answer.data["persons"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    def richness(n: dict[str, Any]) -> int:
        return sum(bool(n[k]) for k in ("student", "healthRecord", "healthInsurance", "programmes")) * 10 + bool(
            n["healthRecord"] and n["healthRecord"]["chronicConditions"]) + len((n["family"] or {}).get("members") or [])

    nodes.sort(key=richness, reverse=True)
    pupils = [n for n in nodes if n["student"]]
    participants = [n for n in nodes if n["programmes"]]
    keys = {
        "nik": [n["nik"] for n in nodes[:12]],
        "pupil_nik": [n["nik"] for n in pupils[:6]],
        "patient_nik": [n["nik"] for n in nodes if n["healthRecord"] and n["healthRecord"]["chronicConditions"]][:6],
        "insured_nik": [n["nik"] for n in nodes if n["healthInsurance"]][:6],
        "participant_nik": [n["nik"] for n in participants if any(p["attendance"] for p in n["programmes"])][:12],
        "kk": [n["family"]["kk"] for n in nodes[:12] if n["family"]],
        "nisn": [n["student"]["nisn"] for n in pupils[:6]],
        "npsn": smallest_schools(reference, [n["student"]["school"]["npsn"] for n in pupils if n["student"]["school"]]),
        "desa": sorted({n["region"]["code"] for n in nodes})[:12],
        "programme": sorted({p["programme"]["code"] for n in participants for p in n["programmes"] if p["programme"]}),
    }
    # Pupils by NISN: those of the school the school operator works at (the first school).
    answer = reference.ask("anonymous", "query($n: NPSN!) { school(npsn: $n) { students { nisn } } }", {"n": keys["npsn"][0]})
    keys["nisn"] = [s["nisn"] for s in answer.data["school"]["students"]][:6]
    for name, values in keys.items():
        assert values, f"no {name} among the residents of {region}: the demo data changed"
        keys[name] = list(dict.fromkeys(values))
    return keys


#: A kecamatan other than Watulimo (Trenggalek's own), for keys outside the officers' area.
ELSEWHERE = "35.03.01"


@dataclass
class World:
    """The guarded gateway, the unguarded reference over the same sources, and the keys to ask."""

    guarded: PortalGateway
    reference: PortalGateway
    subjects: Subjects
    sources: Sources
    #: The guarded gateway's config (copied and changed by the tests that check the matrix bites).
    config: dict[str, Any]


@contextmanager
def demo_world(sources: Sources, folder: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Iterator[World]:
    """Both gateways over ``sources``; ``change`` edits the guarded config before it starts."""

    with open_gateways([demo_config(sources, access=False, npsn="", audit=folder / "unused")]) as (reference,):
        inside, outside = discover(reference, WATULIMO), discover(reference, ELSEWHERE, pages=4)
        subjects = Subjects(inside, outside, inside["npsn"][0], outside["npsn"][0])
        config = demo_config(sources, access=True, npsn=subjects.npsn, audit=folder / "audit.sqlite")
        if change is not None:
            change(config)
        with open_gateways([config]) as (guarded,):
            yield World(guarded, reference, subjects, sources, config)


def sources_of(backend: Any, dinkes: str, sepeda: str, lapor: str, jkn: str) -> Sources:
    return Sources(backend.registry_url, backend.education_url, dinkes, sepeda, lapor, jkn)


@contextmanager
def variant(world: World, change: Callable[[dict[str, Any]], None], folder: Path) -> Iterator[World]:
    """``world`` with a guarded gateway whose config ``change`` edited (a copy; the reference and
    the subjects are reused, so no discovery runs again)."""

    import copy

    config = copy.deepcopy(world.config)
    config["audit"] = {"path": str(folder / "audit.sqlite")}
    change(config)
    with open_gateways([config]) as (guarded,):
        yield World(guarded, world.reference, world.subjects, world.sources, config)


#: The world every module of the session shares, with how many fixtures hold it.
_shared: dict[str, Any] = {}


@contextmanager
def shared_world(dataset: Any, backend: Any, dinkes: str, sepeda: str, lapor: str, folder: Path) -> Iterator[World]:
    """One world for the whole test session, whichever module asks first.

    Starting the gateways and discovering the subjects takes a quarter of a minute; the access,
    argument and row-scope matrices and the property test read the same world. Each module's
    session-scoped fixture enters this; the last one to leave closes it (with its JKN API).
    """

    if "world" not in _shared:
        from demo.apis import create_jkn_app

        from ..conftest import serve_api

        stack = ExitStack()
        try:
            jkn = stack.enter_context(contextmanager(serve_api)(create_jkn_app(dataset), "JKN"))
            world = stack.enter_context(demo_world(sources_of(backend, dinkes, sepeda, lapor, jkn), folder))
        except BaseException:
            stack.close()
            raise
        _shared.update(world=world, stack=stack, holders=0)
    _shared["holders"] += 1
    try:
        yield _shared["world"]
    finally:
        _shared["holders"] -= 1
        if _shared["holders"] == 0:
            stack = _shared["stack"]
            _shared.clear()
            stack.close()
