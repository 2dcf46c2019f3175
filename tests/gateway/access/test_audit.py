"""The audit log on SQLite and on the machine's PostgreSQL: a chain nobody can quietly change."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from connectors import SourceTrace
from gateway.access.audit import GENESIS, AuditLog, AuditRecord, AuditUnavailable, SourceUse
from gateway.access.auth import Principal

from ...conftest import PG_ADMIN, service_missing
from ...support.sqlite import sqlite_file

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
EKO = "3503080809160001"
ZAKI = "3503085203140002"
RAFI = "3503081005850003"


def record(n: int, *, persons: tuple[str, ...] = (EKO,), client: str = "dinkes-surveilans") -> AuditRecord:
    return AuditRecord(
        time=T0 + timedelta(minutes=n),
        client_id=client,
        role="health_officer",
        purpose="SURVEILANS_KLB",
        operation=f"Op{n}",
        query_sha256=hashlib.sha256(f"query {n}".encode()).hexdigest(),
        persons=persons,
        fields=("Person.name", "Person.birthDate"),
        sources={"siak": SourceUse(calls=2, rows=len(persons))},
        request_id=f"req-{n}",
    )


# --- where the log lives ----------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_audit_database() -> Iterator[str]:
    """One PostgreSQL database for this test session, dropped at its end."""

    name = f"satudata_test_audit_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, ConnectionError) as exc:
        service_missing("PostgreSQL", exc)
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Store:
    """An empty audit database, and a superuser's raw access to it (for tampering)."""

    def __init__(self, kind: str, url: str, dsn: str) -> None:
        self.kind = kind
        self.url = url  # SQLAlchemy URL, as in [audit] url
        self.dsn = dsn  # PostgreSQL DSN, or the SQLite file's path

    def open(self) -> AuditLog:
        return AuditLog(self.url)

    async def sql(self, *statements: str) -> list[tuple[object, ...]]:
        """Run statements as someone who can get past the triggers; return the last one's rows."""

        if self.kind == "postgresql":
            conn = await asyncpg.connect(self.dsn, timeout=5)
            try:
                await conn.execute("SET session_replication_role = replica")  # superuser: triggers off
                rows: list[tuple[object, ...]] = []
                for statement in statements:
                    rows = [tuple(r) for r in await conn.fetch(statement)]
                return rows
            finally:
                await conn.close()
        with sqlite_file(self.dsn) as conn:  # SQLite cannot disable a trigger: drop them
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                conn.execute(f"DROP TRIGGER {name}")
            rows = []
            for statement in statements:
                rows = conn.execute(statement).fetchall()
        conn.close()
        return rows

    def config(self, folder: Path) -> Path:
        path = folder / "gateway.toml"
        table = f'url = "{self.url}"' if self.kind == "postgresql" else f'path = "{Path(self.dsn).name}"'
        path.write_text(f'[sources.siak]\nkind = "sql"\n\n[audit]\n{table}\n', encoding="utf-8")
        return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An empty audit database of each kind (a sync fixture: it runs outside the test's loop)."""

    if request.param == "sqlite":
        path = tmp_path / "audit.sqlite"
        return Store("sqlite", f"sqlite+aiosqlite:///{path}", str(path))
    dsn = request.getfixturevalue("pg_audit_database")
    store = Store("postgresql", dsn.replace("postgresql://", "postgresql+asyncpg://"), dsn)
    asyncio.run(store.sql("DROP TABLE IF EXISTS audit_entry, audit_subject, audit_head"))
    return store


@pytest.fixture
async def audit_log(store: Store) -> AsyncIterator[AuditLog]:
    log = store.open()
    await log.start()
    yield log
    await log.aclose()


async def filled(audit_log: AuditLog, n: int = 5) -> None:
    for i in range(1, n + 1):
        await audit_log.append(record(i, persons=(EKO, ZAKI) if i % 2 else (RAFI,)))


# --- appending and reading ----------------------------------------------------------------


async def test_appends_form_a_chain_anyone_can_recompute(audit_log: AuditLog, store: Store) -> None:
    entries = [await audit_log.append(record(i)) for i in range(1, 4)]
    assert [e.seq for e in entries] == [1, 2, 3]
    rows = await store.sql("SELECT seq, record, prev_hash, hash FROM audit_entry ORDER BY seq")
    prev = GENESIS
    for (seq, text, prev_hash, hash_), entry in zip(rows, entries, strict=True):
        # The documented formula, recomputed without the gateway's code.
        assert prev_hash == prev and hash_ == hashlib.sha256((prev + str(text)).encode()).hexdigest() == entry.hash
        assert json.loads(str(text))["seq"] == seq
        prev = str(hash_)
    result = await audit_log.verify()
    assert result.ok and (result.entries, result.head_seq, result.head_hash) == (3, 3, entries[-1].hash)


async def test_concurrent_appends_from_many_tasks_and_processes_keep_one_chain(store: Store) -> None:
    # Three AuditLog objects have three engines and no shared lock: only the database
    # serialises them, as it must for several gateway processes.
    logs = [store.open() for _ in range(3)]
    try:
        await logs[0].start()
        entries = await asyncio.gather(*(logs[i % 3].append(record(i)) for i in range(60)))
        assert sorted(e.seq for e in entries) == list(range(1, 61))
        result = await logs[1].verify(batch=7)
        assert result.ok and result.entries == 60, result.problem
    finally:
        for log in logs:
            await log.aclose()


async def test_concurrent_appends_share_commits_and_each_returns_once_its_entry_is_durable(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: appends made while a commit is under way go into the next transaction
    together (fewer commits than entries), yet every append returns only once its own entry
    can be read back from another connection, and the chain stays whole."""

    from sqlalchemy import event

    from gateway.access.audit import log as log_module

    log = store.open()
    await log.start()
    commits = 0

    def count(connection: object) -> None:
        nonlocal commits
        commits += 1

    # SQLite commits through SQLAlchemy; PostgreSQL writes each batch in a transaction of the
    # driver's own (no SQLAlchemy commit to count), so there the batches are counted.
    event.listen(log._engine.sync_engine, "commit", count)
    write_batch = log_module._write_batch_asyncpg

    async def counting(pg: object, records: list[AuditRecord]) -> object:
        count(pg)
        return await write_batch(pg, records)

    monkeypatch.setattr(log_module, "_write_batch_asyncpg", counting)
    durable: list[bool] = []
    readers = asyncio.Semaphore(4)  # another connection each, a few at a time

    async def append_and_read_back(i: int) -> None:
        entry = await log.append(record(i))
        async with readers:
            rows = await store.sql(f"SELECT seq FROM audit_entry WHERE seq = {entry.seq}")
        durable.append(len(rows) == 1)

    try:
        await asyncio.gather(*(append_and_read_back(i) for i in range(80)))
        assert durable == [True] * 80
        assert 0 < commits < 40, f"{commits} commits for 80 concurrent appends: they were not grouped"
        result = await log.verify(batch=9)
        assert result.ok and result.entries == 80, result.problem
    finally:
        await log.aclose()


async def test_an_append_whose_caller_stops_waiting_is_still_written(audit_log: AuditLog, store: Store) -> None:
    """A caller that stops waiting (its client left, its deadline ran out) does not take its
    entry back: the record errs towards the log, never away from it, and the chain goes on."""

    await audit_log.append(record(1))
    left = asyncio.create_task(audit_log.append(record(2, client="left-early")))
    await asyncio.sleep(0)  # queued, perhaps not yet written
    left.cancel()
    with pytest.raises(asyncio.CancelledError):
        await left
    after = await audit_log.append(record(3))
    assert after.seq == 3
    rows = await store.sql("SELECT record FROM audit_entry ORDER BY seq")
    assert [json.loads(str(text))["client_id"] for (text,) in rows] == ["dinkes-surveilans", "left-early", "dinkes-surveilans"]
    assert (await audit_log.verify()).ok


async def test_the_writer_keeps_its_connection_while_appends_keep_coming(store: Store) -> None:
    """Batches that follow each other within LINGER_S share one checked-out connection; after a
    quiet LINGER_S the writer gives it back; an append that comes later is written all the same."""

    from sqlalchemy import event

    log = store.open()
    await log.start()
    checkouts = 0

    def count(*_: object) -> None:
        nonlocal checkouts
        checkouts += 1

    event.listen(log._engine.sync_engine, "checkout", count)
    try:
        for i in range(1, 11):  # one at a time: ten batches, each started while the writer lingers
            await log.append(record(i))
        assert checkouts == 1, f"{checkouts} check-outs for ten batches in a row"
        await asyncio.sleep(log.LINGER_S * 3)
        assert log._writer is None, "an idle writer still holds its connection"
        assert log._engine.pool.checkedout() == 0
        entry = await log.append(record(11))
        assert entry.seq == 11 and checkouts == 2
        result = await log.verify()
        assert result.ok and result.entries == 11, result.problem
    finally:
        await log.aclose()


async def test_an_append_made_while_the_writer_closes_its_connection_is_written(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer stops taking appends before it awaits its connection's close: an append made in
    that moment starts a writer of its own instead of waking one that is leaving (it would wait
    for the append timeout and be refused)."""

    from sqlalchemy.ext.asyncio import AsyncConnection

    log = store.open()
    await log.start()
    closing = asyncio.Event()
    real_close = AsyncConnection.close

    async def slow_close(self: AsyncConnection) -> None:
        closing.set()
        await asyncio.sleep(0.5)
        await real_close(self)

    monkeypatch.setattr(AsyncConnection, "close", slow_close)
    try:
        await log.append(record(1))
        await asyncio.wait_for(closing.wait(), log.LINGER_S * 4)  # the writer gave up lingering
        started = asyncio.get_running_loop().time()
        entry = await log.append(record(2))
        assert entry.seq == 2 and asyncio.get_running_loop().time() - started < 2
    finally:
        monkeypatch.setattr(AsyncConnection, "close", real_close)
        await log.aclose()


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
async def test_a_held_connection_that_died_while_idle_costs_no_entry(store: Store) -> None:
    """The writer skips the pool's ping for the connection it holds: if the server dropped it
    (a restart, an idle reaper), the batch is written on a new connection, not refused."""

    log = store.open()
    await log.start()
    try:
        first = await log.append(record(1))
        killed = await store.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"
        )
        assert killed, "no idle connection of the writer to kill"
        second = await log.append(record(2))
        assert (first.seq, second.seq) == (1, 2)
        result = await log.verify()
        assert result.ok and result.entries == 2, result.problem
    finally:
        await log.aclose()


async def test_appends_from_separate_os_processes_keep_one_chain(audit_log: AuditLog, store: Store) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.gateway.access.test_audit import record
        from gateway.access.audit import AuditLog

        async def main():
            log = AuditLog({store.url!r})
            await asyncio.gather(*(log.append(record(i, client=sys.argv[1])) for i in range(15)))
            await log.aclose()

        asyncio.run(main())
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", script, f"gateway-{n}"], cwd=ROOT) for n in range(3)]
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0]
    result = await audit_log.verify()
    assert result.ok and result.entries == 45, result.problem


