"""An attacker's probe for masked values (issue 13): what a mask hides must not come back through
an error, a path, a count, a refusal, the audit or the logs.

The rows are derived from the demo policy's text (``demo.access_config.POLICY``, read with
``tomllib``, never through ``gateway.access.policy``): every leaf the policy classes, with its mask
(``nik``, ``initials``, ``year``, and ``hide`` for the leaves a ``Type.*`` entry covers), for every
role that sees that leaf's class only masked. One test per (mask kind, role). What each mask hides
is written here, independently of ``apply_mask``:

- ``nik``: the whole key and its hidden middle (``3503**********01`` hides the kecamatan, birth
  date and sex that the middle digits encode);
- ``initials``: the whole name and each of its words;
- ``year``: the whole date (the year alone is ``birthYear``'s to show);
- ``hide``: the whole value.

The hidden values are read from the source databases directly (SQLite registry and Dapodik,
through the demo config's own field-to-column mapping); values of the API sources (LAPOR!'s
reports, JKN cards) from the gateway without access control over the same APIs. Against the
gateway with the demo policy (and the demo's keyed audit pseudonyms), each row tries:

1. reading the masked fields through every parent the schema offers (root lists, lookups,
   ``Family.members``/``head``, ``Student.person``, ``Programme.facilitator``, ``Feedback.reporter``,
   ``_entities`` under the ``_Entity`` union), each field twice under aliases, in an inline and in a
   named fragment; cursors are decoded too;
2. every argument that tests a masked field (``access_expectations.ARGUMENTS``, the hand-written
   table, and the ``_entities`` representation keys), once with a value taken from the hidden value
   and once with a wrong one, with ``totalCount`` asked beside: both answers must be the same
   (status included, with ``Accept: application/graphql-response+json``), so not one bit depends on
   the hidden value;
3. no response (data, error messages, paths, extensions), no audit entry of the row's requests and
   no log line written meanwhile (the JSON access line included) holds a hidden value; refusals are
   on the record with outcome ``refused``; a withheld field has its ``WITHHELD`` error.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import sqlite3
import tomllib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    get_named_type,
    is_leaf_type,
)

from connectors import shuffled_position
from demo.access_config import POLICY
from gateway.logs import JsonFormatter
from resolvers import build_schema
from resolvers.cursors import CursorSeal, new_cursor_key

from ..support.log_capture import on_the_root_logger
from .access_expectations import ARGUMENTS, READS, REPRESENTATIONS, World, variant
from .audit_reading import audit_records

SCHEMA = build_schema()._schema
GRAPHQL_RESPONSE = "application/graphql-response+json"
#: The probing gateway's cursor key (whence its lists' order salts), known to the test.
PROBE_CURSOR_KEY = new_cursor_key()

# -- the rows, from the policy text -----------------------------------------------------------------

_POLICY = tomllib.loads(POLICY)["policy"]


def _reachable_from_query() -> set[str]:
    """Object types a query can reach; a subscription's own event types are left to
    tests/gateway/test_subscription_matrix.py, which holds their masked leaves to the policy."""

    seen: set[str] = set()
    todo = [SCHEMA.query_type]
    while todo:
        gql_type = todo.pop()
        if gql_type is None or gql_type.name in seen:
            continue
        seen.add(gql_type.name)
        if isinstance(gql_type, GraphQLObjectType):
            todo.extend(get_named_type(f.type) for f in gql_type.fields.values())
        elif hasattr(gql_type, "types"):  # a union
            todo.extend(gql_type.types)
        elif hasattr(gql_type, "fields"):  # an interface
            todo.extend(get_named_type(f.type) for f in gql_type.fields.values())
            todo.extend(SCHEMA.get_possible_types(gql_type))
    return seen


def _leaf_rules() -> dict[str, tuple[str, str]]:
    """``Type.field`` -> (class, mask) of every leaf the policy classes (``Type.*`` covers the rest of a type)."""

    rules: dict[str, tuple[str, str]] = {}
    reachable = _reachable_from_query()
    for type_name, gql_type in SCHEMA.type_map.items():
        if type_name.startswith("__") or not isinstance(gql_type, GraphQLObjectType) or type_name not in reachable:
            continue
        for field_name, field_def in gql_type.fields.items():
            if not is_leaf_type(get_named_type(field_def.type)):
                continue
            spec = _POLICY["fields"].get(f"{type_name}.{field_name}") or _POLICY["fields"].get(f"{type_name}.*")
            if spec is None:
                continue
            spec = {"class": spec} if isinstance(spec, str) else spec
            if spec["class"] != "public":
                rules[f"{type_name}.{field_name}"] = (spec["class"], spec.get("mask", "hide"))
    return rules


LEAF_RULES = _leaf_rules()


def _rows() -> dict[tuple[str, str], list[str]]:
    """(mask kind, role) -> the leaves that role sees under that mask."""

    rows: dict[tuple[str, str], list[str]] = {}
    for role, spec in _POLICY["roles"].items():
        masked = set(spec.get("mask", ())) - set(spec.get("grant", ()))
        for name, (cls, mask) in LEAF_RULES.items():
            if cls in masked:
                rows.setdefault((mask, role), []).append(name)
    return dict(sorted(rows.items()))


ROWS = _rows()


def test_every_mask_kind_of_the_policy_language_has_a_row() -> None:
    """The policy language's masks (README: nik, initials, year, hide) each have at least one row."""

    kinds = {mask for mask, _ in ROWS}
    assert kinds == {"nik", "initials", "year", "hide"}, kinds
    masking = {name for name, spec in _POLICY["roles"].items() if set(spec.get("mask", ())) - set(spec.get("grant", ()))}
    assert masking and {role for _, role in ROWS} == masking


