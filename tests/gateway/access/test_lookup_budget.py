"""The lookup budget: distinct persons per principal and window, in memory or shared in Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from gateway.access.lookup_budget import LookupBudget, RedisBudget
from gateway.access.policy import LookupSettings

from ...conftest import service_missing

REDIS_URL = "redis://127.0.0.1:6379/0"
NIKS = [f"nik:35030{i:011d}" for i in range(10)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def digest(value: str) -> str:
    return f"pseudonym-of-{hash(value) & 0xFFFFFFFF:08x}"


async def test_distinct_keys_count_once_and_a_new_window_starts_afresh() -> None:
    clock = Clock()
    budget = LookupBudget(LookupSettings(window_s=60), clock=clock)
    assert await budget.spend("api-key:a", NIKS[:3], 4)
    assert await budget.spend("api-key:a", NIKS[:3], 4)  # the same persons again: nothing more
    assert not await budget.spend("api-key:a", NIKS[3:5], 4)  # 5 distinct > 4: refused, none counted
    assert await budget.spend("api-key:a", NIKS[3:4], 4)
    assert await budget.spend("api-key:b", NIKS, 10)  # another principal has a budget of its own
    clock.now += 60
    assert await budget.spend("api-key:a", NIKS[5:9], 4)


@pytest.fixture
async def shared() -> AsyncIterator[tuple[LookupBudget, LookupBudget, redis.asyncio.Redis, str]]:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        await client.aclose()
        service_missing("Redis", exc)
    prefix = f"satudata-test:lookups:{uuid.uuid4().hex}:"
    settings = LookupSettings(window_s=60, redis_url=REDIS_URL)
    one = LookupBudget(settings, RedisBudget(redis.asyncio.Redis.from_url(REDIS_URL), prefix=prefix), digest=digest)
    two = LookupBudget(settings, RedisBudget(redis.asyncio.Redis.from_url(REDIS_URL), prefix=prefix), digest=digest)
    try:
        yield one, two, client, prefix
    finally:
        for key in await client.keys(prefix + "*"):
            await client.delete(key)
        await one.aclose()
        await two.aclose()
        await client.aclose()


async def test_replicas_share_one_count_in_redis_and_it_holds_no_nik(shared) -> None:  # type: ignore[no-untyped-def]
    one, two, client, prefix = shared
    assert await one.spend("api-key:a", NIKS[:3], 5)
    assert await two.spend("api-key:a", NIKS[1:5], 5)  # 2 already counted by the other replica: 5 in all
    assert not await two.spend("api-key:a", NIKS[5:6], 5)
    assert not await one.spend("api-key:a", NIKS[6:7], 5)
    (key,) = await client.keys(prefix + "*")
    members = {m.decode() for m in await client.smembers(key)}
    assert len(members) == 5 and not any("3503" in m for m in members) and "3503" not in key.decode()
    assert 0 < await client.ttl(key) <= 60  # the count ends with its window
