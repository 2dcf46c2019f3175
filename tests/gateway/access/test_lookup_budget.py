"""The lookup budget: distinct persons per principal and window, in memory or shared in Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from gateway.access.lookup_budget import LookupBudget, LookupBudgetUnavailable, RedisBudget
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
    # A clock of their own, 20 s before its window ends: with the real one, a test in a window's last
    # second saw its count's TTL at 0 (CI, 2026-12-08).
    clock = Clock()
    one = LookupBudget(settings, RedisBudget(redis.asyncio.Redis.from_url(REDIS_URL), prefix=prefix), digest=digest, clock=clock)
    two = LookupBudget(settings, RedisBudget(redis.asyncio.Redis.from_url(REDIS_URL), prefix=prefix), digest=digest, clock=clock)
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


async def _evalsha_calls(client: redis.asyncio.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0)) + int(stats.get("cmdstat_eval", {}).get("calls", 0))


async def test_a_burst_of_lookups_is_counted_exactly_in_few_round_trips(shared) -> None:  # type: ignore[no-untyped-def]
    """300 lookups at once (three times the Redis client's 100 connections): each is answered,
    the budget admits exactly as many distinct persons as it allows, and the checks share round trips."""

    one, _, client, prefix = shared
    niks = [f"nik:35031{i:011d}" for i in range(300)]
    before = await _evalsha_calls(client)
    answers = await asyncio.gather(*(one.spend("api-key:burst", [nik], 120) for nik in niks))
    runs = await _evalsha_calls(client) - before
    assert answers.count(True) == 120 and answers.count(False) == 180
    (key,) = await client.keys(prefix + "*")
    assert await client.scard(key) == 120
    assert runs <= 10, f"{runs} script runs for 300 checks: they were not grouped"
    # Asked again: the 120 counted pass without counting more, the others are still refused.
    again = await asyncio.gather(*(one.spend("api-key:burst", [nik], 120) for nik in niks))
    assert again == answers


async def test_checks_grouped_together_stay_apart_per_principal_and_in_turn_for_one(shared) -> None:  # type: ignore[no-untyped-def]
    one, _, client, prefix = shared
    results = await asyncio.gather(
        one.spend("api-key:a", NIKS[:3], 4),
        one.spend("api-key:b", NIKS[:3], 3),  # another principal: a budget of its own
        one.spend("api-key:a", NIKS[2:4], 4),  # the same principal in the same group: 4 in all, allowed
        one.spend("api-key:a", NIKS[4:5], 4),  # the fifth: refused, nothing counted
        one.spend("api-key:b", [], 3),  # no key asked: nothing to count
    )
    assert results == [True, True, True, False, True]
    sizes = {k.decode().rsplit(":", 2)[-2]: await client.scard(k) for k in await client.keys(prefix + "*")}
    assert sizes == {"a": 4, "b": 3}  # the key ends in <principal>:<window>; the principal is api-key:<id>


async def test_without_redis_every_lookup_of_the_group_is_refused() -> None:
    """Fail closed: a check that cannot reach Redis refuses the lookup, for every caller waiting on it."""

    dead = RedisBudget(redis.asyncio.Redis.from_url("redis://127.0.0.1:9/0", socket_timeout=0.5, socket_connect_timeout=0.5))
    budget = LookupBudget(LookupSettings(window_s=60, redis_url="redis://127.0.0.1:9/0"), dead, digest=digest)
    try:
        answers = await asyncio.gather(*(budget.spend(f"api-key:{n}", NIKS[:2], 10) for n in range(5)), return_exceptions=True)
        assert all(isinstance(a, LookupBudgetUnavailable) for a in answers), answers
        assert await budget.spend("api-key:x", [], 10)  # nothing to count: nothing to refuse
    finally:
        await budget.aclose()
