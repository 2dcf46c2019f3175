"""Timeouts, retries and the circuit breaker around any connector."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from connectors import (
    BreakerState,
    CircuitBreaker,
    Record,
    ResiliencePolicy,
    ResilientConnector,
    SourceBadResponse,
    SourceInfo,
    SourceQuery,
    SourceTimeout,
    SourceUnavailable,
)
from core import ConfigError

QUERY = SourceQuery("Thing")


class ScriptedConnector:
    """Answers each fetch with the next scripted outcome: records, an exception, or a delay."""

    def __init__(self, *outcomes: object) -> None:
        self.info = SourceInfo("scripted", "memory", "TEST", "", ("Thing",))
        self.outcomes = list(outcomes)
        self.calls = 0

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else [{"id": 1}]
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, float):
            await asyncio.sleep(outcome)
            return [{"id": "late"}]
        return outcome  # type: ignore[return-value]

    async def start(self) -> None: ...
    async def aclose(self) -> None: ...


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def down() -> SourceUnavailable:
    return SourceUnavailable("down", source="scripted")


def resilient(inner: ScriptedConnector, clock: Clock | None = None, **policy: float) -> ResilientConnector:
    async def no_sleep(_: float) -> None:
        return None

    settings = {"retries": 2, "backoff_s": 0.0, "breaker_failures": 3, "breaker_reset_s": 10.0, "timeout_s": 0.2, **policy}
    return ResilientConnector(inner, ResiliencePolicy(**settings), clock=clock or Clock(), sleep=no_sleep)  # type: ignore[arg-type]


async def test_connection_failures_are_retried_then_succeed() -> None:
    inner = ScriptedConnector(down(), down(), [{"id": 7}])
    assert await resilient(inner).fetch(QUERY) == [{"id": 7}]
    assert inner.calls == 3


async def test_retries_are_bounded() -> None:
    inner = ScriptedConnector(down(), down(), down(), [{"id": 7}])
    with pytest.raises(SourceUnavailable):
        await resilient(inner).fetch(QUERY)
    assert inner.calls == 3


async def test_bad_responses_and_timeouts_are_not_retried() -> None:
    inner = ScriptedConnector(SourceBadResponse("junk", source="scripted"))
    with pytest.raises(SourceBadResponse):
        await resilient(inner).fetch(QUERY)
    assert inner.calls == 1
    slow = ScriptedConnector(5.0)
    with pytest.raises(SourceTimeout) as caught:
        await resilient(slow, timeout_s=0.05).fetch(QUERY)
    assert slow.calls == 1 and caught.value.extensions() == {"code": "SOURCE_TIMEOUT", "source": "scripted"}


async def test_breaker_opens_refuses_probes_once_and_closes_on_success() -> None:
    clock = Clock()
    inner = ScriptedConnector(*[SourceBadResponse("junk", source="scripted")] * 3)
    connector = resilient(inner, clock)
    for _ in range(3):
        with pytest.raises(SourceBadResponse):
            await connector.fetch(QUERY)
    assert connector.breaker.state is BreakerState.OPEN and connector.health().state == "down"

    for _ in range(5):  # open: refused without calling the source
        with pytest.raises(SourceUnavailable, match="circuit open"):
            await connector.fetch(QUERY)
    assert inner.calls == 3

    clock.now += 10
    inner.outcomes = [[{"id": "back"}]]
    assert await connector.fetch(QUERY) == [{"id": "back"}]  # the probe
    assert inner.calls == 4
    assert connector.breaker.state is BreakerState.CLOSED and connector.health().state == "up"


async def test_a_failed_probe_reopens_the_breaker() -> None:
    clock = Clock()
    connector = resilient(ScriptedConnector(*[SourceBadResponse("junk", source="scripted")] * 4), clock)
    for _ in range(3):
        with pytest.raises(SourceBadResponse):
            await connector.fetch(QUERY)
    clock.now += 10
    with pytest.raises(SourceBadResponse):
        await connector.fetch(QUERY)
    assert connector.breaker.state is BreakerState.OPEN
    with pytest.raises(SourceUnavailable, match="circuit open"):
        await connector.fetch(QUERY)


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_s=5, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow() and breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # a second caller while the probe is out
    breaker.record_success()
    assert breaker.allow() and breaker.allow()


@pytest.mark.parametrize(("raw", "message"), [({"retries": -1}, "non-negative"), ({"timeout_s": "5"}, "number"), ({"breaker_failures": 0}, "at least 1")])
def test_policy_settings_are_checked(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ResiliencePolicy.from_settings("x", raw)


# -- What counts towards the breaker (issue 9, findings 7 and 14) ------------------------------


async def test_source_timeouts_count_towards_the_breaker() -> None:
    """The source's own ``timeout_s`` running out is the source's failure: enough of them open the breaker."""

    inner = ScriptedConnector(5.0, 5.0, 5.0)
    connector = resilient(inner, timeout_s=0.05)
    for _ in range(3):
        with pytest.raises(SourceTimeout, match="within 0.05 s"):
            await connector.fetch(QUERY)
    assert connector.breaker.state is BreakerState.OPEN and connector.breaker.failures == 3
    assert connector.health().last_error_code == "SOURCE_TIMEOUT"
    with pytest.raises(SourceUnavailable, match="circuit open"):
        await connector.fetch(QUERY)
    assert inner.calls == 3


async def test_finding_14_the_requests_own_deadline_never_counts_towards_the_breaker() -> None:
    """A call cut short by the request's deadline (shorter than the source's timeout) says so and counts nothing."""

    from connectors.resilience import request_deadline

    inner = ScriptedConnector(*[5.0] * 6)
    connector = resilient(inner, timeout_s=1.0)
    token = request_deadline.set(asyncio.get_running_loop().time() + 0.05)
    try:
        for _ in range(6):
            with pytest.raises(SourceTimeout, match="request's deadline"):
                await connector.fetch(QUERY)
    finally:
        request_deadline.reset(token)
    assert inner.calls == 6  # each was really asked, and
    assert connector.breaker.state is BreakerState.CLOSED and connector.breaker.failures == 0


async def test_finding_7_the_callers_rejected_input_never_counts_towards_the_breaker() -> None:
    from connectors import SourceRejectedInput, UnusableKey

    inner = ScriptedConnector(
        *[UnusableKey("bad key", source="scripted", argument="code", keys=(".",))] * 3,
        *[SourceRejectedInput("Unknown disease", source="scripted", argument="disease")] * 3,
    )
    connector = resilient(inner)
    for _ in range(6):
        with pytest.raises(SourceRejectedInput) as caught:
            await connector.fetch(QUERY)
        assert caught.value.code == "BAD_USER_INPUT"
    assert inner.calls == 6  # not retried, not refused by an open breaker
    assert connector.breaker.state is BreakerState.CLOSED and connector.health().state == "up"


async def test_finding_7_a_rejected_input_during_the_probe_leaves_the_probe_to_the_next_caller() -> None:
    from connectors import SourceRejectedInput

    clock = Clock()
    inner = ScriptedConnector(*[SourceBadResponse("junk", source="scripted")] * 3, SourceRejectedInput("no", source="scripted"))
    connector = resilient(inner, clock)
    for _ in range(3):
        with pytest.raises(SourceBadResponse):
            await connector.fetch(QUERY)
    clock.now += 10
    with pytest.raises(SourceRejectedInput):
        await connector.fetch(QUERY)  # the probe: the caller's mistake is no verdict on the source
    assert await connector.fetch(QUERY) == [{"id": 1}]  # the next caller may probe, and closes it
    assert connector.breaker.state is BreakerState.CLOSED


class PromptConnector(ScriptedConnector):
    """A connector whose clean-up is prompt (an SQL driver): timed in the caller's own task."""

    cancels_promptly = True


