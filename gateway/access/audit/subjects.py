"""How the audit log names a data subject: the NIK, or a keyed pseudonym of it.

With ``[audit] subject_key`` set, the log never holds a NIK: each person in an entry is
``hmac-sha256:<hex>``, the HMAC-SHA256 of the NIK under that key. Whoever holds the key (the
gateway, the data protection officer running ``satudata audit person NIK``) can still find
every entry about a person; whoever only has a copy of the log learns nothing about who was
looked up. The hash is keyed because a plain SHA-256 of a NIK is no protection: NIKs are a
region code, a birth date and a serial, few enough to hash them all.

Entries written before a key was set keep their plain NIKs; a search looks for both forms.
Changing the key later leaves the older pseudonyms unfindable under the new one, so keep it
for as long as the log is kept (UU PDP Pasal 32 requests may come years later).
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "hmac-sha256:"
#: A key shorter than this is refused: it would be guessable, and with it every pseudonym.
MIN_KEY_CHARS = 32


class SubjectNames:
    """Turns NIKs into the names the audit log stores and searches for."""

    def __init__(self, key: str | None) -> None:
        if key is not None and len(key) < MIN_KEY_CHARS:
            raise ValueError(f"an audit subject key has at least {MIN_KEY_CHARS} characters")
        self._key = key.encode("utf-8") if key is not None else None
        # The HMAC keyed once; each NIK continues a copy of it (hmac's own copy: the same digest as
        # hmac.new(key, nik), without keying OpenSSL's context again for every person named).
        self._keyed = hmac.new(self._key, digestmod=hashlib.sha256) if self._key is not None else None

    @property
    def pseudonymous(self) -> bool:
        """Whether new entries store pseudonyms rather than NIKs."""

        return self._key is not None

    def stored(self, nik: str) -> str:
        """The name an entry stores for ``nik``."""

        if self._keyed is None:
            return nik
        mac = self._keyed.copy()
        mac.update(nik.encode("utf-8"))
        return PREFIX + mac.hexdigest()

    def search_terms(self, nik: str) -> tuple[str, ...]:
        """Every name under which entries about ``nik`` may be stored."""

        nik = nik.strip()
        return (nik,) if self._key is None else (nik, self.stored(nik))
