"""Files only the gateway's own user may read: the audit log, its checkpoints, secrets.

The audit log says who looked at whom; a config file holds the key that turns the log's
pseudonyms back into people. Either one readable by every local user undoes the point of
keeping it. So such files are created ``0600`` (``O_CREAT | O_EXCL`` with that mode, so
there is no moment when they are wider), in a directory made ``0700``, and a file found
wider at start-up is narrowed (the files the gateway owns) or refused (a secret-holding
config in production mode, which the operator must fix: the gateway does not chmod the
operator's config behind their back). Existing directories are only warned about: the
one the audit log was pointed at may be shared (``/var/lib``, the config's folder).

SQLite creates a database's ``-wal``, ``-shm`` and ``-journal`` files with the database
file's own mode, so a database created here ``0600`` keeps its companions ``0600`` too.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core import ConfigError

log = logging.getLogger("satudata.files")

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
#: Group and world bits: none of them may be set on a private file or directory.
_SHARED = stat.S_IRWXG | stat.S_IRWXO
#: The companions SQLite writes beside a database file.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def ensure_private_dir(path: Path | str, *, create: bool = True, narrow: bool = False) -> Path:
    """Make sure ``path`` is a directory, creating it (and missing parents) ``0700``.

    With ``create=False`` a missing directory is a ``FileNotFoundError``: the audit log does
    not invent the place it was told to live. An existing directory open to others is
    narrowed to ``0700`` only with ``narrow=True`` (a directory the caller owns outright,
    such as the demo's data folder); otherwise it is left as it is, with a warning. The
    audit log's folder may be ``/var/lib`` or the config's own (``/etc/satudata``): a
    gateway running as root that closed those would break the machine, while the files it
    puts there are ``0600`` from their first byte anyway.
    """

    path = Path(path)
    if not create and not path.is_dir():
        raise FileNotFoundError(f"directory {path} does not exist")
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it meanwhile: it is not ours to narrow
        os.chmod(directory, PRIVATE_DIR)  # mkdir's mode passes through the umask; say it exactly
    if path not in missing:
        if narrow:
            _narrow(path, PRIVATE_DIR, what="directory")
        elif not is_private(path):
            log.warning(
                "directory %s is open to others (mode %04o): the files the gateway keeps there are 0600, "
                "but others can see their names; give them a directory of their own (chmod 700)",
                path, stat.S_IMODE(path.stat().st_mode),
            )  # fmt: skip
    return path


def create_private_file(path: Path | str, *, create_dir: bool = True) -> Path:
    """Make sure ``path`` exists as a ``0600`` file (in a directory made ``0700`` if missing).

    A new file is created with that mode from the start (never wider, not even for a
    moment); an existing one of ours is narrowed to it, with a warning. The content of an
    existing file is left alone. ``create_dir=False``: the directory must already exist.
    An existing directory is not changed (see ``ensure_private_dir``).
    """

    path = Path(path)
    ensure_private_dir(path.parent, create=create_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), PRIVATE_FILE)
    except FileExistsError:
        _narrow(path, PRIVATE_FILE, what="file")
    else:
        os.close(fd)
    return path


def make_private(path: Path | str) -> None:
    """Narrow an existing file of ours to ``0600`` (nothing happens if it does not exist)."""

    path = Path(path)
    if path.exists():
        _narrow(path, PRIVATE_FILE, what="file")


def check_secret_file(path: Path | str, *, production: bool) -> None:
    """Refuse (production) or warn about a secret-holding file that others may read.

    ``ConfigError`` in production mode when the group or the world may read or write
    ``path``; a warning otherwise. Call it for the config file whenever that file holds a
    secret (an ``[audit]`` key, a cursor key, API key hashes) inline rather than as
    ``"env:VAR"``.
    """

    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & _SHARED:
        return
    message = (
        f"{path} holds secrets and is readable by others (mode {mode:04o}): "
        f"run `chmod 600 {path}`, or keep the secrets in the environment (\"env:VAR\")"
    )
    if production:
        raise ConfigError(message)
    log.warning("%s", message)


#: Config keys whose value is itself a secret, unless it names an environment variable.
_SECRET_KEYS = (("gateway", "cursor_key"), ("audit", "subject_key"), ("audit", "checkpoint_key"))
#: Config keys holding URLs, which are secrets when they carry a password.
_URL_KEYS = (
    ("audit", "url"), ("audit", "checkpoint"), ("ratelimit", "redis_url"), ("policy", "lookups", "redis_url"),
    ("documents", "redis_url"),
)
_PASSWORD_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]+@", re.IGNORECASE)


def inline_secrets(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The dotted keys of a parsed gateway config that hold a secret in the file itself
    (not as ``"env:VAR"``): keys, and URLs with a password, sources' included."""

    def value(path: tuple[str, ...]) -> Any:
        node: Any = raw
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        return node

    def inline(v: Any) -> bool:
        return isinstance(v, str) and bool(v) and not v.startswith("env:")

    found = [".".join(k) for k in _SECRET_KEYS if inline(value(k))]
    found += [".".join(k) for k in _URL_KEYS if inline(value(k)) and _PASSWORD_IN_URL.match(value(k))]
    sources = raw.get("sources")
    for name, source in (sources.items() if isinstance(sources, Mapping) else ()):
        url = source.get("url") if isinstance(source, Mapping) else None
        if inline(url) and _PASSWORD_IN_URL.match(url):
            found.append(f"sources.{name}.url")
    return tuple(found)


def is_private(path: Path | str) -> bool:
    """Whether neither group nor world has any access to ``path``."""

    return not stat.S_IMODE(Path(path).stat().st_mode) & _SHARED


def _narrow(path: Path, mode: int, *, what: str) -> None:
    info = path.stat()
    current = stat.S_IMODE(info.st_mode)
    if not current & _SHARED:
        return
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        log.warning("%s %s is open to others (mode %04o) and owned by another user: not changing it", what, path, current)
        return
    if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
        # A sticky directory (/tmp, /var/tmp) is shared by design: narrowing it would break every
        # other user of the machine. The file itself is still made private; say where to move it.
        log.warning("%s %s is a shared (sticky) directory: not changing it; give the file a directory of its own", what, path)
        return
    os.chmod(path, mode)
    log.warning("%s %s was open to others (mode %04o); now %04o", what, path, current, mode)


__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "SQLITE_COMPANIONS",
    "check_secret_file",
    "create_private_file",
    "ensure_private_dir",
    "inline_secrets",
    "is_private",
    "make_private",
]
