"""The local change feed: order, entity routing, bounded queues, close."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from connectors.changes import Change, LocalChangeFeed, SubscriberTooSlow

AT = datetime(2026, 12, 7, 8, 0, tzinfo=timezone(timedelta(hours=7)))


def notice(n: int, entity: str = "Person") -> Change:
    return Change(entity=entity, key=f"{n:016d}", kind="UPDATED", region="35.03.01.2001", at=AT, source="siak", id=f"siak:{n}")


async def test_subscribers_get_their_entity_in_order_from_subscription_on():
    feed = LocalChangeFeed()
    await feed.publish(notice(0))  # before anyone listens: nobody gets it
    persons, reports = feed.subscribe("Person"), feed.subscribe("CaseReport")
    for n in range(1, 4):
        await feed.publish(notice(n))
    await feed.publish(notice(9, entity="CaseReport"))
    got = [await anext(persons) for _ in range(3)]
    assert [c.id for c in got] == ["siak:1", "siak:2", "siak:3"]
    assert (await anext(reports)).id == "siak:9"
    await feed.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(persons)


async def test_a_slow_subscriber_is_dropped_and_the_others_keep_receiving():
    feed = LocalChangeFeed(max_queue=3)
    slow, quick = feed.subscribe("Person"), feed.subscribe("Person")
    received = []
    for n in range(5):
        await feed.publish(notice(n))
        received.append((await anext(quick)).id)
    assert received == [f"siak:{n}" for n in range(5)]
    assert feed.subscriber_count("Person") == 1
    with pytest.raises(SubscriberTooSlow):
        await anext(slow)


async def test_close_wakes_a_waiting_reader_and_forgets_the_subscription():
    feed = LocalChangeFeed()
    subscription = feed.subscribe("Person")
    reader = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    subscription.close()
    subscription.close()
    with pytest.raises(StopAsyncIteration):
        await reader
    assert feed.subscriber_count() == 0
