"""The SQL connector against real SQLite files, checked against InMemoryConnector on the same rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors import ConnectorRegistry, Filter, InMemoryConnector, SourceInfo, SourceQuery
from core import ConfigError

from ..support.sqlite import sqlite_file

ROWS = [
    ("3503125708909901", "Siti Wulandari", "P", "1990-08-17", "3503122002", "HIDUP"),
    ("3503080503129902", "Bagus Pratama", "L", "2012-03-05", "3503082011", "HIDUP"),
    ("3503080101509903", "Slamet 100%_ok", "L", "1950-01-01", "3503082011", "MATI"),
    ("3503114405859904", "Dewi Lestari", "P", "1985-05-04", "3503111007", "PINDAH"),
]
SOURCE = {
    "kind": "sql",
    "agency": "TEST",
    "entities": {
        "Person": {
            "table": "warga",
            "key": "nik",
            "fields": {
                "nik": "nik",
                "name": "nama",
                "sex": {"column": "jk", "values": {"L": "MALE", "P": "FEMALE"}},
                "birthDate": "lahir",
                "regionCode": {"column": "wilayah", "transform": "region_code_digits"},
                "status": {"column": "status", "values": {"HIDUP": "ALIVE", "MATI": "DECEASED"}},
            },
        }
    },
}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "warga.sqlite"
    with sqlite_file(path) as conn:
        conn.execute(
            "CREATE TABLE warga (nik CHAR(16) PRIMARY KEY, nama VARCHAR(100), jk CHAR(1), lahir DATE, "
            "wilayah VARCHAR(10), status VARCHAR(10))"
        )
        conn.executemany("INSERT INTO warga VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    return path


def registry_for(path: Path, **overrides: object) -> ConnectorRegistry:
    source = {**SOURCE, "url": f"sqlite+aiosqlite:///{path}", **overrides}
    return ConnectorRegistry.from_config({"warga": source}, [{"code": "TEST", "name": "Test"}])


def as_vocabulary(row: tuple[str, ...]) -> dict[str, object]:
    nik, name, sex, born, region, status = row
    return {
        "nik": nik,
        "name": name,
        "sex": {"L": "MALE", "P": "FEMALE"}[sex],
        "birthDate": date.fromisoformat(born),
        "regionCode": f"{region[:2]}.{region[2:4]}.{region[4:6]}.{region[6:]}",
        "status": {"HIDUP": "ALIVE", "MATI": "DECEASED"}.get(status),  # PINDAH is not mapped: null
    }


QUERIES = [
    SourceQuery("Person"),
    SourceQuery("Person", where=(Filter("nik", "in", ("3503080503129902", "3503114405859904", "1")),)),
    SourceQuery("Person", where=(Filter("sex", "eq", "FEMALE"),)),
    SourceQuery("Person", where=(Filter("regionCode", "prefix", ("35.03.08", "35.03.11.1007")),)),
    SourceQuery("Person", where=(Filter("name", "contains", "100%_"),)),
    SourceQuery("Person", where=(Filter("name", "contains", "LESTARI"),)),
    SourceQuery("Person", where=(Filter("birthDate", "gte", date(1985, 1, 1)), Filter("birthDate", "lte", date(2000, 1, 1)))),
    SourceQuery("Person", where=(Filter("status", "eq", "MOVED_AWAY"),)),  # no source code maps to it
    SourceQuery("Person", after="3503080503129902", limit=2),
    SourceQuery("Person", shuffle="salt"),
    SourceQuery("Person", where=(Filter("sex", "eq", "FEMALE"),), shuffle="salt"),
    SourceQuery("Person", after="3503080503129902", limit=2, shuffle="salt"),
    SourceQuery("Person", group_by=()),
    SourceQuery("Person", group_by=("sex",)),
    # Projected: the fields asked for, the key, and an ``in`` filter's field (what a batch is split by).
    SourceQuery("Person", fields=frozenset({"name"})),
    SourceQuery("Person", fields=frozenset()),
    SourceQuery("Person", where=(Filter("nik", "in", ("3503080503129902", "3503114405859904")),), fields=frozenset({"sex"})),
    SourceQuery("Person", where=(Filter("nik", "in", ("3503080503129902",)),), fields=frozenset({"status", "birthDate"})),
    SourceQuery("Person", where=(Filter("regionCode", "in", ("35.03.08.2011",)),), fields=frozenset({"name"})),
    SourceQuery("Person", where=(Filter("sex", "eq", "FEMALE"),), fields=frozenset({"regionCode"})),
    SourceQuery("Person", after="3503080503129902", limit=2, shuffle="salt", fields=frozenset({"name"})),
    SourceQuery("Person", fields=frozenset({"name", "notMappedHere"})),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr((q.where or q.group_by or q.after, q.fields)))
async def test_sql_answers_like_the_in_memory_reference(database: Path, query: SourceQuery) -> None:
    registry = registry_for(database)
    await registry.start()
    reference = InMemoryConnector(
        SourceInfo("ref", "memory", "TEST", "", ("Person",)), {"Person": [as_vocabulary(r) for r in ROWS]}, {"Person": "nik"}
    )
    try:
        got = list(await registry.session().fetch(query))
        want = list(await reference.fetch(query))
        if query.group_by is not None:
            got, want = sorted(got, key=repr), sorted(want, key=repr)
        assert [dict(r) for r in got] == [dict(r) for r in want]
    finally:
        await registry.aclose()


async def test_large_key_batches_are_split_but_complete(database: Path) -> None:
    registry = registry_for(database)
    keys = tuple(f"{i:016d}" for i in range(25_000)) + (ROWS[0][0],)
    try:
        found = await registry.session().fetch(SourceQuery("Person", where=(Filter("nik", "in", keys),)))
        assert [r["nik"] for r in found] == [ROWS[0][0]]
    finally:
        await registry.aclose()


async def test_a_projected_batch_larger_than_a_statement_is_split_and_projected(database: Path) -> None:
    registry = registry_for(database)
    keys = tuple(f"{i:016d}" for i in range(25_000)) + (ROWS[1][0],)
    try:
        found = await registry.session().fetch(SourceQuery("Person", where=(Filter("nik", "in", keys),), fields=frozenset({"name"})))
        assert [dict(r) for r in found] == [{"nik": ROWS[1][0], "name": ROWS[1][1]}]
    finally:
        await registry.aclose()


async def test_unknown_column_fails_at_start_naming_it(database: Path) -> None:
    entities = {"Person": {**SOURCE["entities"]["Person"], "fields": {"nik": "nik", "name": "nama_lengkap"}}}  # type: ignore[index]
    registry = registry_for(database, entities=entities)
    with pytest.raises(ConfigError, match=r"no column\(s\) \['nama_lengkap'\]"):
        await registry.start()
    await registry.aclose()


async def test_unknown_table_fails_at_start(database: Path) -> None:
    entities = {"Person": {**SOURCE["entities"]["Person"], "table": "penduduk"}}  # type: ignore[index]
    registry = registry_for(database, entities=entities)
    with pytest.raises(ConfigError, match="table 'penduduk'"):
        await registry.start()
    await registry.aclose()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "ftp"}, "kind is 'ftp'"),
        ({"agency": "NOPE"}, "no \\[\\[agencies\\]\\] entry"),
        ({"url": "env:SATUDATA_TEST_UNSET_VARIABLE"}, "SATUDATA_TEST_UNSET_VARIABLE, which is not set"),
        ({"entities": {"Person": {"table": "warga", "key": "id", "fields": {"nik": "nik"}}}}, "key must name"),
        ({"entities": {"Person": {"table": "warga", "key": "nik", "fields": {"nik": {"column": "nik", "transform": "rot13"}}}}}, "rot13"),
    ],
)
def test_config_mistakes_are_named_before_serving(database: Path, change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        registry_for(database, **change)


def test_an_entity_served_twice_is_refused(database: Path) -> None:
    source = {**SOURCE, "url": f"sqlite+aiosqlite:///{database}"}
    with pytest.raises(ConfigError, match="served by both"):
        ConnectorRegistry.from_config({"a": source, "b": source}, [{"code": "TEST"}])


async def test_a_database_that_is_not_there_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    source = {**SOURCE, "url": "postgresql+asyncpg://nobody@127.0.0.1:1/none", "timeout_s": 2}
    registry = ConnectorRegistry.from_config({"warga": source}, [{"code": "TEST"}])
    await registry.start()  # logs, does not raise: the source may come back
    from connectors import SourceUnavailable

    with pytest.raises(SourceUnavailable) as caught:
        await registry.session().fetch(SourceQuery("Person"))
    assert caught.value.extensions() == {"code": "SOURCE_UNAVAILABLE", "source": "warga"}
    assert "127.0.0.1" not in caught.value.message
    await registry.aclose()
