"""Checkpoints: the chain's head, keyed with an HMAC and kept outside the log.

The hash chain shows an edit or a gap, but not a tail that was cut off together with the
head row moved back: what remains is a shorter, intact chain. So, as X-Road anchors its
message log in time-stamps kept elsewhere, the gateway writes the head it has reached —
``(seq, hash, time)`` and ``HMAC-SHA256(checkpoint_key, …)`` over them — to a second store
(``gateway.access.audit.checkpoint_stores``) every ``checkpoint_every`` entries, every
``checkpoint_interval_s`` seconds while entries come in, and at shutdown. ``verify`` then
holds the log against the latest checkpoint: a log that ends before the checkpoint's seq,
or whose entry at that seq has another hash, is not the log that was written.

Whoever can change the log but neither reach the second store nor knows the key cannot
hide a cut, except for the entries written since the last checkpoint (at most
``checkpoint_every - 1`` of them, or ``checkpoint_interval_s`` worth).

The MAC covers ``"satudata-audit-checkpoint-v1\\n"`` followed by the canonical JSON of
``{"hash", "seq", "time"}`` (keys sorted, no spaces), so it can be re-checked with any
HMAC tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from .errors import AuditUnavailable

log = logging.getLogger("satudata.audit")

_DOMAIN = b"satudata-audit-checkpoint-v1\n"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: After a failed write, the writer waits this long (or the interval, if shorter) to retry.
RETRY_S = 5.0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The head of the chain as it was at ``time``, and the MAC that vouches for it."""

    seq: int
    hash: str
    time: datetime
    mac: str

    @classmethod
    def sign(cls, key: bytes, seq: int, hash_: str, time: datetime | None = None) -> Checkpoint:
        when = (time or datetime.now(timezone.utc)).astimezone(timezone.utc)
        return cls(seq, hash_, when, _mac(key, seq, hash_, when))

    def verifies(self, key: bytes) -> bool:
        """Whether the MAC was made with ``key`` over exactly these seq, hash and time."""

        return hmac.compare_digest(self.mac, _mac(key, self.seq, self.hash, self.time))

    def to_json(self) -> str:
        return json.dumps(
            {"seq": self.seq, "hash": self.hash, "time": self.time.strftime(_TIME_FORMAT), "mac": self.mac},
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """``ValueError`` if ``text`` is not a checkpoint as ``to_json`` writes it."""

        try:
            raw = json.loads(text)
            seq, hash_, when, mac = raw["seq"], raw["hash"], raw["time"], raw["mac"]
            if not (isinstance(seq, int) and isinstance(hash_, str) and isinstance(mac, str)):
                raise TypeError("seq must be a number, hash and mac strings")
            return cls(seq, hash_, datetime.strptime(when, _TIME_FORMAT).replace(tzinfo=timezone.utc), mac)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a checkpoint ({type(exc).__name__}: {exc})") from exc

    @property
    def when(self) -> str:
        """The time, for messages."""

        return self.time.strftime("%Y-%m-%dT%H:%M:%SZ")


def _mac(key: bytes, seq: int, hash_: str, when: datetime) -> str:
    body = json.dumps({"hash": hash_, "seq": seq, "time": when.strftime(_TIME_FORMAT)}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, _DOMAIN + body.encode("utf-8"), hashlib.sha256).hexdigest()


class CheckpointStore(Protocol):
    """Where checkpoints are kept: somewhere the audit database's users cannot write.

    ``save`` keeps ``checkpoint`` unless the store already holds one at the same or a later
    seq (several gateway processes share one log and race to checkpoint it) and says whether
    it did; ``latest`` gives the one kept, or ``None``. Both raise ``AuditUnavailable`` when
    the store cannot be reached, and ``latest`` raises ``ValueError`` when what it holds is
    no checkpoint.
    """

    where: str

    async def save(self, checkpoint: Checkpoint) -> bool: ...

    async def latest(self) -> Checkpoint | None: ...

    async def aclose(self) -> None: ...


class Checkpointer:
    """Decides when the head is checkpointed, and writes it, off the request path.

    ``appended(seq, hash)`` is told of every entry this process writes; a background task
    (``start``) writes the newest one when ``every`` entries have passed since the last
    checkpoint or ``interval_s`` seconds have, and ``aclose`` writes it a last time. The
    request never waits for the second store, and a store that is down is logged, not
    fatal: the entry itself is in the log, only its anchor is late.
    """

    def __init__(
        self,
        store: CheckpointStore,
        key: str,
        *,
        every: int = 100,
        interval_s: float = 60.0,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        if every < 1 or interval_s <= 0:
            raise ValueError("a checkpoint is written every >= 1 entries and > 0 seconds")
        self.store = store
        self.every = every
        self.interval_s = interval_s
        self._key = key.encode("utf-8")
        self._clock = clock
        self._noted: tuple[int, str] | None = None
        self._written_seq = 0
        self._written_at = clock()
        self._due = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def where(self) -> str:
        return self.store.where

    def verifies(self, checkpoint: Checkpoint) -> bool:
        return checkpoint.verifies(self._key)

    def appended(self, seq: int, hash_: str) -> None:
        """Note an entry this process wrote; wake the writer once ``every`` have gathered."""

        if self._noted is None or seq > self._noted[0]:
            self._noted = (seq, hash_)
        if seq - self._written_seq >= self.every:
            self._due.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="satudata-audit-checkpoints")

    async def flush(self) -> Checkpoint | None:
        """Write the newest noted head now, if it is past the last checkpoint written."""

        if self._noted is None or self._noted[0] <= self._written_seq:
            return None
        seq, hash_ = self._noted
        checkpoint = Checkpoint.sign(self._key, seq, hash_)
        try:
            await self.store.save(checkpoint)
        except AuditUnavailable as exc:
            log.error("audit checkpoint of entry %d not written to %s: %s", seq, self.where, exc.message)
            return None
        self._written_seq, self._written_at = seq, self._clock()
        return checkpoint

    async def latest(self) -> Checkpoint | None:
        return await self.store.latest()

    async def aclose(self) -> None:
        """Stop the background writer, write the last head, close the store."""

        self._closing.set()
        self._due.set()
        if self._task is not None:
            # Asked to stop rather than cancelled: a cancellation arriving while the store's
            # client handles a failed connection can be swallowed by it, and the task would
            # then run on. The writer stops at its next turn (a store call is bounded by its timeout).
            await self._task
            self._task = None
        try:
            await self.flush()
        finally:
            await self.store.aclose()

    async def _run(self) -> None:
        while not self._closing.is_set():
            wait = max(0.0, self._written_at + self.interval_s - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._due.wait()
            self._due.clear()
            if self._closing.is_set():
                return  # aclose writes the last checkpoint itself
            if self._noted is None or self._noted[0] <= self._written_seq:
                self._written_at = self._clock()  # nothing new: the next interval starts now
            elif await self.flush() is None:
                # The store is down: try again a little later rather than on every append.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(self.interval_s, RETRY_S)):
                        await self._closing.wait()
