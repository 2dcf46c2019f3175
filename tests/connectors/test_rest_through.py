"""A field the API lists by itself (``list_lookup``) or only through another entity (``through``):
the same records either way, against the Sepeda Keren demo API on a real socket.

A class's attendance is its sessions' lists. The demo API also offers the class recap
(``/v1/cohorts/{id}/attendance``); an OPD API without it is mapped with ``through`` and costs a
call per session, as before issue 10.
"""

from __future__ import annotations

import copy
import tomllib
from collections import Counter
from typing import Any

import httpx
import pytest

from connectors import SourceQuery
from core import ConfigError
from connectors.base import Filter
from connectors.http1 import Http1Transport
from connectors.rest import RestConnector

from ..support.sqlite import sqlite_file

THROUGH = {"programme": {"entity": "ProgrammeSession", "link": "programme", "key": "code", "field": "session"}}


class Counting(httpx.AsyncBaseTransport):
    """Counts the calls per kind of path (``/v1/cohorts/{id}/attendance`` -> ``cohorts/attendance``)."""

    def __init__(self) -> None:
        self.inner = Http1Transport(max_connections=8)
        self.calls: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        self.calls["/".join(parts[1::2])] += 1  # the collection names, without the ids
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def sepeda_keren_table(url: str) -> dict[str, Any]:
    from demo.gateway_config import render_config

    config = tomllib.loads(render_config(registry_url="sqlite+aiosqlite:///r", education_url="sqlite+aiosqlite:///e", sepeda_keren_url=url))
    return dict(config["sources"]["sepeda_keren"])


def without_recap(table: dict[str, Any]) -> dict[str, Any]:
    """The table an API without the class recap has: sessions' lists only, and ``through``."""

    table = copy.deepcopy(table)
    attendance = table["entities"]["ProgrammeAttendance"]
    del attendance["list_lookup"]["programme"]
    attendance["through"] = THROUGH
    return table


def connector(table: dict[str, Any]) -> tuple[RestConnector, Counting]:
    counting = Counting()
    return RestConnector.from_settings("sepeda_keren", table, transport=counting), counting


def as_multiset(records: Any) -> Counter[str]:
    return Counter(repr(sorted(dict(r).items())) for r in records)


async def test_a_classs_attendance_is_the_same_through_its_sessions_or_from_the_recap(sepeda_keren_api: str) -> None:
    table = sepeda_keren_table(sepeda_keren_api)
    recap, recap_calls = connector(table)
    through, through_calls = connector(without_recap(table))
    try:
        classes = [p["code"] for p in await recap.fetch(SourceQuery("Programme"))][::7]
        query = SourceQuery("ProgrammeAttendance", where=(Filter("programme", "in", tuple(classes)),))
        recap_calls.calls.clear()
        from_recap = await recap.fetch(query)
        from_sessions = await through.fetch(query)
        assert len(from_recap) > 100 and as_multiset(from_recap) == as_multiset(from_sessions)
        assert {r["programme"] for r in from_sessions} == set(classes)
        assert all(r["session"].startswith(r["programme"] + "-S") for r in from_sessions)

        recap_cost = dict(recap_calls.calls)
        sessions = await recap.fetch(SourceQuery("ProgrammeSession", where=(Filter("programme", "in", tuple(classes)),)))
        assert through_calls.calls == {"cohorts/sessions": len(classes), "sessions/attendance": len(sessions)}
        assert set(recap_cost) == {"cohorts/attendance"} and recap_cost["cohorts/attendance"] < len(sessions) / 2

        # Other filters still hold, and a class nobody knows has no attendance.
        some = (Filter("programme", "eq", classes[0]), Filter("present", "eq", False))
        assert as_multiset(await through.fetch(SourceQuery("ProgrammeAttendance", where=some))) == as_multiset(
            r for r in from_recap if r["programme"] == classes[0] and r["present"] is False
        )
        assert await through.fetch(SourceQuery("ProgrammeAttendance", where=(Filter("programme", "eq", "SK-1999-01-01"),))) == []
    finally:
        await recap.aclose()
        await through.aclose()


