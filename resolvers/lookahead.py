"""Look ahead in the query to start a source call one level early.

Batching makes round-trips depend on depth; looking ahead shortens that depth where the key
of a deeper lookup is already known. ``person(nik) { student { ... } }`` knows the NIK the
student lookup needs before the person record arrives, so both go out together; a family's
members need only the KK the person record already carries. The loader caches the answer,
and the deeper resolver picks it up instead of asking again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from .context import Info


def selects(info: Info, *path: str) -> bool:
    """Whether the current field's selection includes ``path`` (camelCase names, through fragments).

    Every item of a list shares its field's selection, so the answer is worked out once per
    request and list of field nodes: a page of 7,000 persons asks ``Person.family`` whether
    ``members`` is selected 7,000 times, and converting the selection each time would cost more
    than the lookup it saves. The walk reads
    the document's own nodes (``field_nodes``, ``fragments``), not strawberry's
    ``selected_fields``, which converts the whole selection below the field, arguments included.
    ``@skip``/``@include`` are not evaluated: at worst a load starts that nobody reads.
    """

    raw = info._raw_info  # strawberry's Info has no public field_nodes/fragments
    nodes = raw.field_nodes
    # The answer depends on the field's nodes alone (the fragments are the document's): the
    # compiled executor gives every row of a field the same list, so it is found in one lookup
    # per row, without walking the row's path. The list is kept with the answer, so that its
    # id is not reused by another list while the request runs.
    key = (id(nodes), path)
    memo = info.context.lookahead
    found = memo.get(key)
    if found is None or found[0] is not nodes:  # type: ignore[index]
        found = memo[key] = (nodes, _selects(nodes, raw.fragments, path))  # type: ignore[assignment]
    return found[1]  # type: ignore[index,no-any-return]


def _selects(fields: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode], path: tuple[str, ...]) -> bool:
    level: list[FieldNode] = list(fields)
    for name in path:
        level = [found for field in level for found in _children(field.selection_set, name, fragments)]
        if not level:
            return False
    return True


def _children(
    selection_set: SelectionSetNode | None, name: str, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    found: list[FieldNode] = []
    for s in selection_set.selections if selection_set is not None else ():
        if isinstance(s, FieldNode):
            if s.name.value == name:
                found.append(s)
        elif isinstance(s, InlineFragmentNode):
            found.extend(_children(s.selection_set, name, fragments))
        elif isinstance(s, FragmentSpreadNode) and s.name.value in fragments:
            found.extend(_children(fragments[s.name.value].selection_set, name, fragments))
    return found


def prefetch(future: asyncio.Future[Any]) -> None:
    """Start a load whose result a deeper resolver will await; never warn if nobody does."""

    future.add_done_callback(lambda f: f.cancelled() or f.exception())
