"""Which change feed a gateway listens to, and the notices the gateway publishes itself.

``change_feed(settings)`` is the one place that chooses: the embedded ``LocalChangeFeed`` (one
process) unless the configuration names a shared one. ``create_app(..., changes=)`` takes a
ready feed instead (tests, and a deployment that builds its own).
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timezone

from connectors import Change, ChangeFeed, LocalChangeFeed, SourceHealth

from .settings import SubscriptionSettings

#: ``Change.entity`` of a source's state change (``resolvers.subscription`` reads it for ``sourceStatus``).
SOURCE_STATUS = "SourceStatus"


def change_feed(subscriptions: SubscriptionSettings) -> ChangeFeed:
    """The feed this gateway's subscriptions read from (a broker-backed one goes here)."""

    return LocalChangeFeed(max_queue=subscriptions.max_queue)


class SourceStatusNotices:
    """Publishes a ``SourceStatus`` notice each time a source's state or breaker changes.

    Called from inside a source call (``ResilientConnector``'s health observers), so the
    publish runs as its own task; the tasks are kept until done.
    """

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self._numbers = itertools.count(1)
        self._pending: set[asyncio.Task[None]] = set()

    def __call__(self, health: SourceHealth) -> None:
        now = datetime.now(timezone.utc)
        change = Change(
            entity=SOURCE_STATUS,
            key=health.name,
            kind=health.state.upper(),
            region="",
            at=now,
            source=health.name,
            id=f"{health.name}:status:{now.timestamp():.6f}:{next(self._numbers)}",
        )
        try:
            task = asyncio.get_running_loop().create_task(self.feed.publish(change))
        except RuntimeError:  # no loop: nobody can be subscribed
            return
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
