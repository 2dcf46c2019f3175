"""The change feed seam: ``Change`` notices in, one bounded queue per subscriber out.

``ChangeFeed`` is what change capture publishes to and what subscription fields read from.
``LocalChangeFeed`` is the embedded default: one process, no broker. A feed backed by a
broker (NATS JetStream, for several replicas) implements the same two methods.

Delivery to a subscriber is bounded: a subscriber that lets ``max_queue`` notices pile up
is dropped (its next read raises ``SubscriberTooSlow``) rather than holding the others
back or growing without limit; the transport closes its subscription with a clear reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Change:
    """A notice that one record of one entity changed at a source.

    ``entity``
        The vocabulary type (``"Person"``, ``"CaseReport"``, ``"AttendanceDay"`` ...).
    ``key``
        The record's vocabulary key (a NIK, a report id ...), so a subscriber can read it live.
    ``kind``
        What happened, in the entity's own terms (``BORN``, ``DIED``, ``MOVED_IN``, ``MOVED_OUT``,
        ``UPDATED`` for a resident; ``ADDED`` for a case report; ``RECORDED`` for attendance).
    ``region``
        The Kemendagri code of the desa the change concerns; a move gives two notices,
        ``MOVED_OUT`` in the old desa and ``MOVED_IN`` in the new one.
    ``at``
        When the source recorded the change (timezone-aware).
    ``source``
        The configured source that reported it.
    ``id``
        Unique per notice and stable across replicas and restarts (built from the source and
        its change position), so a notice delivered twice can be recognised and dropped.
    """

    entity: str
    key: str
    kind: str
    region: str
    at: datetime
    source: str
    id: str


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed; it was dropped so that the feed keeps moving."""


class ChangeSubscription(Protocol):
    """Notices of one entity from the moment of subscribing, in the order published."""

    def __aiter__(self) -> AsyncIterator[Change]: ...

    async def __anext__(self) -> Change: ...

    def close(self) -> None:
        """Stop receiving; idempotent."""
        ...


class ChangeFeed(Protocol):
    """Where change capture publishes and subscription fields listen."""

    async def publish(self, change: Change) -> None:
        """Hand ``change`` to every current subscriber of its entity (on every replica)."""
        ...

    def subscribe(self, entity: str) -> ChangeSubscription:
        """Start receiving notices of ``entity`` published from now on."""
        ...

    async def aclose(self) -> None:
        """Stop: every open subscription ends."""
        ...


class _LocalSubscription:
    def __init__(self, feed: LocalChangeFeed, entity: str, max_queue: int) -> None:
        self._feed = feed
        self._entity = entity
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue(maxsize=max_queue)
        self._overflowed = False
        self._closed = False

    def offer(self, change: Change | None) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            # Dropped, not blocked: one stalled client must not hold back everyone's notices.
            self._overflowed = True
            self.close()

    def __aiter__(self) -> _LocalSubscription:
        return self

    async def __anext__(self) -> Change:
        if self._overflowed:
            raise SubscriberTooSlow(f"more than {self._queue.maxsize} change notices were waiting")
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        change = await self._queue.get()
        if change is None:
            if self._overflowed:
                raise SubscriberTooSlow(f"more than {self._queue.maxsize} change notices were waiting")
            raise StopAsyncIteration
        return change

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._feed._forget(self._entity, self)
        # Wake a reader waiting on an empty queue; a full queue already has something to read.
        if not self._queue.full():
            self._queue.put_nowait(None)


class LocalChangeFeed:
    """One process's feed: notices go straight from publisher to the subscribers' queues."""

    def __init__(self, *, max_queue: int = 100) -> None:
        self.max_queue = max_queue
        self._subscribers: dict[str, set[_LocalSubscription]] = {}
        self._closed = False

    async def publish(self, change: Change) -> None:
        for subscription in tuple(self._subscribers.get(change.entity, ())):
            subscription.offer(change)

    def subscribe(self, entity: str) -> ChangeSubscription:
        subscription = _LocalSubscription(self, entity, self.max_queue)
        if self._closed:
            subscription.close()
        else:
            self._subscribers.setdefault(entity, set()).add(subscription)
        return subscription

    def subscriber_count(self, entity: str | None = None) -> int:
        """Open subscriptions, of one entity or of all (for metrics and tests)."""
        if entity is not None:
            return len(self._subscribers.get(entity, ()))
        return sum(len(subs) for subs in self._subscribers.values())

    async def aclose(self) -> None:
        self._closed = True
        for subscriptions in tuple(self._subscribers.values()):
            for subscription in tuple(subscriptions):
                subscription.close()

    def _forget(self, entity: str, subscription: _LocalSubscription) -> None:
        subscriptions = self._subscribers.get(entity)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscribers[entity]
