"""The ``[[clients]]`` and ``[auth.jwt]`` tables of the gateway config, checked at start-up.

```toml
[[clients]]                         # one entry per API-key client
id = "dinkes-surveilans"
role = "health_officer"
key_sha256 = "9f86d0…"              # `satudata keygen-client --role ROLE` prints key and digest
region = "35.03.08"                 # optional attributes: school (NPSN), region, agency

[auth.jwt]                          # optional: accept bearer tokens from the regency's identity provider
jwks_url = "https://sso.example/realms/satudata/protocol/openid-connect/certs"   # or jwks_file = "jwks.json"
issuer = "https://sso.example/realms/satudata"
audience = "satudata-gateway"
algorithms = ["RS256", "ES256"]     # the default; nothing else is accepted
role_claim = "role"                 # dotted paths reach into objects: "satudata.role"
subject_claim = "sub"
leeway_s = 30                       # clock skew allowed on exp / nbf / iat
max_lifetime_s = 86400              # exp - iat may be at most this; exp and iat are required numbers
jwks_cache_s = 300                  # keys are re-fetched after this, or sooner for an unknown kid,
jwks_min_refresh_s = 30             # but never more often than this (forged kids cannot flood the provider)
attribute_claims = { school = "npsn", region = "kode_wilayah" }
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors import resolve_env
from core import ConfigError, SatudataError
from resolvers.identifiers import validate_npsn, validate_region_code

from ...config_types import ENV, Choice, Key, ListOf, MapOf, Number, Str, Table, describe
from .api_keys import ApiKeyClient
from .principal import ATTRIBUTES, Principal

#: Asymmetric algorithms only: the gateway holds no secret that could sign a token, and
#: an HMAC algorithm would let anyone holding the (public) key mint one.
SUPPORTED_ALGORITHMS = ("RS256", "ES256")

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class JwtSettings:
    """How bearer tokens are verified. Exactly one of ``jwks_file`` and ``jwks_url`` is set."""

    issuer: str
    audience: str
    jwks_file: Path | None = None
    jwks_url: str | None = None
    #: Accepted signing algorithms; a subset of RS256 and ES256 (default: both).
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS
    #: Claim holding the role (dotted path into nested objects; default ``role``).
    role_claim: str = "role"
    #: Claim naming the caller; ``Principal.client_id`` is ``jwt:<issuer>:<this claim>`` (default ``sub``).
    subject_claim: str = "sub"
    #: Principal attribute -> claim, e.g. ``{"school": "npsn"}``.
    attribute_claims: Mapping[str, str] = field(default_factory=dict)
    #: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (default 30).
    leeway_s: float = 30.0
    #: Longest a token may live, ``exp - iat`` in seconds (default 86400, a day): a token the
    #: provider minted for years (or a forged-looking ``exp`` in 9999) is refused, not honoured.
    max_lifetime_s: float = 86400.0
    #: Seconds a fetched JWKS is trusted before it is fetched again (default 300).
    jwks_cache_s: float = 300.0
    #: Least seconds between two fetches of the JWKS, whatever triggers them (default 30).
    jwks_min_refresh_s: float = 30.0
    #: Longest a JWKS fetch may take (default 5).
    jwks_timeout_s: float = 5.0


@dataclass(frozen=True)
class AuthSettings:
    clients: tuple[ApiKeyClient, ...] = ()
    jwt: JwtSettings | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, base_dir: Path | None = None) -> AuthSettings:
        """Read ``raw["clients"]`` and ``raw["auth"]`` (the whole parsed config file)."""

        clients = raw.get("clients", [])
        if not isinstance(clients, list):
            raise ConfigError("clients must be an array of tables: write each client as [[clients]]")
        auth = raw.get("auth", {})
        if not isinstance(auth, Mapping) or set(auth) - {"jwt"}:
            raise ConfigError("[auth] may only contain [auth.jwt]")
        jwt = auth.get("jwt")
        return cls(
            clients=_clients(clients),
            jwt=None if jwt is None else _jwt(jwt, base_dir),
        )


def _clients(entries: Sequence[Any]) -> tuple[ApiKeyClient, ...]:
    parsed: list[ApiKeyClient] = []
    seen_ids: set[str] = set()
    seen_digests: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"clients[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a table")
        if "key" in entry or "api_key" in entry:
            raise ConfigError(
                f"{where} holds a key in clear: store only key_sha256 "
                "(`satudata keygen-client --role ROLE` prints a new key and its digest)"
            )
        problems = CLIENT.problems(entry, where)
        if problems:
            raise ConfigError(describe(problems))
        client_id = _text(entry, "id", where)
        where = f"clients[{i}] ({client_id})"
        digest = _text(entry, "key_sha256", where).lower()
        if not _SHA256_HEX.match(digest):
            raise ConfigError(f"{where}.key_sha256 must be 64 hexadecimal digits (the SHA-256 of the key)")
        if client_id in seen_ids:
            raise ConfigError(f"{where}: client id {client_id!r} is configured twice")
        if digest in seen_digests:
            raise ConfigError(f"{where}: key_sha256 is the same as an earlier client's; give each client its own key")
        seen_ids.add(client_id)
        seen_digests.add(digest)
        attributes = {name: _attribute(name, entry[name], where) for name in ATTRIBUTES if name in entry}
        principal = Principal.for_api_key(client_id, _text(entry, "role", where), **attributes)
        parsed.append(ApiKeyClient(principal=principal, digest=bytes.fromhex(digest)))
    return tuple(parsed)


def _jwt(raw: Any, base_dir: Path | None) -> JwtSettings:
    where = "auth.jwt"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table")
    problems = JWT.problems(raw, where)
    if problems:
        raise ConfigError(describe(problems))
    if ("jwks_file" in raw) == ("jwks_url" in raw):
        raise ConfigError(f"{where} needs exactly one of jwks_file and jwks_url (where the signing keys are)")
    jwks_file = None
    if "jwks_file" in raw:
        jwks_file = Path(_text(raw, "jwks_file", where))
        if not jwks_file.is_absolute() and base_dir is not None:
            jwks_file = base_dir / jwks_file
    jwks_url = None
    if "jwks_url" in raw:
        jwks_url = resolve_env(f"{where}.jwks_url", _text(raw, "jwks_url", where))
        if not jwks_url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}.jwks_url must be an http(s) URL")
    algorithms = tuple(raw.get("algorithms", SUPPORTED_ALGORITHMS))
    bad = [a for a in algorithms if a not in SUPPORTED_ALGORITHMS]
    if bad or not algorithms:
        raise ConfigError(f"{where}.algorithms may only list {list(SUPPORTED_ALGORITHMS)}; got {list(algorithms)}")
    claims = raw.get("attribute_claims", {})
    if not isinstance(claims, Mapping) or set(claims) - set(ATTRIBUTES):
        raise ConfigError(f"{where}.attribute_claims maps attributes {list(ATTRIBUTES)} to claim names")
    return JwtSettings(
        issuer=_text(raw, "issuer", where),
        audience=_text(raw, "audience", where),
        jwks_file=jwks_file,
        jwks_url=jwks_url,
        algorithms=algorithms,
        role_claim=str(raw.get("role_claim", "role")),
        subject_claim=str(raw.get("subject_claim", "sub")),
        attribute_claims={str(k): str(v) for k, v in claims.items()},
        leeway_s=_seconds(raw, "leeway_s", 30.0, where),
        max_lifetime_s=_seconds(raw, "max_lifetime_s", 86400.0, where),
        jwks_cache_s=_seconds(raw, "jwks_cache_s", 300.0, where),
        jwks_min_refresh_s=_seconds(raw, "jwks_min_refresh_s", 30.0, where),
        jwks_timeout_s=_seconds(raw, "jwks_timeout_s", 5.0, where),
    )


#: The ``[[clients]]`` and ``[auth]`` tables' keys (in the config tree, ``gateway.config_schema``).
CLIENT = Table(
    description="An API-key client (`satudata keygen-client --role ROLE` prints its key and this entry).",
    refused={
        name: "holds a key in clear: store only key_sha256 (`satudata keygen-client --role ROLE` prints a new key "
        "and its digest)"
        for name in ("key", "api_key")
    },
    keys=(
        Key("id", Str(), "The client's id (in the audit log).", required=True),
        Key("role", Str(), "Its role, from [policy.roles].", required=True),
        Key("key_sha256", Str(pattern="[0-9a-fA-F]{64}", pattern_doc="64 hexadecimal digits"),
            "SHA-256 of its key (the key itself is stored nowhere).", required=True),
        Key("description", Str(), "Who the client is.", ""),
        *(Key(name, Str(), f"Principal attribute `{name}` (row scopes compare with it).") for name in ATTRIBUTES),
    ),
)

JWT = Table(
    description="How bearer tokens (JWT) are verified; exactly one of jwks_file and jwks_url.",
    keys=(
        Key("issuer", Str(), "Expected `iss`.", required=True),
        Key("audience", Str(), "Expected `aud`.", required=True),
        Key("jwks_file", Str(), "The signing keys (JWKS), relative to the config file."),
        Key("jwks_url", ENV, "Where to fetch the signing keys."),
        Key("algorithms", ListOf(Choice(SUPPORTED_ALGORITHMS)), "Accepted algorithms.",
            list(JwtSettings.algorithms)),
        Key("role_claim", Str(), "Claim holding the role (dotted path).", JwtSettings.role_claim),
        Key("subject_claim", Str(), "Claim naming the caller.", JwtSettings.subject_claim),
        Key("attribute_claims", MapOf(Str(), name="attribute"), "Principal attribute -> claim.", {}),
        Key("leeway_s", Number(minimum=0), "Clock skew tolerated on exp, nbf, iat.", JwtSettings.leeway_s),
        Key("max_lifetime_s", Number(minimum=0), "Longest a token may live (exp - iat).",
            JwtSettings.max_lifetime_s),
        Key("jwks_cache_s", Number(minimum=0), "Seconds a fetched JWKS is trusted.", JwtSettings.jwks_cache_s),
        Key("jwks_min_refresh_s", Number(minimum=0), "Least seconds between two JWKS fetches.",
            JwtSettings.jwks_min_refresh_s),
        Key("jwks_timeout_s", Number(minimum=0), "Longest a JWKS fetch may take.", JwtSettings.jwks_timeout_s),
    ),
)

AUTH = Table(
    description="Bearer tokens from the regency's identity provider.",
    keys=(
        Key("jwt", JWT, "Bearer token verification."),
    ),
)


def canonical_attribute(name: str, value: Any) -> str:
    """A principal attribute in canonical form (NPSN upper-cased, region code checked).

    Raises ``ValueError`` saying what is wrong; callers turn it into their own error.
    """

    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    try:
        if name == "school":
            return validate_npsn(value)
        if name == "region":
            return validate_region_code(value)
    except SatudataError as exc:
        raise ValueError(exc.message) from exc
    return value.strip()


def _attribute(name: str, value: Any, where: str) -> str:
    try:
        return canonical_attribute(name, value)
    except ValueError as exc:
        raise ConfigError(f"{where}.{name}: {exc}") from exc


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key} is missing or empty")
    return value.strip()


def _seconds(raw: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{key} must be a number of seconds, at least 0")
    return float(value)


