"""``SourceQuery.shuffle``: a list in the order of a keyed digest of its key, on every kind of source.

The demo registry on SQLite, PostgreSQL and MariaDB (the ``backend`` fixture), read through the
demo config's SQL source, against ``InMemoryConnector`` (the reference semantics, which REST and
GraphQL sources use too) over the same records: the same order, page by page, every resident of
a desa exactly once, and an order that has nothing to do with the NIK's.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence

import pytest

from connectors import ConnectorRegistry, Filter, Record, SourceQuery, SourceTrace
from connectors.memory import evaluate
from connectors.shuffle import position

from ..conftest import Backend, gateway_config

SALT = "9f2c1e7a-test-salt"


@pytest.fixture
async def registry(backend: Backend) -> AsyncIterator[ConnectorRegistry]:
    config = gateway_config(backend)
    registry = ConnectorRegistry.from_config({"siak": config["sources"]["siak"]}, config.get("agencies", []))
    await registry.start()
    try:
        yield registry
    finally:
        await registry.aclose()


async def _desa(registry: ConnectorRegistry) -> tuple[str, list[Record]]:
    session = registry.session(SourceTrace())
    counts = await session.fetch(SourceQuery("Person", group_by=("regionCode",)))
    desa = max(counts, key=lambda c: c["count"])["regionCode"]
    residents = await session.fetch(SourceQuery("Person", where=(Filter("regionCode", "prefix", (desa,)),)))
    return desa, list(residents)


async def _walk(registry: ConnectorRegistry, where: tuple[Filter, ...], size: int) -> list[str]:
    """Every page of the shuffled list, each asked after the last key of the page before."""

    session = registry.session(SourceTrace())
    order: list[str] = []
    after = None
    while True:
        page = await session.fetch(SourceQuery("Person", where=where, after=after, limit=size, shuffle=SALT))
        order += [r["nik"] for r in page]
        if len(page) < size:
            return order
        after = page[-1]["nik"]


async def test_a_shuffled_list_pages_through_every_record_once_in_the_reference_order(registry: ConnectorRegistry) -> None:
    desa, residents = await _desa(registry)
    assert len(residents) > 100
    where = (Filter("regionCode", "prefix", (desa,)),)
    walked = await _walk(registry, where, size=37)
    reference = [r["nik"] for r in evaluate(residents, SourceQuery("Person", shuffle=SALT), key="nik")]
    assert walked == reference
    assert sorted(walked) == sorted(r["nik"] for r in residents)
    # The order is the digest's: the SQL engine's md5 is the one connectors.shuffle computes.
    assert walked == sorted(walked, key=lambda nik: hashlib.md5((SALT + nik).encode()).hexdigest())
    assert [position(SALT, nik) for nik in walked] == sorted(position(SALT, nik) for nik in walked)


async def test_the_shuffled_order_tells_nothing_of_the_nik_order(registry: ConnectorRegistry) -> None:
    """Men's NIKs sort before women's in a kecamatan (a woman's day of birth + 40): listed in NIK
    order the first half is nearly all men; shuffled, the NIK ranks are uncorrelated with places."""

    desa, residents = await _desa(registry)
    walked = await _walk(registry, (Filter("regionCode", "prefix", (desa,)),), size=100)
    rank = {nik: i for i, nik in enumerate(sorted(walked))}
    places = [rank[nik] for nik in walked]
    assert abs(_spearman(places)) < 0.2, _spearman(places)
    men = {r["nik"] for r in residents if r.get("sex") == "MALE"}
    first_half = walked[: len(walked) // 2]
    share = sum(nik in men for nik in first_half) / len(first_half)
    overall = len(men) / len(walked)
    assert abs(share - overall) < 0.1, (share, overall)
    # and under another salt, another order
    other = [r["nik"] for r in evaluate(residents, SourceQuery("Person", shuffle=SALT + "x"), key="nik")]
    assert other != walked


def _spearman(places: Sequence[int]) -> float:
    n = len(places)
    d2 = sum((i - p) ** 2 for i, p in enumerate(places))
    return 1 - 6 * d2 / (n * (n * n - 1))


def test_a_shuffled_list_has_no_other_order() -> None:
    with pytest.raises(ValueError, match="order_by"):
        SourceQuery("Person", order_by=("name",), shuffle=SALT)