async def test_for_person_says_who_saw_the_person_when_and_why(audit_log: AuditLog) -> None:
    await audit_log.append(record(1, persons=(EKO, ZAKI)))
    await audit_log.append(record(2, persons=(RAFI,), client="dinsos"))
    await audit_log.append(record(3, persons=(ZAKI,), client="sdn-1-pakel"))
    seen = await audit_log.for_person(ZAKI)
    assert [(e.seq, e.record.client_id) for e in seen] == [(1, "dinkes-surveilans"), (3, "sdn-1-pakel")]
    assert seen[1].record == record(3, persons=(ZAKI,), client="sdn-1-pakel")
    assert seen[0].record.purpose == "SURVEILANS_KLB" and "Person.birthDate" in seen[0].record.fields
    assert await audit_log.for_person("3503089999990009") == []


def test_record_for_request_takes_what_the_request_path_has() -> None:
    trace = SourceTrace()
    trace.record("siak", rows=3, ms=1.0)
    trace.record("siak", rows=1, ms=1.0)
    trace.record("dapodik", rows=2, ms=1.0)
    principal = Principal(client_id="dinkes-surveilans", role="health_officer", kind="api_key")
    rec = AuditRecord.for_request(
        principal=principal, purpose="SURVEILANS_KLB", operation="Family", document="{ person { name } }",
        persons=[ZAKI, EKO, ZAKI], fields=["Person.name", "Family.kk", "Person.name"], trace=trace, request_id="r1",
    )  # fmt: skip
    assert rec.persons == (EKO, ZAKI) and rec.fields == ("Family.kk", "Person.name")
    assert rec.sources == {"dapodik": SourceUse(1, 2), "siak": SourceUse(2, 4)}
    assert rec.query_sha256 == hashlib.sha256(b"{ person { name } }").hexdigest()
    assert AuditRecord.from_json(rec.canonical_json(7)) == rec
    with pytest.raises(ValueError, match="timezone-aware"):
        AuditRecord(time=datetime(2026, 1, 1), client_id="c", role="r", purpose=None, operation=None, query_sha256="")


