"""Row scope for sources that cannot filter by the caller's attribute themselves.

A ``Person`` scope (``regionCode`` within the officer's kecamatan) is pushed into the registry's
own query, so the registry's database never returns a resident outside it. The health office's
patients, Dapodik's pupils or Sepeda Keren's participants carry no region, only the NIK of the
person they are about; a ``subject`` scope (``Patient = { subject = "nik" }``) keeps such a row
only when that person is one of the caller's ``Person`` rows, asked of the registry with the
caller's own scope in one query per batch. Out of scope looks exactly like unknown: the row is
simply not there.

Counting queries (``group_by``) pass through: what they return is a number per group, not a
person, and the public counts the programme and schools publish already say as much.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connectors import Filter, Record, SourceQuery, SourceReader

from .policy import RowScope

PERSON = "Person"
#: All the scope check reads of a person: whether the registry has them within the caller's scope.
_NIK_ONLY = frozenset({"nik"})


class SubjectScopedReader:
    """A ``SourceReader`` that drops records whose data subject is outside the caller's ``Person`` scope."""

    def __init__(self, inner: SourceReader, scopes: Mapping[str, RowScope]) -> None:
        self.inner = inner
        #: Source entity -> its ``subject`` scope.
        self.scopes = dict(scopes)

    @classmethod
    def wrap(cls, inner: SourceReader, row_scope: Sequence[RowScope]) -> SourceReader:
        """``inner`` itself when no scope of the role is a ``subject`` one (nothing to pay)."""

        scopes = {scope.entity: scope for scope in row_scope if scope.subject}
        return cls(inner, scopes) if scopes else inner

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        records = await self.inner.fetch(query)
        scope = self.scopes.get(query.entity)
        if scope is None or query.group_by is not None or not records:
            return records
        subjects = {r.get(scope.subject) for r in records} - {None, ""}
        if not subjects:
            return []
        # The inner reader adds the caller's pushed Person scope to this query.
        persons = await self.inner.fetch(
            SourceQuery(PERSON, where=(Filter("nik", "in", tuple(sorted(subjects))),), fields=_NIK_ONLY)
        )
        visible = {p.get("nik") for p in persons}
        return [r for r in records if r.get(scope.subject) in visible]
