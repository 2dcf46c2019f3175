"""Issue 9, findings 7, 16 and 8: a client's mistake never harms a source.

The real gateway over the demo's health office (Dinkes) and Sepeda Keren APIs, each on a real
socket behind a recorder of the paths it was asked for. A key that cannot stand in a path is
refused before any request (no list endpoint, no parent path); an API's 400 for the caller's own
argument is ``BAD_USER_INPUT`` with the API's reason; neither counts towards the breaker, which
here opens after two failures. A malformed ``_entities`` representation is ``null`` plus one
typed error at its index, with one log line for the request and no traceback.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from demo.gateway_config import render_config

from ..conftest import Backend, Gateway, open_gateway, serve_api

BAD_KEYS = ["", ".", "..", "a/b", "..%2F..", "a\\b", "a?b", "a#b", "a%b", "a\x00b", "a\nb"]


class Recorder:
    """ASGI middleware that notes every path an API is asked for."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def dinkes(dataset: Any) -> Iterator[tuple[str, Recorder]]:
    from demo.apis import create_dinkes_app

    recorder = Recorder(create_dinkes_app(dataset))
    for url in serve_api(recorder, "Dinkes"):
        yield url, recorder


@pytest.fixture(scope="module")
def sepeda(dataset: Any) -> Iterator[tuple[str, Recorder]]:
    from demo.apis import create_sepeda_keren_app

    recorder = Recorder(create_sepeda_keren_app(dataset))
    for url in serve_api(recorder, "Sepeda Keren"):
        yield url, recorder


@pytest.fixture
async def gateway(sqlite_backend: Backend, dinkes: tuple[str, Recorder], sepeda: tuple[str, Recorder]) -> AsyncIterator[Gateway]:
    config = tomllib.loads(
        render_config(
            registry_url=sqlite_backend.registry_url,
            education_url=sqlite_backend.education_url,
            dinkes_url=dinkes[0],
            sepeda_keren_url=sepeda[0],
        )
    )
    for source in ("dinkes", "sepeda_keren"):
        config["sources"][source].update(breaker_failures=2, breaker_reset_s=60, retries=0)
    async for gateway in open_gateway(config):
        yield gateway


def a_facility(dataset: Any) -> str:
    return str(dataset_facilities(dataset)[0]["kode_faskes"])


def dataset_facilities(dataset: Any) -> list[dict[str, Any]]:
    from demo.apis import create_dinkes_app

    return list(create_dinkes_app(dataset).state.data.faskes_json)


async def source_states(gateway: Gateway) -> dict[str, str]:
    ready = (await gateway.client.get("/readyz")).json()
    return {s["name"]: s["breaker"] for s in ready["sources"]}


@pytest.mark.parametrize("field", ["healthFacility", "programme"])
async def test_finding_16_keys_that_would_leave_the_configured_path_are_refused_before_any_request(
    gateway: Gateway, dinkes: tuple[str, Recorder], sepeda: tuple[str, Recorder], field: str
) -> None:
    recorder = dinkes[1] if field == "healthFacility" else sepeda[1]
    asked = len(recorder.paths)
    for key in BAD_KEYS:
        answer = await gateway.query(f"query($k: String!) {{ {field}(code: $k) {{ code }} }}", {"k": key})
        assert answer["data"] == {field: None}, (key, answer)
        (error,) = answer["errors"]
        assert error["path"] == [field]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (key, error)
        assert error["extensions"]["argument"] == "code" and error["extensions"]["reason"] == "MALFORMED"
    assert recorder.paths[asked:] == [], "a malformed key reached the API"
    assert (await source_states(gateway))["dinkes" if field == "healthFacility" else "sepeda_keren"] == "closed"


async def test_finding_7_dot_keys_cannot_switch_a_source_off(gateway: Gateway, dataset: Any) -> None:
    code = a_facility(dataset)
    for _ in range(5):  # the breaker opens after 2 failures
        answer = await gateway.query('{ healthFacility(code: ".") { name } }')
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # A malformed key in a batch costs only itself.
    answer = await gateway.query(f'{{ bad: healthFacility(code: "..") {{ name }} good: healthFacility(code: "{code}") {{ name }} }}')
    assert answer["data"]["bad"] is None and answer["data"]["good"]["name"]
    assert [e["path"] for e in answer["errors"]] == [["bad"]]
    assert (await source_states(gateway))["dinkes"] == "closed"


