"""``Authenticator``: request headers in, ``Principal`` out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from .api_keys import ApiKeyStore
from .bearer import JwtVerifier
from .errors import Unauthenticated
from .principal import ANONYMOUS, Principal
from .settings import AuthSettings

log = logging.getLogger("satudata.auth")

#: The headers that carry a credential (lower-case name -> as written in messages).
CREDENTIAL_HEADERS = {"x-api-key": "X-API-Key", "authorization": "Authorization"}


class Authenticator:
    """Decides who is calling, from ``X-API-Key`` or ``Authorization: Bearer <jwt>``.

    No credentials at all is the ``ANONYMOUS`` principal (what it may see is the policy's
    call, not this class's); credentials that do not check out raise ``Unauthenticated``.
    Sending both headers is refused rather than guessing which one was meant.
    """

    def __init__(self, api_keys: ApiKeyStore, jwt: JwtVerifier | None = None) -> None:
        self.api_keys = api_keys
        self.jwt = jwt

    @classmethod
    def from_settings(
        cls, config: Mapping[str, Any], *, base_dir: Path | None = None, http: httpx.AsyncClient | None = None
    ) -> Authenticator:
        """Build from the parsed config file (its ``[[clients]]`` and ``[auth.jwt]``).

        Raises ``ConfigError`` naming the key. ``base_dir`` resolves a relative
        ``jwks_file``; ``http`` replaces the client that fetches ``jwks_url`` (tests).
        """

        settings = AuthSettings.from_dict(config, base_dir=base_dir)
        verifier = None if settings.jwt is None else JwtVerifier.from_settings(settings.jwt, http=http)
        return cls(ApiKeyStore(settings.clients), verifier)

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller of a request with these headers (any ``Mapping``; names are case-insensitive).

        Starlette's ``Headers.items()`` yields every field, repeated ones included: a request
        carrying a credential twice is refused, never decided by which copy comes last.
        """

        seen: dict[str, list[str]] = {}
        for name, value in headers.items():
            if name.lower() in CREDENTIAL_HEADERS:
                seen.setdefault(name.lower(), []).append(value)
        for name, values in seen.items():
            if len(values) > 1:
                raise Unauthenticated(
                    f"Send one {CREDENTIAL_HEADERS[name]} header, not {len(values)}.", reason="AMBIGUOUS"
                )
        api_key = seen["x-api-key"][0] if "x-api-key" in seen else None
        authorization = seen["authorization"][0] if "authorization" in seen else None
        if api_key is not None and authorization is not None:
            raise Unauthenticated("Send either X-API-Key or Authorization, not both.", reason="AMBIGUOUS")
        if api_key is not None:
            api_key = api_key.strip()
            if not api_key:
                raise Unauthenticated("The X-API-Key header is empty.", reason="MALFORMED")
            return self.api_keys.principal_for(api_key)
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer":
                raise Unauthenticated(
                    "The Authorization header must use the Bearer scheme (or send X-API-Key).",
                    reason="UNSUPPORTED_SCHEME",
                )
            token = token.strip()
            if not token:
                raise Unauthenticated("The Authorization header carries no token.", reason="MALFORMED")
            if self.jwt is None:
                raise Unauthenticated("This gateway does not accept bearer tokens.", reason="JWT_NOT_CONFIGURED")
            return await self.jwt.verify(token)
        return ANONYMOUS

    async def aclose(self) -> None:
        """Close the JWKS client, if one was made here."""

        if self.jwt is not None:
            await self.jwt.aclose()
