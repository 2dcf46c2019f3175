"""Entity references for Apollo Federation: how another graph's router fetches our types by key.

A federated router sends ``_entities(representations: [{__typename, <key>}])``; each type's
``resolve_reference`` turns its key into the same loader call a root field makes, so N
representations of one type cost one source round-trip. A key that is not a well-formed
identifier, or that no source knows, resolves to ``null`` (federation's "unknown entity"),
never to an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import InvalidInput
from .identifiers import validate_kk, validate_nik, validate_nisn, validate_npsn, validate_region_code

T = TypeVar("T")

#: The key validator of each entity key (``None``: any string is a key).
VALIDATORS: dict[str, Callable[[str], str] | None] = {
    "nik": validate_nik,
    "kk": validate_kk,
    "npsn": validate_npsn,
    "nisn": validate_nisn,
    "code": None,
}


async def by_key(key: Any, validate: Callable[[str], str] | None, load: Callable[[str], Awaitable[T | None]]) -> T | None:
    """``load(key)`` if ``key`` is a well-formed identifier, else ``None``."""

    if not isinstance(key, str):
        return None
    if validate is not None:
        try:
            key = validate(key)
        except InvalidInput:
            return None
    return await load(key)


async def region_by_code(code: Any, load: Callable[[str], Awaitable[T | None]]) -> T | None:
    return await by_key(code, validate_region_code, load)
