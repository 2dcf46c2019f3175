"""``HeldConnections``: pooled driver connections kept checked out, handed from fetch to fetch.

SQLAlchemy's async pool costs two greenlet hops per statement (check out, return) and its
bookkeeping, more than asyncpg needs to send a prepared statement and read a few rows. So the
executor keeps the connections it has checked out and hands them on itself: a finished fetch
puts its connection on an idle stack (last in, first out: the warmest statement cache), or gives
it straight to a fetch waiting for one. SQLAlchemy still opens, counts and closes every
connection, so the pool's settings keep their meaning:

- ``pool_size``: at most this many connections wait idle here; a connection beyond it (an overflow
  one) goes back to SQLAlchemy, which closes it;
- ``pool_size + max_overflow``: at most this many are checked out at once; a fetch beyond it waits
  for one to be handed on, at most ``pool_timeout`` seconds;
- ``pool_recycle``: a connection held longer than this is replaced when it is next taken.

The executor decides what happens to a connection after a failure (``release(..., healthy=False)``
invalidates it: SQLAlchemy closes it and a waiting fetch may open a new one).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

#: ``fairy.info`` key: when the connection was first taken (``info`` lives as long as the DBAPI connection).
OPENED_AT = "satudata.opened_at"


class HeldConnections:
    """The connections one executor holds: ``take`` one, ``release`` it, ``close`` them all."""

    def __init__(self, engine: AsyncEngine) -> None:
        pool = engine.pool
        self.engine = engine
        # SQLAlchemy's own settings, read once (see the module docstring).
        self.idle_limit: int = pool.size() if hasattr(pool, "size") else 5
        self.capacity: int = self.idle_limit + max(0, int(getattr(pool, "_max_overflow", 0)))
        self.recycle_s: float = float(getattr(pool, "_recycle", -1))
        self.timeout_s: float = float(pool.timeout()) if hasattr(pool, "timeout") else 30.0
        self._idle: list[Any] = []
        self._held = 0  # checked out of SQLAlchemy's pool: idle here or in use
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._closed = False
        #: Returns of connections to SQLAlchemy still running (a reference, so none is collected half-way).
        self._returning: set[asyncio.Task[Any]] = set()

    @property
    def held(self) -> int:
        """Connections checked out of SQLAlchemy's pool now (idle here or in use)."""

        return self._held

    async def take(self) -> Any:
        """A connection: an idle one, a new one while under capacity, else the next one released.

        Raises what SQLAlchemy raises when it cannot open one, ``sqlalchemy.exc.TimeoutError``
        after ``pool_timeout`` seconds of waiting, and ``sqlalchemy.exc.InvalidRequestError``
        once closed (a connection opened then would never be given back).
        """

        if self._closed:
            raise sa_exc.InvalidRequestError("the source's connections are closed")
        while self._idle:
            fairy = self._idle.pop()
            if not self._stale(fairy):
                return fairy
            await self._drop(fairy)
        if self._held < self.capacity:
            return await self._open()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout_s):
                handed = await waiter
        except BaseException as exc:
            self._abandon(waiter)
            if isinstance(exc, TimeoutError):
                raise sa_exc.TimeoutError(
                    f"no connection free within {self.timeout_s:g} s ({self.capacity} held, all in use)"
                ) from None
            raise
        # ``None``: a connection was dropped and its place handed to us: open one in it.
        return handed if handed is not None else await self._open(reserved=True)

    def release(self, fairy: Any) -> None:
        """Hand a healthy connection to the next waiting fetch, or keep it idle, or return it."""

        if self._closed:  # a fetch that was running when the source closed: straight back to SQLAlchemy
            self._held -= 1
            self._return_in_background(fairy)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(fairy)
                return
        if len(self._idle) < self.idle_limit:
            self._idle.append(fairy)
            return
        self._held -= 1
        self._return_in_background(fairy)  # an overflow connection: SQLAlchemy closes it

    async def discard(self, fairy: Any) -> None:
        """Invalidate a connection whose state cannot be trusted; a waiting fetch may open another."""

        fairy.invalidate()
        await self._drop(fairy)

    async def close(self) -> None:
        """Return every idle connection to SQLAlchemy's pool (before the engine is disposed).

        A connection still in use goes back when its fetch releases it; none is taken after this.
        """

        self._closed = True
        idle, self._idle = self._idle, []
        for fairy in idle:
            self._held -= 1
            await greenlet_spawn(fairy.close)
        if self._returning:
            await asyncio.gather(*tuple(self._returning), return_exceptions=True)

    async def _open(self, *, reserved: bool = False) -> Any:
        if not reserved:
            self._held += 1
        try:
            fairy = await self.engine.raw_connection()
        except BaseException:
            self._free_slot()
            raise
        fairy.info.setdefault(OPENED_AT, time.monotonic())
        return fairy

    async def _drop(self, fairy: Any) -> None:
        try:
            await greenlet_spawn(fairy.close)
        finally:
            self._free_slot()

    def _stale(self, fairy: Any) -> bool:
        if self.recycle_s < 0:
            return False
        if time.monotonic() - fairy.info.get(OPENED_AT, 0.0) <= self.recycle_s:
            return False
        fairy.invalidate()  # SQLAlchemy would recycle it at its next checkout; so do we
        return True

    def _abandon(self, waiter: asyncio.Future[Any]) -> None:
        """A fetch stopped waiting (cancelled, timed out): what it was handed meanwhile goes on."""

        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if not waiter.done():
            waiter.cancel()
        elif not waiter.cancelled():
            if waiter.result() is not None:
                self.release(waiter.result())
            else:
                self._free_slot()

    def _free_slot(self) -> None:
        """A held connection is gone: its place goes to the first waiting fetch, else it is free."""

        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the place stays counted in ``_held``: the waiter opens in it
                return
        self._held -= 1

    def _return_in_background(self, fairy: Any) -> None:
        task = asyncio.ensure_future(greenlet_spawn(fairy.close))
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)