@pytest.mark.parametrize(
    "arguments,argument,reason",
    [
        ('year: 2026, fromWeek: 1, toWeek: 4, disease: "ZZ"', "disease", "Unknown kode_penyakit ZZ"),
        ("year: 1999, fromWeek: 1, toWeek: 4", "year", "tahun"),
    ],
)
async def test_finding_7_an_api_refusing_the_callers_argument_is_bad_user_input_and_never_counted(
    gateway: Gateway, dataset: Any, arguments: str, argument: str, reason: str
) -> None:
    code = a_facility(dataset)
    query = f'{{ healthFacility(code: "{code}") {{ name caseReports({arguments}) {{ week }} }} }}'
    for _ in range(4):
        answer = await gateway.query(query)
        (error,) = answer["errors"]
        assert error["path"] == ["healthFacility", "caseReports"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "source": "dinkes", "reason": "REJECTED_BY_SOURCE", "argument": argument}
        assert reason in error["message"], error["message"]
    assert (await source_states(gateway))["dinkes"] == "closed"
    good = await gateway.query(f'{{ healthFacility(code: "{code}") {{ caseReports(year: 2026, fromWeek: 1, toWeek: 2) {{ week }} }} }}')
    assert "errors" not in good, good


MALFORMED = [
    {"__typename": "Person"},  # key missing
    {"__typename": "Person", "nik": "3503010101900001", "extra": 1},  # a field the key does not have
    {"__typename": "person", "nik": "3503010101900001"},  # lower-case: not a type of this graph
    {"__typename": "Nope", "nik": "1"},  # unknown
    {"nik": "3503010101900001"},  # no __typename
    "3503010101900001",  # a plain string
    5,  # a number
    None,
]


async def test_finding_8_malformed_representations_are_null_with_one_typed_error_each(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    code = "35.03"
    representations = [{"__typename": "Region", "code": code}, *MALFORMED]
    caplog.set_level(logging.DEBUG)
    answer = await gateway.query(
        "query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Region { code } } }",
        {"r": [r for r in representations if r is not None]},
    )
    data = answer["data"]["_entities"]
    assert data[0] == {"__typename": "Region", "code": code}  # the good one is answered
    assert data[1:] == [None] * (len(representations) - 2)
    errors = sorted(answer["errors"], key=lambda e: e["path"])
    assert [e["path"] for e in errors] == [["_entities", i] for i in range(1, len(representations) - 1)]
    for error in errors:
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["argument"] == "representations"
    lines = [r for r in caplog.records if r.name.startswith("satudata")]
    assert len([r for r in lines if "_entities" in r.getMessage()]) == 1
    assert not any(r.exc_info or "Traceback" in r.getMessage() for r in caplog.records)


async def test_finding_8_ninety_malformed_representations_write_one_log_line(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    junk = [{"__typename": "Person", "nik": "3503010101900001", "extra": i} for i in range(45)] + ["x"] * 45
    answer = await gateway.query("query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", {"r": junk})
    assert answer["data"] == {"_entities": [None] * 90}
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"BAD_USER_INPUT"} and len(answer["errors"]) == 90
    written = [r for r in caplog.records if r.name.startswith("satudata")]
    assert len(written) == 1, [r.getMessage()[:120] for r in written]
    assert not any(r.exc_info for r in caplog.records)


def test_finding_8_the_schema_checks_representations_before_strawberry_resolves_them() -> None:
    from resolvers import GraphSchema
    from resolvers.entities import CheckedRepresentations

    assert issubclass(GraphSchema, CheckedRepresentations), (
        "resolvers/__init__.py must declare `class GraphSchema(CheckedRepresentations, strawberry.federation.Schema)` "
        "(from .entities import CheckedRepresentations)"
    )
