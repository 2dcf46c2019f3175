"""Compiled execution and projection against the plain path: the same answers and errors, document by document.

The corpus is every GraphQL document written in the repository's tests and benchmarks (string
constants that parse as an executable document valid against the schema), plus the edge cases
below; variables are filled from the demo world's keys by their type. Each document runs for
several roles on two gateways over the same sources: one as it serves by default, compiling
each operation and asking the sources only for the fields the document reads
(``resolvers.projection``), and one with ``[gateway] compiled_execution = false`` and
``projection = false``, graphql-core's executor over whole records. The answers must match:
status, ``data`` and errors (message, path, code; in any order, as the two executors finish
fields in a different order). The access matrices already run on the default gateway; this
test holds it to the reference path everywhere else. (A field reading a record field its type
did not declare comes back null when projected: this is the test that finds it.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLError, OperationDefinitionNode, get_named_type, parse, type_from_ast, validate

from resolvers import build_schema
from resolvers.compiled import compile_operation

from .access_expectations import WATULIMO, Answer, World, variant

REPO = Path(__file__).resolve().parents[2]
ROLES = ("anonymous", "smart_center_analyst", "registry_officer", "health_officer", "school_operator")

#: Documents that exercise what the corpus might not: aliases, merged fields, fragments on the
#: type and on a union member, @skip/@include from variables, __typename, nulls, errors.
EDGE_CASES = [
    """query($nik: NIK!, $withFamily: Boolean!, $noName: Boolean!) {
      a: person(nik: $nik) { nik ...P family @include(if: $withFamily) { kk } name @skip(if: $noName) }
      b: person(nik: $nik) { __typename nik nik }
    }
    fragment P on Person { name sex birthDate family { members { nik } } }""",
    """query($nik: NIK!) { person(nik: $nik) { ... on Person { nik } ... { name } family { head { nik } } } }""",
    """{ school(npsn: "29999999") { name region { code children { code } } } }""",  # a null root lookup
    """query($first: Int) { persons(first: $first) { totalCount edges { cursor node { nik } } pageInfo { hasNextPage } } }""",
    """query { persons(first: 1000) { totalCount } }""",
    """{ region(code: "35.03") { code name children { code name level } } }""",
    """query($npsn: NPSN!) { school(npsn: $npsn) { name students { nisn person { nik name } } } }""",
    """{ __typename agencies { code __typename sources { name kind } } }""",
    """query($kk: KK!) { family(kk: $kk) { kk members { nik family { kk } } head { name } } }""",
    # A union at the root (federation's _entities): each representation's own type, one unknown (null),
    # fragments on the members and on none of them, __typename from the runtime type.
    """query($reps: [_Any!]!) { _entities(representations: $reps) { __typename ... on Person { nik name family { kk } }
      ... on School { npsn name } ... on Region { code } } }""",
    # An interface in a list (a discrepancy's values): fields of the interface and of one implementation.
    """{ discrepancies(first: 5) { edges { node { fact values { __typename source system
      ... on StudentDiscrepancyValue { nik name } } } } } }""",
]

#: Variable values by type name, from the demo world's subjects.
def _values(world: World) -> dict[str, Any]:
    inside = world.subjects.inside
    return {
        "NIK": inside["nik"][0],
        "KK": inside["kk"][0],
        "NPSN": world.subjects.npsn,
        "NISN": inside["nisn"][0],
        "RegionCode": WATULIMO,
        "Int": 3,
        "Boolean": True,
        "Date": date(2026, 8, 3).isoformat(),
        "ProgrammeCode": inside["programme"][0],
        "_Any": [
            {"__typename": "Person", "nik": inside["nik"][0]},
            {"__typename": "School", "npsn": world.subjects.npsn},
            {"__typename": "Person", "nik": "3503000000000000"},  # no such resident: null
            {"__typename": "Region", "code": WATULIMO},
        ],
    }


def _string_constants(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "{" in node.value:
            yield node.value


def corpus() -> list[str]:
    """Every valid executable document in tests/ and bench/, then the edge cases."""

    schema = build_schema()._schema
    found: dict[str, None] = {}
    files = sorted((REPO / "tests").rglob("*.py")) + sorted((REPO / "bench").rglob("*.py"))
    for path in files:
        for text in _string_constants(path):
            stripped = text.strip()
            if not (stripped.startswith("{") or stripped.startswith("query")):
                continue
            try:
                document = parse(text)
            except GraphQLError:
                continue
            if validate(schema, document):
                continue
            found[text] = None
    for text in EDGE_CASES:
        assert not validate(schema, parse(text)), text
        found[text] = None
    return list(found)


def _variables(document_text: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """Values for the first operation's variables, or ``None`` when one has a type we cannot fill."""

    schema = build_schema()._schema
    operation = next(d for d in parse(document_text).definitions if isinstance(d, OperationDefinitionNode))
    variables: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        gql_type = type_from_ast(schema, definition.type)
        named = get_named_type(gql_type).name if gql_type is not None else None
        required = definition.type.kind == "non_null_type" and definition.default_value is None
        if named in values:
            variables[name] = values[named]
            if name in ("noName",):
                variables[name] = False
        elif required:
            return None
    return variables