# --- tampering --------------------------------------------------------------------------


async def _rewrite_with_hash(store: Store) -> None:
    (seq, text, prev_hash), *_ = await store.sql("SELECT seq, record, prev_hash FROM audit_entry WHERE seq = 2")
    forged = str(text).replace("SURVEILANS_KLB", "PERENCANAAN_AGREGAT")
    forged_hash = hashlib.sha256((str(prev_hash) + forged).encode()).hexdigest()
    await store.sql(f"UPDATE audit_entry SET record = '{forged}', hash = '{forged_hash}' WHERE seq = 2")


async def _rewrite_last_with_hash(store: Store) -> None:
    (text, prev_hash), *_ = await store.sql("SELECT record, prev_hash FROM audit_entry WHERE seq = 5")
    forged = str(text).replace("SURVEILANS_KLB", "PERENCANAAN_AGREGAT")
    forged_hash = hashlib.sha256((str(prev_hash) + forged).encode()).hexdigest()
    await store.sql(f"UPDATE audit_entry SET record = '{forged}', hash = '{forged_hash}' WHERE seq = 5")


TAMPERING = {
    "edited": (["UPDATE audit_entry SET record = replace(record, 'SURVEILANS_KLB', 'PERENCANAAN') WHERE seq = 2"],
               2, "edited"),
    "rewritten with its hash": (_rewrite_with_hash, 3, "bad_link"),
    "deleted in the middle": (["DELETE FROM audit_entry WHERE seq = 3", "DELETE FROM audit_subject WHERE seq = 3"],
                              3, "deleted"),
    "tail cut off": (["DELETE FROM audit_entry WHERE seq >= 4", "DELETE FROM audit_subject WHERE seq >= 4"],
                     4, "deleted"),
    # Finding 12's "test that bites": one entry cut and the head's seq moved back was reported
    # as a bad link at 4 (the entry that is fine), not as entry 5 missing.
    "last entry cut off, head's seq moved back": (
        ["DELETE FROM audit_entry WHERE seq = 5", "DELETE FROM audit_subject WHERE seq = 5",
         "UPDATE audit_head SET seq = 4"], 5, "deleted"),
    "last entry rewritten with its hash": (_rewrite_last_with_hash, 5, "bad_link"),
    "reordered": (["UPDATE audit_entry SET seq = -1 WHERE seq = 2", "UPDATE audit_entry SET seq = 2 WHERE seq = 3",
                   "UPDATE audit_entry SET seq = 3 WHERE seq = -1"], 2, "reordered"),
    "contents swapped": (
        ["UPDATE audit_entry SET record = (SELECT record FROM audit_entry WHERE seq = 5) WHERE seq = 4"],
        4, "reordered"),
    "person hidden from the index": ([f"DELETE FROM audit_subject WHERE seq = 3 AND nik = '{ZAKI}'"], 3, "index"),
}  # fmt: skip


