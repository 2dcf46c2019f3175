"""Bearer JWTs from the regency's identity provider, verified by PyJWT against its JWKS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from .errors import Unauthenticated
from .jwks import JwksFile, JwksUrl, KeySource
from .principal import Principal
from .settings import JwtSettings, canonical_attribute

#: Far above any real token; refuses absurd inputs before base64 decoding them.
MAX_TOKEN_CHARS = 8192


class JwtVerifier:
    """Turns a bearer token into a ``Principal``, or raises ``Unauthenticated`` saying why."""

    def __init__(self, settings: JwtSettings, keys: KeySource) -> None:
        self.settings = settings
        self._keys = keys

    @classmethod
    def from_settings(cls, settings: JwtSettings, *, http: httpx.AsyncClient | None = None) -> JwtVerifier:
        keys: KeySource
        if settings.jwks_file is not None:
            keys = JwksFile(settings.jwks_file, settings.algorithms)
        else:
            assert settings.jwks_url is not None  # settings guarantee one of the two
            keys = JwksUrl(
                settings.jwks_url,
                settings.algorithms,
                cache_s=settings.jwks_cache_s,
                min_refresh_s=settings.jwks_min_refresh_s,
                timeout_s=settings.jwks_timeout_s,
                client=http,
            )
        return cls(settings, keys)

    async def aclose(self) -> None:
        await self._keys.aclose()

    async def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated(f"The bearer token is longer than {MAX_TOKEN_CHARS} characters.", reason="MALFORMED")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("The bearer token is not a well-formed JWT.", reason="MALFORMED") from None
        algorithm = header.get("alg")
        if algorithm not in self.settings.algorithms:
            # Refused before any key is chosen: "none", and HS256 signed with our public key.
            raise Unauthenticated(
                f"Bearer tokens signed with {_shown(algorithm)} are not accepted; "
                f"use {' or '.join(self.settings.algorithms)}.",
                reason="UNSUPPORTED_ALGORITHM",
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("The bearer token's kid header is not a string.", reason="MALFORMED")
        key = (await self._keys.keys()).find(kid, algorithm)
        if key is None:  # perhaps the provider rotated its keys since the last fetch
            key = (await self._keys.keys(refresh=True)).find(kid, algorithm)
        if key is None:
            raise Unauthenticated(
                "The bearer token names a signing key (kid) the identity provider does not publish.",
                reason="UNKNOWN_SIGNING_KEY",
            )
        claims = self._decode(token, key, algorithm)
        self._check_lifetime(claims)
        return self._principal(claims)

    def _decode(self, token: str, key: jwt.PyJWK, algorithm: str) -> dict[str, Any]:
        s = self.settings
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", s.subject_claim], "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The bearer token has expired; get a new one.", reason="EXPIRED") from None
        except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
            raise Unauthenticated(
                "The bearer token is not valid yet (its nbf or iat lies in the future).", reason="NOT_YET_VALID"
            ) from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(f"The bearer token was not issued by {s.issuer!r}.", reason="WRONG_ISSUER") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(
                f"The bearer token is not meant for this gateway (its audience must be {s.audience!r}).",
                reason="WRONG_AUDIENCE",
            ) from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("The bearer token's signature does not verify.", reason="BAD_SIGNATURE") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"The bearer token has no {exc.claim!r} claim.", reason="MISSING_CLAIM") from None
        except jwt.InvalidKeyError:
            raise Unauthenticated(
                "The bearer token's signing key is not usable (wrong type or too short).", reason="BAD_SIGNATURE"
            ) from None
        except jwt.PyJWTError:
            raise Unauthenticated("The bearer token is not a well-formed JWT.", reason="MALFORMED") from None

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        # PyJWT reads exp with int(), so "exp": "9999999999" passes its check: the claims must be
        # JSON numbers (RFC 7519 NumericDate), and the token may not outlive max_lifetime_s.
        for name in ("exp", "iat"):
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Unauthenticated(f"The bearer token's {name!r} claim is not a number.", reason="BAD_CLAIM")
        lifetime = claims["exp"] - claims["iat"]
        if lifetime > self.settings.max_lifetime_s:
            raise Unauthenticated(
                f"The bearer token lives longer than this gateway accepts ({self.settings.max_lifetime_s:.0f} s "
                "from iat to exp); get a shorter-lived one.",
                reason="LIFETIME_TOO_LONG",
            )

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        s = self.settings
        subject = claims.get(s.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated(f"The bearer token's {s.subject_claim!r} claim is not a string.", reason="BAD_CLAIM")
        role = _claim(claims, s.role_claim)
        if role is None:
            raise Unauthenticated(f"The bearer token has no {s.role_claim!r} claim.", reason="MISSING_CLAIM")
        if not isinstance(role, str) or not role:
            raise Unauthenticated(f"The bearer token's {s.role_claim!r} claim is not a string.", reason="BAD_CLAIM")
        attributes: dict[str, str] = {}
        for name, claim_name in s.attribute_claims.items():
            value = _claim(claims, claim_name)
            if value is None:
                continue
            try:
                attributes[name] = canonical_attribute(name, value)
            except ValueError as exc:
                raise Unauthenticated(f"The bearer token's {claim_name!r} claim: {exc}", reason="BAD_CLAIM") from None
        return Principal.for_jwt(s.issuer, subject, role, **attributes)


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _shown(value: object) -> str:
    # Header values are attacker-chosen: show a short repr, never a wall of text.
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."
