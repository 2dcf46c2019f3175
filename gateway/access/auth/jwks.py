"""Where the identity provider's public signing keys come from: a JWKS file or its URL.

The URL is fetched with httpx rather than ``jwt.PyJWKClient``: PyJWKClient blocks on
urllib, so it would need a worker thread per fetch, and on a cold cache every waiting
request would start its own. Here one task fetches (``asyncio.Lock``) while the others
wait, the fetch honours a timeout, and a token naming an unknown ``kid`` (a key rotation)
triggers at most one re-fetch per ``min_refresh_s``, so a flood of forged ``kid`` values
cannot turn the gateway into a load generator against the provider. PyJWT still parses
the keys (``PyJWK``) and verifies the signatures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from jwt import PyJWK, PyJWTError

from core import ConfigError

from .errors import AuthUnavailable

log = logging.getLogger("satudata.auth")


@dataclass(frozen=True)
class SigningKeys:
    """The usable keys of one JWKS: signature keys of an accepted algorithm only."""

    keys: tuple[PyJWK, ...]

    def find(self, kid: str | None, algorithm: str) -> PyJWK | None:
        """The key for a token's ``kid`` and ``alg``; a token without ``kid`` needs a lone key."""

        candidates = [k for k in self.keys if k.algorithm_name == algorithm]
        if kid is None:
            return candidates[0] if len(candidates) == 1 else None
        return next((k for k in candidates if k.key_id == kid), None)


def parse_jwks(document: Any, algorithms: tuple[str, ...]) -> SigningKeys:
    """Keep the keys a token may be verified with; ``ValueError`` if none is left."""

    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS: no 'keys' array")
    usable: list[PyJWK] = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(jwk)
        except PyJWTError:
            continue  # a kind of key we never verify with (e.g. a symmetric "oct" key)
        if key.algorithm_name in algorithms:
            usable.append(key)
    if not usable:
        raise ValueError(f"no signature key for {', '.join(algorithms)}")
    return SigningKeys(tuple(usable))


class KeySource(Protocol):
    """The verifier's seam to the keys; ``refresh=True`` asks for a re-read (unknown ``kid``)."""

    async def keys(self, *, refresh: bool = False) -> SigningKeys: ...

    async def aclose(self) -> None: ...


class JwksFile:
    """Keys from a JWKS file, read at start-up and again when it changes on disk."""

    def __init__(self, path: Path, algorithms: tuple[str, ...]) -> None:
        self.path = path
        self.algorithms = algorithms
        try:
            self._mtime, self._keys = self._read()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"auth.jwt.jwks_file {path}: {exc}") from exc

    def _read(self) -> tuple[float, SigningKeys]:
        mtime = self.path.stat().st_mtime
        return mtime, parse_jwks(json.loads(self.path.read_text(encoding="utf-8")), self.algorithms)

    async def keys(self, *, refresh: bool = False) -> SigningKeys:
        if refresh:
            try:
                if self.path.stat().st_mtime != self._mtime:
                    self._mtime, self._keys = self._read()
            except (OSError, ValueError) as exc:
                log.warning("keeping the previous keys: cannot re-read %s: %s", self.path, exc)
        return self._keys

    async def aclose(self) -> None:
        return None


class _FetchFailed(Exception):
    pass


class JwksUrl:
    """Keys from the identity provider's JWKS URL, cached for ``cache_s`` seconds.

    When the provider cannot be reached, keys already fetched stay in use (signing keys
    rotate rarely, and refusing every caller for a provider outage would be worse);
    with no keys at all, ``AuthUnavailable`` is raised.
    """

    def __init__(
        self,
        url: str,
        algorithms: tuple[str, ...],
        *,
        cache_s: float = 300.0,
        timeout_s: float = 5.0,
        min_refresh_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.algorithms = algorithms
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None
        self._keys: SigningKeys | None = None
        self._next_fetch_at = -math.inf
        self._last_attempt = -math.inf
        self._lock = asyncio.Lock()

    def _due(self, now: float, refresh: bool) -> bool:
        return now >= self._next_fetch_at or (refresh and now >= self._last_attempt + self.min_refresh_s)

    async def keys(self, *, refresh: bool = False) -> SigningKeys:
        if self._keys is not None and not self._due(time.monotonic(), refresh):
            return self._keys
        async with self._lock:
            now = time.monotonic()
            if self._due(now, refresh):  # else another task fetched while this one waited
                self._last_attempt = now
                try:
                    self._keys = await self._fetch()
                    self._next_fetch_at = now + self.cache_s
                except _FetchFailed as exc:
                    self._next_fetch_at = now + self.min_refresh_s
                    log.warning("cannot fetch the JWKS: %s%s", exc, "; keeping the cached keys" if self._keys else "")
            if self._keys is None:
                raise AuthUnavailable(
                    "The identity provider's signing keys cannot be read right now; try again shortly."
                )
            return self._keys

    async def _fetch(self) -> SigningKeys:
        try:
            response = await self._client.get(self.url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise _FetchFailed(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise _FetchFailed(f"{self.url} answered HTTP {response.status_code}")
        try:
            return parse_jwks(response.json(), self.algorithms)
        except ValueError as exc:
            raise _FetchFailed(f"{self.url} did not answer a usable JWKS: {exc}") from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
