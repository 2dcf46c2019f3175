"""Failure handling around any connector: timeouts, retries with jitter, a circuit breaker.

``ResilientConnector(inner, policy)`` wraps a connector (httpx-style: it wraps, it does not
subclass). For each fetch it

1. refuses at once with ``SOURCE_UNAVAILABLE`` while the source's breaker is open, except
   for one probe after ``breaker_reset_s`` (half-open);
2. runs the inner fetch under ``timeout_s`` and the request's deadline, whichever comes first;
   a connector whose fetch is many calls (``times_each_call``: REST, one call per key) gives
   each call ``timeout_s`` itself, so the fetch as a whole is bounded by the request's
   deadline only (a fan-out of hundreds of quick calls is not the source being slow);
3. retries reads that failed because the source was unreachable or dropped the connection
   (``SourceUnavailable``), up to ``retries`` times, sleeping ``backoff_s * 2**attempt`` with
   full jitter; timeouts are not retried (the time is gone) and neither are bad answers
   (asking again gets the same answer);
4. records the outcome in the breaker: ``breaker_failures`` failed fetches in a row open it;
   a successful probe closes it. Only the source's own failures count: unavailable, a bad
   answer, or its ``timeout_s`` running out. The caller's mistakes (``SourceRejectedInput``:
   an unusable key, an HTTP 400 for its argument) and the request's deadline running out
   before the source's timeout (``DeadlineExceeded``) do not: one client must not be able
   to switch a source off for everyone.

The request's deadline is enforced above this, by ``RegistrySession``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from contextvars import ContextVar
from typing import Any, TypeVar

from core import ConfigError

from .base import Connector, Record, SourceInfo, SourceQuery
from .errors import SourceError, SourceRejectedInput, SourceTimeout, SourceUnavailable

log = logging.getLogger(__name__)


class DeadlineExceeded(SourceTimeout):
    """The request's deadline ran out before the source answered (``SOURCE_TIMEOUT``).

    The request's time, not the source's: it never counts towards the source's breaker.
    """

    def __init__(self, source: str) -> None:
        super().__init__(f"Source '{source}' did not answer before the request's deadline.", source=source)


T = TypeVar("T")


@dataclass(frozen=True)
class ResiliencePolicy:
    """Per-source failure settings (``[sources.NAME]`` keys of the same names)."""

    #: Longest one call may take, in seconds.
    timeout_s: float = 5.0
    #: Extra attempts after a connection failure (reads are idempotent).
    retries: int = 2
    #: First retry waits up to this long (full jitter); each further retry doubles it.
    backoff_s: float = 0.05
    #: Failed fetches in a row that open the breaker.
    breaker_failures: int = 5
    #: How long an open breaker refuses calls before letting one probe through.
    breaker_reset_s: float = 10.0
    #: Longest the source's pool may take to close at shutdown before it is abandoned.
    close_timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, name: str, raw: Mapping[str, Any]) -> ResiliencePolicy:
        values: dict[str, Any] = {}
        for field_name, default in cls.__dataclass_fields__.items():
            if field_name in raw:
                value = raw[field_name]
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise ConfigError(f"sources.{name}.{field_name} must be a non-negative number, got {value!r}")
                values[field_name] = type(default.default)(value)  # type: ignore[misc]
        if values.get("breaker_failures", 1) < 1:
            raise ConfigError(f"sources.{name}.breaker_failures must be at least 1")
        return cls(**values)


#: The current request's deadline in ``loop.time()`` terms, set by ``RegistrySession``.
request_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


async def within(awaitable: Awaitable[T], seconds: float | None, *, prompt: bool = False) -> T:
    """Await ``awaitable`` for at most ``seconds`` (``None``: no limit), then give up on it.

    Unlike ``asyncio.timeout``, a call that overruns is cancelled *without waiting* for its
    clean-up: a driver cancelling a query on a hung server (asyncpg sends a cancel request and
    waits for the server) must not hold the answer past its deadline. That costs a task of its
    own per call; a caller whose clean-up is known to be prompt (``prompt``: a connector with
    ``cancels_promptly``) is timed in its own task instead, with one timer.
    """

    if seconds is None:
        return await awaitable
    if prompt:
        async with asyncio.timeout(max(seconds, 0.0)):
            return await awaitable
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout=max(seconds, 0.0))
    except TimeoutError:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise


class _Expiry:
    """The timer of one source call (``ResilientConnector.fetch``): cancels the task and
    remembers that it did, so that only its own cancellation becomes a ``TimeoutError``."""

    __slots__ = ("task", "fired")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.fired = False

    def __call__(self) -> None:
        self.fired = True
        self.task.cancel()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts failed fetches; when open, lets nothing through but a periodic probe."""

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False

    def allow(self) -> bool:
        """Whether a call may go to the source now (and, if half-open, claim the probe)."""

        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and self.clock() - self.opened_at >= self.reset_s:
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._probing = False

    def record_failure(self) -> None:
        self._probing = False
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self.opened_at = self.clock()

    def release_probe(self) -> None:
        """The probe ended without a verdict (cancelled): let the next caller probe."""

        self._probing = False

    def retry_in(self) -> float:
        return max(0.0, self.reset_s - (self.clock() - self.opened_at))


