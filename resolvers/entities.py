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

T = TypeVar("T")


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
