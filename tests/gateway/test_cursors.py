"""Paging cursors through ``/graphql``: a role that sees NIKs masked reads none from a cursor,
and cursors hold across replicas that share ``[gateway] cursor_key`` and nowhere else."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from connectors import shuffled_position
from core import ConfigError
from gateway import GatewaySettings
from resolvers import new_cursor_key
from resolvers.cursors import CursorSeal

from ..conftest import Backend, gateway_config, open_gateway
from ..support.sqlite import sqlite_file
from .access_expectations import mask_initials, mask_nik
from .access.test_access import config_for, post, sample  # noqa: F401  (the sample fixture)

PAGE = """query Page($after: String) {
  persons(first: 5, after: $after) { edges { cursor node { nik name } } pageInfo { endCursor hasNextPage } }
}"""
SCHOOLS = "query Schools($after: String) { schools(first: 3, after: $after) { edges { cursor node { npsn } } } }"


def _nodes(answer: dict[str, Any]) -> list[dict[str, Any]]:
    assert "errors" not in answer, answer
    return [e["node"] for e in answer["data"]["schools"]["edges"]]


def _decoded(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


async def test_a_masked_role_reads_no_nik_from_cursors(sqlite_backend: Backend, sample: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    config = config_for(sqlite_backend, {"path": str(tmp_path / "audit.sqlite")}, kecamatan=sample["kecamatan"], npsn=sample["npsn"])
    key = config["gateway"]["cursor_key"] = new_cursor_key()
    async for gw in open_gateway(config):
        status, officer, _ = await post(gw, PAGE, role="registry_officer")
        assert status == 200 and "errors" not in officer, officer
        niks = [e["node"]["nik"] for e in officer["data"]["persons"]["edges"]]
        assert all(re.fullmatch(r"\d{16}", n) for n in niks)

        status, analyst, _ = await post(gw, PAGE, role="smart_center_analyst")
        assert status == 200 and "errors" not in analyst, analyst
        edges = analyst["data"]["persons"]["edges"]
        assert [e["node"]["nik"] for e in edges] != niks  # masked, as the policy says
        for edge in edges:
            raw = _decoded(edge["cursor"])
            for nik in niks:
                assert nik not in edge["cursor"] and nik.encode() not in raw and nik[-10:].encode() not in raw

        # Both cursors page on: the officer's next residents in NIK order, the analyst's in the shuffled
        # order a masked NIK gets (its place in NIK order would tell a hidden sex), whose salt the test
        # knows from the cursor key.
        after = analyst["data"]["persons"]["pageInfo"]["endCursor"]
        _, officer_next, _ = await post(gw, PAGE, {"after": officer["data"]["persons"]["pageInfo"]["endCursor"]}, role="registry_officer")
        _, analyst_next, _ = await post(gw, PAGE, {"after": after}, role="smart_center_analyst")
        expected = [e["node"]["nik"] for e in officer_next["data"]["persons"]["edges"]]
        assert len(expected) == 5 and min(expected) > max(niks)
        masked = [(e["node"]["nik"], e["node"]["name"]) for e in edges + analyst_next["data"]["persons"]["edges"]]
        with sqlite_file(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")) as conn:
            everyone = conn.execute("SELECT nik, nama_lengkap FROM penduduk").fetchall()
        salt = CursorSeal.from_text(key).order_salt("Person.nik")
        shuffled = sorted(everyone, key=lambda row: (shuffled_position(salt, row[0]), row[0]))[:10]
        assert masked == [(mask_nik(nik), mask_initials(name)) for nik, name in shuffled]


async def test_the_same_row_gets_a_new_cursor_each_time_and_both_lead_on(sqlite_backend: Backend) -> None:
    async for gw in open_gateway(gateway_config(sqlite_backend)):
        first, second = await gw.query(SCHOOLS), await gw.query(SCHOOLS)
        a, b = first["data"]["schools"]["edges"], second["data"]["schools"]["edges"]
        assert [e["node"] for e in a] == [e["node"] for e in b]
        assert not {e["cursor"] for e in a} & {e["cursor"] for e in b}
        after_a = await gw.query(SCHOOLS, {"after": a[-1]["cursor"]})
        after_b = await gw.query(SCHOOLS, {"after": b[-1]["cursor"]})
        assert _nodes(after_a) == _nodes(after_b)
        assert _nodes(after_a)[0]["npsn"] > a[-1]["node"]["npsn"]


def _with_key(backend: Backend, key: str | None) -> dict[str, Any]:
    config = gateway_config(backend)
    if key is not None:
        config["gateway"]["cursor_key"] = key
    return config


async def test_replicas_sharing_a_cursor_key_accept_each_others_cursors_and_no_other_gateway_does(sqlite_backend: Backend) -> None:
    key = new_cursor_key()
    async for replica in open_gateway(_with_key(sqlite_backend, key)):
        page = await replica.query(SCHOOLS)
        cursor = page["data"]["schools"]["edges"][-1]["cursor"]
        expected = _nodes(await replica.query(SCHOOLS, {"after": cursor}))
    async for other_replica in open_gateway(_with_key(sqlite_backend, key)):
        assert _nodes(await other_replica.query(SCHOOLS, {"after": cursor})) == expected
    for stranger in (new_cursor_key(), None):
        async for gw in open_gateway(_with_key(sqlite_backend, stranger)):
            refused = await gw.query(SCHOOLS, {"after": cursor}, trace=True)
            assert "data" not in refused  # a wrong argument value refuses the request (issue 13)
            (error,) = refused["errors"]
            assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["reason"] == "MALFORMED"
            assert "cursor" in error["message"]
            assert refused["extensions"]["sources"] == {}  # refused before any source was asked


async def test_a_cursor_of_one_list_is_refused_by_another(sqlite_backend: Backend) -> None:
    async for gw in open_gateway(gateway_config(sqlite_backend)):
        persons = await gw.query("{ persons(first: 1) { pageInfo { endCursor } } }")
        cursor = persons["data"]["persons"]["pageInfo"]["endCursor"]
        refused = await gw.query(SCHOOLS, {"after": cursor}, trace=True)
        assert [e["extensions"]["reason"] for e in refused["errors"]] == ["MALFORMED"]
        assert refused["extensions"]["sources"] == {}
        # A cursor is bound to its list's conditions too: the residents of one region are another list.
        residents = await gw.query(
            'query($after: String) { region(code: "35.03") { residents(first: 1, after: $after) { edges { node { nik } } } } }',
            {"after": cursor},
        )
        assert [e["extensions"]["reason"] for e in residents["errors"]] == ["MALFORMED"]
        # ... while the same list takes it.
        again = await gw.query("query($after: String) { persons(first: 1, after: $after) { edges { node { nik } } } }", {"after": cursor})
        assert "errors" not in again, again


def test_a_cursor_key_from_the_environment_is_read_and_a_bad_one_stops_start_up(
    sqlite_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_cursor_key()
    monkeypatch.setenv("SATUDATA_TEST_CURSOR_KEY", key)
    assert GatewaySettings.from_dict(_with_key(sqlite_backend, "env:SATUDATA_TEST_CURSOR_KEY")).cursor_key == key
    monkeypatch.delenv("SATUDATA_TEST_CURSOR_KEY")
    with pytest.raises(ConfigError, match="SATUDATA_TEST_CURSOR_KEY"):
        GatewaySettings.from_dict(_with_key(sqlite_backend, "env:SATUDATA_TEST_CURSOR_KEY"))
    with pytest.raises(ConfigError, match="keygen-secret"):
        GatewaySettings.from_dict(_with_key(sqlite_backend, "too-short"))


async def test_an_empty_page_still_says_whether_items_follow(sqlite_backend: Backend) -> None:
    """`first: 0` answers no items, yet `hasNextPage` tells the truth about the list (issue 13:
    it said false over 371 rows)."""

    async for gw in open_gateway(gateway_config(sqlite_backend)):
        empty = await gw.query("{ persons(first: 0) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } }")
        assert "errors" not in empty, empty
        page = empty["data"]["persons"]
        assert page["edges"] == [] and page["pageInfo"]["endCursor"] is None
        assert page["totalCount"] > 0 and page["pageInfo"]["hasNextPage"] is True
