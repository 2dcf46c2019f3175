"""The ``[audit]`` table of the gateway config.

```toml
[audit]
path = "audit.sqlite"        # default: a SQLite file beside the config file
# url = "postgresql+asyncpg://gateway_audit@audit-db.internal/satudata_audit"   # or "env:AUDIT_DB_URL"
timeout_s = 5                # an append that takes longer fails (and the request with it)
subject_key = "env:SATUDATA_AUDIT_SUBJECT_KEY"   # store keyed pseudonyms of NIKs, never NIKs
checkpoint = "file:/var/lib/satudata-anchor/audit-checkpoint.json"   # or "redis://anchor:6379/0"
checkpoint_key = "env:SATUDATA_AUDIT_CHECKPOINT_KEY"   # HMAC key of the checkpoints (required with checkpoint)
checkpoint_every = 100       # entries between checkpoints
checkpoint_interval_s = 60   # and at most this many seconds (and at shutdown)
```

The checkpoint store anchors the chain outside the log (``gateway.access.audit.checkpoint``):
``satudata audit verify`` then detects a tail cut off the log.

Several gateway processes may share one PostgreSQL audit database; a SQLite file is for
one machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors import resolve_env
from core import ConfigError

from ...config_types import ENV, SECONDS, Int, Key, Str, Table, describe

from .checkpoint_stores import SCHEMES as CHECKPOINT_SCHEMES
from .subjects import MIN_KEY_CHARS

DEFAULT_PATH = "audit.sqlite"
_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


@dataclass(frozen=True)
class AuditSettings:
    """Where the audit log lives."""

    #: A SQLAlchemy async URL: ``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``.
    url: str
    #: Longest an append may take, lock wait included (default 5).
    timeout_s: float = 5.0
    #: With a key, entries name persons by HMAC-SHA256 of their NIK (``gateway.access.audit.subjects``).
    subject_key: str | None = None
    #: Where checkpoints of the chain head go: ``"file:PATH"`` (relative to the config file)
    #: or ``"redis://…"``; ``None`` (the default) writes none.
    checkpoint: str | None = None
    #: The HMAC key of the checkpoints (at least 32 characters; required with ``checkpoint``).
    checkpoint_key: str | None = None
    #: A checkpoint every this many entries (default 100) ...
    checkpoint_every: int = 100
    #: ... or this many seconds after the last one while entries come in (default 60), and at shutdown.
    checkpoint_interval_s: float = 60.0

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], *, base_dir: Path | None = None) -> AuditSettings:
        """Read ``config["audit"]`` (the whole parsed config file); every key is optional."""

        raw = config.get("audit", {})
        if not isinstance(raw, Mapping):
            raise ConfigError("[audit] must be a table")
        problems = AUDIT.problems(raw, "audit")
        if problems:
            raise ConfigError(describe(problems))
        if "path" in raw and "url" in raw:
            raise ConfigError("audit.path and audit.url both given: use path for SQLite, url for PostgreSQL")
        timeout = raw.get("timeout_s", 5.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError("audit.timeout_s must be a positive number of seconds")
        if "url" in raw:
            url = resolve_env("audit.url", raw["url"])
            if not url.startswith(_SCHEMES):
                raise ConfigError(f"audit.url must start with one of {list(_SCHEMES)}")
        else:
            path = Path(raw.get("path", DEFAULT_PATH))
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            url = f"sqlite+aiosqlite:///{path}"
        subject_key = None
        if "subject_key" in raw:
            subject_key = resolve_env("audit.subject_key", raw["subject_key"])
            if len(subject_key) < MIN_KEY_CHARS:
                raise ConfigError(
                    f"audit.subject_key must have at least {MIN_KEY_CHARS} characters; make one with `satudata keygen-secret`"
                )
        return cls(url=url, timeout_s=float(timeout), subject_key=subject_key, **_checkpoint(raw, base_dir))


#: The ``[audit]`` table's keys (in the config tree, ``gateway.config_schema``).
AUDIT = Table(
    description="The hash-chained audit log of who saw whose personal data (kept when a [policy] is set).",
    keys=(
        Key("path", Str(), "A SQLite file, relative to the config file.", "audit.sqlite"),
        Key("url", ENV, "Or a database URL: sqlite+aiosqlite:///... or postgresql+asyncpg://... (not with path)."),
        Key("timeout_s", SECONDS, "An append that takes longer fails (and the request with it).",
            AuditSettings.timeout_s),
        Key("subject_key", ENV, "Store keyed pseudonyms of NIKs, never NIKs (from `satudata keygen-secret`)."),
        Key("checkpoint", ENV, 'Where checkpoints of the chain head go: "file:PATH" or "redis://...".'),
        Key("checkpoint_key", ENV, "HMAC key of the checkpoints (required with checkpoint)."),
        Key("checkpoint_every", Int(minimum=1), "Entries between checkpoints.", AuditSettings.checkpoint_every),
        Key("checkpoint_interval_s", SECONDS, "And at most this many seconds (and at shutdown).",
            AuditSettings.checkpoint_interval_s),
    ),
)


def _checkpoint(raw: Mapping[str, Any], base_dir: Path | None) -> dict[str, Any]:
    if "checkpoint" not in raw:
        stray = sorted(k for k in raw if k.startswith("checkpoint_"))
        if stray:
            raise ConfigError(f"audit.{stray[0]} is set but audit.checkpoint is not: say where checkpoints go")
        return {}
    target = resolve_env("audit.checkpoint", raw["checkpoint"])
    if not target.startswith(CHECKPOINT_SCHEMES):
        raise ConfigError(
            f"audit.checkpoint must start with one of {list(CHECKPOINT_SCHEMES)} "
            '(e.g. "file:/var/lib/satudata-anchor/audit-checkpoint.json" or "redis://127.0.0.1:6379/0")'
        )
    if target.startswith("file:"):
        path = Path(target.removeprefix("file:"))
        if not path.is_absolute() and base_dir is not None:
            target = f"file:{base_dir / path}"
    if "checkpoint_key" not in raw:
        raise ConfigError(
            'audit.checkpoint needs audit.checkpoint_key (e.g. "env:SATUDATA_AUDIT_CHECKPOINT_KEY", '
            "made by `satudata keygen-secret`) to key its HMAC"
        )
    key = resolve_env("audit.checkpoint_key", raw["checkpoint_key"])
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(
            f"audit.checkpoint_key must have at least {MIN_KEY_CHARS} characters; make one with `satudata keygen-secret`"
        )
    every = raw.get("checkpoint_every", 100)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ConfigError("audit.checkpoint_every must be a whole number of entries, at least 1")
    interval = raw.get("checkpoint_interval_s", 60.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        raise ConfigError("audit.checkpoint_interval_s must be a positive number of seconds")
    return {"checkpoint": target, "checkpoint_key": key, "checkpoint_every": every, "checkpoint_interval_s": float(interval)}