@pytest.mark.parametrize(
    ("through", "message"),
    [
        ({"programme": {"entity": "Nowhere", "link": "programme", "key": "code", "field": "session"}}, "not an entity of this source"),
        ({"programme": {"entity": "ProgrammeSession", "link": "programme", "key": "code", "field": "nik"}}, "looked up by"),
        ({"programme": {"entity": "ProgrammeSession", "link": "programme"}}, "needs entity, link, key and field"),
        ({"programme": {"entity": "ProgrammeSession", "link": "nope", "key": "code", "field": "session"}}, "no mapped field 'nope'"),
    ],
)
def test_a_through_mapping_is_checked_at_start_up(through: dict[str, Any], message: str) -> None:
    table = without_recap(sepeda_keren_table("http://sepeda-keren.test"))
    table["entities"]["ProgrammeAttendance"]["through"] = through
    with pytest.raises(ConfigError, match=message):
        RestConnector.from_settings("sepeda_keren", table)


FACILITATOR_QUERY = "{ programmes(first: 100) { edges { node { code participantCount participants(first: 1) { totalCount } } } } }"


async def test_the_facilitators_participant_counts_are_the_same_either_way_and_right(
    sqlite_backend: Any, sepeda_keren_api: str, tmp_path: Any
) -> None:
    """What the facilitator (row scope: participants living in Watulimo) is told, with the recap
    and through the sessions, equals the definition: the distinct NIKs on a class's attendance
    lists that the registry places in the facilitator's kecamatan."""

    from demo.access_config import DEMO_KECAMATAN, demo_clients
    from demo.gateway_config import render_config

    from ..conftest import open_gateway

    facilitator = next(c for c in demo_clients(None) if c.role == "programme_facilitator")
    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite_file(registry) as conn:
        local = {n for (n,) in conn.execute("SELECT nik FROM penduduk WHERE kode_wilayah LIKE ?", (DEMO_KECAMATAN + ".%",))}
    expected: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=sepeda_keren_api) as api:
        for cohort in (await api.get("/v1/cohorts", params={"limit": 100})).json()["items"]:
            niks: set[str] = set()
            for session in (await api.get(f"/v1/cohorts/{cohort['cohortId']}/sessions", params={"limit": 100})).json()["items"]:
                rows = (await api.get(f"/v1/sessions/{session['sessionId']}/attendance", params={"limit": 100})).json()["items"]
                niks |= {r["nik"] for r in rows}
            expected[cohort["cohortId"]] = len(niks & local)
    assert any(expected.values()) and not all(expected.values())  # the scope matters

    answers = []
    for mapping in ("recap", "through"):
        config = tomllib.loads(
            render_config(
                registry_url=sqlite_backend.registry_url,
                education_url=sqlite_backend.education_url,
                sepeda_keren_url=sepeda_keren_api,
                access=True,
            )
        )
        config["audit"] = {"path": str(tmp_path / f"audit-{mapping}.sqlite")}
        if mapping == "through":
            config["sources"]["sepeda_keren"] = without_recap(config["sources"]["sepeda_keren"])
        headers = {"X-API-Key": facilitator.key, "X-Satudata-Purpose": facilitator.purpose}
        async for gateway in open_gateway(config):
            response = await gateway.client.post("/graphql", json={"query": FACILITATOR_QUERY}, headers=headers)
            answer = response.json()
        assert "errors" not in answer, answer["errors"][:2]
        answers.append(answer)
        counts = {e["node"]["code"]: e["node"]["participants"]["totalCount"] for e in answer["data"]["programmes"]["edges"]}
        assert counts == {code: n for code, n in expected.items() if code in counts} and len(counts) == len(expected)
    assert answers[0] == answers[1]
