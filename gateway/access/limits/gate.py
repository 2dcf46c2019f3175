"""``HeavyQueryGate``: at most a few expensive queries execute at once; the rest wait their turn.

The gateway runs every query on one event loop. A query whose answer holds tens of thousands
of values (fifty schools, their pupils, each pupil's family) keeps the CPU busy for seconds and
holds its whole answer in memory while it runs. Eight of them at once take eight times the
memory, and every small lookup waits behind all eight. So a query whose cost estimate (see
``analysis``) reaches ``heavy_cost`` first takes one of ``heavy_concurrency`` slots; while it
waits, nothing of it runs and no source is asked. Cheap queries never wait here.

A heavy query waits for a slot at most half the time left before its request deadline, so
that it starts with enough time to finish; one that gets none is refused with
``GATEWAY_BUSY`` (HTTP 503, ``Retry-After``), which is honest about why, rather than started
too late and then timed out at its sources.

```toml
[limits]
heavy_cost = 2000         # estimated values from which a query counts as heavy
heavy_concurrency = 2     # heavy queries executing at once; 0 turns the gate off
```
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable

from core import SatudataError


class GatewayBusy(SatudataError):
    """Every slot for heavy queries stayed taken until the request's deadline."""

    code = "GATEWAY_BUSY"
    status = 503

    def __init__(self, *, cost: int, retry_after_s: int) -> None:
        super().__init__(
            f"The gateway is busy with other large queries (this one's estimated cost is {cost}); "
            f"try again in {retry_after_s} s, or ask for less (smaller pages, fewer nested lists).",
            retryAfter=retry_after_s,
        )
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after_s)}


class HeavyQueryGate:
    """Slots for heavy queries, shared by every request of one gateway process."""

    def __init__(self, *, heavy_cost: int, concurrency: int) -> None:
        self.heavy_cost = heavy_cost
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        self.running = 0
        self.waiting = 0
        #: Called with (running, waiting) whenever either changes (``gateway.metrics``'s gauges);
        #: only heavy queries change them, so cheap ones never call it.
        self.observers: list[Callable[[int, int], None]] = []

    def is_heavy(self, cost: int) -> bool:
        """Whether a query of this estimated cost must take a slot."""

        return self._slots is not None and cost >= self.heavy_cost

    def admit(self, cost: int, *, deadline: float | None) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold a slot while the body runs if ``cost`` is heavy; ``deadline`` is a loop time.
        Nearly every query is light: it gets a context that does nothing, not a generator of its own."""

        if self._slots is None or not self.is_heavy(cost):
            return _LIGHT
        return self._held(cost, deadline)

    @contextlib.asynccontextmanager
    async def _held(self, cost: int, deadline: float | None) -> AsyncIterator[None]:
        assert self._slots is not None
        if self._slots.locked():
            loop = asyncio.get_running_loop()
            wait_s = None if deadline is None else max(0.0, deadline - loop.time()) / 2
            self.waiting += 1
            self._changed()
            try:
                await asyncio.wait_for(self._slots.acquire(), wait_s)
            except TimeoutError:
                raise GatewayBusy(cost=cost, retry_after_s=max(1, math.ceil(wait_s or 1))) from None
            finally:
                self.waiting -= 1
                self._changed()
        else:
            await self._slots.acquire()  # free: taken at once
        self.running += 1
        self._changed()
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()
            self._changed()

    def _changed(self) -> None:
        for observer in self.observers:
            observer(self.running, self.waiting)


class _Light(contextlib.AbstractAsyncContextManager[None]):
    """``HeavyQueryGate.admit`` of a light query: no slot, nothing to do."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


_LIGHT = _Light()
