"""Finding 12: the audit chain is anchored outside the log, so a cut-off tail is caught.

Every test runs the log on SQLite and on the machine's PostgreSQL, and the checkpoints in
a private file and in the machine's Redis. Tampering goes past the triggers the way an
attacker with the database's superuser would (``Store.sql``: triggers dropped on a SQLite
copy, ``session_replication_role = replica`` on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.exceptions

from core import ConfigError
from gateway.access.audit import AuditLog, AuditSettings, AuditUnavailable
from gateway.access.audit.checkpoint import Checkpoint, Checkpointer, CheckpointStore
from gateway.access.audit.checkpoint_stores import FileCheckpointStore, open_checkpoint_store

from ...conftest import service_missing
from .test_audit import Store, pg_audit_database, record, satudata, store  # noqa: F401 (fixtures)

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = "checkpoint-key-for-the-tests-0123456789abcdef"
OTHER_KEY = "another-checkpoint-key-0123456789abcdefghij"


@pytest.fixture(scope="session")
def redis_reachable() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        service_missing("Redis", exc)
    finally:
        client.close()


@pytest.fixture(params=["file", "redis"])
def anchor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An ``[audit] checkpoint`` target of each kind, empty."""

    if request.param == "file":
        folder = tmp_path / "anchor"
        folder.mkdir(mode=0o700)
        yield f"file:{folder / 'audit-checkpoint.json'}"
        return
    request.getfixturevalue("redis_reachable")
    key = f"satudata:test:audit:checkpoint:{uuid.uuid4().hex[:8]}"
    yield f"{REDIS_URL}#{key}"
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(key)
    client.close()


def anchored(store: Store, anchor: str, *, key: str = KEY, every: int = 100, interval_s: float = 60.0) -> AuditLog:
    return AuditLog(
        store.url, checkpoints=Checkpointer(open_checkpoint_store(anchor), key, every=every, interval_s=interval_s)
    )


@pytest.fixture
async def written(store: Store, anchor: str) -> AsyncIterator[None]:
    """Five entries, written by a gateway that then shut down (and so checkpointed entry 5)."""

    log = anchored(store, anchor)
    await log.start()
    for i in range(1, 6):
        await log.append(record(i))
    await log.aclose()
    yield


async def verify(store: Store, anchor: str, *, key: str = KEY):  # type: ignore[no-untyped-def]
    log = anchored(store, anchor, key=key)
    try:
        return await log.verify()
    finally:
        await log.aclose()


async def cut_tail(store: Store, keep: int, *, move_head: str = "seq and hash") -> None:
    """Delete the entries after ``keep`` and move the head back (both columns, or only its seq)."""

    head = (
        f"UPDATE audit_head SET seq = {keep}, hash = (SELECT hash FROM audit_entry WHERE seq = {keep})"
        if move_head == "seq and hash"
        else f"UPDATE audit_head SET seq = {keep}"
    )
    await store.sql(f"DELETE FROM audit_entry WHERE seq > {keep}", f"DELETE FROM audit_subject WHERE seq > {keep}", head)


# --- the cut-off tail -------------------------------------------------------------------


@pytest.mark.parametrize(("cut", "first_missing"), [(1, 5), (2, 4)])
async def test_finding_12_a_tail_cut_off_with_the_head_moved_back_fails_verify_at_the_first_missing_entry(
    written: None, store: Store, anchor: str, cut: int, first_missing: int
) -> None:
    assert (await verify(store, anchor)).ok
    await cut_tail(store, 5 - cut)
    result = await verify(store, anchor)
    assert result.problem is not None, "a log cut back to a shorter, intact chain must not verify"
    assert (result.problem.seq, result.problem.kind) == (first_missing, "deleted"), result.problem
    missing = "entry 5 was" if cut == 1 else "entries 4..5 were"
    assert f"says the log reached entry 5, the last entry is {5 - cut}" in result.problem.detail
    assert f"{missing} cut off" in result.problem.detail
    assert result.checkpoint is not None and result.checkpoint.seq == 5


