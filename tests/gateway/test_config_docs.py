"""docs/config.md and docs/config.schema.json are what the config tree writes today."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from gateway.config_docs import JSON_SCHEMA, MARKDOWN, json_schema, json_schema_text, markdown
from gateway.config_schema import GATEWAY, TABLES
from gateway.settings import GatewaySettings

FIX = "run `python -m gateway.config_docs` and commit docs/"


def test_the_reference_is_current() -> None:
    assert MARKDOWN.read_text(encoding="utf-8") == markdown(), FIX


def test_the_json_schema_is_current() -> None:
    assert JSON_SCHEMA.read_text(encoding="utf-8") == json_schema_text(), FIX


def test_the_reference_names_every_table_and_gateway_key() -> None:
    text = markdown()
    for name in TABLES:
        assert f"## [{name}" in text or f"## [[{name}]]" in text
    for key in GATEWAY.keys:
        assert f"| `{key.name}` |" in text


def test_every_object_of_the_json_schema_refuses_unknown_keys() -> None:
    """As the gateway does: an editor marks a typo anywhere, not only at the top."""

    def objects(node: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
        found: list[tuple[str, dict[str, Any]]] = []
        if isinstance(node, dict):
            if "properties" in node:
                found.append((path, node))
            for key, value in node.items():
                found.extend(objects(value, f"{path}/{key}"))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found.extend(objects(value, f"{path}/{i}"))
        return found

    schema = json_schema()
    assert set(schema["properties"]) == set(TABLES)
    tables = objects(schema, "")
    assert len(tables) > 40
    # The tagged [sources.NAME] names only `kind` at its top (allOf); each kind's branch is closed.
    open_objects = [
        path for path, node in tables
        if node.get("additionalProperties") is not False and "allOf" not in node and not path.endswith("/if")
    ]
    assert open_objects == [], open_objects
    json.dumps(schema)


def test_gateway_defaults_are_the_settings_defaults() -> None:
    """One declaration: what the reference says a [gateway] key defaults to is what the gateway uses."""

    settings = GatewaySettings.from_dict(
        {"sources": {"x": {"kind": "sql", "agency": "A", "url": "sqlite+aiosqlite://"}}}
    )
    fields = {f.name for f in dataclasses.fields(GatewaySettings)}
    for key in GATEWAY.keys:
        if key.name in ("cursor_key",):
            continue
        assert key.name in fields, key.name
        value = getattr(settings, key.name)
        expected = key.default
        assert (list(value) if isinstance(value, tuple) else value) == expected, key.name
