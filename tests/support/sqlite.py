"""A plain sqlite3 connection for tests that peek at or prepare a SQLite file directly."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike


@contextmanager
def sqlite_file(path: str | PathLike[str], **options: object) -> Iterator[sqlite3.Connection]:
    """``sqlite3.connect(path)`` for one block: commits (or rolls back on an error), then closes.

    sqlite3's own ``with conn:`` only ends the transaction and leaves the connection open; since
    Python 3.13 a connection collected unclosed raises ResourceWarning, which filterwarnings=error
    turns into a failure of whatever test happens to be running when it is collected.
    """

    conn = sqlite3.connect(path, **options)  # type: ignore[arg-type]
    try:
        with conn:
            yield conn
    finally:
        conn.close()