async def test_finding_12_one_entry_cut_off_the_tail_is_named_at_its_own_seq_not_as_a_bad_link(
    written: None, store: Store, anchor: str
) -> None:
    # The head's seq moved back, its hash left as it was: the log alone reads this as
    # "entry 4 was rewritten with its hash" (a bad link at 4); the checkpoint knows 5 is gone.
    await cut_tail(store, 4, move_head="seq only")
    problem = (await verify(store, anchor)).problem
    assert problem is not None and (problem.seq, problem.kind) == (5, "deleted"), problem


async def test_finding_12_a_chain_rewritten_and_relinked_up_to_the_checkpoint_fails_verify(
    written: None, store: Store, anchor: str
) -> None:
    rows = await store.sql("SELECT seq, record, prev_hash FROM audit_entry WHERE seq >= 3 ORDER BY seq")
    prev = str(rows[0][2])
    statements = []
    for seq, text, _ in rows:  # re-link from entry 3 on, as someone without the checkpoint would
        forged = str(text).replace("SURVEILANS_KLB", "PERENCANAAN_AGREGAT")
        hash_ = hashlib.sha256((prev + forged).encode()).hexdigest()
        statements.append(f"UPDATE audit_entry SET record = '{forged}', prev_hash = '{prev}', hash = '{hash_}' WHERE seq = {seq}")
        prev = hash_
    statements.append(f"UPDATE audit_head SET hash = '{prev}'")
    await store.sql(*statements)
    problem = (await verify(store, anchor)).problem
    assert problem is not None and (problem.seq, problem.kind) == (5, "bad_link"), problem
    assert "not the one the checkpoint" in problem.detail


async def test_finding_12_a_checkpoint_without_the_keys_hmac_fails_verify(
    written: None, store: Store, anchor: str
) -> None:
    problem = (await verify(store, anchor, key=OTHER_KEY)).problem
    assert problem is not None and problem.kind == "checkpoint" and "HMAC" in problem.detail, problem


