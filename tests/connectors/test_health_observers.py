"""A source's state changes are told to its health observers as its calls find them (``sourceStatus``)."""

from __future__ import annotations

import pytest

from connectors import ConnectorRegistry, ResiliencePolicy, ResilientConnector, SourceHealth, SourceUnavailable

from .test_resilience import QUERY, Clock, ScriptedConnector, down


async def test_observers_hear_each_change_of_state_and_breaker_once() -> None:
    clock = Clock()
    policy = ResiliencePolicy(retries=0, breaker_failures=2, breaker_reset_s=10)
    connector = ResilientConnector(ScriptedConnector([{"id": 1}], down(), down(), [{"id": 2}], [{"id": 3}]), policy, clock=clock)
    registry = ConnectorRegistry([connector])
    heard: list[SourceHealth] = []
    registry.observe_health(heard.append)

    await connector.fetch(QUERY)  # up, as it was: nothing to tell
    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            await connector.fetch(QUERY)
    with pytest.raises(SourceUnavailable):
        await connector.fetch(QUERY)  # refused by the open breaker: no change, nothing told
    clock.now += 11
    await connector.fetch(QUERY)  # the half-open probe succeeds
    await connector.fetch(QUERY)  # up again: nothing new

    assert [(h.state, h.breaker, h.consecutive_failures) for h in heard] == [
        ("degraded", "closed", 1),
        ("down", "open", 2),
        ("up", "closed", 0),
    ]
    assert all(h.name == "scripted" for h in heard)


async def test_a_failing_observer_does_not_fail_the_call() -> None:
    connector = ResilientConnector(ScriptedConnector(down()), ResiliencePolicy(retries=0))

    def broken(health: SourceHealth) -> None:
        raise RuntimeError("observer bug")

    connector.health_observers.append(broken)
    with pytest.raises(SourceUnavailable):
        await connector.fetch(QUERY)
