"""``InMemoryConnector``: records held in Python lists, queried with the full ``SourceQuery`` semantics.

It serves the gateway's own catalogue (agencies and their sources, from config) and is the
test double of our world, like httpx's ``MockTransport``: the smallest complete example of
a connector, and the reference the other kinds are checked against.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from core import ConfigError

from . import shuffle
from .base import Filter, Record, SourceInfo, SourceQuery


class InMemoryConnector:
    """Serves ``{entity: [record, ...]}``; ``keys`` names each entity's key field."""

    kind = "memory"

    def __init__(self, info: SourceInfo, records: Mapping[str, Sequence[Record]], keys: Mapping[str, str]) -> None:
        self.info = info
        self.records = {entity: list(rows) for entity, rows in records.items()}
        self.keys = dict(keys)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        if query.entity not in self.records:
            raise ConfigError(f"source {self.info.name} does not serve {query.entity}")
        return evaluate(self.records[query.entity], query, key=self.keys[query.entity])


def evaluate(records: Sequence[Record], query: SourceQuery, *, key: str) -> list[Record]:
    """Answer ``query`` over records already in memory: the reference semantics of ``SourceQuery``.

    Sources that cannot filter, sort or count themselves (most REST APIs) use it on what
    they fetched.
    """

    rows = [r for r in records if all(_matches(r, f) for f in query.where)]
    if query.group_by is not None:
        counts = Counter(tuple(r.get(name) for name in query.group_by) for r in rows)
        return [{**dict(zip(query.group_by, group)), "count": n} for group, n in counts.items()]
    if query.shuffle is not None:
        salt = query.shuffle
        rows = [r for r in rows if r.get(key) is not None]
        rows.sort(key=lambda r: (shuffle.position(salt, r[key]), r[key]))
        if query.after is not None:
            start = (shuffle.position(salt, query.after), query.after)
            rows = [r for r in rows if (shuffle.position(salt, r[key]), r[key]) > start]
    else:
        order = query.order_by or (key,)
        rows.sort(key=lambda r: tuple(_sortable(r.get(name)) for name in order))
        if query.after is not None:
            rows = [r for r in rows if r.get(key) is not None and r[key] > query.after]
    if query.limit is not None:
        rows = rows[: query.limit]
    if query.fields is not None:
        # As strict as a source may be: only what was asked for, the key and the fields a batch is
        # split by, so that a resolver reading a field it did not ask for finds it missing in tests.
        kept = {*query.fields, key, *(f.field for f in query.where if f.op == "in")}
        rows = [{name: value for name, value in r.items() if name in kept} for r in rows]
    return rows


def _sortable(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else "")


def _matches(record: Record, f: Filter) -> bool:
    value = record.get(f.field)
    if isinstance(value, (list, tuple)):
        # A list-valued field (a puskesmas's covered desa) matches when any element does.
        return any(_matches({f.field: v}, f) for v in value)
    if f.op == "eq":
        return bool(value == f.value)
    if f.op == "in":
        return value in f.value
    if value is None:
        return False
    if f.op == "prefix":
        return any(str(value).startswith(str(p)) for p in f.value)
    if f.op == "contains":
        return str(f.value).lower() in str(value).lower()
    if f.op == "gte":
        return bool(value >= f.value)
    if f.op == "lte":
        return bool(value <= f.value)
    raise ValueError(f"unknown filter op {f.op!r}")
