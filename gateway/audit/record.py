"""What one request disclosed, and the canonical bytes that the hash chain covers.

An entry's hash is ``SHA-256(prev_hash || canonical_json)``: ``prev_hash`` as its 64
lowercase hex characters, then the entry's canonical JSON in UTF-8 (keys sorted, no
spaces, ``seq`` included so that an entry cannot be moved). The first entry's
``prev_hash`` is ``GENESIS``. Anyone can re-check the chain with ``sqlite3``/``psql`` and
``sha256sum``; nothing here is secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from connectors import SourceTrace

from ..auth import Principal

#: ``prev_hash`` of the first entry.
GENESIS = "0" * 64
#: Bumped if the canonical form ever changes; verification reads old entries as they were written.
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class SourceUse:
    """What one request cost at one source."""

    calls: int
    rows: int


@dataclass(frozen=True)
class AuditRecord:
    """One request's disclosure, as UU PDP Pasal 31 asks it to be recorded.

    ``time``
        When the request was answered (timezone-aware; stored in UTC).
    ``client_id`` / ``role``
        The ``Principal`` that asked.
    ``purpose``
        The purpose code the caller declared (``None`` if it declared none).
    ``operation``
        The GraphQL operation name, if any.
    ``query_sha256``
        SHA-256 hex of the query document as received.
    ``persons``
        NIKs of the people whose data was in the answer (sorted, unique).
    ``fields``
        ``Type.field`` names that were in the answer (sorted, unique).
    ``sources``
        Source name -> calls and rows.
    ``request_id``
        Ties the entry to the gateway's logs.
    """

    time: datetime
    client_id: str
    role: str
    purpose: str | None
    operation: str | None
    query_sha256: str
    persons: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    sources: Mapping[str, SourceUse] = field(default_factory=dict)
    request_id: str | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("AuditRecord.time must be timezone-aware")
        # Normalised here so that equal disclosures always give equal bytes.
        object.__setattr__(self, "time", self.time.astimezone(timezone.utc))
        object.__setattr__(self, "persons", tuple(sorted(set(self.persons))))
        object.__setattr__(self, "fields", tuple(sorted(set(self.fields))))
        object.__setattr__(self, "sources", dict(sorted(self.sources.items())))

    @classmethod
    def for_request(
        cls,
        *,
        principal: Principal,
        purpose: str | None,
        operation: str | None,
        document: str,
        persons: Iterable[str],
        fields: Iterable[str],
        trace: SourceTrace,
        request_id: str | None = None,
        time: datetime | None = None,
    ) -> AuditRecord:
        """The record of one answered request, from what the request path has at hand."""

        return cls(
            time=time or datetime.now(timezone.utc),
            client_id=principal.client_id,
            role=principal.role,
            purpose=purpose,
            operation=operation,
            query_sha256=hashlib.sha256(document.encode("utf-8")).hexdigest(),
            persons=tuple(persons),
            fields=tuple(fields),
            sources={name: SourceUse(calls=s.calls, rows=s.rows) for name, s in trace.sources.items()},
            request_id=request_id,
        )

    def canonical_json(self, seq: int) -> str:
        """The exact text stored for entry ``seq`` and covered by its hash."""

        return json.dumps(
            {
                "v": FORMAT_VERSION,
                "seq": seq,
                "time": self.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "client_id": self.client_id,
                "role": self.role,
                "purpose": self.purpose,
                "operation": self.operation,
                "query_sha256": self.query_sha256,
                "persons": list(self.persons),
                "fields": list(self.fields),
                "sources": {n: {"calls": u.calls, "rows": u.rows} for n, u in self.sources.items()},
                "request_id": self.request_id,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> AuditRecord:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            time=datetime.strptime(raw["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc),
            client_id=raw["client_id"],
            role=raw["role"],
            purpose=raw["purpose"],
            operation=raw["operation"],
            query_sha256=raw["query_sha256"],
            persons=tuple(raw["persons"]),
            fields=tuple(raw["fields"]),
            sources={n: SourceUse(calls=u["calls"], rows=u["rows"]) for n, u in raw["sources"].items()},
            request_id=raw["request_id"],
        )


def chain_hash(prev_hash: str, canonical_json: str) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A record as stored: its place in the chain and its hash."""

    seq: int
    hash: str
    record: AuditRecord
