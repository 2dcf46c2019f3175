"""The building blocks of the config tree (``gateway.config_schema``): value types, keys, tables.

Each key is declared once (name, type, default, description); the same declaration

- checks a parsed TOML file (``check``): every problem, each naming its ``table.key``, what
  was expected and what was given; an unknown key is refused with the closest known one
  (``gateway.produktion is not a key of [gateway]; did you mean "production"?``);
- writes the JSON Schema editors use (``json_schema``) and the reference ``docs/config.md``
  (``gateway.config_docs``).

A value type answers three questions: is this value one of mine (``problems``), how do I look
in a JSON Schema (``schema``), how do I read in the reference (``doc``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: ``default`` of a key that has none: absent means unset (or the key is required).
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config, at ``path`` (``gateway.max_body_bytes``, ``clients[2].role``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path} {self.message}" if self.path else self.message


def join(path: str, key: str) -> str:
    """``path.key``, quoting a key TOML would quote (``limits.list_sizes."School.students"``)."""

    part = key if _BARE_KEY.match(key) else f'"{key}"'
    return f"{path}.{part}" if path else part


def given(value: Any) -> str:
    """What a value is, for a message: ``the string "lots"``, ``the number 1.5``, ``a table``."""

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'the string "{shown}"'
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"  # TOML dates and times


class ValueType:
    """What a key's value may be."""

    #: For messages: "must be <expected>".
    expected: str = "a value"

    def problems(self, value: Any, path: str) -> list[Problem]:
        return []

    def schema(self) -> dict[str, Any]:
        return {}

    def doc(self) -> str:
        return self.expected

    def wrong(self, value: Any, path: str) -> list[Problem]:
        return [Problem(path, f"must be {self.expected}, not {given(value)}")]


@dataclass(frozen=True)
class Str(ValueType):
    """Text; ``env`` says it may be ``"env:VAR"`` (read from the environment at start-up)."""

    env: bool = False
    #: A regular expression the text must match (``pattern_doc`` says it in words).
    pattern: str | None = None
    pattern_doc: str = ""

    @property
    def expected(self) -> str:  # type: ignore[override]
        return self.pattern_doc or "a string"

    def problems(self, value: Any, path: str) -> list[Problem]:
        if not isinstance(value, str):
            return self.wrong(value, path)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return self.wrong(value, path)
        return []

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.pattern is not None:
            out["pattern"] = f"^(?:{self.pattern})$"
        return out

    def doc(self) -> str:
        return "string" + (' or `"env:VAR"`' if self.env else "")


@dataclass(frozen=True)
class Int(ValueType):
    """A whole number, at least ``minimum``."""

    minimum: int | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "a whole number" + ("" if self.minimum is None else f" of at least {self.minimum}")

    def problems(self, value: Any, path: str) -> list[Problem]:
        if isinstance(value, bool) or not isinstance(value, int):
            return self.wrong(value, path)
        if self.minimum is not None and value < self.minimum:
            return self.wrong(value, path)
        return []

    def schema(self) -> dict[str, Any]:
        return {"type": "integer"} | ({} if self.minimum is None else {"minimum": self.minimum})

    def doc(self) -> str:
        return "integer" + ("" if self.minimum is None else f" ≥ {self.minimum}")


@dataclass(frozen=True)
class Number(ValueType):
    """A number (whole or not); ``above`` is exclusive, ``minimum`` inclusive."""

    minimum: float | None = None
    above: float | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        if self.above is not None:
            return f"a number above {self.above:g}"
        return "a number" + ("" if self.minimum is None else f" of at least {self.minimum:g}")

    def problems(self, value: Any, path: str) -> list[Problem]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self.wrong(value, path)
        if (self.minimum is not None and value < self.minimum) or (self.above is not None and value <= self.above):
            return self.wrong(value, path)
        return []

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "number"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.above is not None:
            out["exclusiveMinimum"] = self.above
        return out

    def doc(self) -> str:
        if self.above is not None:
            return f"number > {self.above:g}"
        return "number" + ("" if self.minimum is None else f" ≥ {self.minimum:g}")


@dataclass(frozen=True)
class Bool(ValueType):
    expected: str = "true or false"

    def problems(self, value: Any, path: str) -> list[Problem]:
        return [] if isinstance(value, bool) else self.wrong(value, path)

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def doc(self) -> str:
        return "boolean"


