"""API keys: long random secrets, of which the config stores only the SHA-256.

A key has 256 bits of entropy, so a fast hash is enough (there is nothing to brute-force,
unlike a password); the config file can then be read, reviewed and committed without
granting anyone access.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import Unauthenticated
from .principal import Principal

#: Lets secret scanners and humans recognise a leaked key for what it is.
KEY_PREFIX = "sdk_"


def new_api_key() -> tuple[str, str]:
    """A fresh key and the SHA-256 hex digest that goes into ``[[clients]] key_sha256``."""

    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key_sha256(key)


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKeyClient:
    """One ``[[clients]]`` entry: the principal a key stands for, and the key's digest."""

    principal: Principal
    digest: bytes


class ApiKeyStore:
    """Finds the client an ``X-API-Key`` belongs to."""

    def __init__(self, clients: Sequence[ApiKeyClient]) -> None:
        self._clients = tuple(clients)

    def __len__(self) -> int:
        return len(self._clients)

    def principal_for(self, key: str) -> Principal:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        found: Principal | None = None
        # Compare against every entry, without stopping at a match, so the time taken
        # does not say how far down the list a digest matched.
        for client in self._clients:
            if hmac.compare_digest(digest, client.digest):
                found = client.principal
        if found is None:
            raise Unauthenticated("The API key is not one this gateway knows.", reason="UNKNOWN_API_KEY")
        return found
