"""The ``[audit]`` table of the gateway config.

```toml
[audit]
path = "audit.sqlite"        # default: a SQLite file beside the config file
# url = "postgresql+asyncpg://gateway_audit@audit-db.internal/satudata_audit"   # or "env:AUDIT_DB_URL"
timeout_s = 5                # an append that takes longer fails (and the request with it)
subject_key = "env:SATUDATA_AUDIT_SUBJECT_KEY"   # store keyed pseudonyms of NIKs, never NIKs
```

Several gateway processes may share one PostgreSQL audit database; a SQLite file is for
one machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors import ConfigError, resolve_env

from .subjects import MIN_KEY_CHARS

DEFAULT_PATH = "audit.sqlite"
_KEYS = {"path", "url", "timeout_s", "subject_key"}
_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


@dataclass(frozen=True)
class AuditSettings:
    """Where the audit log lives."""

    #: A SQLAlchemy async URL: ``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``.
    url: str
    #: Longest an append may take, lock wait included (default 5).
    timeout_s: float = 5.0
    #: With a key, entries name persons by HMAC-SHA256 of their NIK (``gateway.audit.subjects``).
    subject_key: str | None = None

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], *, base_dir: Path | None = None) -> AuditSettings:
        """Read ``config["audit"]`` (the whole parsed config file); every key is optional."""

        raw = config.get("audit", {})
        if not isinstance(raw, Mapping):
            raise ConfigError("[audit] must be a table")
        unknown = set(raw) - _KEYS
        if unknown:
            raise ConfigError(f"audit has unknown keys {sorted(unknown)}; expected {sorted(_KEYS)}")
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
        return cls(url=url, timeout_s=float(timeout), subject_key=subject_key)
