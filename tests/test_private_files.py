"""Finding 17: the audit log, its WAL and SHM, checkpoints, secret-holding configs and the demo
databases are their owner's alone (0600 files in 0700 directories).

The tests set the umask to 000 while files are created, so that a mode that is right only
because of a friendly umask shows up as wrong; and one test asks the kernel as another user.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import ConfigError
from gateway.access.audit import AuditLog
from gateway.access.audit.checkpoint import Checkpoint
from gateway.access.audit.checkpoint_stores import FileCheckpointStore
from gateway.private_files import check_secret_file, create_private_file, ensure_private_dir, inline_secrets

from .gateway.access.test_audit import record

KEY = b"checkpoint-key-for-the-tests-0123456789abcdef"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Create files as if under ``umask 000``: nothing is private by accident."""

    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def world_open_dir() -> Iterator[Path]:
    """A directory every local user may enter (pytest's own tmp_path is private to root)."""

    path = Path(tempfile.mkdtemp(prefix="satudata-private-files-", dir="/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- the helpers ------------------------------------------------------------------------


def test_finding_17_private_directories_and_files_are_created_0700_and_0600(tmp_path: Path, open_umask: None) -> None:
    nested = ensure_private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == mode(nested) == 0o700
    created = create_private_file(tmp_path / "c" / "secret.txt")
    assert mode(created) == 0o600 and mode(created.parent) == 0o700
    with pytest.raises(FileNotFoundError):
        ensure_private_dir(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()


def test_finding_17_existing_files_and_directories_are_narrowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o755)
    file = folder / "audit.sqlite"
    file.write_bytes(b"content stays")
    os.chmod(file, 0o644)
    with caplog.at_level(logging.WARNING, logger="satudata.files"):
        create_private_file(file)
    assert (mode(file), file.read_bytes()) == (0o600, b"content stays")
    assert any("was open to others (mode 0644)" in r.getMessage() for r in caplog.records)
    # A directory that was there before may be shared (/var/lib, the config's folder): warned about only ...
    assert mode(folder) == 0o755
    assert any(f"directory {folder} is open to others (mode 0755)" in r.getMessage() for r in caplog.records)
    # ... unless its owner says it is the gateway's own.
    ensure_private_dir(folder, narrow=True)
    assert mode(folder) == 0o700


def test_finding_17_a_secret_file_others_can_read_is_refused_in_production_and_warned_about_otherwise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[audit]\nsubject_key = "a-secret-that-is-long-enough-0123456789"\n', encoding="utf-8")
    os.chmod(config, 0o644)
    with pytest.raises(ConfigError, match=r"readable by others \(mode 0644\).*chmod 600"):
        check_secret_file(config, production=True)
    with caplog.at_level(logging.WARNING, logger="satudata.files"):
        check_secret_file(config, production=False)
    assert any("readable by others" in r.getMessage() for r in caplog.records)
    os.chmod(config, 0o640)
    with pytest.raises(ConfigError):
        check_secret_file(config, production=True)  # the group is others too
    os.chmod(config, 0o600)
    check_secret_file(config, production=True)
    assert mode(config) == 0o600, "the gateway never changes the operator's config itself"


def test_finding_17_the_secrets_a_config_holds_inline_are_named() -> None:
    config = {
        "gateway": {"cursor_key": "env:SATUDATA_CURSOR_KEY"},
        "audit": {"subject_key": "a-secret-that-is-long-enough-0123456789", "url": "postgresql+asyncpg://audit@db/a",
                  "checkpoint": "redis://:hunter2@anchor:6379/0", "checkpoint_key": "env:CP"},
        "sources": {"siak": {"url": "postgresql+asyncpg://siak:s3cret@db/siak"}, "dapodik": {"url": "env:DAPODIK"}},
        "ratelimit": {"redis_url": "redis://127.0.0.1:6379/0"},
    }  # fmt: skip
    assert inline_secrets(config) == ("audit.subject_key", "audit.checkpoint", "sources.siak.url")
    assert inline_secrets({"audit": {"subject_key": "env:KEY"}, "sources": {"siak": {"url": "sqlite+aiosqlite:///x"}}}) == ()


# --- the audit log ----------------------------------------------------------------------


async def test_finding_17_the_audit_log_and_its_wal_and_shm_are_created_0600(
    tmp_path: Path, open_umask: None
) -> None:
    folder = tmp_path / "audit"
    folder.mkdir(mode=0o700)
    database = folder / "audit.sqlite"
    log = AuditLog(f"sqlite+aiosqlite:///{database}")
    try:
        await log.append(record(1))
        companions = [database.with_name(database.name + s) for s in ("-wal", "-shm")]
        assert all(p.exists() for p in companions), "WAL mode keeps its two files while the log is open"
        assert {p.name: mode(p) for p in (database, *companions)} == {
            "audit.sqlite": 0o600, "audit.sqlite-wal": 0o600, "audit.sqlite-shm": 0o600,
        }  # fmt: skip
        assert (await log.verify()).ok
    finally:
        await log.aclose()


async def test_finding_17_an_existing_audit_log_open_to_others_is_narrowed_at_start(tmp_path: Path) -> None:
    database = tmp_path / "audit.sqlite"
    log = AuditLog(f"sqlite+aiosqlite:///{database}")
    await log.append(record(1))
    await log.aclose()
    for path in tmp_path.iterdir():
        os.chmod(path, 0o644)
    os.chmod(tmp_path, 0o755)
    (tmp_path / "audit.sqlite-wal").touch(mode=0o644)
    again = AuditLog(f"sqlite+aiosqlite:///{database}")
    try:
        await again.start()
        assert mode(database) == mode(tmp_path / "audit.sqlite-wal") == 0o600
        assert (await again.append(record(2))).seq == 2
    finally:
        await again.aclose()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")  # a laptop; the CI box is root
async def test_finding_17_another_local_user_cannot_read_the_audit_log(world_open_dir: Path) -> None:
    # Everything above the audit folder is open to every user; only the folder and file guard the log.
    folder = world_open_dir / "audit"
    folder.mkdir(mode=0o755)
    database = folder / "audit.sqlite"
    log = AuditLog(f"sqlite+aiosqlite:///{database}")
    try:
        await log.append(record(1))
    finally:
        await log.aclose()
    control = world_open_dir / "public.txt"
    control.write_text("anyone may read this\n", encoding="utf-8")
    os.chmod(control, 0o644)
    nobody = pwd.getpwnam("nobody")

    def read_as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/cat", str(path)], user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    assert read_as_nobody(control).returncode == 0, "the probe itself must be able to read an open file"
    probe = read_as_nobody(database)
    assert probe.returncode != 0 and "Permission denied" in probe.stderr, probe.stderr


async def test_finding_17_checkpoint_files_are_0600(tmp_path: Path, open_umask: None) -> None:
    folder = tmp_path / "anchor"
    folder.mkdir(mode=0o700)
    store = FileCheckpointStore(folder / "cp.json")
    assert await store.save(Checkpoint.sign(KEY, 1, "a" * 64))
    assert {p.name: mode(p) for p in folder.iterdir()} == {"cp.json": 0o600, "cp.json.lock": 0o600}


# --- the demo databases -----------------------------------------------------------------


def test_finding_17_the_demo_databases_are_created_0600(dataset, tmp_path: Path, open_umask: None) -> None:  # type: ignore[no-untyped-def]
    from demo.sqlite_demo import EDUCATION_FILE, GROUND_TRUTH_FILE, REGISTRY_FILE, generate_sqlite_demo

    data_dir = tmp_path / "demo-data"
    generate_sqlite_demo(data_dir, dataset)
    files = {name: mode(data_dir / name) for name in (REGISTRY_FILE, EDUCATION_FILE, GROUND_TRUTH_FILE)}
    assert files == dict.fromkeys(files, 0o600)
    assert mode(data_dir) == 0o700
