"""``SqlChangePoller``: a table's changes by watermark on its change column (SIAK's ``tgl_update``).

Each poll asks for the rows whose ``(change column, key)`` comes after the stored position,
in that order, a batch at a time: ties on one timestamp (a batch of rows written by one
transaction, MariaDB's whole seconds) are ordered by key, so none is skipped or repeated.
The first poll of a source that has no position yet starts at the table's newest row: change
capture reports changes from the moment it is switched on, not the table's history.

It reads only the key, change time, region and the few columns that tell the kind; the kind of
a resident's change:

- a line in the registry's own record of civil events (SIAK's *mutasi*, ``[changes.events]``)
  for the same key at the same time: with two different desa, ``MOVED_OUT`` in the old one and
  ``MOVED_IN`` in the new one (the row holds only the new desa, and the gateway keeps no copy of
  the old); otherwise the kind its code maps to (``LAHIR = "BORN"``, ``MATI = "DIED"``, ...);
- without such a line, the row's own columns: a status among ``died_values``: ``DIED``; among ``moved_away_values``: ``MOVED_OUT``;
- a birth date within ``born_within_days`` before the change: ``BORN``;
- otherwise ``default_kind`` (``UPDATED``).

``key`` may name several columns (``["npsn", "tanggal"]``, a school's day in a register of
school days): the notice's key is their values joined with ``:`` (a date as ``YYYY-MM-DD``), as
a REST source's several key fields are; ties on one change time are ordered by the columns'
text, compared column by column.

A table that is still empty when capture starts gets a position before any row, so its first
row is announced (the position of a table with rows is its newest row, as above).

Known limit: a row committed with a change time older than the position (a clock set back, a
transaction that stayed open across a poll) is not seen. SIAK writes ``tgl_update = now()``
at commit, so that takes a clock step; LISTEN/NOTIFY (``notify.py``) has the same limit.

It has its own small engine: capture never competes with queries for the fetch path's pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, String, and_, cast, column, false, func, null, or_, select, table
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .feed import Change
from .settings import CaptureSettings


@dataclass(frozen=True, slots=True)
class _Event:
    old: str
    new: str
    kind: str


#: The position of a table that was empty when capture started: before any row it will hold.
BEFORE_ANY_ROW = datetime(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class Watermark:
    """The last change handed on: its source time (naive, as the column holds it) and key.

    ``parts``: with a key of several columns, each column's value as text (``key`` joins them)."""

    at: datetime
    key: str
    parts: tuple[str, ...] = ()

    def dump(self) -> str:
        raw: dict[str, Any] = {"at": self.at.isoformat(), "key": self.key}
        if self.parts:
            raw["parts"] = list(self.parts)
        return json.dumps(raw)

    @classmethod
    def load(cls, text: str) -> Watermark:
        raw = json.loads(text)
        return cls(datetime.fromisoformat(raw["at"]), str(raw["key"]), tuple(str(p) for p in raw.get("parts", ())))


