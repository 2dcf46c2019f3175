"""Sealed cursors: a page's position, encrypted so that a cursor tells nothing about the row.

A cursor names the key of the last row seen, and that key may be personal data: a page of
residents is keyed by NIK. A role that sees NIKs masked must not read them from
``edges.cursor`` instead, so each cursor is the key encrypted and authenticated with
AES-256-GCM under the gateway's cursor key:

    base64url( version 0x01 | 12-byte random nonce | ciphertext | 16-byte tag )

The nonce is fresh for every cursor, so the same row gives a different cursor each time and
cursors cannot be used to tell whether two answers hold the same person. Each cursor is bound
to the list it came from (its ``scope``: the entity and the list's conditions, e.g. the residents
of one desa whose name contains "SITI"), and to whatever the gateway binds the seal to with
``bound`` (the caller's role): a resident's cursor passed to ``schools(after:)``, a participant's
cursor passed to ``persons(after:)``, a cursor of one filter passed with another, or one role's (or one row scope's)
cursor sent by another role, is refused rather than compared with the wrong list's keys. A cursor made with another key or
for another scope, edited, or cut short fails the tag check and is refused as ``MALFORMED``.

Cursors stay valid as long as the key does: give every replica of a deployment the same
``[gateway] cursor_key``. Without one the gateway makes a key per process, and cursors end
with the process.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidInput

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16
#: Bound to every cursor with its scope, so that nothing else sealed with the same key is taken for one.
_PURPOSE = b"satudata:cursor:v1:"
#: What the list-order salts are derived with from the cursor key (``CursorSeal.order_salt``).
_ORDER_PURPOSE = b"satudata:list-order:v1"
#: A cursor longer than this is refused before any decoding (keys are short identifiers).
_MAX_CURSOR_CHARS = 512


class CursorSeal:
    """Turns list keys into opaque cursors and back, under one AES-256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a cursor key is {KEY_BYTES} bytes; got {len(key)}")
        self._aead = AESGCM(key)
        self._binding = b""
        self._order_key = hmac.new(key, _ORDER_PURPOSE, hashlib.sha256).digest()

    def bound(self, binding: str) -> CursorSeal:
        """A seal under the same key whose cursors open only with a seal bound alike (e.g. to a role)."""

        seal = object.__new__(CursorSeal)
        seal._aead = self._aead
        seal._binding = self._binding + binding.encode() + b"\x00"
        seal._order_key = self._order_key
        return seal

    def order_salt(self, name: str) -> str:
        """The secret salt of a shuffled list of ``name`` (e.g. ``"Person.nik"``; see
        ``connectors.shuffle``): derived from the cursor key, so the same on every replica that
        shares it and for as long as its cursors stay valid, and unknowable without it."""

        return _order_salt(self._order_key, name)

    @classmethod
    def generate(cls) -> CursorSeal:
        """A seal with a fresh random key (cursors then last as long as this object)."""

        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str) -> CursorSeal:
        """A seal from a key written as base64url text (what ``new_cursor_key`` prints)."""

        try:
            key = base64.urlsafe_b64decode(_padded(text.strip()))
        except (binascii.Error, ValueError):
            raise ValueError("a cursor key is base64url text") from None
        return cls(key)

    def seal(self, key: str, scope: str) -> str:
        """The cursor for the position just after ``key`` in a list of ``scope`` (an entity name)."""

        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, key.encode(), _PURPOSE + self._binding + scope.encode())
        return base64.urlsafe_b64encode(_VERSION + nonce + sealed).rstrip(b"=").decode()

    def open(self, cursor: str, scope: str) -> str:
        """The key inside ``cursor``; ``InvalidInput`` (``MALFORMED``) if this gateway did not make it
        for a list of ``scope``."""

        raw = b""
        if len(cursor) <= _MAX_CURSOR_CHARS:
            try:
                raw = base64.urlsafe_b64decode(_padded(cursor))
            except (binascii.Error, ValueError):
                raw = b""
        if len(raw) > 1 + _NONCE_BYTES + _TAG_BYTES and raw[:1] == _VERSION:
            nonce, sealed = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
            try:
                return self._aead.decrypt(nonce, sealed, _PURPOSE + self._binding + scope.encode()).decode()
            except (InvalidTag, UnicodeDecodeError):
                pass
        raise InvalidInput(
            "`after` is not a cursor of this list from this gateway (or it was made before the gateway's cursor key "
            "changed); pass a `cursor` or `pageInfo.endCursor` you received from this list.",
            argument="after",
            reason="MALFORMED",
        )


@functools.lru_cache(maxsize=64)
def _order_salt(order_key: bytes, name: str) -> str:
    # Once per key and list, not per list read: a page of 50 families asks for it 50 times.
    return hmac.new(order_key, name.encode(), hashlib.sha256).hexdigest()[:32]


def new_cursor_key() -> str:
    """A fresh cursor key as base64url text, for ``[gateway] cursor_key``."""

    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).rstrip(b"=").decode()


def _padded(text: str) -> bytes:
    return (text + "=" * (-len(text) % 4)).encode("ascii", errors="strict")


#: Used by contexts that were given no seal (scripts, tests of the vocabulary alone).
_PROCESS_SEAL: CursorSeal | None = None


def process_seal() -> CursorSeal:
    """One seal per process with a random key, made on first use."""

    global _PROCESS_SEAL
    if _PROCESS_SEAL is None:
        _PROCESS_SEAL = CursorSeal.generate()
    return _PROCESS_SEAL
