"""Look ahead in the query to start a source call one level early.

Batching makes round-trips depend on depth; looking ahead shortens that depth where the key
of a deeper lookup is already known. ``person(nik) { student { ... } }`` knows the NIK the
student lookup needs before the person record arrives, so both go out together; a family's
members need only the KK the person record already carries. The loader caches the answer,
and the deeper resolver picks it up instead of asking again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from .context import Info


def selects(info: Info, *path: str) -> bool:
    """Whether the current field's selection includes ``path`` (camelCase names, through fragments).

    Every item of a list shares its field's selection, so the answer is worked out once per
    request and position in the answer (the response path without list indices): a page of
    7,000 persons asks ``Person.family`` whether ``members`` is selected 7,000 times, and
    converting the selection each time would cost more than the lookup it saves.
    """

    position = _position(info.path)
    key = (position, info.path.typename, path)
    memo = info.context.lookahead
    if key not in memo:
        memo[key] = _selects(info.selected_fields, path)
    return memo[key]


def _position(path: Any) -> tuple[str, ...]:
    keys: list[str] = []
    while path is not None:
        if not isinstance(path.key, int):
            keys.append(path.key)
        path = path.prev
    return tuple(keys)


def _selects(selected: Iterable[Selection], path: tuple[str, ...]) -> bool:
    level: Iterable[Selection] = selected
    for name in ("", *path):
        found = _children(level, name) if name else [s for s in level if isinstance(s, SelectedField)]
        if not found:
            return False
        level = [child for field in found for child in field.selections]
    return True


def _children(selections: Iterable[Selection], name: str) -> list[SelectedField]:
    found: list[SelectedField] = []
    for s in selections:
        if isinstance(s, SelectedField) and s.name == name:
            found.append(s)
        elif isinstance(s, (InlineFragment, FragmentSpread)):
            found.extend(_children(s.selections, name))
    return found


def prefetch(future: asyncio.Future[Any]) -> None:
    """Start a load whose result a deeper resolver will await; never warn if nobody does."""

    future.add_done_callback(lambda f: f.cancelled() or f.exception())
