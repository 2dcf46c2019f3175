"""A ``SourceQuery`` as a parameterised SQL statement, compiled once per query *shape*.

Two lookups of a person by NIK differ only in the NIK; compiling the statement again for
each costs more than PostgreSQL spends answering it. So a query is split into its shape
(entity, which filters with which operators, ordering, grouping, paging) and its values.
The shape is compiled once per source into SQL text with positional parameters; each
fetch only binds values.

Every value travels as a bind parameter, never in the SQL text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from . import shuffle
from .base import Filter, Record, SourceQuery
from .mapping import NO_MATCH, EntityMapping

Processor = Callable[[Any], Any] | None
#: Rows of one plan's shape as vocabulary records.
RecordReader = Callable[[Sequence[Sequence[Any]]], list[Record]]


@dataclass(frozen=True)
class Bound:
    """A query split into its shape (the cache key) and its parameter values."""

    shape: Hashable
    params: dict[str, Any]
    #: Per filter of the query: how many parameters it takes (``None``: one).
    sizes: tuple[int | None, ...]


@dataclass(frozen=True)
class Plan:
    """One shape compiled for one dialect."""

    statement: sa.Select[Any]
    #: SQL text in the driver's own parameter style.
    sql: str
    #: Parameter names in the order the SQL text expects them, each with its bind processor.
    params: tuple[tuple[str, Processor], ...]
    #: One result processor per selected column (``None``: the driver's value is used as is).
    results: tuple[Processor, ...]
    #: Rows to vocabulary records (see ``record_reader``); set by the source that made the plan.
    read: RecordReader | None = None

    def positional(self, values: dict[str, Any]) -> list[Any]:
        """The parameter values in SQL order, converted for the driver."""

        out = []
        for name, process in self.params:
            value = values[name]
            out.append(process(value) if process is not None else value)
        return out


def bind(query: SourceQuery, mapping: EntityMapping, *, arrays: bool) -> Bound | None:
    """Split ``query`` into shape and values; ``None`` when no row can match.

    With ``arrays`` (PostgreSQL), an ``in`` filter is one array parameter (``= ANY($1)``),
    so every batch size above one shares one shape, and a single key is ``= $1``; elsewhere
    each key is its own parameter.
    """

    where = query.where
    if (
        arrays and len(where) == 1 and where[0].op == "in" and len(where[0].value) == 1 and query.group_by is None
        and not query.order_by and query.after is None and query.limit is None and query.shuffle is None
    ):
        # One key and nothing else (a lookup by NIK, most of what a source is asked): what the
        # loop below makes of it, without the loop, the lists and the generators.
        f = where[0]
        value = mapping.field(f.field).to_source(f.value[0])
        if value is NO_MATCH:
            return None
        return Bound(
            (query.entity, None, query.order_by, False, False, False, query.fields, (f.field, "in", 1)), {"w0": value}, (1,)
        )
    return _bind(query, mapping, arrays=arrays)


def _bind(query: SourceQuery, mapping: EntityMapping, *, arrays: bool) -> Bound | None:
    """``bind``, for any query."""

    shape: list[Hashable] = [
        query.entity, query.group_by, query.order_by, query.after is not None, query.limit is not None, query.shuffle is not None,
        query.fields,
    ]
    params: dict[str, Any] = {}
    sizes: list[int | None] = []
    for i, f in enumerate(query.where):
        field = mapping.field(f.field)
        name = f"w{i}"
        if f.op == "in":
            values = [v for v in (field.to_source(v) for v in f.value) if v is not NO_MATCH]
            if not values:
                return None
            if arrays and len(values) == 1:
                # One key (a single lookup, the common case) as a plain ``= $1``: encoding a
                # one-element array costs asyncpg more than PostgreSQL spends on the lookup.
                params[name] = values[0]
                shape.append((f.field, "in", 1))
                sizes.append(1)
                continue
            if arrays:
                params[name] = values
                shape.append((f.field, "in", None))
            else:
                # Pad to a power of two (repeating a key changes nothing in IN) so that batch
                # sizes share a few dozen plans instead of one each.
                size = 1 << (len(values) - 1).bit_length()
                values += [values[-1]] * (size - len(values))
                params.update((f"{name}_{j}", v) for j, v in enumerate(values))
                shape.append((f.field, "in", size))
                sizes.append(size)
                continue
        elif f.op == "prefix":
            prefixes = [str(field.to_source(p)) for p in f.value]
            if not prefixes:
                return None
            params.update((f"{name}_{j}", _escape_like(p) + "%") for j, p in enumerate(prefixes))
            shape.append((f.field, "prefix", len(prefixes)))
            sizes.append(len(prefixes))
            continue
        elif f.op == "contains":
            params[name] = "%" + _escape_like(str(f.value).lower()) + "%"
            shape.append((f.field, "contains", None))
        elif f.op in ("eq", "gte", "lte"):
            value = field.to_source(f.value)
            if value is NO_MATCH:
                return None
            params[name] = value
            shape.append((f.field, f.op, None))
        else:
            raise ValueError(f"unknown filter op {f.op!r}")
        sizes.append(None)
    if query.shuffle is not None:
        params["shuffle"] = query.shuffle
    if query.after is not None:
        after = mapping.field(mapping.key).to_source(query.after)
        # Shuffled, the list is walked on the digest: continue after the key's own digest.
        params["after"] = after if query.shuffle is None else shuffle.position(query.shuffle, after)
    if query.limit is not None:
        params["limit"] = query.limit
    return Bound(tuple(shape), params, tuple(sizes))


def selected(query: SourceQuery, mapping: EntityMapping) -> tuple[str, ...]:
    """The vocabulary fields a listing for ``query`` selects, in the mapping's order: every mapped
    field, or with ``query.fields`` those, the key and each ``in`` filter's field (what a loader
    or the coalescer splits a batch by). A field the mapping lacks is absent, as it always is."""

    if query.fields is None:
        return tuple(mapping.fields)
    wanted = {*query.fields, mapping.key, *(f.field for f in query.where if f.op == "in")}
    return tuple(name for name in mapping.fields if name in wanted)


def build(
    query: SourceQuery, bound: Bound, mapping: EntityMapping, table: sa.Table, base: sa.Select[Any], *, arrays: bool
) -> sa.Select[Any]:
    """The statement for ``query``'s shape, with the named bind parameters ``bound`` holds."""

    conditions = [
        _condition(i, f, size, mapping, table, arrays) for i, (f, size) in enumerate(zip(query.where, bound.sizes, strict=True))
    ]
    if query.group_by is not None:
        group_columns = [table.c[mapping.field(name).column].label(name) for name in query.group_by]
        statement = sa.select(*group_columns, sa.func.count().label("count")).select_from(table)
        if group_columns:
            statement = statement.group_by(*group_columns)
        return statement.where(*conditions)
    statement = base.where(*conditions)
    key_column = table.c[mapping.field(mapping.key).column]
    if query.shuffle is not None:
        # md5(salt || key): the same digest as connectors.shuffle.position (the key as text).
        key_text = key_column if isinstance(key_column.type, sa.String) else sa.cast(key_column, sa.String())
        digest = sa.func.md5(sa.bindparam("shuffle", type_=sa.String()) + key_text, type_=sa.String())
        if query.after is not None:
            statement = statement.where(digest > sa.bindparam("after", type_=sa.String()))
        return _limited(query, statement.order_by(digest, key_column))
    if query.after is not None:
        statement = statement.where(key_column > sa.bindparam("after", type_=key_column.type))
    order = [table.c[mapping.field(name).column] for name in query.order_by] or [key_column]
    return _limited(query, statement.order_by(*order))


