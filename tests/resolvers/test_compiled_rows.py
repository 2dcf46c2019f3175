"""The compiled executor's per-row machinery: awaitables settled without a task each, and an
answer that leaves no reference cycles behind (whatever a cycle holds waits for the cyclic
collector, which then walks it: on the 50-school answer that was most of the collector's time)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from resolvers.compiled import _settle
from resolvers.loaders import Loaders

from ..conftest import Backend, Gateway, gateway_config, open_gateway

DEEP = """
query($first: Int) {
  schools(first: $first) {
    edges { node { npsn students { nisn person { nik family { kk members { nik name } } } } } }
  }
}
"""


async def _value(future: asyncio.Future[Any], then: Any = None) -> Any:
    value = await future
    return value if then is None else then(value)


async def _fails(future: asyncio.Future[Any]) -> Any:
    await future
    raise ValueError("bad row")


async def _twice(future: asyncio.Future[Any]) -> Any:
    await asyncio.sleep(0)  # a bare yield
    first = await future
    await asyncio.sleep(0)
    return first * 2


async def test_settle_gives_what_gather_gives_in_order() -> None:
    loop = asyncio.get_running_loop()
    shared, other = loop.create_future(), loop.create_future()
    done_already = loop.create_future()
    done_already.set_result(7)

    def awaitables() -> list[Any]:
        return [_value(shared), _fails(other), _twice(shared), _value(other, str), _value(done_already), done_already]

    loop.call_soon(shared.set_result, 1)
    loop.call_later(0.01, other.set_result, 2)
    settled = await _settle(awaitables())
    gathered = await asyncio.gather(*awaitables(), return_exceptions=True)
    assert [repr(v) for v in settled] == [repr(v) for v in gathered] == ["1", "ValueError('bad row')", "2", "'2'", "7", "7"]


async def test_settle_fails_a_coroutine_that_yields_what_is_not_a_future() -> None:
    class Odd:
        def __await__(self) -> Any:
            yield "not a future"
            return 1

    async def odd() -> Any:
        return await Odd()

    (result,) = await _settle([odd()])
    assert isinstance(result, RuntimeError) and "bad yield" in str(result)


async def test_cancelling_settle_cancels_every_coroutine_still_waiting() -> None:
    never: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    cleaned: list[int] = []

    async def waits(index: int) -> None:
        try:
            await never
        finally:
            cleaned.append(index)

    task = asyncio.ensure_future(_settle([waits(i) for i in range(3)]))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cleaned) == [0, 1, 2]


async def test_loaders_are_no_reference_cycle() -> None:
    """A loader's batch function does not refer back to the ``Loaders`` holding it: dropped,
    the loaders and their caches go at once."""

    class Sources:
        async def fetch(self, query: Any) -> list[Any]:
            return [{"nik": key} for key in query.where[0].value]

    gc.collect()
    gc.disable()
    try:
        loaders = Loaders(Sources())  # type: ignore[arg-type]
        assert await loaders.one("Person", "nik").load("1") == {"nik": "1"}
        assert await loaders.many("Person", "kk").load("2") == []
        del loaders
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("resolvers")]
        assert left == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.fixture
async def pg_gateway(postgresql_backend: Backend) -> AsyncIterator[Gateway]:
    config = gateway_config(postgresql_backend)
    config["gateway"]["request_timeout_s"] = 60
    async for gateway in open_gateway(config):
        yield gateway


async def test_a_deep_answer_leaves_no_cyclic_garbage(pg_gateway: Gateway) -> None:
    """Schools, pupils, persons, families and members: once the answer is sent, what the
    request built is freed by reference counting; the cyclic collector finds none of it."""

    first = await pg_gateway.query(DEEP, {"first": 10})  # caches, pools and plans built here
    assert "errors" not in first
    gc.collect()
    gc.disable()
    try:
        answer = await pg_gateway.query(DEEP, {"first": 10})
        assert "errors" not in answer and answer == first
        pupils = sum(len(e["node"]["students"]) for e in answer["data"]["schools"]["edges"])
        assert pupils > 50
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found: dict[str, int] = {}
        for obj in gc.garbage:
            module = getattr(type(obj), "__module__", "")
            if module.startswith(("resolvers", "asyncio", "_asyncio")) or isinstance(obj, asyncio.Future):
                name = f"{module}.{type(obj).__qualname__}"
                found[name] = found.get(name, 0) + 1
        assert found == {}, f"left for the cyclic collector: {found}"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
