"""Source-to-vocabulary mapping, declared in config.

A source entity is configured like::

    [sources.siak.entities.Person]
    table = "penduduk"
    key = "nik"                                   # vocabulary field that identifies a record
    [sources.siak.entities.Person.fields]
    nik = "nik"                                   # vocabulary field = source column
    name = "nama_lengkap"
    sex = { column = "jenis_kelamin", values = { L = "MALE", P = "FEMALE" } }
    regionCode = { column = "kode_wilayah", transform = "region_code_digits" }

``values`` maps source codes to vocabulary enum values (and back, for filters pushed to the
source); ``transform`` names a reversible format conversion from ``TRANSFORMS``; ``type``
parses values whose wire format lacks the type (``"date"`` for JSON's ISO strings; see
``TYPES``). A list value is mapped element by element.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core import ConfigError


@dataclass(frozen=True, slots=True)
class Transform:
    """A reversible conversion between a source's format and the vocabulary's."""

    to_vocabulary: Callable[[Any], Any]
    to_source: Callable[[Any], Any]


def _dotted_region(value: Any) -> Any:
    # 3503082011 -> 35.03.08.2011; shorter prefixes keep their level (350308 -> 35.03.08).
    if value is None:
        return None
    digits = str(value).strip()
    parts = [digits[0:2], digits[2:4], digits[4:6], digits[6:10]]
    return ".".join(p for p in parts if p)


def _undotted_region(value: Any) -> Any:
    return None if value is None else str(value).replace(".", "")


TRANSFORMS: dict[str, Transform] = {
    # Dapodik, SATUSEHAT and BPS write Kemendagri codes without dots.
    "region_code_digits": Transform(_dotted_region, _undotted_region),
    "strip": Transform(lambda v: v.strip() if isinstance(v, str) else v, lambda v: v),
    "upper": Transform(lambda v: v.upper() if isinstance(v, str) else v, lambda v: v),
}


def _as_date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _as_datetime(value: Any) -> Any:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


#: ``type = "..."`` for sources whose wire format has no such type (JSON has no dates).
TYPES: dict[str, Callable[[Any], Any]] = {
    "date": _as_date,
    "datetime": _as_datetime,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """Where one vocabulary field comes from in the source."""

    name: str
    column: str
    values: Mapping[Any, Any] | None = None
    transform: Transform | None = None
    reverse_values: Mapping[Any, Any] | None = None
    type: Callable[[Any], Any] | None = None

    def to_vocabulary(self, raw: Any) -> Any:
        if raw is None:
            return None
        if isinstance(raw, list):
            return [self.to_vocabulary(item) for item in raw]
        if self.transform is not None:
            raw = self.transform.to_vocabulary(raw)
        if self.values is not None:
            # Config keys are strings while a column may hold integers; a code the
            # mapping does not know is not guessed at: the field is null.
            found = self.values.get(raw)
            return self.values.get(str(raw)) if found is None else found
        if self.type is not None:
            try:
                return self.type(raw)
            except (TypeError, ValueError):
                return None  # a value the source should not have sent: null, not a crash
        return raw

    def converter(self) -> Callable[[Any], Any]:
        """``to_vocabulary`` specialised once for this field: a code list without a transform or
        type (the common case: sex, religion, status, ...) becomes two dict lookups."""

        values = self.values
        if values is None or self.transform is not None or self.type is not None:
            return self.to_vocabulary
        get = values.get

        def code(raw: Any) -> Any:
            if raw is None:
                return None
            if isinstance(raw, list):
                return [code(item) for item in raw]
            found = get(raw)
            return get(str(raw)) if found is None else found

        return code

    def to_source(self, value: Any) -> Any:
        if value is None:
            return None
        if self.reverse_values is not None:
            if value not in self.reverse_values:
                return _NO_MATCH
            value = self.reverse_values[value]
        if self.transform is not None:
            value = self.transform.to_source(value)
        return value


class _NoMatch:
    """A filter value that no source row can have (an enum value the source never uses)."""

    def __repr__(self) -> str:
        return "NO_MATCH"


_NO_MATCH: Any = _NoMatch()
NO_MATCH = _NO_MATCH


@dataclass(frozen=True, slots=True)
class EntityMapping:
    """How one vocabulary entity is read from one source object (table, path ...)."""

    entity: str
    location: str
    key: str
    fields: Mapping[str, FieldMapping] = field(default_factory=dict)

    def field(self, name: str) -> FieldMapping:
        try:
            return self.fields[name]
        except KeyError:
            raise ConfigError(
                f"{self.entity} has no mapped field {name!r}; map it in the source's "
                f"[...entities.{self.entity}.fields] table",
            ) from None


def parse_entity_mapping(
    source: str, entity: str, raw: Mapping[str, Any], *, location_key: str, extra_keys: frozenset[str] = frozenset()
) -> EntityMapping:
    """Build an ``EntityMapping`` from its config table, or raise a ``ConfigError`` that names the key."""

    where = f"sources.{source}.entities.{entity}"
    location = raw.get(location_key)
    if not isinstance(location, str) or not location:
        raise ConfigError(f"{where}.{location_key} is missing: say which {location_key} serves {entity}")
    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, Mapping) or not fields_raw:
        raise ConfigError(f"{where}.fields is missing: map at least the key field")
    fields: dict[str, FieldMapping] = {}
    for name, spec in fields_raw.items():
        fields[name] = _parse_field(f"{where}.fields.{name}", name, spec)
    key = raw.get("key")
    if key not in fields:
        raise ConfigError(f"{where}.key must name one of its mapped fields, got {key!r}")
    unknown = set(raw) - {location_key, "key", "fields"} - extra_keys
    if unknown:
        raise ConfigError(_unknown_keys(where, unknown, {location_key, "key", "fields", *extra_keys}))
    return EntityMapping(entity=entity, location=location, key=key, fields=fields)


def _parse_field(where: str, name: str, spec: Any) -> FieldMapping:
    if isinstance(spec, str):
        return FieldMapping(name=name, column=spec)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("column"), str):
        raise ConfigError(f"{where} must be a column name or {{ column = ..., values = ..., transform = ..., type = ... }}")
    unknown = set(spec) - {"column", "values", "transform", "type"}
    if unknown:
        raise ConfigError(_unknown_keys(where, unknown, {"column", "values", "transform", "type"}))
    transform = None
    if "transform" in spec:
        transform = TRANSFORMS.get(spec["transform"])
        if transform is None:
            raise ConfigError(f"{where}.transform {spec['transform']!r} is unknown; choose one of {sorted(TRANSFORMS)}")
    value_type = None
    if "type" in spec:
        value_type = TYPES.get(spec["type"])
        if value_type is None:
            raise ConfigError(f"{where}.type {spec['type']!r} is unknown; choose one of {sorted(TYPES)}")
    values = spec.get("values")
    reverse = None
    if values is not None:
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}.values must map source codes to vocabulary values")
        reverse = {v: k for k, v in values.items()}
    return FieldMapping(
        name=name, column=spec["column"], values=values, transform=transform, reverse_values=reverse, type=value_type
    )


def _unknown_keys(where: str, unknown: set[str], known: set[str]) -> str:
    """``where has unknown keys [...]``, with the closest known key for each (the gateway's config
    tree says the same before a connector is built; this is for a connector built on its own)."""

    hints = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hints.append(f'{name} (did you mean "{close[0]}"?)' if close else name)
    return f"{where} has unknown keys: {', '.join(hints)}; known: {', '.join(sorted(known))}"