# -- what a mask hides ------------------------------------------------------------------------------


def hidden_parts(mask: str, value: Any) -> list[str]:
    """The strings that must not reach a role that sees ``value`` under ``mask``."""

    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, list):
        return [part for v in value for part in hidden_parts(mask, v)]
    if isinstance(value, (date, datetime)) or (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", value)):
        day = value if isinstance(value, (date, datetime)) else datetime.fromisoformat(value)
        parts = [f"{day:%Y-%m-%d}", f"{day:%d-%m-%Y}", f"{day:%d/%m/%Y}"]
        if isinstance(day, datetime):
            parts += [f"{day:%Y-%m-%dT%H:%M}", f"{day:%Y-%m-%d %H:%M}"]
        return parts
    if isinstance(value, int):
        return []  # a year (shown by `year`) or a grade: a number too short to search text for
    text = str(value)
    if mask == "nik":
        middle = text[4:-2]
        return [text] + ([middle] if len(middle) >= 6 else [])
    if mask == "initials":
        return [text] + [word for word in re.split(r"[\s']+", text) if len(word) >= 4]
    return [text] if len(text) >= 4 else []


_RUN = re.compile(r"[A-Za-z0-9]+")


class Secrets:
    """Hidden strings, found in a text where they start a run of letters and digits (a number
    hidden inside a longer number counts too: a NIK's middle within the NIK)."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}

    def add(self, mask: str, name: str, value: Any) -> None:
        for part in hidden_parts(mask, value):
            self.owner.setdefault(part, name)

    def _index(self) -> tuple[set[str], set[int], dict[str, list[str]]]:
        if getattr(self, "_indexed", None) != len(self.owner):
            numbers = {s for s in self.owner if s.isdigit()}
            by_start: dict[str, list[str]] = {}
            for secret in self.owner:
                first = _RUN.search(secret)
                if first is not None and secret not in numbers:
                    by_start.setdefault(first.group(0), []).append(secret)
            self._cache = (numbers, {len(s) for s in numbers}, by_start)
            self._indexed = len(self.owner)
        return self._cache

    def found(self, text: str) -> list[str]:
        numbers, lengths, by_start = self._index()
        hits: list[str] = []
        for run in _RUN.finditer(text):
            word = run.group(0)
            if word.isdigit():
                hits += [word[i:i + n] for n in lengths for i in range(len(word) - n + 1) if word[i:i + n] in numbers]
            for secret in by_start.get(word, ()):
                end = run.start() + len(secret)
                if text.startswith(secret, run.start()) and not text[end:end + 1].islower():
                    hits.append(secret)
        return [f"{hit!r} ({self.owner[hit]})" for hit in hits]


# -- the sources, read directly -------------------------------------------------------------------


def source_rows(world: World, source: str, entity: str, where: str, value: str) -> list[dict[str, Any]]:
    """Rows of ``entity`` as vocabulary records, read from the SQLite file of ``source`` with the
    demo config's mapping (``where`` is a vocabulary field)."""

    spec = world.config["sources"][source]
    mapping = spec["entities"][entity]
    path = spec["url"].split(":///", 1)[1]
    columns = {name: (m if isinstance(m, str) else m["column"]) for name, m in mapping["fields"].items()}
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(f'SELECT * FROM {mapping["table"]} WHERE {columns[where]} = ?', (value,)).fetchall()
    out = []
    for row in rows:
        record = {}
        for name, m in mapping["fields"].items():
            raw = row[columns[name]]
            record[name] = m.get("values", {}).get(raw, raw) if isinstance(m, dict) else raw
        out.append(record)
    return out


@dataclass
class Probe:
    """What one (mask, role) row asked and saw."""

    mask: str
    role: str
    fields: list[str]
    secrets: Secrets
    answers: list[tuple[str, int, dict[str, Any], str]] = field(default_factory=list)
    #: Argument oracles: (argument, answer with the hidden value, answer with a wrong one).
    oracles: list[tuple[str, tuple[int, dict[str, Any], str], tuple[int, dict[str, Any], str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Lab:
    """The guarded gateway with its audit file, the keys to ask with, the subjects' records."""

    world: World
    audit: Path
    keys: dict[str, Any]
    records: dict[str, list[dict[str, Any]]]
    log_lines: list[str]


@pytest.fixture(scope="module")
def lab(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("withheld-probe")

    def pseudonymous(config: dict[str, Any]) -> None:
        # As the demo writes it: the audit names persons by a keyed pseudonym, never by NIK.
        config["audit"]["subject_key"] = "withheld-probe-subject-key-0123456789abcdef"
        # A key the test knows, to tell who stands where in a shuffled list (the order's salt comes from it).
        config.setdefault("gateway", {})["cursor_key"] = PROBE_CURSOR_KEY

    inside = world.subjects.inside
    keys = {"desa": inside["desa"][0], "npsn": world.subjects.npsn, "pupil_nik": inside["pupil_nik"][0],
            "programme": inside["programme"][0]}
    records = {name: source_rows(world, source, name, where, keys[key]) for name, (source, where, key) in FROM_DATABASES.items()}
    keys |= {"nik": records["Person"][0]["nik"], "kk": records["Family"][0]["kk"], "nisn": records["Student"][0]["nisn"]}
    for type_name, templates in REACH.items():
        if type_name in FROM_DATABASES:
            continue
        # The API sources' values, as the gateway without access control answers them.
        names = [n.split(".")[1] for n in LEAF_RULES if n.split(".")[0] == type_name]
        query = reach_query(templates[0], type_name, names)
        answer = world.reference.ask("anonymous", query, {v: keys[v] for v in _VARIABLES if re.search(rf"\${v}\b", query)})
        assert not answer.errors, answer.errors
        records[type_name] = objects_of(answer.data, type_name)
    for name, rows in records.items():
        assert rows, f"no {name} records to probe with: the demo data changed"

    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Lines(logging.INFO)  # what `satudata serve` writes by default; DEBUG costs seconds here
    handler.setFormatter(JsonFormatter())
    with variant(world, pseudonymous, folder) as guarded, on_the_root_logger(handler):
        for name in ("sqlalchemy", "aiosqlite", "httpcore", "httpx", "asyncio"):  # chatty at DEBUG, below INFO here
            logging.getLogger(name).setLevel(logging.INFO)
        yield Lab(guarded, folder / "audit.sqlite", keys, records, lines)


def objects_of(data: Any, type_name: str) -> list[dict[str, Any]]:
    """Every object of ``type_name`` (by ``__typename``) in an answer."""

    if isinstance(data, list):
        return [o for v in data for o in objects_of(v, type_name)]
    if not isinstance(data, dict):
        return []
    own = [data] if data.get("__typename") == type_name else []
    return own + [o for v in data.values() for o in objects_of(v, type_name)]


# -- asking ---------------------------------------------------------------------------------------


def ask(lab: Lab, role: str, query: str, variables: dict[str, Any], *, accept: str = "application/json") -> tuple[int, dict[str, Any], str]:
    """(status, body, request id) of one POST as ``role``, sources traced."""

    gateway = lab.world.guarded
    key, purpose = gateway.credentials[role]
    headers = {"X-API-Key": key, "X-Satudata-Purpose": purpose, "Accept": accept, "X-Satudata-Trace": "sources"}

    async def post() -> tuple[int, dict[str, Any], str]:
        response = await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        return response.status_code, response.json(), response.headers["x-request-id"]

    return gateway.portal.call(post)


#: Every parent a masked role could reach an object of each type through (``%s``: the selection).
REACH: dict[str, list[str]] = {
    "Person": [
        "persons(first: 10, filter: {region: $desa}) { totalCount nodes { %s } }",
        "region(code: $desa) { residents(first: 10) { edges { cursor node { %s } } } }",
        "person(nik: $nik) { %s }",
        '_entities(representations: [{__typename: "Person", nik: $nik}]) { ... on Person { %s } }',
        "family(kk: $kk) { head { %s } members { %s } }",
        "student(nisn: $nisn) { person { %s } }",
        "school(npsn: $npsn) { students { person { %s } } }",
        "programme(code: $programme) { facilitator { %s } participants(first: 10) { nodes { person { %s } } } }",
        "feedback(first: 10, filter: {region: $desa}) { nodes { reporter { %s } } }",
    ],
    "Student": [
        "school(npsn: $npsn) { students { %s } }",
        "students(first: 10, filter: {school: $npsn}) { totalCount edges { cursor node { %s } } }",
        "student(nisn: $nisn) { %s }",
        '_entities(representations: [{__typename: "Student", nisn: $nisn}]) { ... on Student { %s } }',
        "person(nik: $pupil_nik) { student { %s } }",
        "persons(first: 10, filter: {region: $desa}) { nodes { student { %s } } }",
    ],
    "Family": [
        "family(kk: $kk) { %s }",
        '_entities(representations: [{__typename: "Family", kk: $kk}]) { ... on Family { %s } }',
        "persons(first: 10, filter: {region: $desa}) { nodes { family { %s } } }",
        "person(nik: $nik) { family { %s } }",
    ],
    "HealthInsurance": [
        "persons(first: 30, filter: {region: $desa}) { nodes { healthInsurance { %s } } }",
        "family(kk: $kk) { members { healthInsurance { %s } } }",
    ],
    "Feedback": [
        "feedback(first: 20, filter: {region: $desa}) { nodes { %s } }",
        "region(code: $desa) { feedback(first: 20) { nodes { %s } } }",
    ],
}
if "discrepancies" in SCHEMA.query_type.fields:  # type: ignore[union-attr]
    # Discrepancies between agencies' records (issue 12): both sides of one are masked like the person's fields.
    REACH["Discrepancy"] = ["discrepancies(first: 10) { nodes { %s } }", "person(nik: $nik) { discrepancies { %s } }"]
    # A value's type is the kind of record compared (its class): a pupil's, a JKN membership's (the kinds
    # a demo role sees masked), each reached where the report holds such items.
    REACH["StudentDiscrepancyValue"] = ['discrepancies(first: 10, agency: "DINDIKPORA") { nodes { values { %s } } }',
                                        "person(nik: $nik) { discrepancies { values { %s } } }"]
    REACH["HealthInsuranceDiscrepancyValue"] = ['discrepancies(first: 10, agency: "JKN_JATIM") { nodes { values { %s } } }',
                                                "person(nik: $nik) { discrepancies { values { %s } } }"]
#: Types whose records come from the databases directly; the others' from the unguarded gateway.
FROM_DATABASES = {"Person": ("siak", "regionCode", "desa"), "Family": ("siak", "regionCode", "desa"),
                  "Student": ("dapodik", "school", "npsn")}
_VARIABLES = {"desa": "RegionCode!", "nik": "NIK!", "kk": "KK!", "nisn": "NISN!", "npsn": "NPSN!",
              "pupil_nik": "NIK!", "programme": "String!"}


def reach_query(template: str, type_name: str, names: list[str]) -> str:
    """The document asking ``names`` (fields of ``type_name``) at every ``%s`` of ``template``: each
    field plain, under an alias, in an inline fragment and in a named one."""

    plain = " ".join(names)
    aliased = " ".join(f"again_{n}: {n}" for n in names)
    inline = f"... on {type_name} {{ {' '.join(f'inline_{n}: {n}' for n in names)} }}"
    selection = f"__typename {plain} {aliased} {inline} ...Probe"
    body = template.replace("%s", selection)
    used = [v for v in _VARIABLES if re.search(rf"\${v}\b", body)]
    header = ", ".join(f"${v}: {_VARIABLES[v]}" for v in used)
    fragment = f"fragment Probe on {type_name} {{ {' '.join(f'named_{n}: {n}' for n in names)} }}"
    return f"query Probe{'(' + header + ')' if header else ''} {{ {body} }}\n{fragment}"


# -- the argument oracles -------------------------------------------------------------------------


def _other_key(key: str) -> str:
    """A well-formed key of the same kind that differs from ``key`` (its serial changed)."""

    return key[:-4] + ("8" if key[-4] == "9" else "9") + key[-3:]


def _arg_type(type_name: str, field_name: str, path: str) -> Any:
    field_def = SCHEMA.type_map[type_name].fields[field_name]  # type: ignore[union-attr]
    arg_name, _, inner = path.partition(".")
    arg_type = field_def.args[arg_name].type
    if inner:
        named = get_named_type(arg_type)
        assert isinstance(named, GraphQLInputObjectType)
        return named.fields[inner].type
    return arg_type


def oracle_values(target: str, record: dict[str, Any], arg_type: Any) -> tuple[Any, Any]:
    """(a value taken from the hidden value of ``target`` in ``record``, a wrong one) for an argument of ``arg_type``."""

    value = record[target.split(".")[1]]
    named = get_named_type(arg_type)
    if isinstance(named, GraphQLEnumType):
        return value, next(v for v in named.values if v != value)
    if named.name == "Int":
        return value, value % 12 + 1
    if named.name in ("NIK", "KK", "NISN"):
        return value, _other_key(value)
    # A search term: a piece of the name that the initials hide.
    word = max(re.split(r"[\s']+", value), key=len)
    return word[1:4], "QXZ"


def oracle_query(argument: str, keys: dict[str, Any]) -> tuple[str, dict[str, Any], Any] | None:
    """(document, variables besides ``$v``, the type of ``$v``) asking ``argument`` with ``$v`` and ``totalCount`` where there is one."""

    owner, rest = argument.split("(", 1)
    type_name, field_name = owner.split(".")
    path = rest.rstrip(")")
    arg_type = _arg_type(type_name, field_name, path)
    arg_name, _, inner = path.partition(".")
    variables: dict[str, Any] = {}
    if inner:
        input_type = get_named_type(SCHEMA.type_map[type_name].fields[field_name].args[arg_name].type)  # type: ignore[union-attr]
        pairs = [f"{inner}: $v"]
        # As an attacker would: within a list the role may browse (a desa, a school).
        for scope, var in (("region", "desa"), ("school", "npsn")):
            if scope in input_type.fields and scope != inner:  # type: ignore[union-attr]
                pairs.append(f"{scope}: ${var}")
                variables[var] = keys[var]
        call_args = f"{arg_name}: {{{', '.join(pairs)}}}"
    else:
        call_args = f"{arg_name}: $v"
    returned = get_named_type(SCHEMA.type_map[type_name].fields[field_name].type)  # type: ignore[union-attr]
    fields = getattr(returned, "fields", {})
    inner_selection = "totalCount nodes { __typename }" if "totalCount" in fields else "__typename"
    if "first" in SCHEMA.type_map[type_name].fields[field_name].args and arg_name != "first":  # type: ignore[union-attr]
        call_args += ", first: 5"
    call = f"{field_name}({call_args}) {{ {inner_selection} }}"
    parents = {"Query": "%s", "Region": "region(code: $desa) { %s }", "School": "school(npsn: $npsn) { %s }"}
    if type_name not in parents:
        return None
    body = parents[type_name] % call
    for var in ("desa", "npsn"):
        if f"${var}" in body:
            variables[var] = keys[var]
    return body, variables, arg_type


def run_oracles(lab: Lab, probe: Probe) -> None:
    person = lab.records["Person"][0]
    subject_of = {"Person": person, "Student": lab.records["Student"][0], "Family": lab.records["Family"][0]}
    arguments = [a for a, (kind, target) in ARGUMENTS.items() if kind == READS and target in probe.fields]
    for argument in arguments:
        target = ARGUMENTS[argument][1]
        built = oracle_query(argument, lab.keys)
        assert built is not None, f"no way to ask {argument}: add its parent to oracle_query"
        body, variables, arg_type = built
        true_value, wrong_value = oracle_values(target, subject_of[target.split(".")[0]], arg_type)
        header = ", ".join([f"$v: {arg_type}"] + [f"${v}: {_VARIABLES[v]}" for v in variables])
        query = f"query Oracle({header}) {{ {body} }}"
        hit = ask(lab, probe.role, query, {**variables, "v": true_value}, accept=GRAPHQL_RESPONSE)
        miss = ask(lab, probe.role, query, {**variables, "v": wrong_value}, accept=GRAPHQL_RESPONSE)
        probe.oracles.append((argument, hit, miss))
    # _entities: a representation tests its type's key.
    for typename, key_field in REPRESENTATIONS.items():
        if key_field not in probe.fields:
            continue
        key_name = key_field.split(".")[1]
        true_value = subject_of[typename][key_name]
        query = "query Oracle($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
        hit = ask(lab, probe.role, query, {"r": [{"__typename": typename, key_name: true_value}]}, accept=GRAPHQL_RESPONSE)
        miss = ask(lab, probe.role, query, {"r": [{"__typename": typename, key_name: _other_key(true_value)}]},
                   accept=GRAPHQL_RESPONSE)
        probe.oracles.append((f"Query._entities({typename})", hit, miss))


# -- the probe --------------------------------------------------------------------------------------


def without_trace(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "extensions"}


def cursors(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [v for k, v in data.items() if k in ("cursor", "endCursor") and isinstance(v, str)] + [
            c for v in data.values() for c in cursors(v)]
    if isinstance(data, list):
        return [c for v in data for c in cursors(v)]
    return []


def probe_row(lab: Lab, mask: str, role: str) -> Probe:
    fields = ROWS[(mask, role)]
    secrets = Secrets()
    for name in fields:
        type_name, field_name = name.split(".")
        for record in lab.records.get(type_name, ()):
            secrets.add(mask, name, record.get(field_name))
    probe = Probe(mask, role, fields, secrets)
    by_type: dict[str, list[str]] = {}
    for name in fields:
        by_type.setdefault(name.split(".")[0], []).append(name.split(".")[1])
    for type_name, names in by_type.items():
        assert type_name in REACH, f"{type_name} has masked fields but no way to reach it in REACH"
        for template in REACH[type_name]:
            query = reach_query(template, type_name, names)
            variables = {v: lab.keys[v] for v in _VARIABLES if re.search(rf"\${v}\b", query)}
            status, body, request_id = ask(lab, role, query, variables)
            probe.answers.append((template, status, body, request_id))
    run_oracles(lab, probe)
    return probe


@pytest.fixture(scope="module")
def probes(lab: Lab) -> dict[tuple[str, str], Probe]:
    found = {row: probe_row(lab, *row) for row in ROWS}
    return found


def withheld_paths(body: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {tuple(e["path"]) for e in body.get("errors") or [] if (e.get("extensions") or {}).get("code") == "WITHHELD"}


def values_at(data: Any, leaf: str) -> list[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every response key ``leaf`` in ``data``."""

    out: list[tuple[tuple[Any, ...], Any]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == leaf:
                    out.append(((*path, k), v))
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(data, ())
    return out


@pytest.mark.parametrize(("mask", "role"), list(ROWS), ids=[f"{m}-{r}" for m, r in ROWS])
def test_a_masked_value_is_not_recoverable(probes: dict[tuple[str, str], Probe], mask: str, role: str) -> None:
    problems = row_problems(probes[(mask, role)])
    assert not problems, "\n".join(problems[:40])


def test_the_probe_catches_a_mask_turned_into_a_grant(lab: Lab, tmp_path: Path) -> None:
    """With the analyst granted personal data in a copy of the policy (and still told it sees it
    masked, by this module's rows), the probe finds the names and the name search answering."""

    def grant(config: dict[str, Any]) -> None:
        config["policy"]["roles"]["smart_center_analyst"]["grant"] = ["personal"]
        config["policy"]["roles"]["smart_center_analyst"]["mask"] = ["children"]

    with variant(lab.world, grant, tmp_path) as broken:
        problems = row_problems(probe_row(Lab(broken, tmp_path / "audit.sqlite", lab.keys, lab.records, []),
                                          "initials", "smart_center_analyst"))
    assert any("hidden value in the answer" in p and "Person.name" in p for p in problems), problems
    assert any("Query.persons(filter.nameContains): the answer depends on the hidden value" in p for p in problems), problems


def row_problems(probe: Probe) -> list[str]:
    """Every way ``probe``'s answers let a hidden value out."""

    mask, role = probe.mask, probe.role
    problems: list[str] = []
    assert len(probe.secrets.owner) >= 10, f"too few hidden values to look for: {probe.secrets.owner}"
    seen = 0  # masked or withheld values that came back: the probe reached the fields
    for template, status, body, _ in probe.answers:
        where = f"{role} {template}"
        found = cursors(body.get("data"))
        text = json.dumps(body, ensure_ascii=False, default=str)
        for cursor in found:  # random base64 text: read decoded, below
            text = text.replace(cursor, "")
        problems += [f"{where}: hidden value in the answer: {hit}" for hit in probe.secrets.found(text)]
        assert status == 200, (where, body)
        for cursor in found:
            try:
                raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("latin-1")
            except (binascii.Error, ValueError):
                raw = ""
            problems += [f"{where}: hidden value in a cursor: {hit}" for hit in probe.secrets.found(raw)]
        withheld = withheld_paths(body)
        for name in probe.fields:
            leaf = name.split(".")[1]
            for prefix in ("", "again_", "inline_", "named_"):
                for path, value in values_at(body.get("data"), prefix + leaf):
                    if value is not None and value != []:
                        seen += 1
                    elif path in withheld:
                        seen += 1
    assert seen, f"{role}: no {mask}-masked value came back through any parent: the probe reached nothing"
    for argument, hit, miss in probe.oracles:
        where = f"{role} {argument}"
        if (hit[0], without_trace(hit[1])) != (miss[0], without_trace(miss[1])):
            problems.append(f"{where}: the answer depends on the hidden value: {hit[:2]} vs {miss[:2]}")
        calls = [{name: s["calls"] for name, s in ((body.get("extensions") or {}).get("sources") or {}).items()}
                 for _, body, _ in (hit, miss)]
        if calls[0] != calls[1]:
            problems.append(f"{where}: the sources were asked differently: {calls[0]} vs {calls[1]}")
        for status, body, _ in (hit, miss):
            problems += [f"{where}: hidden value in the refusal: {h}" for h in probe.secrets.found(json.dumps(body, ensure_ascii=False))]
    return problems


def test_the_refusals_are_audited_and_no_record_or_log_line_holds_a_hidden_value(
    lab: Lab, probes: dict[tuple[str, str], Probe]
) -> None:
    records = {r.request_id: r for r in audit_records(lab.audit)}
    problems: list[str] = []
    oracles = 0
    for probe in probes.values():
        for argument, *answers in probe.oracles:
            for status, body, request_id in answers:
                if not any((e.get("extensions") or {}).get("code") == "FORBIDDEN" for e in body.get("errors") or []):
                    continue
                oracles += 1
                record = records.get(request_id)
                if record is None or record.outcome != "refused" or not record.refused:
                    problems.append(f"{probe.role} {argument}: refusal not on the record: {record}")
        for request_id in [a[3] for a in probe.answers] + [x[2] for _, *pair in probe.oracles for x in pair]:
            record = records.get(request_id)
            if record is not None:
                text = json.dumps(record.__dict__, default=str)
                problems += [f"audit entry {request_id}: {hit}" for hit in probe.secrets.found(text)]
    assert oracles >= 10, f"only {oracles} refused oracle requests: the probe did not reach the argument guard"
    access_lines = [line for line in lab.log_lines if '"logger":"access"' in line]
    asked = sum(len(p.answers) + 2 * len(p.oracles) for p in probes.values())
    assert len(access_lines) >= asked, f"{len(access_lines)} access lines for {asked} requests"
    everything = Secrets()
    for probe in probes.values():
        for part, owner in probe.secrets.owner.items():
            everything.owner.setdefault(part, owner)
    for line in lab.log_lines:
        problems += [f"log line {line[:200]}: {hit}" for hit in everything.found(line)]
    assert not problems, "\n".join(problems[:40])


def test_a_withheld_field_says_so_whether_or_not_it_holds_a_value(lab: Lab, tmp_path: Path) -> None:
    """A ``hide`` mask withholds the value, and whether there is one is part of it: a ``WITHHELD``
    error only where the source holds a value would tell, one bit per field, that a participant has
    a disability type (or none), a vulnerable-group list (or an empty one). With a copy of the
    policy in which the neighbouring portal sees disability data masked, every participant's hidden
    fields are withheld alike."""

    def mask_disability(config: dict[str, Any]) -> None:
        config["policy"]["roles"]["neighbour_portal"]["mask"] = ["personal", "disability"]

    fields = SCHEMA.type_map["ProgrammeParticipation"].fields  # type: ignore[union-attr]
    # Nullable ones: a withheld non-null field (`categories`) nulls its parent whatever it holds.
    names = [n.split(".")[1] for n, (cls, mask) in LEAF_RULES.items() if n.startswith("ProgrammeParticipation.")
             and cls == "disability" and mask == "hide" and not isinstance(fields[n.split(".")[1]].type, GraphQLNonNull)]
    query = "query($p: String!) { programme(code: $p) { participants(first: 100) { nodes { %s } } } }" % " ".join(names)
    variables = {"p": lab.keys["programme"]}
    reference = lab.world.reference.ask("anonymous", query, variables)
    nodes = reference.data["programme"]["participants"]["nodes"]
    empty = {n for n in names if any(node[n] in (None, []) for node in nodes)}
    full = {n for n in names if any(node[n] not in (None, []) for node in nodes)}
    assert empty & full, f"no field both empty and set among {len(nodes)} participants: nothing to tell apart"
    with variant(lab.world, mask_disability, tmp_path) as masked:
        answer = masked.guarded.ask("neighbour_portal", query, variables)
    got = answer.data["programme"]["participants"]["nodes"]
    assert len(got) == len(nodes) and all(value is None for node in got for value in node.values()), got
    withheld = withheld_paths(answer.body)
    missing = [(i, n) for i in range(len(got)) for n in names
               if ("programme", "participants", "nodes", i, n) not in withheld]
    told = sorted({n for i, n in missing if nodes[i][n] in (None, [])})
    assert not missing, f"no WITHHELD where the source holds nothing ({told}): {len(missing)} of {len(got) * len(names)}"


def _sees_in_full(role: str, name: str) -> bool:
    """Whether the policy's text grants ``role`` the class of ``name`` (and does not mask it)."""

    cls, _ = LEAF_RULES[name]
    spec = _POLICY["roles"][role]
    return cls in spec.get("grant", ()) and cls not in set(spec.get("mask", ())) - set(spec.get("grant", ()))


@pytest.mark.parametrize("listing", ["persons", "residents"])
def test_every_role_lists_persons_in_nik_order_only_if_it_sees_nik_in_full(lab: Lab, listing: str) -> None:
    """Every role of the policy x both paged lists of a desa's residents: NIK order for a role that
    reads NIKs in full (the documented order), the shuffled order for every other role."""

    desa = lab.keys["desa"]
    query = {
        "persons": "query($d: RegionCode!) { list: persons(first: 100, filter: {region: $d}) { nodes { birthYear } } }",
        "residents": "query($d: RegionCode!) { region(code: $d) { list: residents(first: 100) { nodes { birthYear } } } }",
    }[listing]
    by_nik = sorted(lab.records["Person"], key=lambda p: p["nik"])
    salt = CursorSeal.from_text(PROBE_CURSOR_KEY).order_salt("Person.nik")
    shuffled = sorted(lab.records["Person"], key=lambda p: (shuffled_position(salt, p["nik"]), p["nik"]))
    years = {"nik": [str(p["birthDate"])[:4] for p in by_nik][:100], "shuffled": [str(p["birthDate"])[:4] for p in shuffled][:100]}
    assert years["nik"] != years["shuffled"]
    seen: dict[str, str] = {}
    for role in sorted(lab.world.guarded.credentials):
        if role not in _POLICY["roles"]:
            continue
        _, body, _ = ask(lab, role, query, {"d": desa})
        data = body.get("data") or {}
        listed = (data.get("region") or {}).get("list") if listing == "residents" else data.get("list")
        if listed is None:
            seen[role] = "refused"
            continue
        got = [str(n["birthYear"]) for n in listed["nodes"]]
        seen[role] = next((order for order, expected in years.items() if got == expected), "neither")
        assert seen[role] == ("nik" if _sees_in_full(role, "Person.nik") else "shuffled"), (role, seen[role])
    assert "nik" in seen.values() and "shuffled" in seen.values(), seen


def test_the_order_of_a_list_does_not_tell_a_hidden_sex(lab: Lab) -> None:
    """The analyst sees ``sex`` withheld and may not filter on it. In NIK order a kecamatan's men
    (day of birth 01-31) come before its women (41-71), so labelling a desa's first ``men``
    residents (``Region.residentCounts``) as men was right for 95 % of a Watulimo desa's 600.
    Listed in the shuffled order a masked NIK gets, that guess must do no better than a coin."""

    role, desa = "smart_center_analyst", lab.keys["desa"]
    counts = ask(lab, role, "query($d: RegionCode!) { region(code: $d) { residentCounts { sex count } } }", {"d": desa})[1]
    men = sum(c["count"] for c in counts["data"]["region"]["residentCounts"] if c["sex"] == "MALE")
    order: list[str] = []
    after = None
    while True:
        _, body, _ = ask(lab, role, """query($d: RegionCode!, $a: String) { persons(first: 100, after: $a, filter: {region: $d}) {
            pageInfo { hasNextPage endCursor } nodes { birthYear } } }""", {"d": desa, "a": after})
        page = body["data"]["persons"]
        order += [str(n["birthYear"]) for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # Who stands where: the test knows the gateway's cursor key, whence the order's salt (the analyst does not);
    # the birth years in the answer say it placed them right.
    salt = CursorSeal.from_text(PROBE_CURSOR_KEY).order_salt("Person.nik")
    listed = sorted(lab.records["Person"], key=lambda p: (shuffled_position(salt, p["nik"]), p["nik"]))
    assert order == [str(p["birthDate"])[:4] for p in listed]
    assert listed != sorted(lab.records["Person"], key=lambda p: p["nik"])
    truth = [p["sex"] for p in listed]
    assert 0 < men < len(truth)
    guessed = ["MALE"] * men + ["FEMALE"] * (len(truth) - men)
    right = sum(g == t for g, t in zip(guessed, truth)) / len(truth)
