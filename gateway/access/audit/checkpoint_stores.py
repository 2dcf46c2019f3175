"""The second stores that hold audit checkpoints: a private file, or Redis.

``[audit] checkpoint`` chooses one:

- ``"file:/var/lib/satudata-anchor/audit-checkpoint.json"``: one JSON document, replaced
  atomically (written beside it, fsynced, renamed), ``0600`` in a ``0700`` directory that
  must exist. Put it where the audit database's users cannot write: another disk, another
  user's directory, a mount that is shipped off the machine.
- ``"redis://host:6379/0"`` (or ``rediss://``): the key ``satudata:audit:checkpoint``, or
  the one after a ``#`` (``"redis://host:6379/0#satudata:audit:checkpoint:east"``) when
  several audit logs share one Redis.

Both keep only the checkpoint with the highest seq, so gateway processes that share a log
can checkpoint it independently.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

import redis.asyncio
import redis.exceptions

from ...private_files import create_private_file, ensure_private_dir, make_private
from .checkpoint import Checkpoint, CheckpointStore
from .errors import AuditUnavailable

REDIS_KEY = "satudata:audit:checkpoint"
SCHEMES = ("file:", "redis://", "rediss://")

#: Keep the checkpoint with the higher seq: compare and set in one step on the server.
_SAVE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, stored = pcall(cjson.decode, current)
  if ok and type(stored) == 'table' and tonumber(stored.seq) and tonumber(stored.seq) >= tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


def open_checkpoint_store(target: str, *, base_dir: Path | None = None, timeout_s: float = 5.0) -> CheckpointStore:
    """The store ``[audit] checkpoint`` names (see the module docstring)."""

    if target.startswith("file:"):
        path = Path(target.removeprefix("file:"))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return FileCheckpointStore(path)
    if target.startswith(("redis://", "rediss://")):
        url, _, key = target.partition("#")
        return RedisCheckpointStore(url, timeout_s=timeout_s, key=key or REDIS_KEY)
    raise ValueError(f"a checkpoint store is one of {list(SCHEMES)}, not {target!r}")


class FileCheckpointStore:
    """One private JSON file; a ``.lock`` file beside it serialises writers across processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.where = f"file:{self.path}"

    async def save(self, checkpoint: Checkpoint) -> bool:
        return await asyncio.to_thread(self._save, checkpoint)

    async def latest(self) -> Checkpoint | None:
        return await asyncio.to_thread(self._latest)

    async def aclose(self) -> None:
        return None

    def _save(self, checkpoint: Checkpoint) -> bool:
        try:
            ensure_private_dir(self.path.parent, create=False)
            lock = create_private_file(self.path.with_name(self.path.name + ".lock"), create_dir=False)
            fd = os.open(lock, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = self._latest()
                except ValueError:
                    current = None  # unreadable: overwrite it with a good one
                if current is not None and current.seq >= checkpoint.seq:
                    return False
                staging = create_private_file(self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp"), create_dir=False)
                with open(staging, "w", encoding="utf-8") as out:
                    out.write(checkpoint.to_json() + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(staging, self.path)
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)  # the rename itself must survive a crash
                finally:
                    os.close(directory)
                return True
            finally:
                os.close(fd)  # releases the lock
        except OSError as exc:
            raise AuditUnavailable(f"cannot write the audit checkpoint to {self.where}: {exc}") from exc

    def _latest(self) -> Checkpoint | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditUnavailable(f"cannot read the audit checkpoint from {self.where}: {exc}") from exc
        make_private(self.path)
        return Checkpoint.from_json(text)


class RedisCheckpointStore:
    """One Redis key, written only forward (a Lua compare-and-set on the seq)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, key: str = REDIS_KEY) -> None:
        self._client = redis.asyncio.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._key = key
        pool = self._client.connection_pool.connection_kwargs
        self.where = f"redis://{pool.get('host', '?')}:{pool.get('port', '?')}/{pool.get('db', 0)} key {key}"

    async def save(self, checkpoint: Checkpoint) -> bool:
        try:
            kept = await self._client.eval(_SAVE_IF_NEWER, 1, self._key, checkpoint.seq, checkpoint.to_json())  # type: ignore[misc]
        except (redis.exceptions.RedisError, OSError) as exc:
            raise AuditUnavailable(f"cannot write the audit checkpoint to {self.where}: {exc}") from exc
        return bool(kept)

    async def latest(self) -> Checkpoint | None:
        try:
            raw = await self._client.get(self._key)
        except (redis.exceptions.RedisError, OSError) as exc:
            raise AuditUnavailable(f"cannot read the audit checkpoint from {self.where}: {exc}") from exc
        if raw is None:
            return None
        return Checkpoint.from_json(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))

    async def aclose(self) -> None:
        await self._client.aclose()