@dataclass(frozen=True)
class Choice(ValueType):
    """One of a few values (strings, or ``true``/``false``)."""

    values: tuple[Any, ...]

    @property
    def expected(self) -> str:  # type: ignore[override]
        shown = [_toml(v) for v in self.values]
        return "one of " + ", ".join(shown)

    def problems(self, value: Any, path: str) -> list[Problem]:
        if any(value is v or (type(value) is type(v) and value == v) for v in self.values):
            return []
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, [v for v in self.values if isinstance(v, str)], n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
        return [Problem(path, f"must be {self.expected}, not {given(value)}{hint}")]

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.values)}

    def doc(self) -> str:
        return " \\| ".join(f"`{_toml(v)}`" for v in self.values)


@dataclass(frozen=True)
class Scalar(ValueType):
    """A string, number or boolean (a code in a ``values`` map)."""

    expected: str = "a string, number or boolean"

    def problems(self, value: Any, path: str) -> list[Problem]:
        return [] if isinstance(value, str | int | float) else self.wrong(value, path)

    def schema(self) -> dict[str, Any]:
        return {"type": ["string", "number", "integer", "boolean"]}

    def doc(self) -> str:
        return "string, number or boolean"


@dataclass(frozen=True)
class AnyOf(ValueType):
    """One of several types (``true``, ``false`` or ``"authenticated"``; a column or a table)."""

    options: tuple[ValueType, ...]

    @property
    def expected(self) -> str:  # type: ignore[override]
        return " or ".join(o.expected for o in self.options)

    def problems(self, value: Any, path: str) -> list[Problem]:
        found: list[list[Problem]] = []
        for option in self.options:
            problems = option.problems(value, path)
            if not problems:
                return []
            found.append(problems)
        # A table given where a table is one option: its own problems say more than "must be ...".
        for option, problems in zip(self.options, found):
            if isinstance(value, Mapping) and isinstance(option, Table | MapOf):
                return problems
            if isinstance(value, list) and isinstance(option, ListOf):
                return problems
        return self.wrong(value, path)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [o.schema() for o in self.options]}

    def doc(self) -> str:
        return " or ".join(o.doc() for o in self.options)


@dataclass(frozen=True)
class ListOf(ValueType):
    item: ValueType

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a list of {self.item.doc()}"

    def problems(self, value: Any, path: str) -> list[Problem]:
        if not isinstance(value, list):
            return self.wrong(value, path)
        return [p for i, item in enumerate(value) for p in self.item.problems(item, f"{path}[{i}]")]

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema()}

    def doc(self) -> str:
        return f"list of {self.item.doc()}"


@dataclass(frozen=True)
class Key:
    """One key of a table: its name, type, default and what it does (the reference's row)."""

    name: str
    type: ValueType
    description: str
    default: Any = UNSET
    required: bool = False
    #: The default in words, where the value alone would mislead ("beside the config file").
    default_doc: str | None = None

    def default_text(self) -> str:
        if self.required:
            return "required"
        if self.default_doc is not None:
            return self.default_doc
        if self.default is UNSET:
            return "unset"
        return f"`{_toml(self.default)}`"


@dataclass(frozen=True)
class Table(ValueType):
    """A table with a fixed set of keys; any other key is refused, with a suggestion."""

    keys: tuple[Key, ...]
    description: str = ""
    #: Shown in the reference beside the table's keys (a short TOML example).
    example: str = ""
    #: Keys that are refused with a message of their own (a key stored in clear, say).
    refused: Mapping[str, str] = field(default_factory=dict)
    expected: str = "a table"

    def key(self, name: str) -> Key:
        return next(k for k in self.keys if k.name == name)

    def doc(self) -> str:
        return "table"

    def default(self, name: str) -> Any:
        return self.key(name).default

    def problems(self, value: Any, path: str) -> list[Problem]:
        if not isinstance(value, Mapping):
            return self.wrong(value, path)
        known = {k.name: k for k in self.keys}
        out: list[Problem] = []
        for name in value:
            if name in self.refused:
                out.append(Problem(join(path, name), self.refused[name]))
            elif name not in known:
                out.append(Problem(join(path, name), unknown_key(name, known, path)))
        for key in self.keys:
            if key.name in value:
                out.extend(key.type.problems(value[key.name], join(path, key.name)))
            elif key.required:
                out.append(Problem(join(path, key.name), f"is required ({key.type.doc()}): {key.description}"))
        return out

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if self.description:
            out["description"] = self.description
        out["properties"] = {k.name: key_schema(k) for k in self.keys}
        required = [k.name for k in self.keys if k.required]
        if required:
            out["required"] = required
        out["additionalProperties"] = False
        return out


