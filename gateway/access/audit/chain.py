"""Checking the hash chain, entry by entry, independent of where the entries are stored."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from .checkpoint import Checkpoint
from .record import GENESIS, AuditRecord, chain_hash

#: ``edited``: an entry's content no longer matches its hash. ``deleted``: entries are
#: missing (a gap, or a tail cut off behind the head or the checkpoint). ``reordered``: an
#: entry sits at a seq other than the one it was written at. ``bad_link``: an entry and its
#: hash were rewritten together, so the next link (or the head, or the checkpoint) no longer
#: points at it. ``index``: the person index disagrees with the entry. ``head``: entries
#: exist past the head. ``format``: an entry is not in the canonical form of the format
#: version it names. ``checkpoint``: the checkpoint is unreadable or its MAC is not the key's.
ProblemKind = Literal["edited", "deleted", "reordered", "bad_link", "index", "head", "format", "checkpoint"]


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place the log is not as it was written."""

    seq: int
    kind: ProblemKind
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` when every entry from 1 to the head links up and matches its hash, and the
    log reaches the latest checkpoint with the hash it recorded (``checkpoint``: the one
    compared, ``None`` when the log has no checkpoint store or it holds none yet)."""

    entries: int
    head_seq: int
    head_hash: str
    problem: ChainProblem | None = None
    checkpoint: Checkpoint | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class ChainChecker:
    """Feed entries in seq order; the first problem found is returned and checking can stop.

    With a ``checkpoint``, the hash of the entry at its seq is kept for ``finish``.
    """

    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self.last_seq = 0
        self.last_hash = GENESIS
        self.entries = 0
        self.checkpoint = checkpoint
        self.hash_at_checkpoint: str | None = None

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
        problem = _canonical_form(seq, written, canonical_json)
        if problem is not None:
            return problem
        self.last_seq, self.last_hash = seq, hash_
        if self.checkpoint is not None and seq == self.checkpoint.seq:
            self.hash_at_checkpoint = hash_
        self.entries += 1
        return None

    def finish(self, head_seq: int, head_hash: str, head_prev_hash: str | None = None) -> ChainProblem | None:
        """Compare the log with the checkpoint and the head, which catches a cut-off tail.

        The checkpoint comes first: whoever cuts the tail can move the head back with it,
        but cannot reach (or forge) the checkpoint.
        """

        cp = self.checkpoint
        if cp is not None and cp.seq > self.last_seq:
            end = max(cp.seq, head_seq)
            cut = f"entry {end} was" if end == self.last_seq + 1 else f"entries {self.last_seq + 1}..{end} were"
            return ChainProblem(
                self.last_seq + 1,
                "deleted",
                f"the checkpoint of {cp.when} says the log reached entry {cp.seq}, the last entry is "
                f"{self.last_seq} (head seq {head_seq}): {cut} cut off",
            )
        if cp is not None and self.hash_at_checkpoint != cp.hash:
            return ChainProblem(
                cp.seq,
                "bad_link",
                f"its hash is not the one the checkpoint of {cp.when} recorded: "
                f"the chain up to it was rewritten and re-linked",
            )
        if head_seq > self.last_seq:
            return ChainProblem(
                self.last_seq + 1,
                "deleted",
                f"the head says the log ends at {head_seq}, the last entry is {self.last_seq}",
            )
        if head_seq < self.last_seq:
            return ChainProblem(head_seq + 1, "head", f"entries exist past the head (seq {head_seq})")
        if head_hash != self.last_hash and head_prev_hash == self.last_hash:
            # The head still links to the last entry as its predecessor: its seq was moved back
            # over the entry it names, which is gone.
            return ChainProblem(
                self.last_seq + 1,
                "deleted",
                f"the head's seq says {head_seq}, but its hash is of the entry after {self.last_seq}: "
                f"entry {self.last_seq + 1} was cut off and the head's seq moved back",
            )
        if head_hash != self.last_hash:
            # Without a checkpoint past this entry the log cannot tell these two apart.
            return ChainProblem(
                self.last_seq,
                "bad_link",
                f"its hash is not the head's: the last entry was rewritten with its hash, or entries after "
                f"{self.last_seq} were cut off and the head moved back (no checkpoint past {self.last_seq} tells which)",
            )
        return None


def _canonical_form(seq: int, written: object, text: str) -> ChainProblem | None:
    """An entry must be exactly what the gateway writes for its format version: the hash
    proves the bytes were not changed since, this proves a gateway wrote them."""

    version = written.get("v") if isinstance(written, dict) else None
    try:
        rewritten = AuditRecord.from_json(text).canonical_json(seq, version=version)  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return ChainProblem(seq, "format", f"it is no audit record of a known format version ({type(exc).__name__}: {exc})")
    if rewritten != text:
        return ChainProblem(seq, "format", f"it is not in the canonical form of format version {version}")
    return None
