"""Documents prepared once: parse, validation, token count and cost estimate cached per text.

A client sends the same few documents again and again with different variables; parsing,
validating and costing them each time was a fifth of a small query's time. ``PreparedDocuments``
keeps, per document text, the ``resolvers.execution.PreparedDocument`` (parsed, validated,
its compiled plans) and what the guard measured. The cache is bounded by entries and by the
total length of the texts it holds, and only documents up to ``max_document_bytes`` are kept,
so a client sending endless distinct documents costs misses, never memory.

Nothing in an entry depends on who asked: the role's budgets are compared with the cached
measure on each request (``QueryGuard.check_prepared``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from resolvers.execution import PreparedDocument, prepare

from .access.limits.analysis import QueryMeasure


@dataclass
class PreparedEntry:
    """One document text: prepared, its token count, and the cost estimates made of it so far."""

    prepared: PreparedDocument
    tokens: int
    #: ``asks_for_introspection`` of the document, worked out once.
    introspection: bool | None = None
    #: (operation name, values of the variables the estimate reads) -> the estimate.
    measures: dict[tuple[Any, ...], QueryMeasure] = field(default_factory=dict)
    #: Operation name -> the variables its estimate reads (the same for every request).
    reads: dict[str | None, tuple[str, ...]] = field(default_factory=dict)


class PreparedDocuments:
    """A bounded LRU of ``PreparedEntry`` by document text."""

    def __init__(
        self,
        schema: Any,
        *,
        max_entries: int = 512,
        max_total_bytes: int = 4 * 1024 * 1024,
        max_document_bytes: int = 64 * 1024,
    ) -> None:
        self.schema = schema
        self.max_entries = max_entries
        self.max_total_bytes = max_total_bytes
        self.max_document_bytes = max_document_bytes
        self._entries: OrderedDict[str, PreparedEntry] = OrderedDict()
        self._bytes = 0

    def get(self, text: str) -> PreparedEntry | None:
        """The entry of ``text`` if it was prepared before (and refreshes its place)."""

        entry = self._entries.get(text)
        if entry is None:
            return None
        self._entries.move_to_end(text)
        return entry

    def prepare(self, text: str, tokens: int) -> PreparedEntry:
        """Parse and validate ``text``; keep it if it is small enough.

        ``tokens`` is its token count, checked against the caller's limit already
        (``QueryGuard.check_source``), so parsing here is bounded.
        """

        entry = PreparedEntry(prepare(self.schema, text), tokens)
        size = len(text)
        if size <= self.max_document_bytes:
            self._entries[text] = entry
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_total_bytes:
                evicted, _ = self._entries.popitem(last=False)
                self._bytes -= len(evicted)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