async def test_finding_12_the_command_line_reports_the_cut_with_the_checkpoint_configured(
    written: None, store: Store, anchor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = store.config(tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'checkpoint = "{anchor}"\ncheckpoint_key = "env:SATUDATA_TEST_CHECKPOINT_KEY"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SATUDATA_TEST_CHECKPOINT_KEY", KEY)
    intact = satudata("audit", "verify", "--config", str(config))
    assert intact.returncode == 0 and "audit log intact: 5 entries" in intact.stdout, intact.stderr
    await cut_tail(store, 3)
    cut = satudata("audit", "verify", "--config", str(config))
    assert cut.returncode == 1, cut.stdout
    assert "audit log NOT intact: entry 4 deleted: the checkpoint of" in cut.stderr
    assert "entries 4..5 were cut off" in cut.stderr
    # Verifying writes nothing: the checkpoint still says 5, so a second run says the same.
    assert satudata("audit", "verify", "--config", str(config)).returncode == 1


# --- when checkpoints are written -------------------------------------------------------


async def latest_when(checkpoints: Checkpointer, seq: int, *, within_s: float = 5.0) -> Checkpoint:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        latest = await checkpoints.latest()
        if latest is not None and latest.seq >= seq:
            return latest
        assert asyncio.get_running_loop().time() < deadline, f"no checkpoint reached {seq}: {latest}"
        await asyncio.sleep(0.02)


async def test_finding_12_a_checkpoint_is_written_every_n_entries(store: Store, anchor: str) -> None:
    log = anchored(store, anchor, every=3)
    assert log.checkpoints is not None
    try:
        await log.start()
        entries = [await log.append(record(i)) for i in range(1, 4)]
        checkpoint = await latest_when(log.checkpoints, 3)
        assert (checkpoint.seq, checkpoint.hash) == (3, entries[2].hash) and checkpoint.verifies(KEY.encode())
        entries += [await log.append(record(i)) for i in range(4, 6)]
        await asyncio.sleep(0.2)
        assert (await log.checkpoints.latest()) == checkpoint, "entry 5 is not yet three past the last checkpoint"
        entries.append(await log.append(record(6)))
        assert (await latest_when(log.checkpoints, 6)).hash == entries[5].hash
        await log.append(record(7))
    finally:
        await log.aclose()
    closed = await verify(store, anchor)
    assert closed.ok and closed.checkpoint is not None and closed.checkpoint.seq == 7  # written at shutdown


async def test_finding_12_a_checkpoint_is_written_after_the_interval(store: Store, anchor: str) -> None:
    log = anchored(store, anchor, every=1000, interval_s=0.3)
    assert log.checkpoints is not None
    try:
        await log.start()
        await log.append(record(1))
        second = await log.append(record(2))
        checkpoint = await latest_when(log.checkpoints, 2, within_s=3)
        assert checkpoint.hash == second.hash
    finally:
        await log.aclose()


async def test_finding_12_a_store_keeps_the_latest_checkpoint_only(anchor: str) -> None:
    store: CheckpointStore = open_checkpoint_store(anchor)
    key = KEY.encode()
    try:
        assert await store.latest() is None
        assert await store.save(Checkpoint.sign(key, 5, "a" * 64))
        assert not await store.save(Checkpoint.sign(key, 3, "b" * 64)), "an older checkpoint must not replace a newer"
        assert not await store.save(Checkpoint.sign(key, 5, "c" * 64))
        latest = await store.latest()
        assert latest is not None and (latest.seq, latest.hash) == (5, "a" * 64) and latest.verifies(key)
    finally:
        await store.aclose()


async def test_finding_12_concurrent_checkpointers_leave_the_highest_seq(anchor: str) -> None:
    stores = [open_checkpoint_store(anchor) for _ in range(4)]
    key = KEY.encode()
    try:
        await asyncio.gather(*(stores[s % 4].save(Checkpoint.sign(key, s, f"{s:064x}")) for s in range(1, 41)))
        latest = await stores[0].latest()
        assert latest is not None and latest.seq == 40
    finally:
        for s in stores:
            await s.aclose()


async def test_finding_12_a_store_that_is_down_does_not_stop_appends_but_stops_verify(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    log = AuditLog(store.url, checkpoints=Checkpointer(open_checkpoint_store("redis://127.0.0.1:1/0"), KEY, every=1))
    try:
        with caplog.at_level(logging.ERROR, logger="satudata.audit"):
            await log.start()
            assert (await log.append(record(1))).seq == 1
            with pytest.raises(AuditUnavailable, match="cannot read the audit checkpoint"):
                await log.verify()
    finally:
        await log.aclose()
    assert any("audit checkpoint of entry 1 not written" in r.getMessage() for r in caplog.records)


async def test_finding_12_an_unreadable_checkpoint_file_fails_verify(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_text("{not json", encoding="utf-8")
    log = AuditLog(store.url, checkpoints=Checkpointer(FileCheckpointStore(path), KEY))
    try:
        await log.start()
        problem = (await log.verify()).problem
        assert problem is not None and problem.kind == "checkpoint" and "unreadable" in problem.detail
    finally:
        await log.aclose()


# --- configuration ----------------------------------------------------------------------


def test_finding_12_checkpoint_settings_are_read_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP_KEY", KEY)
    settings = AuditSettings.from_dict(
        {"audit": {"checkpoint": "file:anchor/cp.json", "checkpoint_key": "env:CP_KEY", "checkpoint_every": 10,
                   "checkpoint_interval_s": 5}},
        base_dir=tmp_path,
    )  # fmt: skip
    assert (settings.checkpoint, settings.checkpoint_key) == (f"file:{tmp_path / 'anchor/cp.json'}", KEY)
    assert (settings.checkpoint_every, settings.checkpoint_interval_s) == (10, 5.0)
    assert AuditSettings.from_dict({}).checkpoint is None
    refused = {
        "needs audit.checkpoint_key": {"checkpoint": "file:/x/cp.json"},
        "at least 32 characters": {"checkpoint": "file:/x/cp.json", "checkpoint_key": "short"},
        "must start with one of": {"checkpoint": "/x/cp.json", "checkpoint_key": KEY},
        "checkpoint_every must be a whole number of at least 1": {"checkpoint": REDIS_URL, "checkpoint_key": KEY, "checkpoint_every": 0},
        "checkpoint_interval_s must be a number above 0": {"checkpoint": REDIS_URL, "checkpoint_key": KEY, "checkpoint_interval_s": -1},
        "audit.checkpoint is not": {"checkpoint_key": KEY},
    }
    for message, table in refused.items():
        with pytest.raises(ConfigError, match=message):
            AuditSettings.from_dict({"audit": table})
