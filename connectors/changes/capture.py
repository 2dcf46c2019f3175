"""``ChangeCapture``: runs every source's change poller and publishes what it finds.

One task per source: hold the source's lease (one replica at a time polls it; in one process
the lease is always held), read the stored position, poll, publish each ``Change`` to the feed,
then store the new position — in that order, so a crash between the two publishes a change
again rather than losing it (the feed drops the repeat by its id). A full batch is followed by
the next at once; otherwise the task waits ``interval_s``, or less when woken (a LISTEN/NOTIFY
notice, a webhook).

A source that stops answering is not a silent stall: its state turns ``down`` after the first
failed poll (logged once, without any record's data, and reported to ``status_observers``,
which the gateway turns into a metric and its ``sourceStatus`` notices), and ``up`` again on
the next good poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .feed import Change, ChangeFeed

log = logging.getLogger("satudata.changes")


class ChangePoller(Protocol):
    """One source's change reader: the changes after ``position`` and the position after them."""

    async def poll(self, position: str | None) -> tuple[list[Change], str | None]: ...

    async def aclose(self) -> None: ...


class Positions(Protocol):
    """Durable positions, one per source (``PositionStore``, or the NATS bucket with replicas)."""

    async def get(self, source: str) -> str | None: ...

    async def put(self, source: str, position: str) -> None: ...

    async def aclose(self) -> None: ...


class Lease(Protocol):
    """Who polls a source: ``hold`` takes or renews it and says whether this replica has it."""

    async def hold(self, source: str) -> bool: ...

    async def release(self, source: str) -> None: ...


class AlwaysHeld:
    """The lease of a gateway that runs alone: it always polls."""

    async def hold(self, source: str) -> bool:
        return True

    async def release(self, source: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """A source's change capture, as its last poll saw it."""

    source: str
    #: ``up``, ``down`` (the last poll failed), or ``standby`` (another replica holds the lease).
    state: str
    error: str | None = None
    last_success_at: float | None = None


#: Called with each state change of a source's capture.
StatusObserver = Callable[[CaptureStatus], None]


class ChangeCapture:
    """Pollers by source name, publishing into ``feed``; ``start``, ``wake(source)``, ``aclose``."""

    def __init__(
        self,
        feed: ChangeFeed,
        pollers: Mapping[str, ChangePoller],
        positions: Positions,
        *,
        intervals: Mapping[str, float],
        batch_sizes: Mapping[str, int] | None = None,
        lease: Lease | None = None,
        renew_s: float = 1.0,
        on_published: Callable[[Change], None] | None = None,
    ) -> None:
        self.feed = feed
        self.pollers = dict(pollers)
        self.positions = positions
        self.intervals = dict(intervals)
        self.batch_sizes = dict(batch_sizes or {})
        self.lease = lease if lease is not None else AlwaysHeld()
        #: How often a replica renews its lease, or tries to take one over.
        self.renew_s = renew_s
        self.status_observers: list[StatusObserver] = []
        self.on_published = on_published
        self._status: dict[str, CaptureStatus] = {}
        self._wake: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self.pollers}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name in self.pollers:
            self._tasks.append(asyncio.create_task(self._run(name), name=f"change capture {name}"))

    def wake(self, source: str) -> None:
        """Poll ``source`` now rather than at its next interval (a notice said it changed)."""

        event = self._wake.get(source)
        if event is not None:
            event.set()

    def status(self) -> list[CaptureStatus]:
        return [self._status.get(name, CaptureStatus(name, "standby")) for name in self.pollers]

    async def poll_once(self, source: str) -> int:
        """One round for ``source`` whatever the interval: poll until a batch is short; returns
        the number of changes published. The loop's body, and a handle for tests."""

        poller = self.pollers[source]
        batch = self.batch_sizes.get(source, 0)
        published = 0
        position = await self.positions.get(source)
        while True:
            changes, after = await poller.poll(position)
            for change in changes:
                await self.feed.publish(change)
                if self.on_published is not None:
                    self.on_published(change)
            published += len(changes)
            if after is not None and after != position:
                await self.positions.put(source, after)
            rows_moved = after != position
            position = after
            if not changes or not rows_moved or (batch and len(changes) < batch):
                return published

    async def _run(self, source: str) -> None:
        interval = self.intervals.get(source, 2.0)
        # The lease is renewed at least this often, however long the poll interval (notify mode).
        tick = min(interval, self.renew_s)
        wake = self._wake[source]
        held = False
        last_poll = float("-inf")
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                # A library awaited below (the NATS client) may swallow the CancelledError that
                # aclose() sent; the request to stop still stands.
                raise asyncio.CancelledError
            woken = wake.is_set()
            wake.clear()
            try:
                was_held, held = held, await self.lease.hold(source)
                if not held:
                    self._set(CaptureStatus(source, "standby"))
                elif woken or not was_held or time.monotonic() - last_poll >= interval:
                    last_poll = time.monotonic()
                    await self.poll_once(source)
                    self._set(CaptureStatus(source, "up", last_success_at=time.time()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a source down, a broker unreachable: report, retry next round
                # The exception's class and the source name only: a driver's message may quote a row.
                self._set(CaptureStatus(source, "down", error=type(exc).__name__))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # arrives as the event is set, and aclose() would then wait for this loop for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await wake.wait()

    def _set(self, status: CaptureStatus) -> None:
        before = self._status.get(status.source)
        self._status[status.source] = status
        if before is not None and before.state == status.state:
            return
        if status.state == "down":
            log.warning("change capture of source %s failed (%s); retrying", status.source, status.error)
        elif before is not None and before.state == "down":
            log.info("change capture of source %s is back up", status.source)
        for observer in self.status_observers:
            observer(status)

    async def aclose(self) -> None:
        pending = set(self._tasks)
        while pending:  # cancelled again until it ends (see _run: a cancellation can be swallowed)
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)
        self._tasks.clear()
        for name in self.pollers:
            with contextlib.suppress(Exception):
                await self.lease.release(name)
        await asyncio.gather(*(p.aclose() for p in self.pollers.values()), return_exceptions=True)
        await self.positions.aclose()