@pytest.mark.parametrize("inner_kind", [ScriptedConnector, PromptConnector])
async def test_timeouts_are_the_same_whether_the_call_is_timed_in_its_own_task_or_in_the_callers(
    inner_kind: type[ScriptedConnector],
) -> None:
    """Both timers: the source's ``timeout_s`` is a ``SourceTimeout`` (and a breaker failure),
    the request's shorter deadline a ``DeadlineExceeded`` (no failure), and a timer whose call
    returned in time never fires later into the caller."""

    from connectors.resilience import request_deadline

    inner = inner_kind(5.0, [{"id": 1}], 5.0)
    connector = resilient(inner, timeout_s=0.05)
    with pytest.raises(SourceTimeout, match="within 0.05 s"):
        await connector.fetch(QUERY)
    assert await connector.fetch(QUERY) == [{"id": 1}]
    await asyncio.sleep(0.1)  # past the second call's timer: it was cancelled, so this sleep is not
    assert connector.breaker.failures == 0  # the success reset it
    token = request_deadline.set(asyncio.get_running_loop().time() + 0.02)
    try:
        with pytest.raises(SourceTimeout, match="request's deadline"):
            await connector.fetch(QUERY)
    finally:
        request_deadline.reset(token)
    assert connector.breaker.failures == 0 and inner.calls == 3


async def test_a_call_cancelled_from_outside_stays_cancelled_not_a_timeout() -> None:
    """The client left (its task is cancelled) while the source was being asked: that is a
    cancellation, not the source's timeout, and it counts nothing against the source."""

    inner = PromptConnector(5.0)
    connector = resilient(inner, timeout_s=1.0)
    call = asyncio.create_task(connector.fetch(QUERY))
    await asyncio.sleep(0.02)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert connector.breaker.failures == 0 and connector.health().last_error_code is None


async def test_a_timeout_inside_an_outer_timeout_is_the_inner_ones() -> None:
    """A source timer that fires inside a caller's own ``asyncio.timeout`` is the source's timeout;
    the caller's timer, still running, is not spent (its uncancel count is left as it was)."""

    inner = PromptConnector(5.0, [{"id": 2}])
    connector = resilient(inner, timeout_s=0.05)
    async with asyncio.timeout(2.0):
        with pytest.raises(SourceTimeout):
            await connector.fetch(QUERY)
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
        assert await connector.fetch(QUERY) == [{"id": 2}]