@dataclass(frozen=True)
class MapOf(ValueType):
    """A table whose keys the operator names (``[sources.NAME]``, ``[policy.roles.ROLE]``)."""

    value: ValueType
    #: How the reference calls a key (``NAME``, ``ROLE``, ``"Type.field"``).
    name: str = "NAME"
    #: A regular expression every key must match, and the same in words.
    key_pattern: str | None = None
    key_doc: str = ""
    #: The only names a key may have (vocabulary entities); another is refused with the closest.
    key_choices: tuple[str, ...] | None = None
    expected: str = "a table"

    def problems(self, value: Any, path: str) -> list[Problem]:
        if not isinstance(value, Mapping):
            return self.wrong(value, path)
        out: list[Problem] = []
        for name, item in value.items():
            where = join(path, name)
            if self.key_pattern is not None and not re.fullmatch(self.key_pattern, name):
                out.append(Problem(where, f"must be named {self.key_doc}"))
                continue
            if self.key_choices is not None and name not in self.key_choices:
                close = difflib.get_close_matches(name, self.key_choices, n=1, cutoff=0.6)
                hint = f'did you mean "{close[0]}"?' if close else f"known: {', '.join(self.key_choices)}"
                out.append(Problem(where, f"is not {self.key_doc}; {hint}"))
                continue
            out.extend(self.value.problems(item, where))
        return out

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "additionalProperties": self.value.schema()}
        if self.key_pattern is not None:
            out["propertyNames"] = {"pattern": f"^(?:{self.key_pattern})$"}
        if self.key_choices is not None:
            out["propertyNames"] = {"enum": list(self.key_choices)}
        return out

    def doc(self) -> str:
        return f"table of {self.name} = {self.value.doc()}" if not isinstance(self.value, Table | Tagged) else "table"


@dataclass(frozen=True)
class ArrayOf(ValueType):
    """An array of tables (``[[clients]]``)."""

    table: Table
    expected: str = "an array of tables"

    def problems(self, value: Any, path: str) -> list[Problem]:
        if not isinstance(value, list):
            return self.wrong(value, path)
        return [p for i, item in enumerate(value) for p in self.table.problems(item, f"{path}[{i}]")]

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.table.schema()}

    def doc(self) -> str:
        return "array of tables"


@dataclass(frozen=True)
class Tagged(ValueType):
    """A table whose keys depend on one of them (``kind`` of a source): one ``Table`` per value."""

    tag: str
    variants: Mapping[str, Table] = field(default_factory=dict)
    expected: str = "a table"

    def problems(self, value: Any, path: str) -> list[Problem]:
        if not isinstance(value, Mapping):
            return self.wrong(value, path)
        kind = value.get(self.tag)
        variant = self.variants.get(kind) if isinstance(kind, str) else None
        if variant is None:
            choice = Choice(tuple(self.variants))
            where = join(path, self.tag)
            if kind is None:
                return [Problem(where, f"is required: {choice.expected}")]
            return choice.problems(kind, where)
        return variant.problems(value, path)

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": [self.tag],
            "properties": {self.tag: {"enum": list(self.variants)}},
            "allOf": [
                {"if": {"properties": {self.tag: {"const": kind}}}, "then": table.schema()}
                for kind, table in self.variants.items()
            ],
        }

    def doc(self) -> str:
        return "table"


#: A duration that must be above zero; a string that may be ``"env:VAR"``.
SECONDS = Number(above=0)
ENV = Str(env=True)


def describe(problems: Sequence[Problem]) -> str:
    """One message for a ``ConfigError``: the problem, or all of them, one per line."""

    if len(problems) == 1:
        return str(problems[0])
    return f"{len(problems)} problems:" + "".join(f"\n  - {p}" for p in problems)


def unknown_key(name: str, known: Sequence[str] | Mapping[str, Any], path: str) -> str:
    """The message for a key the table does not have: the closest known key, else them all."""

    names = list(known)
    where = "the top level" if not path else path if path.endswith("]") else f"[{path}]"
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f'is not a key of {where}; did you mean "{close[0]}"?'
    return f"is not a key of {where}; its keys are {', '.join(names) or 'none'}"


def key_schema(key: Key) -> dict[str, Any]:
    out = key.type.schema()
    out = {"description": key.description, **out}
    if key.default is not UNSET and not key.required:
        out["default"] = key.default
    return out


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{}" if not value else "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


__all__ = [
    "ENV",
    "SECONDS",
    "UNSET",
    "AnyOf",
    "ArrayOf",
    "Bool",
    "Choice",
    "Int",
    "Key",
    "ListOf",
    "MapOf",
    "Number",
    "Problem",
    "Scalar",
    "Str",
    "Table",
    "Tagged",
    "ValueType",
    "describe",
    "given",
    "join",
    "key_schema",
    "unknown_key",
]
