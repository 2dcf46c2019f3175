"""Per-client rate limits, in memory and on the machine's real Redis (required when CI=true)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.exceptions

from core import ConfigError
from gateway.access.ratelimit import (
    MemoryBackend,
    Rate,
    RateCheck,
    RateLimited,
    RateLimiter,
    RateLimits,
    RedisBackend,
)

from ...conftest import service_missing

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


#: 60 per minute: one token a second; a burst of 5.
LIMITS = RateLimits(default=Rate(requests_per_minute=60, burst=5), roles={"analyst": Rate(requests_per_minute=600, burst=50)})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the machine's Redis, deleted afterwards."""

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        client.close()
        service_missing("Redis", exc)
    prefix = f"satudata_test_ratelimit:{uuid.uuid4().hex[:8]}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Callable[[], RateLimiter]]:
    """Builds limiters that share one budget store: one dict, or one Redis (a client each, like replicas)."""

    made: list[RateLimiter] = []
    if request.param == "memory":
        shared = MemoryBackend(clock)

        def make() -> RateLimiter:
            made.append(RateLimiter(LIMITS, shared, fallback=shared, clock=clock))
            return made[-1]
    else:
        prefix = request.getfixturevalue("redis_prefix")

        def make() -> RateLimiter:
            backend = RedisBackend(redis.asyncio.Redis.from_url(REDIS_URL), prefix=prefix, clock=clock)
            made.append(RateLimiter(LIMITS, backend, clock=clock))
            return made[-1]

    yield make
    for limiter in made:
        await limiter.aclose()


async def hits(limiter: RateLimiter, n: int, client: str = "client-a", role: str | None = None) -> list[RateCheck]:
    return [await limiter.hit(client, role) for _ in range(n)]


async def test_a_burst_is_allowed_then_refused_with_the_wait(make_limiter: Callable[[], RateLimiter]) -> None:
    limiter = make_limiter()
    decisions = await hits(limiter, 6)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after_s == pytest.approx(1.0)
    assert refused.headers() == {"retry-after": "1"}
    assert decisions[0].headers() == {}


async def test_tokens_come_back_at_the_sustained_rate(make_limiter: Callable[[], RateLimiter], clock: Clock) -> None:
    limiter = make_limiter()
    await hits(limiter, 5)
    clock.advance(0.5)
    refused = await limiter.hit("client-a", None)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(0.5)
    clock.advance(0.5)
    assert (await limiter.hit("client-a", None)).allowed
    assert not (await limiter.hit("client-a", None)).allowed
    # A quiet spell refills the whole burst, and no more.
    clock.advance(60)
    assert [d.allowed for d in await hits(limiter, 6)] == [True] * 5 + [False]


async def test_limiters_sharing_a_store_share_the_budget(make_limiter: Callable[[], RateLimiter]) -> None:
    first, second = make_limiter(), make_limiter()
    assert all(d.allowed for d in await hits(first, 3))
    assert [d.allowed for d in await hits(second, 3)] == [True, True, False]
    assert not (await first.hit("client-a", None)).allowed


async def test_clients_and_roles_have_budgets_of_their_own(make_limiter: Callable[[], RateLimiter]) -> None:
    limiter = make_limiter()
    await hits(limiter, 5, "client-a")
    assert (await limiter.hit("client-b", None)).allowed
    # A role's own rate: 50 at once for analysts.
    decisions = await hits(limiter, 51, "client-a", "analyst")
    assert sum(d.allowed for d in decisions) == 50


async def test_concurrent_hits_never_over_admit(make_limiter: Callable[[], RateLimiter]) -> None:
    replicas = [make_limiter() for _ in range(4)]
    decisions = await asyncio.gather(*(replicas[i % 4].hit("client-a", "analyst") for i in range(200)))
    assert sum(d.allowed for d in decisions) == 50


async def test_redis_clock_is_used_when_none_is_given(redis_prefix: str) -> None:
    backend = RedisBackend(redis.asyncio.Redis.from_url(REDIS_URL), prefix=redis_prefix)
    try:
        decisions = [await backend.hit("client-a", Rate(requests_per_minute=1, burst=2)) for _ in range(3)]
    finally:
        await backend.aclose()
    assert [d.allowed for d in decisions] == [True, True, False]
    assert 59 < decisions[-1].retry_after_s <= 60


async def test_unreachable_redis_fails_open_to_memory_and_is_retried(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    # Port 1 on the loopback refuses at once: Redis is "down".
    limits = RateLimits(default=Rate(requests_per_minute=60, burst=2), redis_url="redis://127.0.0.1:1/0", retry_s=5)
    backend = RedisBackend.from_url("redis://127.0.0.1:1/0", timeout_s=0.5)
    calls = 0
    real_hit = backend.hit

    async def counting_hit(key: str, rate: Rate) -> RateCheck:
        nonlocal calls
        calls += 1
        return await real_hit(key, rate)

    backend.hit = counting_hit  # type: ignore[method-assign]
    limiter = RateLimiter(limits, backend, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="satudata.gateway.ratelimit"):
            decisions = await hits(limiter, 3)
        # The fallback still holds the client to its budget ...
        assert [d.allowed for d in decisions] == [True, True, False]
        # ... warns once, and does not pay for a dead Redis on every request.
        assert calls == 1
        assert [r.message for r in caplog.records if "fall back" in r.message] != []
        assert len(caplog.records) == 1
        clock.advance(5)
        await limiter.hit("client-a", None)
        assert calls == 2
    finally:
        await limiter.aclose()


def test_rate_limited_error_carries_code_and_whole_seconds() -> None:
    error = RateLimited(RateCheck(allowed=False, retry_after_s=2.2, remaining=0))
    assert error.extensions() == {"code": "RATE_LIMITED", "retryAfter": 3}
    assert error.message == "Too many requests; try again in 3 s."


def test_config_gives_roles_their_own_rate_over_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATUDATA_TEST_REDIS", "redis://redis.internal:6379/2")
    limits = RateLimits.from_config(
        {"requests_per_minute": 100, "burst": 20, "redis_url": "env:SATUDATA_TEST_REDIS", "roles": {"anonymous": {"burst": 5}}}
    )
    assert limits.rate("anonymous") == Rate(requests_per_minute=100, burst=5)
    assert limits.rate("staff") == limits.rate(None) == Rate(requests_per_minute=100, burst=20)
    assert limits.redis_url == "redis://redis.internal:6379/2"
    assert RateLimits.from_config(None) == RateLimits()


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"rpm": 3}, "ratelimit.rpm is not a key of [ratelimit]"),
        ({"burst": 0}, "ratelimit.burst must be a whole number of at least 1"),
        ({"roles": {"anonymous": {"requests_per_minute": 1.5}}}, "ratelimit.roles.anonymous.requests_per_minute"),
        ({"redis_url": "env:SATUDATA_TEST_UNSET_VARIABLE"}, "SATUDATA_TEST_UNSET_VARIABLE, which is not set"),
        ({"timeout_s": 0}, "ratelimit.timeout_s must be a number above 0"),
    ],
)
def test_wrong_ratelimit_config_names_the_key(config: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError) as refused:
        RateLimits.from_config(config)
    assert complaint in refused.value.message


async def test_from_limits_keeps_buckets_in_memory_without_redis_url() -> None:
    limiter = RateLimiter.from_limits(RateLimits(default=Rate(requests_per_minute=60, burst=1)))
    assert isinstance(limiter.backend, MemoryBackend)
    assert [(await limiter.hit("c", None)).allowed for _ in range(2)] == [True, False]
    await limiter.aclose()