def _limited(query: SourceQuery, statement: sa.Select[Any]) -> sa.Select[Any]:
    if query.limit is not None:
        statement = statement.limit(sa.bindparam("limit", type_=sa.Integer()))
    return statement


def _condition(
    i: int, f: Filter, size: int | None, mapping: EntityMapping, table: sa.Table, arrays: bool
) -> sa.ColumnElement[bool]:
    column = table.c[mapping.field(f.field).column]
    name = f"w{i}"
    if f.op == "in":
        if arrays and size == 1:
            return column == sa.bindparam(name, type_=column.type)
        if arrays:
            return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
        return column.in_([sa.bindparam(f"{name}_{j}", type_=column.type) for j in range(size or 1)])
    if f.op == "prefix":
        return sa.or_(*(column.like(sa.bindparam(f"{name}_{j}", type_=sa.String()), escape="\\") for j in range(size or 1)))
    if f.op == "contains":
        return sa.func.lower(column).like(sa.bindparam(name, type_=sa.String()), escape="\\")
    value = sa.bindparam(name, type_=column.type)
    if f.op == "eq":
        return column == value
    if f.op == "gte":
        return column >= value
    if f.op == "lte":
        return column <= value
    raise ValueError(f"unknown filter op {f.op!r}")


def compile_plan(statement: sa.Select[Any], dialect: Dialect) -> Plan:
    """Compile ``statement`` for ``dialect`` (a positional parameter style)."""

    compiled = statement.compile(dialect=dialect)
    names = compiled.positiontup or []
    params = tuple((name, dialect.type_descriptor(compiled.binds[name].type).bind_processor(dialect)) for name in names)
    results = tuple(dialect.type_descriptor(c.type).result_processor(dialect, None) for c in statement.selected_columns)
    return Plan(statement, compiled.string, params, results)


class PlanCache:
    """Compiled plans by shape, least recently used evicted (batch sizes make shapes on MariaDB)."""

    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self._plans: OrderedDict[Hashable, Plan] = OrderedDict()

    def get(self, shape: Hashable, make: Callable[[], Plan]) -> Plan:
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = make()
            if len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(shape)
        return plan


def to_records(query: SourceQuery, mapping: EntityMapping, rows: Sequence[Sequence[Any]], results: Sequence[Processor] = ()) -> list[Record]:
    """Rows (in the statement's column order) as vocabulary records."""

    return record_reader(query, mapping, results)(rows)



def record_reader(query: SourceQuery, mapping: EntityMapping, results: Sequence[Processor] = ()) -> RecordReader:
    """What turns the rows of ``query``'s shape into vocabulary records: worked out once per plan."""

    names = list(query.group_by) if query.group_by is not None else list(selected(query, mapping))
    converters: list[tuple[int, Callable[[Any], Any]]] = [(i, p) for i, p in enumerate(results) if p is not None]
    # Most fields are plain columns: convert only those with a code list or transform.
    converters += [
        (i, mapping.fields[name].converter())
        for i, name in enumerate(names)
        if mapping.fields[name].values is not None or mapping.fields[name].transform is not None
    ]
    if query.group_by is not None:
        count = len(names)
        names.append("count")
        converters.append((count, int))
    keys = tuple(names)
    if not converters:
        return lambda rows: [dict(zip(keys, row)) for row in rows]
    steps = tuple(converters)

    def read(rows: Sequence[Sequence[Any]]) -> list[Record]:
        records: list[Record] = []
        for row in rows:
            values = list(row)
            for i, convert in steps:
                values[i] = convert(values[i])
            records.append(dict(zip(keys, values)))
        return records

    return read


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