@pytest.mark.parametrize("case", TAMPERING)
async def test_verify_names_the_first_tampered_entry(audit_log: AuditLog, store: Store, case: str) -> None:
    await filled(audit_log)
    assert (await audit_log.verify()).ok
    tamper, seq, kind = TAMPERING[case]
    if callable(tamper):
        await tamper(store)
    else:
        await store.sql(*tamper)
    problem = (await audit_log.verify()).problem
    assert problem is not None and (problem.seq, problem.kind) == (seq, kind), problem


async def test_a_log_from_before_the_heads_prev_hash_verifies_and_gains_it_at_start(
    audit_log: AuditLog, store: Store
) -> None:
    await filled(audit_log, 3)
    await audit_log.aclose()
    await store.sql("ALTER TABLE audit_head DROP COLUMN prev_hash")  # as the first release made it
    old = store.open()
    try:
        assert (await old.verify()).ok  # read without being started: no prev_hash to compare
        await old.start()
        assert (await old.append(record(4))).seq == 4 and (await old.verify()).ok
        assert [str(h) for (h,) in await store.sql("SELECT prev_hash FROM audit_head")] == [
            str(h) for (h,) in await store.sql("SELECT hash FROM audit_entry WHERE seq = 3")
        ]
    finally:
        await old.aclose()


