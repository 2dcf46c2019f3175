"""The config tree refuses every unknown key (with the closest known one) and every wrong type, naming ``table.key``."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from core import ConfigError
from demo.gateway_config import render_config
from gateway.cli import main
from gateway.settings import GatewaySettings, check_config

DEMO = tomllib.loads(
    render_config(
        registry_url="sqlite+aiosqlite:///r", education_url="sqlite+aiosqlite:///e", dinkes_url="http://dinkes",
        sepeda_keren_url="http://sepeda-keren", lapor_url="http://lapor", jkn_url="http://jkn", access=True,
    )
)


def with_value(path: str, value: Any) -> dict[str, Any]:
    """The demo config with ``value`` at the dotted ``path`` (``[n]`` picks an array entry)."""

    raw = copy.deepcopy(DEMO)
    *parents, last = path.split(".")
    table: Any = raw
    for part in parents:
        name, _, index = part.partition("[")
        table = table.setdefault(name, {})
        if index:
            table = table[int(index.rstrip("]"))]
    table[last] = value
    return raw


def messages(raw: dict[str, Any]) -> list[str]:
    return [str(p) for p in check_config(raw)]


def test_the_demo_config_has_no_problem() -> None:
    assert messages(DEMO) == []


@pytest.mark.parametrize(
    ("path", "suggestion"),
    [
        ("gateway.produktion", "production"),
        ("gateway.request_timout_s", "request_timeout_s"),
        ("graphiql.enable", "enabled"),
        ("graphiql.examples[0].titel", "title"),
        ("agencies[0].shortname", "short_name"),
        ("sources.siak.timeout", "timeout_s"),
        ("sources.siak.pool_sise", "pool_size"),
        ("sources.dinkes.base_uri", "base_url"),
        ("sources.dinkes.entities.HealthFacility.pagination.page_parm", "page_param"),
        ("sources.jkn_portal.entities.HealthInsurance.lookup.nik.fild", "field"),
        ("sources.siak.entities.Person.tabel", "table"),
        ("policy.role", "roles"),
        ("policy.roles.health_officer.purpose", "purposes"),
        ("policy.lookups.window", "window_s"),
        ("clients[0].rol", "role"),
        ("limits.max_dept", "max_depth"),
        ("limits.roles.anonymous.max_cots", "max_cost"),
        ("ratelimit.request_per_minute", "requests_per_minute"),
        ("documents.trust", "trusted"),
        ("audit.subjectkey", "subject_key"),
        ("auth.jwt.isuer", "issuer"),
        ("sorces", "sources"),
    ],
)
def test_an_unknown_key_is_refused_with_the_closest_known_one(path: str, suggestion: str) -> None:
    raw = with_value(path, 1) if "." in path else {**DEMO, path: {}}
    if path.startswith("auth.jwt"):
        raw["auth"]["jwt"].update({"issuer": "https://sso", "audience": "gw", "jwks_file": "jwks.json"})
    if path.startswith("limits.roles.anonymous"):
        raw["limits"]["roles"]["anonymous"].pop("max_cost", None)
    found = messages(raw)
    unknown = [m for m in found if "is not a key of" in m]
    assert len(unknown) == 1, found
    quoted = path.replace("[0]", "[0]")
    assert unknown[0].startswith(f"{quoted} is not a key of") and f'did you mean "{suggestion}"?' in unknown[0]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("gateway.max_body_bytes", "lots", 'gateway.max_body_bytes must be a whole number of at least 1, not the string "lots"'),
        ("gateway.production", "yes", 'gateway.production must be true or false, not the string "yes"'),
        ("gateway.request_timeout_s", 0, "gateway.request_timeout_s must be a number above 0, not the number 0"),
        ("gateway.trusted_proxies", "10.0.0.1", 'gateway.trusted_proxies must be a list of string, not the string "10.0.0.1"'),
        ("graphiql.enabled", "maybe", 'graphiql.enabled must be true or false or one of "authenticated", not the string "maybe"'),
        ("sources.siak.timeout_s", "5", 'sources.siak.timeout_s must be a number of at least 0, not the string "5"'),
        ("sources.siak.retries", 1.5, "sources.siak.retries must be a whole number of at least 0, not the number 1.5"),
        ("sources.dinkes.transport", "http2", 'sources.dinkes.transport must be one of "http1", "httpcore", not the string "http2"; did you mean "http1"?'),
        ("sources.siak.kind", "ftp", 'sources.siak.kind must be one of "sql", "rest", "graphql", not the string "ftp"'),
        ("limits.max_depth", True, "limits.max_depth must be a whole number of at least 0, not true"),
        ("ratelimit.burst", 0, "ratelimit.burst must be a whole number of at least 1, not the number 0"),
        ("documents.trusted", "requir", 'documents.trusted must be one of "allow", "require", not the string "requir"; did you mean "require"?'),
        ("clients[0].key_sha256", "abc", 'clients[0].key_sha256 must be 64 hexadecimal digits, not the string "abc"'),
        ("policy.roles.health_officer.grant", ["helth"], 'policy.roles.health_officer.grant[0] must be one of "personal", "health", "disability", "children", not the string "helth"; did you mean "health"?'),
        ("audit.checkpoint_every", "often", 'audit.checkpoint_every must be a whole number of at least 1, not the string "often"'),
    ],
)
def test_a_wrong_type_names_the_key_what_it_must_be_and_what_was_given(path: str, value: Any, expected: str) -> None:
    assert messages(with_value(path, value)) == [expected]


def test_a_missing_required_key_is_named() -> None:
    raw = copy.deepcopy(DEMO)
    del raw["sources"]["siak"]["url"]
    assert messages(raw) == ["sources.siak.url is required (string or `\"env:VAR\"`): SQLAlchemy async URL "
                             "(sqlite+aiosqlite:///file.sqlite, postgresql+asyncpg://..., mysql+aiomysql://...)."]


def test_every_problem_is_reported_at_once() -> None:
    raw = with_value("gateway.produktion", True)
    raw["gateway"]["max_body_bytes"] = "lots"
    with pytest.raises(ConfigError) as refused:
        GatewaySettings.from_dict(raw)
    assert refused.value.message.startswith("2 problems:")
    assert "gateway.produktion" in refused.value.message and "gateway.max_body_bytes" in refused.value.message


@pytest.mark.parametrize(
    ("table", "line"),
    [("gateway", "produktion = true"), ("gateway", "request_timout_s = 1"), ("gateway", 'max_body_bytes = "lots"')],
)
def test_serve_refuses_the_issue_examples_with_exit_2_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, line: str
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[{table}]\n{line}\n\n[sources.x]\nkind = "sql"\nagency = "A"\nurl = "sqlite+aiosqlite://"\n', encoding="utf-8"
    )
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"gateway.{line.split()[0]} " in err and "Traceback" not in err


def test_an_entity_name_outside_the_vocabulary_is_refused_with_the_closest() -> None:
    raw = copy.deepcopy(DEMO)
    raw["sources"]["siak"]["entities"]["Persn"] = raw["sources"]["siak"]["entities"].pop("Person")
    assert messages(raw) == [
        'sources.siak.entities.Persn is not an entity of the vocabulary (gateway.config_schema.VOCABULARY_ENTITIES); '
        'did you mean "Person"?'
    ]


def test_the_vocabulary_entities_are_what_the_resolvers_ask_for_and_the_demo_maps(repo_root: Path) -> None:
    """Neither a stale name nor a missing one: the resolvers' loader calls and the demo config agree with the list."""

    import re

    from connectors.registry import _catalog
    from gateway.config_schema import VOCABULARY_ENTITIES

    asked: set[str] = set()
    call = re.compile(r"""(?:\.(?:one|many)\w*\(|SourceQuery\()\s*"([A-Z][A-Za-z]+)\"""")
    for path in (repo_root / "resolvers").rglob("*.py"):
        asked |= set(call.findall(path.read_text(encoding="utf-8")))
    mapped = {entity for source in DEMO["sources"].values() for entity in source.get("entities", {})}
    catalog = set(_catalog([], []).info.entities)
    assert {"Person", "School", "Student", "Region"} <= asked  # the scan finds the loader calls
    assert asked - set(VOCABULARY_ENTITIES) == set(), "add these to VOCABULARY_ENTITIES"
    assert set(VOCABULARY_ENTITIES) == mapped | catalog
