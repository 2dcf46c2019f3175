"""A small JSON Schema checker for the subset the demo APIs' OpenAPI 3.1 documents use.

Supports ``$ref`` (local), ``type`` (string or list), ``properties``, ``required``,
``additionalProperties``, ``items``, ``enum``, ``pattern``, ``minimum``, ``maximum``, ``minItems``,
``anyOf`` and the ``date`` / ``date-time`` / ``uri`` formats; anything else in a schema is a test
failure, so the documents cannot quietly use a keyword nothing checks.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

_KNOWN = {
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "anyOf",
    "format",
    "description",
    "example",
    "default",
}
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def errors(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty when it conforms)."""

    schema = resolve(document, schema)
    unknown = set(schema) - _KNOWN
    assert not unknown, f"schema at {where} uses unchecked keywords {unknown}"
    found: list[str] = []
    if "anyOf" in schema:
        if all(errors(document, s, value, where) for s in schema["anyOf"]):
            found.append(f"{where}: matches no anyOf branch: {value!r}")
        return found
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_TYPES[k](value) for k in kinds):
            return [f"{where}: {value!r} is not {kinds}"]
    if value is None:
        return found
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{where}: {value!r} does not match {schema['pattern']}")
        fmt = schema.get("format")
        try:
            if fmt == "date":
                date.fromisoformat(value)
                assert len(value) == 10
            elif fmt == "date-time":
                assert datetime.fromisoformat(value).tzinfo is not None, "no offset"
            elif fmt == "uri":
                assert re.match(r"^https?://", value)
        except (ValueError, AssertionError) as exc:
            found.append(f"{where}: {value!r} is not a {fmt} ({exc})")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            found.append(f"{where}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for k, item in enumerate(value):
                found += errors(document, schema["items"], item, f"{where}[{k}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                found.append(f"{where}: missing {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                found += errors(document, properties[name], item, f"{where}.{name}")
            elif extra is False:
                found.append(f"{where}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                found += errors(document, extra, item, f"{where}.{name}")
    return found


def response_schema(document: dict[str, Any], path: str, status: int) -> dict[str, Any]:
    """The documented JSON schema of ``GET path`` answering ``status``."""

    responses = document["paths"][path]["get"]["responses"]
    assert str(status) in responses, f"GET {path} does not document status {status}"
    schema: dict[str, Any] = responses[str(status)]["content"]["application/json"]["schema"]
    return schema


def assert_documented(document: dict[str, Any], path: str, status: int, body: Any) -> None:
    """Fail unless ``body`` is what the document promises for ``GET path`` with ``status``."""

    problems = errors(document, response_schema(document, path, status), body)
    assert not problems, f"GET {path} -> {status} breaks its OpenAPI schema:\n" + "\n".join(problems[:20])
