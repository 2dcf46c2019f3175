"""``SourceQuery.fields`` through each server database's driver: the fields asked for, the key and the
batch's split field, with the very values a query for every field gives."""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import replace
from typing import Any

import pytest

from connectors import Filter, SourceQuery
from connectors.sql import SqlConnector
from demo.gateway_config import render_config

from ..conftest import Backend


def _siak(backend: Backend) -> dict[str, Any]:
    config = tomllib.loads(render_config(registry_url=backend.registry_url, education_url=backend.education_url))
    return config["sources"]["siak"]


@pytest.mark.parametrize("backend_name", ["postgresql", "mariadb"])
def test_projected_records_are_the_full_records_cut_down(backend_name: str, request: pytest.FixtureRequest) -> None:
    backend: Backend = request.getfixturevalue(f"{backend_name}_backend")
    asyncio.run(_compare(backend))


async def _compare(backend: Backend) -> None:
    connector = SqlConnector.from_settings("siak", _siak(backend))
    await connector.start()
    try:
        sample = await connector.fetch(SourceQuery("Person", limit=40))
        niks = tuple(r["nik"] for r in sample)
        kks = tuple({r["kk"] for r in sample})
        shapes = [
            (SourceQuery("Person", where=(Filter("nik", "in", niks[:1]),)), {"name"}),
            (SourceQuery("Person", where=(Filter("nik", "in", niks),)), {"name", "sex", "birthDate"}),
            (SourceQuery("Person", where=(Filter("kk", "in", kks),)), {"name"}),
            (SourceQuery("Person", where=(Filter("kk", "in", kks[:1]),)), set()),
            (SourceQuery("Person", limit=25, shuffle="salt"), {"religion", "status", "updatedAt"}),
            (SourceQuery("Person", where=(Filter("regionCode", "prefix", ("35.03.08",)),), limit=10), {"maritalStatus"}),
        ]
        for full_query, fields in shapes:
            full = await connector.fetch(full_query)
            assert full, full_query
            projected = await connector.fetch(replace(full_query, fields=frozenset(fields)))
            split = {f.field for f in full_query.where if f.op == "in"}
            kept = {*fields, "nik", *split}
            assert [dict(r) for r in projected] == [{k: v for k, v in r.items() if k in kept} for r in full], full_query
            assert all(set(r) == kept for r in projected)
    finally:
        await connector.aclose()
