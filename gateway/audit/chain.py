"""Checking the hash chain, entry by entry, independent of where the entries are stored."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from .record import GENESIS, chain_hash

#: ``edited``: an entry's content no longer matches its hash. ``deleted``: entries are
#: missing (a gap, or a tail cut off behind the head). ``reordered``: an entry sits at a
#: seq other than the one it was written at. ``bad_link``: an entry and its hash were
#: rewritten together, so the next link (or the head) no longer points at it.
#: ``index``: the person index disagrees with the entry. ``head``: entries exist past the head.
ProblemKind = Literal["edited", "deleted", "reordered", "bad_link", "index", "head"]


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place the log is not as it was written."""

    seq: int
    kind: ProblemKind
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` when every entry from 1 to the head links up and matches its hash."""

    entries: int
    head_seq: int
    head_hash: str
    problem: ChainProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class ChainChecker:
    """Feed entries in seq order; the first problem found is returned and checking can stop."""

    def __init__(self) -> None:
        self.last_seq = 0
        self.last_hash = GENESIS
        self.entries = 0

    def check(
        self, seq: int, canonical_json: str, prev_hash: str, hash_: str, indexed: Collection[str]
    ) -> ChainProblem | None:
        expected = self.last_seq + 1
        if seq != expected:
            missing = str(expected) if seq == expected + 1 else f"{expected}..{seq - 1}"
            return ChainProblem(expected, "deleted", f"entries {missing} are missing (the next stored entry is {seq})")
        try:
            written: object = json.loads(canonical_json)
            written_seq = written.get("seq") if isinstance(written, dict) else None
        except ValueError:
            return ChainProblem(seq, "edited", "its content is no longer valid JSON")
        if chain_hash(prev_hash, canonical_json) != hash_:
            if written_seq != seq:
                return ChainProblem(seq, "reordered", f"the entry stored at seq {seq} was written as seq {written_seq}")
            return ChainProblem(seq, "edited", "its content does not match its hash")
        if written_seq != seq:
            return ChainProblem(seq, "reordered", f"the entry stored at seq {seq} was written as seq {written_seq}")
        if prev_hash != self.last_hash:
            where = "the start of the chain" if seq == 1 else f"the hash of entry {seq - 1}"
            return ChainProblem(
                seq, "bad_link", f"its prev_hash is not {where}: an entry was rewritten together with its hash"
            )
        persons = written.get("persons") if isinstance(written, dict) else None
        if sorted(set(indexed)) != sorted(persons or []):
            return ChainProblem(
                seq,
                "index",
                f"the person index lists {len(set(indexed))} NIK(s) for it, the entry names {len(persons or [])}",
            )
        self.last_seq, self.last_hash = seq, hash_
        self.entries += 1
        return None

    def finish(self, head_seq: int, head_hash: str) -> ChainProblem | None:
        """Compare the last entry with the head, which catches a cut-off tail."""

        if head_seq > self.last_seq:
            return ChainProblem(
                self.last_seq + 1,
                "deleted",
                f"the head says the log ends at {head_seq}, the last entry is {self.last_seq}",
            )
        if head_seq < self.last_seq:
            return ChainProblem(head_seq + 1, "head", f"entries exist past the head (seq {head_seq})")
        if head_hash != self.last_hash:
            return ChainProblem(
                self.last_seq, "bad_link", "its hash is not the head's: the last entry was rewritten with its hash"
            )
        return None
