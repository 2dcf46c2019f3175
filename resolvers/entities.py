"""Entity references for Apollo Federation: how another graph's router fetches our types by key.

A federated router sends ``_entities(representations: [{__typename, <key>}])``; each type's
``resolve_reference`` turns its key into the same loader call a root field makes, so N
representations of one type cost one source round-trip. A key that is not a well-formed
identifier, or that no source knows, resolves to ``null`` (federation's "unknown entity"),
never to an error.

A representation that is not one at all (not an object, no or an unknown ``__typename``, the
key missing, a field the key does not have) is the caller's mistake: ``CheckedRepresentations``
answers ``null`` at its index with one ``BAD_USER_INPUT`` error there (``argument:
"representations"``), the other representations are answered as usual, and the request
writes one log line, however many were malformed, and no traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from strawberry.federation.schema import FederationAny
from strawberry.utils.inspect import get_func_args

from .context import Info
from .errors import InvalidInput, MalformedRepresentation

T = TypeVar("T")

log = logging.getLogger("satudata.resolvers.entities")

#: Arguments of ``resolve_reference`` that are not key fields.
_NOT_KEYS = frozenset({"cls", "self", "root", "info"})


async def by_key(
    key: Any, validate: Callable[[str], str] | None, load: Callable[[str], Awaitable[T | None]]
) -> T | None:
    """``load(key)`` if ``key`` is a string that ``validate`` accepts (``None``: any string), else ``None``.

    A representation comes from another graph's router, as JSON: the key may be any JSON value.
    """

    if not isinstance(key, str):
        return None
    if validate is not None:
        try:
            key = validate(key)
        except InvalidInput:
            return None
    return await load(key)


class CheckedRepresentations:
    """Mixin for ``strawberry.federation.Schema``: malformed representations fail alone, typed.

    strawberry's own ``entities_resolver`` assumes well-formed input: a plain string or a
    missing or unknown ``__typename`` raises out of the loop (the whole ``_entities`` is null,
    and with it ``data``), an extra field is a ``TypeError`` from ``resolve_reference`` (an
    ``INTERNAL_SERVER_ERROR`` with a traceback per representation). Here each one is checked
    against the entity types' keys first; only well-formed ones are handed to strawberry.
    """

    def entities_resolver(self, info: Info, representations: list[FederationAny]) -> list[FederationAny]:
        keys = _entity_keys(self)
        problems = [_problem(r, keys) for r in representations]
        good = [dict(r) for r, problem in zip(representations, problems, strict=True) if problem is None]  # type: ignore[call-overload]
        resolved = iter(super().entities_resolver(info, good) if good else [])  # type: ignore[misc]
        results: list[Any] = []
        for index, problem in enumerate(problems):
            if problem is None:
                results.append(next(resolved))
            else:
                results.append(
                    MalformedRepresentation(
                        f"representations[{index}] {problem}", argument="representations", reason="MALFORMED", index=index
                    )
                )
        refused = [i for i, p in enumerate(problems) if p is not None]
        if refused:
            log.info(
                "_entities: %d of %d representations malformed (first, at %d: %s)",
                len(refused), len(representations), refused[0], problems[refused[0]],
            )
        return results  # type: ignore[return-value]


def _entity_keys(schema: Any) -> dict[str, frozenset[str]]:
    """Entity type name -> the fields its ``resolve_reference`` takes (its key)."""

    keys: dict[str, frozenset[str]] = {}
    for name, strawberry_type in schema.schema_converter.type_map.items():
        origin = getattr(getattr(strawberry_type, "definition", None), "origin", None)
        resolve = getattr(origin, "resolve_reference", None)
        if resolve is not None:
            keys[name] = frozenset(get_func_args(resolve)) - _NOT_KEYS
    return keys


def _problem(representation: Any, keys: Mapping[str, frozenset[str]]) -> str | None:
    """What is wrong with ``representation`` as a reference to one of ``keys``' types, or ``None``."""

    if not isinstance(representation, Mapping):
        return "is not an object with __typename and the type's key."
    type_name = representation.get("__typename")
    if not isinstance(type_name, str):
        return "has no __typename."
    expected = keys.get(type_name)
    if expected is None:
        known = ", ".join(sorted(keys))
        return f"names __typename {_quote(type_name)}, which is not an entity of this graph ({known})."
    given = frozenset(representation) - {"__typename"}
    if expected - given:
        return f"lacks the key of {type_name}: {', '.join(sorted(expected - given))}."
    if given - expected:
        return f"has fields that are not the key of {type_name}: {', '.join(_quote(f) for f in sorted(given - expected))}."
    return None


def _quote(text: str) -> str:
    """A caller's name, echoed short and on one line (it is only ever a type or field name)."""

    from connectors import redact_numbers

    return repr(redact_numbers(text, limit=40))