class SqlChangePoller:
    """``poll(position) -> (changes, position)`` over one table; ``aclose`` when done."""

    def __init__(self, settings: CaptureSettings, *, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        s = settings
        self._owns_engine = engine is None
        self._engine = engine if engine is not None else create_async_engine(s.url, **_small_pool(s.url))
        #: The key's columns: one (a NIK), or several whose values together name the record.
        self.keys = [k for k in s.key.split(",") if k]
        cols = [*(column(k, String) for k in self.keys), column(s.change or "", DateTime), column(s.region, String)]
        if s.born_column:
            cols.append(column(s.born_column, Date))
        if s.status_column:
            cols.append(column(s.status_column, String))
        self._table = table(s.table, *cols)
        self._events = None
        if s.events is not None:
            e = s.events
            cols = [column(e.key, String), column(e.at_column, DateTime)]
            cols += [column(c, String) for c in (e.from_column, e.to_column, e.kind_column) if c]
            self._events = table(e.table, *cols)

    async def poll(self, position: str | None) -> tuple[list[Change], str | None]:
        """Changes after ``position`` (at most ``batch`` rows' worth) and the position after them.

        ``position`` ``None``: none yet; the answer is no changes and the table's newest row (or,
        for an empty table, a position before any row)."""

        s = self.settings
        t = self._table.c
        keys, change = [t[k] for k in self.keys], t[s.change or ""]
        # Several key columns are compared as text (a date column against the stored text of a date).
        sortable = keys if len(keys) == 1 else [cast(k, String) for k in keys]
        async with self._engine.connect() as conn:
            if position is None:
                newest = (await conn.execute(select(func.max(change)))).scalar()
                if newest is None:
                    return [], Watermark(BEFORE_ANY_ROW, "").dump()
                last = (await conn.execute(select(*sortable).where(change == newest).order_by(*(k.desc() for k in sortable)).limit(1))).first()
                return [], self._mark(_naive(newest), last or ()).dump()
            mark = Watermark.load(position)
            wanted = [*keys, change, t[s.region]]
            if s.born_column:
                wanted.append(t[s.born_column])
            if s.status_column:
                wanted.append(t[s.status_column])
            rows = (
                await conn.execute(
                    select(*wanted)
                    .where(or_(change > mark.at, and_(change == mark.at, _after(sortable, mark.parts or (mark.key,)))))
                    .order_by(change, *sortable)
                    .limit(s.batch)
                )
            ).all()
            if not rows:
                return [], position
            n = len(keys)
            events = await self._events_of(conn, rows) if self._events is not None else {}
        changes: list[Change] = []
        for row in rows:
            changes.extend(self._changes_of((self._key(row[:n]), *row[n:]), events))
        last = rows[-1]
        return changes, self._mark(_naive(last[n]), last[:n]).dump()

    def _key(self, values: Any) -> str:
        """The notice's key: the one column's value, or the columns' values joined with ``:``."""

        return ":".join(_key_text(v) for v in values)

    def _mark(self, at: datetime, values: Any) -> Watermark:
        parts = tuple(_key_text(v) for v in values)
        return Watermark(at, ":".join(parts), parts if len(self.keys) > 1 else ())

    async def _events_of(self, conn: Any, rows: list[Any]) -> dict[tuple[str, datetime], _Event]:
        assert self._events is not None and self.settings.events is not None
        e = self.settings.events
        c = self._events.c
        keys = sorted({str(r[0]).strip() for r in rows})
        first = min(_naive(r[1]) for r in rows)
        wanted = [c[e.key], c[e.at_column]] + [c[x] if x else null() for x in (e.from_column, e.to_column, e.kind_column)]
        found = await conn.execute(select(*wanted).where(c[e.key].in_(keys), c[e.at_column] >= first))
        return {
            (str(k).strip(), _naive(at)): _Event(_text(old), _text(new), e.kinds.get(_text(code) or "", ""))
            for k, at, old, new, code in found
        }

    def _changes_of(self, row: Any, events: dict[tuple[str, datetime], _Event]) -> list[Change]:
        s = self.settings
        key = str(row[0]).strip()
        at = _naive(row[1])
        region = s.to_region(row[2])
        i = 3
        born: date | None = None
        status: str | None = None
        if s.born_column:
            born = row[i]
            i += 1
        if s.status_column:
            status = None if row[i] is None else str(row[i]).strip()
        event = events.get((key, at))
        if event is not None:
            if event.old and event.new and event.old != event.new:
                old, new = s.to_region(event.old), s.to_region(event.new)
                return [self._change(key, "MOVED_OUT", old, at), self._change(key, "MOVED_IN", new, at)]
            if event.kind and event.kind != "MOVED":
                return [self._change(key, event.kind, region, at)]
        if status is not None and status in s.died_values:
            kind = "DIED"
        elif status is not None and status in s.moved_away_values:
            kind = "MOVED_OUT"
        elif born is not None and 0 <= (at.date() - _as_date(born)).days <= s.born_within_days:
            kind = "BORN"
        else:
            kind = s.default_kind
        return [self._change(key, kind, region, at)]

    def _change(self, key: str, kind: str, region: str, at: datetime) -> Change:
        s = self.settings
        return Change(
            entity=s.entity,
            key=key,
            kind=kind,
            region=region,
            at=at.replace(tzinfo=s.timezone),
            source=s.source,
            # The position and the kind: the same change gets the same id on every replica and
            # after a restart, so brokers and subscribers can drop a repeat.
            id=f"{s.source}/{at.isoformat()}/{key}/{kind}",
        )

    async def aclose(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()


def _after(columns: list[Any], values: tuple[str, ...]) -> Any:
    """``(columns) > (values)`` in lexicographic order, written out (every dialect reads it)."""

    if len(values) != len(columns):  # a position stored under another key: start after its time
        return false()
    first, *rest = columns
    if not rest:
        return first > values[0]
    return or_(first > values[0], and_(first == values[0], _after(rest, values[1:])))


def _key_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _naive(value: Any) -> datetime:
    if isinstance(value, str):  # a driver that hands back text (SQLite without type processing)
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is not None else value
    raise TypeError(f"the change column holds {type(value).__name__}, not a timestamp")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _small_pool(url: str) -> dict[str, Any]:
    # One poll at a time per source: two connections are plenty, and SQLite takes no pool options.
    return {} if url.startswith("sqlite") else {"pool_size": 1, "max_overflow": 1, "pool_pre_ping": True}