@dataclass(frozen=True)
class SourceHealth:
    """What ``/readyz`` shows of one source."""

    name: str
    state: str  # "up" | "degraded" | "down"
    breaker: str
    consecutive_failures: int
    last_error: str | None
    last_error_code: str | None
    last_error_at: float | None
    last_success_at: float | None


#: Called with a source's health whenever its state (up, degraded, down) or its breaker changes.
HealthObserver = Callable[[SourceHealth], None]


class ResilientConnector:
    """A connector wrapped in timeouts, retries and a circuit breaker (see module docstring).

    ``health_observers`` are told of every change of the source's state or breaker, as it
    happens in the calls themselves (the ``sourceStatus`` subscription listens): nobody polls.
    """

    def __init__(
        self,
        inner: Connector,
        policy: ResiliencePolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.info: SourceInfo = inner.info
        self.policy = policy
        self.breaker = CircuitBreaker(policy.breaker_failures, policy.breaker_reset_s, clock)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._last_error: SourceError | None = None
        self._last_error_at: float | None = None
        self._last_success_at: float | None = None
        self.health_observers: list[HealthObserver] = []
        #: (breaker state, any failures): what health() derives the state from, as last told.
        self._told: tuple[BreakerState, bool] = (BreakerState.CLOSED, False)
        # What the inner connector says of itself, read once (every fetch of every request asks):
        # its clean-up is prompt (``within``'s ``prompt``), and it times each of its calls itself.
        self._prompt = bool(getattr(inner, "cancels_promptly", False))
        self._times_each_call = bool(getattr(inner, "times_each_call", False))

    async def start(self) -> None:
        await self.inner.start()

    async def aclose(self) -> None:
        """Close the source's pool, giving up after ``close_timeout_s``.

        A source that stalls (a half-open TCP connection, a proxy that swallows packets) must not
        keep the gateway from shutting down: after the timeout its connections are abandoned.
        """

        try:
            await asyncio.wait_for(self.inner.aclose(), self.policy.close_timeout_s)
        except (asyncio.TimeoutError, OSError, SourceError) as exc:
            log.warning("source %s did not close cleanly (%s); its connections are abandoned", self.info.name, type(exc).__name__)

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        name = self.info.name
        if not self.breaker.allow():
            self._tell()
            raise SourceUnavailable(
                f"Source '{name}' is unavailable (circuit open after repeated failures; "
                f"next probe in {self.breaker.retry_in():.0f} s).",
                source=name,
            )
        attempt = 0
        while True:
            try:
                deadline = request_deadline.get()
                # Found once: every lookup of the running loop costs a getpid() system call.
                loop = asyncio.get_running_loop()
                remaining = None if deadline is None else deadline - loop.time()
                budget = self._budget(remaining)
                if self._prompt and budget is not None and (task := asyncio.current_task(loop)) is not None:
                    # ``within(..., prompt=True)`` inlined, without asyncio.timeout's general machinery
                    # (a context manager object, its states, a reschedulable handle): every source
                    # call of every request passes here. As asyncio.timeout: the timer cancels the
                    # task, and a cancellation that was the timer's alone (``uncancel`` back to the
                    # count on entry) becomes TimeoutError; any other (the client left, an outer
                    # timeout) stays what it was.
                    cancelling = task.cancelling()
                    expiry = _Expiry(task)
                    timer = loop.call_at(loop.time() + max(budget, 0.0), expiry)
                    try:
                        records = await self.inner.fetch(query)
                    except asyncio.CancelledError as exc:
                        if expiry.fired and task.uncancel() <= cancelling:
                            raise TimeoutError from exc
                        raise
                    finally:
                        timer.cancel()
                else:
                    records = await within(self.inner.fetch(query), budget, prompt=self._prompt)
            except TimeoutError as exc:
                if remaining is not None and (self._times_each_call or remaining <= self.policy.timeout_s):
                    # The request ran out of time, not the source: say so, and do not count it
                    # against the source's breaker.
                    self.breaker.release_probe()
                    raise DeadlineExceeded(name) from exc
                timeout = SourceTimeout(f"Source '{name}' did not answer within {self.policy.timeout_s:g} s.", source=name)
                self._failed(timeout)
                raise timeout from exc
            except (DeadlineExceeded, SourceRejectedInput):
                # The request's deadline or the caller's argument, not the source: no verdict on
                # the source either way.
                self.breaker.release_probe()
                raise
            except SourceUnavailable as exc:
                if attempt < self.policy.retries:
                    await self._sleep(self._rng.uniform(0, self.policy.backoff_s * 2**attempt))
                    attempt += 1
                    continue
                self._failed(exc)
                raise
            except SourceError as exc:
                self._failed(exc)
                raise
            except BaseException:
                # Cancelled (the request's deadline) or a bug: free the probe slot, count nothing.
                self.breaker.release_probe()
                raise
            self.breaker.record_success()
            self._last_success_at = time.time()
            if self._told[1] or self._told[0] is not BreakerState.CLOSED:
                self._tell()
            return records

    def _budget(self, remaining: float | None) -> float | None:
        """How long the inner fetch may run: the request's remaining time, and ``timeout_s``
        unless the connector times each of its calls itself."""

        if self._times_each_call:
            return remaining
        return self.policy.timeout_s if remaining is None else min(self.policy.timeout_s, remaining)

    def _failed(self, error: SourceError) -> None:
        self.breaker.record_failure()
        self._last_error = error
        self._last_error_at = time.time()
        self._tell()

    def _tell(self) -> None:
        """Tell the health observers if the state or breaker changed since they were last told.

        Cheap on the hot path: a success on a healthy source compares one tuple and returns.
        """

        now = (self.breaker.state, bool(self.breaker.failures))
        if now == self._told:
            return
        self._told = now
        if self.health_observers:
            health = self.health()
            for observe in self.health_observers:
                try:
                    observe(health)
                except Exception:  # an observer's bug must not fail the source call
                    log.exception("a health observer of source %s failed", self.info.name)

    def health(self) -> SourceHealth:
        breaker = self.breaker.state
        if breaker is BreakerState.OPEN:
            state = "down"
        elif breaker is BreakerState.HALF_OPEN or self.breaker.failures:
            state = "degraded"
        else:
            state = "up"
        error = self._last_error
        return SourceHealth(
            name=self.info.name,
            state=state,
            breaker=breaker.value,
            consecutive_failures=self.breaker.failures,
            last_error=error.message if error else None,
            last_error_code=error.code if error else None,
            last_error_at=self._last_error_at,
            last_success_at=self._last_success_at,
        )
