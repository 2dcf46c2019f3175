"""A list order that no value of the list's key decides: the order of a keyed digest of the key.

Keyset paging walks a list in its key's order, and a key's order can tell what the key's
reader may not see: a NIK holds its owner's sex (40 is added to a woman's day of birth) and
birth date, so residents listed in NIK order put a kecamatan's men before its women, and a
role that sees NIKs masked would read the hidden sex from a resident's place in the list.

``SourceQuery.shuffle`` (a secret salt) asks for the order of ``md5(salt || key as text)``
instead: the same for every page (paging stays keyset paging, on the digest), different per
salt, and unrelated to anything in the key without the salt. MD5 is used for what every SQL
engine computes itself (PostgreSQL's ``md5()``, MariaDB's ``MD5()``; SQLite gets this
module's function registered), not as a MAC: the salt's secrecy is what makes the order
unguessable, and collisions, which would only tie two places, do not matter.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["position", "sqlite_md5"]


def position(salt: str, key: Any) -> str:
    """A key's place in the shuffled order: ``md5(salt || str(key))`` in lowercase hex, as SQL computes it."""

    return hashlib.md5((salt + str(key)).encode("utf-8"), usedforsecurity=False).hexdigest()


def sqlite_md5(text: Any) -> str | None:
    """``md5(text)`` for SQLite, which has none: lowercase hex, as PostgreSQL's and MariaDB's."""

    if text is None:
        return None
    return hashlib.md5(str(text).encode("utf-8"), usedforsecurity=False).hexdigest()