async def test_the_database_refuses_to_change_or_delete_entries(audit_log: AuditLog, store: Store) -> None:
    await filled(audit_log, 2)
    refused = (
        ["UPDATE audit_entry SET record = 'x' WHERE seq = 1", "DELETE FROM audit_entry WHERE seq = 2",
         "DELETE FROM audit_subject", "UPDATE audit_head SET seq = 1", "DELETE FROM audit_head"]
    )  # fmt: skip
    if store.kind == "postgresql":
        refused += ["TRUNCATE audit_entry", "TRUNCATE audit_subject"]
        conn = await asyncpg.connect(store.dsn, timeout=5)  # as the owner, triggers on
        try:
            for statement in refused:
                with pytest.raises(asyncpg.PostgresError, match="append-only|only moves forward"):
                    await conn.execute(statement)
        finally:
            await conn.close()
    else:
        with sqlite_file(store.dsn) as conn:
            for statement in refused:
                with pytest.raises(sqlite3.IntegrityError, match="append-only|only moves forward"):
                    conn.execute(statement)
    assert (await audit_log.verify()).ok and (await audit_log.append(record(3))).seq == 3


# --- failing closed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", "sqlite+aiosqlite:////nonexistent-dir/audit.sqlite"],
)
async def test_append_raises_audit_unavailable_when_it_cannot_write(url: str) -> None:
    log = AuditLog(url, timeout_s=2)
    try:
        with pytest.raises(AuditUnavailable) as caught:
            await log.append(record(1))
        assert caught.value.extensions() == {"code": "AUDIT_UNAVAILABLE"}
    finally:
        await log.aclose()


