"""Where registered (APQ) documents live: this process's memory, and optionally Redis.

A document is stored under its own SHA-256, so an entry can never be stale or wrong, only
missing: every replica may keep what it has seen in memory (``MemoryDocumentStore``, a bounded
LRU), and ``TieredDocumentStore`` asks Redis only for what it has not seen.

**When Redis is unreachable the store falls back to memory**, logs a warning, and tries Redis
again after ``retry_s``, as the rate limiter does. A miss costs the client one round trip (it
sends the whole document again), so an outage of Redis must not become an outage of the
gateway. Redis keys expire ``ttl_s`` after they were last registered or read; a Redis shared
with other data should evict by TTL (``maxmemory-policy volatile-lru``).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio
import redis.exceptions

from .manifest import sha256_hex

log = logging.getLogger("satudata.gateway.documents")

Clock = Callable[[], float]


class DocumentStore(Protocol):
    """Documents by their SHA-256 (hex). ``put`` is only called with ``sha256_hex(document) == document_id``."""

    async def get(self, document_id: str) -> str | None: ...

    async def put(self, document_id: str, document: str) -> None: ...

    async def aclose(self) -> None: ...


class StoreUnavailable(Exception):
    """A shared store could not answer (the tiered store carries on with memory)."""


class MemoryDocumentStore:
    """At most ``max_entries`` documents and ``max_bytes`` of their text, least recently used out first."""

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._documents: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._documents)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    async def get(self, document_id: str) -> str | None:
        document = self._documents.get(document_id)
        if document is not None:
            self._documents.move_to_end(document_id)
        return document

    async def put(self, document_id: str, document: str) -> None:
        if document_id in self._documents:
            self._documents.move_to_end(document_id)
            return
        size = len(document.encode("utf-8"))
        if size > self.max_bytes:
            return
        self._documents[document_id] = document
        self._bytes += size
        while len(self._documents) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._documents.popitem(last=False)
            self._bytes -= len(evicted.encode("utf-8"))

    async def aclose(self) -> None:
        self._documents.clear()
        self._bytes = 0


class RedisDocumentStore:
    """One key per document (``prefix`` + SHA-256), expiring ``ttl_s`` after it was last written or read."""

    def __init__(self, client: redis.asyncio.Redis, *, prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float, **kwargs: Any) -> RedisDocumentStore:
        client = redis.asyncio.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, **kwargs)

    async def get(self, document_id: str) -> str | None:
        try:
            raw = await self.client.getex(self.prefix + document_id, ex=self.ttl_s)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc
        if raw is None:
            return None
        document = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        if sha256_hex(document) != document_id:
            # Whoever else can write to this Redis must not be able to swap a trusted hash's document.
            log.warning("Redis key %s%s does not hold the document of that hash: ignored", self.prefix, document_id)
            return None
        return document

    async def put(self, document_id: str, document: str) -> None:
        try:
            await self.client.set(self.prefix + document_id, document.encode("utf-8"), ex=self.ttl_s)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()


class TieredDocumentStore:
    """This process's memory in front of a shared store, falling back to memory when the shared one fails."""

    def __init__(
        self, memory: MemoryDocumentStore, shared: DocumentStore, *, retry_s: float = 5.0, clock: Clock = time.monotonic
    ) -> None:
        self.memory = memory
        self.shared = shared
        self.retry_s = retry_s
        self.clock = clock
        self._shared_down_until: float | None = None

    async def get(self, document_id: str) -> str | None:
        document = await self.memory.get(document_id)
        if document is not None or not self._shared_up():
            return document
        try:
            document = await self.shared.get(document_id)
        except StoreUnavailable as exc:
            self._failed(exc)
            return None
        self._recovered()
        if document is not None:
            await self.memory.put(document_id, document)
        return document

    async def put(self, document_id: str, document: str) -> None:
        await self.memory.put(document_id, document)
        if not self._shared_up():
            return
        try:
            await self.shared.put(document_id, document)
        except StoreUnavailable as exc:
            self._failed(exc)
            return
        self._recovered()

    async def aclose(self) -> None:
        await self.shared.aclose()
        await self.memory.aclose()

    def _shared_up(self) -> bool:
        return self._shared_down_until is None or self.clock() >= self._shared_down_until

    def _failed(self, exc: StoreUnavailable) -> None:
        if self._shared_down_until is None:
            log.warning(
                "persisted documents fall back to this process's memory: %s (retrying in %s s)", exc, self.retry_s
            )
        self._shared_down_until = self.clock() + self.retry_s

    def _recovered(self) -> None:
        if self._shared_down_until is not None:
            log.warning("persisted documents are shared again")
            self._shared_down_until = None