#: Cursors are sealed with each gateway's own key: compared by presence, not value.
CURSOR_FIELDS = frozenset({"cursor", "endCursor", "startCursor"})


def _without_cursors(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<cursor>" if k in CURSOR_FIELDS and v is not None else _without_cursors(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_cursors(v) for v in value]
    return value


def _comparable(answer: Answer) -> tuple[int, Any, list[tuple[Any, ...]]]:
    errors = sorted(
        (str(e.get("path")), e.get("message"), (e.get("extensions") or {}).get("code"), str(e.get("locations")))
        for e in answer.errors
    )
    return answer.status, _without_cursors(answer.data), errors


def _same(a: Answer, b: Answer) -> bool:
    """Equal answers; when a failure nulled the whole answer, the errors of one within the other's.

    graphql-core cancels the rest of an operation once a non-null failure reaches its root, so
    which other failures it reported first is a race; the compiled executor reports those of
    the levels it finished. The first failure, the one that nulled the answer, is in both.
    """

    (status_a, data_a, errors_a), (status_b, data_b, errors_b) = _comparable(a), _comparable(b)
    if (status_a, data_a) != (status_b, data_b):
        return False
    if errors_a == errors_b:
        return True
    return data_a is None and bool(errors_a) and bool(errors_b) and (set(errors_a) <= set(errors_b) or set(errors_b) <= set(errors_a))


@pytest.fixture(scope="module")
def interpreted(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The demo-policy gateway on the reference path: graphql-core runs everything over whole records."""

    def off(config: dict[str, Any]) -> None:
        config["gateway"]["compiled_execution"] = False
        config["gateway"]["projection"] = False

    with variant(world, off, tmp_path_factory.mktemp("interpreted")) as w:
        yield w


def test_the_corpus_is_the_suite_and_mostly_compiles() -> None:
    documents = corpus()
    schema = build_schema()._schema
    compiled = 0
    for text in documents:
        document = parse(text)
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        compiled += compile_operation(schema, document, operation) is not None
    # The suite holds well over a hundred distinct documents; nearly all are plain queries that
    # compile (introspection goes to graphql-core; unions and interfaces compile too).
    assert len(documents) >= 100, len(documents)
    assert compiled >= 0.8 * len(documents), (compiled, len(documents))


@pytest.mark.parametrize("role", ROLES)
def test_compiled_answers_equal_graphql_core(role: str, world: World, interpreted: World) -> None:
    values = _values(world)
    ran = 0
    differences = []
    for text in corpus():
        variables = _variables(text, values)
        if variables is None:
            continue
        compiled = world.guarded.ask(role, text, variables)
        reference = interpreted.guarded.ask(role, text, variables)
        ran += 1
        if not _same(compiled, reference):
            differences.append((text, variables, compiled.body, reference.body))
    assert ran >= 80, ran
    assert not differences, "\n\n".join(
        f"{text}\n{variables}\ncompiled:  {c}\ngraphql-core: {r}" for text, variables, c, r in differences[:3]
    )


def test_compiled_answers_equal_graphql_core_without_a_policy(world: World, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The unguarded reference gateway (no policy: every field public) against itself on the reference path."""

    import copy

    from .access_expectations import open_gateways

    values = _values(world)
    config = copy.deepcopy(world.config)
    for key in ("policy", "clients", "audit", "status"):  # the screen reads as one of the clients
        config.pop(key, None)
    plain = copy.deepcopy(config)
    config["gateway"]["compiled_execution"] = False
    config["gateway"]["projection"] = False
    with open_gateways([plain, config]) as (compiled, interpreted):
        differences = []
        for text in corpus():
            variables = _variables(text, values)
            if variables is None:
                continue
            a, b = compiled.ask("anonymous", text, variables), interpreted.ask("anonymous", text, variables)
            if not _same(a, b):
                differences.append((text, a.body, b.body))
        assert not differences, "\n\n".join(f"{t}\ncompiled: {a}\ngraphql-core: {b}" for t, a, b in differences[:3])