async def test_append_raises_audit_unavailable_when_the_lock_is_held_too_long(
    audit_log: AuditLog, store: Store
) -> None:
    if store.kind == "sqlite":
        blocker = sqlite3.connect(store.dsn, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        release = blocker.close
    else:
        conn = await asyncpg.connect(store.dsn, timeout=5)
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT * FROM audit_head FOR UPDATE")

        async def release_pg() -> None:
            await tx.rollback()
            await conn.close()

    audit_log.timeout_s = 0.5
    try:
        with pytest.raises(AuditUnavailable, match="within 0.5 s|locked"):
            await audit_log.append(record(1))
    finally:
        if store.kind == "sqlite":
            release()
        else:
            await release_pg()
    audit_log.timeout_s = 5
    assert (await audit_log.append(record(2))).seq == 1 and (await audit_log.verify()).ok


# --- the command line -------------------------------------------------------------------


def satudata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


async def test_cli_verify_and_person(audit_log: AuditLog, store: Store, tmp_path: Path) -> None:
    await filled(audit_log)
    config = store.config(tmp_path)

    ok = satudata("audit", "verify", "--config", str(config))
    assert ok.returncode == 0 and "audit log intact: 5 entries" in ok.stdout, ok.stderr

    table = satudata("audit", "person", ZAKI, "--config", str(config))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == f"3 recorded access(es) to the data of NIK {ZAKI}:"
    assert lines[1].split()[:6] == ["seq", "time", "client", "role", "purpose", "operation"]
    first = ["1", "2026-11-23T08:01:00Z", "dinkes-surveilans", "health_officer", "SURVEILANS_KLB", "Op1"]
    assert lines[2].split()[:6] == first

    as_json = json.loads(satudata("audit", "person", ZAKI, "--config", str(config), "--json").stdout)
    assert [a["seq"] for a in as_json["accesses"]] == [1, 3, 5]
    assert as_json["accesses"][0]["fields"] == ["Person.birthDate", "Person.name"]

    await store.sql("UPDATE audit_entry SET record = replace(record, 'Op4', 'Op9') WHERE seq = 4")
    broken = satudata("audit", "verify", "--config", str(config))
    assert broken.returncode == 1
    assert "audit log NOT intact: entry 4 edited: its content does not match its hash" in broken.stderr


def test_cli_verify_reports_a_missing_log(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[audit]\npath = "never-written.sqlite"\n', encoding="utf-8")
    result = satudata("audit", "verify", "--config", str(config))
    assert result.returncode == 2 and "there is no audit log at" in result.stderr
    assert not (tmp_path / "never-written.sqlite").exists()


def test_keygen_client_prints_a_key_and_a_config_entry_that_accepts_it() -> None:
    import tomllib

    from gateway.access.auth import Authenticator

    result = satudata("keygen-client", "--role", "school_operator", "--id", "sdn-1-pakel")
    assert result.returncode == 0, result.stderr
    key, entry = result.stdout.split("\n", 1)
    assert key not in entry and key not in result.stderr
    auth = Authenticator.from_settings(tomllib.loads(entry))
    principal = asyncio.run(auth.authenticate({"X-API-Key": key}))
    # The client id may carry its kind (``api-key:``) once identities are typed (issue 9, finding 18).
    assert (principal.client_id.removeprefix("api-key:"), principal.role) == ("sdn-1-pakel", "school_operator")


@pytest.mark.parametrize("key", ["k" * 32, "a-subject-key-of-the-regency-0123456789", "x" * 64, "é" * 40, "y" * 200])
def test_a_pseudonym_is_the_hmac_sha256_of_the_nik_under_the_key_every_time(key: str) -> None:
    """The documented formula, recomputed without the gateway's code, for keys shorter and longer
    than SHA-256's block; asking again (and for another NIK in between) gives the same name."""

    import hmac

    from gateway.access.audit.subjects import SubjectNames

    names = SubjectNames(key)
    niks = [EKO, ZAKI, RAFI, EKO]
    expected = ["hmac-sha256:" + hmac.new(key.encode(), nik.encode(), hashlib.sha256).hexdigest() for nik in niks]
    assert [names.stored(nik) for nik in niks] == expected
    assert expected[0] == expected[3] and len(set(expected)) == 3
    assert SubjectNames(None).stored(EKO) == EKO
