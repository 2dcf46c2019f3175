"""What one request disclosed, and the canonical bytes that the hash chain covers.

An entry's hash is ``SHA-256(prev_hash || canonical_json)``: ``prev_hash`` as its 64
lowercase hex characters, then the entry's canonical JSON in UTF-8 (keys sorted, no
spaces, ``seq`` included so that an entry cannot be moved). The first entry's
``prev_hash`` is ``GENESIS``. Anyone can re-check the chain with ``sqlite3``/``psql`` and
``sha256sum``; nothing here is secret.

Format versions (the ``v`` key of every entry; an entry is verified and read as the
version it was written in, never rewritten):

1. ``client_id``, ``fields``, ``operation``, ``persons``, ``purpose``, ``query_sha256``,
   ``request_id``, ``role``, ``seq``, ``sources``, ``time``.
2. Version 1 plus ``masked`` (the ``fields`` that went out masked), ``refused`` (the
   ``Type.field`` names the request was refused on) and ``outcome`` (``answered``,
   ``refused`` or ``budget_exceeded``).
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
#: The version new entries are written in; verification reads old entries as they were written.
FORMAT_VERSION = 2
#: Every version this code reads (and can write, for tests and tools that re-create old entries).
FORMAT_VERSIONS = (1, 2)
#: What became of the request: it was answered (perhaps in part), refused on personal data,
#: or stopped by the role's budget of distinct persons.
OUTCOMES = ("answered", "refused", "budget_exceeded")


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
        ``Type.field`` names that were in the answer (sorted, unique), full or masked.
    ``masked``
        Those of ``fields`` that went out masked (sorted, unique); the others went out in full.
    ``refused``
        ``Type.field`` names the request asked for and was refused on personal data
        (sorted, unique): a refused attempt is on the record too.
    ``outcome``
        ``"answered"`` (the default), ``"refused"`` or ``"budget_exceeded"``.
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
    masked: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    outcome: str = "answered"

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("AuditRecord.time must be timezone-aware")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"AuditRecord.outcome must be one of {list(OUTCOMES)}, not {self.outcome!r}")
        # Normalised here so that equal disclosures always give equal bytes.
        object.__setattr__(self, "time", self.time.astimezone(timezone.utc))
        for name in ("persons", "fields", "masked", "refused"):
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name)))))
        object.__setattr__(self, "sources", dict(sorted(self.sources.items())))
        if not set(self.masked) <= set(self.fields):
            # ``fields`` is the whole disclosure; a masked field is disclosed too.
            extra = sorted(set(self.masked) - set(self.fields))
            raise ValueError(f"AuditRecord.masked names fields that are not in fields: {extra}")

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
        masked: Iterable[str] = (),
        refused: Iterable[str] = (),
        outcome: str = "answered",
    ) -> AuditRecord:
        """The record of one request, from what the request path has at hand.

        ``fields`` is everything disclosed, ``masked`` the part of it that went out masked;
        ``refused`` and ``outcome`` record an attempt the policy or the budget stopped.
        """

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
            masked=tuple(masked),
            refused=tuple(refused),
            outcome=outcome,
        )

    def naming(self, persons: Iterable[str]) -> AuditRecord:
        """This record with its persons named ``persons`` (the audit log's pseudonyms of them),
        sorted and unique as ever; the rest, checked and normalised when it was made, is kept."""

        named = object.__new__(type(self))
        named.__dict__.update(self.__dict__)
        object.__setattr__(named, "persons", tuple(sorted(set(persons))))
        return named

    def canonical_json(self, seq: int, *, version: int = FORMAT_VERSION) -> str:
        """The exact text stored for entry ``seq`` and covered by its hash.

        ``version`` 1 re-creates what a version-1 gateway wrote; it refuses a record that
        version 1 cannot express (masked or refused fields, an outcome other than answered).
        """

        if version not in FORMAT_VERSIONS:
            raise ValueError(f"unknown audit format version {version}; this code knows {list(FORMAT_VERSIONS)}")
        body: dict[str, Any] = {
            "v": version,
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
        }
        if version >= 2:
            body.update(masked=list(self.masked), refused=list(self.refused), outcome=self.outcome)
        elif self.masked or self.refused or self.outcome != "answered":
            raise ValueError("format version 1 cannot record masked or refused fields or an outcome")
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> AuditRecord:
        """The record an entry holds, in whichever version it was written.

        A version-1 entry said nothing about masks or refusals: it reads as answered, with
        nothing masked or refused.
        """

        raw: dict[str, Any] = json.loads(text)
        version = raw.get("v")
        if version not in FORMAT_VERSIONS:
            raise ValueError(f"unknown audit format version {version!r}; this code knows {list(FORMAT_VERSIONS)}")
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
            masked=tuple(raw.get("masked", ())),
            refused=tuple(raw.get("refused", ())),
            outcome=raw.get("outcome", "answered"),
        )


def format_version(canonical_json: str) -> int | None:
    """The ``v`` an entry was written in (``None`` if it names none this code knows)."""

    try:
        raw = json.loads(canonical_json)
    except ValueError:
        return None
    version = raw.get("v") if isinstance(raw, dict) else None
    return version if version in FORMAT_VERSIONS else None


def chain_hash(prev_hash: str, canonical_json: str) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A record as stored: its place in the chain and its hash."""

    seq: int
    hash: str
    record: AuditRecord
