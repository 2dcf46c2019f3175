"""Who is calling: API keys and bearer JWTs, with real keys and a real JWKS endpoint."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from core import ConfigError
from gateway.access.auth import ANONYMOUS, Authenticator, AuthUnavailable, Unauthenticated, key_sha256, new_api_key

ISSUER = "https://sso.trenggalekkab.test/realms/satudata"
AUDIENCE = "satudata-gateway"
OFFICER_KEY = "sdk_officer-test-key-0123456789abcdefghijklmnopqrstuv"
SCHOOL_KEY = "sdk_school-test-key-0123456789abcdefghijklmnopqrstuvw"


@dataclass
class IdentityProvider:
    """An identity provider of our own: real RSA and EC keys, and the JWKS it publishes."""

    rsa_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    kids: dict[str, str] = field(default_factory=lambda: {"RS256": "rsa-1", "ES256": "ec-1"})

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = RSAAlgorithm.to_jwk(self.rsa_key.public_key(), as_dict=True)
        ec_jwk = ECAlgorithm.to_jwk(self.ec_key.public_key(), as_dict=True)
        return {
            "keys": [
                {**rsa_jwk, "kid": self.kids["RS256"], "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": self.kids["ES256"], "use": "sig", "alg": "ES256"},
            ]
        }

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "petugas-puskesmas-watulimo",
            "role": "health_officer",
            "kode_wilayah": "35.03.08",
            "iat": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, alg: str = "RS256", *, kid: str | None = "default", key: Any = None, **overrides: Any) -> str:
        signing_key = key or (self.rsa_key if alg == "RS256" else self.ec_key)
        headers = {} if kid is None else {"kid": self.kids[alg] if kid == "default" else kid}
        return jwt.encode(self.claims(**overrides), signing_key, algorithm=alg, headers=headers)

    def public_pem(self) -> bytes:
        return self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A JWT built by hand, as an attacker would: PyJWT refuses to make these."""

    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if sign is None else sign(signing_input.encode())
    return f"{signing_input}.{_b64(signature)}"


class JwksServer:
    """The provider's JWKS endpoint on a real socket; counts fetches, can be switched off."""

    def __init__(self, idp: IdentityProvider) -> None:
        self.idp = idp
        self.fetches = 0
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                outer.fetches += 1
                body = json.dumps(outer.idp.jwks()).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/realms/satudata/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider()


@pytest.fixture
def jwks_server(idp: IdentityProvider) -> Iterator[JwksServer]:
    with JwksServer(idp) as server:
        yield server


def config(jwks: dict[str, Any], **jwt_overrides: Any) -> dict[str, Any]:
    return {
        "clients": [
            {"id": "dinkes-surveilans", "role": "health_officer", "key_sha256": key_sha256(OFFICER_KEY),
             "region": "35.03.08", "agency": "DINKES"},
            {"id": "sdn-1-pakel", "role": "school_operator", "key_sha256": key_sha256(SCHOOL_KEY),
             "school": "20575716"},
        ],
        "auth": {
            "jwt": {
                **jwks,
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "role_claim": "role",
                "attribute_claims": {"region": "kode_wilayah", "school": "npsn"},
                **jwt_overrides,
            }
        },
    }  # fmt: skip


@pytest.fixture(params=["jwks_file", "jwks_url"])
async def authenticator(
    request: pytest.FixtureRequest, idp: IdentityProvider, tmp_path: Path
) -> AsyncIterator[Authenticator]:
    """One authenticator per way of publishing the keys: a file beside the config, or a URL."""

    if request.param == "jwks_file":
        (tmp_path / "jwks.json").write_text(json.dumps(idp.jwks()), encoding="utf-8")
        auth = Authenticator.from_settings(config({"jwks_file": "jwks.json"}), base_dir=tmp_path)
        yield auth
        await auth.aclose()
    else:
        with JwksServer(idp) as server:
            auth = Authenticator.from_settings(config({"jwks_url": server.url}))
            yield auth
            await auth.aclose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused(auth: Authenticator, headers: dict[str, str]) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        await auth.authenticate(headers)
    error = caught.value
    assert error.extensions()["code"] == "UNAUTHENTICATED"
    for value in headers.values():  # the message never repeats the key or token sent
        secret = value.split()[-1] if value.strip() else ""
        assert len(secret) < 8 or secret not in error.message
    return error


# --- API keys ---------------------------------------------------------------------------


async def test_api_key_yields_the_configured_client_and_its_attributes(authenticator: Authenticator) -> None:
    officer = await authenticator.authenticate({"X-API-Key": OFFICER_KEY})
    assert (officer.client_id, officer.role, officer.kind) == ("api-key:dinkes-surveilans", "health_officer", "api_key")
    assert (officer.region, officer.agency, officer.school) == ("35.03.08", "DINKES", None)
    school = await authenticator.authenticate({"x-api-key": SCHOOL_KEY})
    assert (school.client_id, school.school) == ("api-key:sdn-1-pakel", "20575716")


async def test_finding_18_an_api_key_client_and_a_token_subject_of_the_same_name_are_two_callers(
    authenticator: Authenticator, idp: IdentityProvider
) -> None:
    # The token's subject is spelled exactly like the API-key client's id, with the same role.
    by_key = await authenticator.authenticate({"X-API-Key": OFFICER_KEY})
    by_token = await authenticator.authenticate(bearer(idp.token(sub="dinkes-surveilans")))
    assert by_key.role == by_token.role == "health_officer"
    assert by_key.client_id == "api-key:dinkes-surveilans"
    assert by_token.client_id == f"jwt:{ISSUER}:dinkes-surveilans"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": 253402300799}, "LIFETIME_TOO_LONG"),  # 9999-12-31T23:59:59Z
        ({"exp": "253402300799"}, "BAD_CLAIM"),
        ({"iat": None}, "MISSING_CLAIM"),
        ({"iat": "now"}, None),  # PyJWT itself refuses a non-numeric iat
    ],
    ids=["exp-in-9999", "exp-as-string", "no-iat", "iat-as-text"],
)
async def test_finding_18_tokens_need_numeric_exp_and_iat_within_the_maximum_lifetime(
    authenticator: Authenticator, idp: IdentityProvider, overrides: dict[str, Any], reason: str | None
) -> None:
    error = await refused(authenticator, bearer(idp.token(**overrides)))
    if reason is not None:
        assert error.reason == reason


async def test_finding_18_max_lifetime_is_configurable(idp: IdentityProvider, tmp_path: Path) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps(idp.jwks()), encoding="utf-8")
    auth = Authenticator.from_settings(config({"jwks_file": "jwks.json"}, max_lifetime_s=600), base_dir=tmp_path)
    now = int(time.time())
    try:
        assert (await auth.authenticate(bearer(idp.token(iat=now, exp=now + 600)))).kind == "jwt"
        assert (await refused(auth, bearer(idp.token(iat=now, exp=now + 601)))).reason == "LIFETIME_TOO_LONG"
    finally:
        await auth.aclose()


@pytest.mark.parametrize(
    "raw",
    [
        [(b"x-api-key", OFFICER_KEY.encode()), (b"x-api-key", SCHOOL_KEY.encode())],
        [(b"x-api-key", OFFICER_KEY.encode()), (b"x-api-key", OFFICER_KEY.encode())],
        [(b"authorization", b"Bearer a.b.c"), (b"authorization", b"Bearer d.e.f")],
    ],
    ids=["two-keys", "the-same-key-twice", "two-bearer-tokens"],
)
async def test_two_credentials_of_one_kind_are_refused_not_last_wins(
    authenticator: Authenticator, raw: list[tuple[bytes, bytes]]
) -> None:
    from starlette.datastructures import Headers

    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(Headers(raw=raw))
    assert caught.value.reason == "AMBIGUOUS"


async def test_unknown_api_key_is_refused(authenticator: Authenticator) -> None:
    error = await refused(authenticator, {"X-API-Key": OFFICER_KEY + "x"})
    assert error.reason == "UNKNOWN_API_KEY"


async def test_no_credentials_is_the_anonymous_principal(authenticator: Authenticator) -> None:
    assert await authenticator.authenticate({"Accept": "application/json"}) is ANONYMOUS
    assert ANONYMOUS.is_anonymous and ANONYMOUS.kind == "anonymous"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-API-Key": OFFICER_KEY, "Authorization": "Bearer abc.def.ghi"}, "AMBIGUOUS"),
        ({"Authorization": "Basic ZGlua2VzOnJhaGFzaWE="}, "UNSUPPORTED_SCHEME"),
        ({"Authorization": "Bearer "}, "MALFORMED"),
        ({"X-API-Key": "  "}, "MALFORMED"),
        ({"Authorization": "Bearer not-a-jwt"}, "MALFORMED"),
    ],
)
async def test_malformed_credentials_are_refused(
    authenticator: Authenticator, headers: dict[str, str], reason: str
) -> None:
    assert (await refused(authenticator, headers)).reason == reason


# --- bearer tokens ----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_valid_token_yields_subject_role_and_attribute_claims(
    authenticator: Authenticator, idp: IdentityProvider, alg: str
) -> None:
    principal = await authenticator.authenticate(bearer(idp.token(alg)))
    assert (principal.client_id, principal.kind) == (f"jwt:{ISSUER}:petugas-puskesmas-watulimo", "jwt")
    assert principal.role == "health_officer"
    assert principal.region == "35.03.08" and principal.school is None


async def test_token_expired_within_the_leeway_is_still_accepted(
    authenticator: Authenticator, idp: IdentityProvider
) -> None:
    principal = await authenticator.authenticate(bearer(idp.token(exp=int(time.time()) - 10)))
    assert principal.kind == "jwt"


def _tampered(idp: IdentityProvider) -> str:
    header, payload, signature = idp.token(role="health_officer").split(".")
    escalated = _b64(json.dumps(idp.claims(role="admin")).encode())
    return f"{header}.{escalated}.{signature}"


def _alg_none(idp: IdentityProvider) -> str:
    return unsigned_token({"alg": "none", "typ": "JWT"}, idp.claims(role="admin"))


def _hs256_with_public_key(idp: IdentityProvider) -> str:
    # The classic confusion: HMAC "signed" with the RSA public key, which anyone can download.
    pem = idp.public_pem()
    return unsigned_token(
        {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"},
        idp.claims(role="admin"),
        sign=lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
    )


REFUSALS = {
    "tampered payload": (_tampered, "BAD_SIGNATURE"),
    "signed by a stranger's key under our kid": (
        lambda idp: idp.token(key=rsa.generate_private_key(65537, 2048)), "BAD_SIGNATURE"),
    "expired": (lambda idp: idp.token(exp=int(time.time()) - 3600), "EXPIRED"),
    "not yet valid": (lambda idp: idp.token(nbf=int(time.time()) + 3600), "NOT_YET_VALID"),
    "issued in the future": (lambda idp: idp.token("ES256", iat=int(time.time()) + 3600), "NOT_YET_VALID"),
    "wrong issuer": (lambda idp: idp.token(iss="https://evil.example/realms/satudata"), "WRONG_ISSUER"),
    "wrong audience": (lambda idp: idp.token("ES256", aud="another-portal"), "WRONG_AUDIENCE"),
    "alg none": (_alg_none, "UNSUPPORTED_ALGORITHM"),
    "HS256 with the public key": (_hs256_with_public_key, "UNSUPPORTED_ALGORITHM"),
    "unknown kid": (lambda idp: idp.token(kid="rsa-99"), "UNKNOWN_SIGNING_KEY"),
    "no exp": (lambda idp: idp.token(exp=None), "MISSING_CLAIM"),
    "no role": (lambda idp: idp.token(role=None), "MISSING_CLAIM"),
    "role not a string": (lambda idp: idp.token(role=["admin"]), "BAD_CLAIM"),
    "region claim not a region code": (lambda idp: idp.token(kode_wilayah="35.03.99"), "BAD_CLAIM"),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS)
async def test_bad_token_is_refused_saying_why(authenticator: Authenticator, idp: IdentityProvider, case: str) -> None:
    make, reason = REFUSALS[case]
    error = await refused(authenticator, bearer(make(idp)))
    assert error.reason == reason, error.message


async def test_token_without_kid_is_accepted_only_when_one_key_fits(
    authenticator: Authenticator, idp: IdentityProvider
) -> None:
    principal = await authenticator.authenticate(bearer(idp.token("ES256", kid=None)))
    assert principal.kind == "jwt"


async def test_bearer_token_is_refused_when_jwt_is_not_configured(idp: IdentityProvider) -> None:
    auth = Authenticator.from_settings({"clients": []})
    error = await refused(auth, bearer(idp.token()))
    assert error.reason == "JWT_NOT_CONFIGURED"


# --- the JWKS endpoint ------------------------------------------------------------------


async def test_jwks_is_fetched_once_for_many_concurrent_requests(
    jwks_server: JwksServer, idp: IdentityProvider
) -> None:
    auth = Authenticator.from_settings(config({"jwks_url": jwks_server.url}))
    try:
        principals = await asyncio.gather(*(auth.authenticate(bearer(idp.token())) for _ in range(20)))
        assert {p.role for p in principals} == {"health_officer"}
        assert jwks_server.fetches == 1
    finally:
        await auth.aclose()


async def test_rotated_key_is_picked_up_without_a_restart(jwks_server: JwksServer) -> None:
    idp = IdentityProvider()
    jwks_server.idp = idp
    auth = Authenticator.from_settings(config({"jwks_url": jwks_server.url, "jwks_min_refresh_s": 0.3}))
    try:
        await auth.authenticate(bearer(idp.token()))
        await asyncio.sleep(0.3)
        rotated = IdentityProvider(kids={"RS256": "rsa-2", "ES256": "ec-2"})
        jwks_server.idp = rotated
        principal = await auth.authenticate(bearer(rotated.token()))
        assert principal.kind == "jwt" and jwks_server.fetches == 2
        # A burst of forged kids does not turn into a burst of fetches.
        for n in range(5):
            with pytest.raises(Unauthenticated):
                await auth.authenticate(bearer(rotated.token(kid=f"forged-{n}")))
        assert jwks_server.fetches == 2
    finally:
        await auth.aclose()


async def test_unreachable_jwks_without_cached_keys_is_auth_unavailable(
    jwks_server: JwksServer, idp: IdentityProvider
) -> None:
    jwks_server.status = 503
    auth = Authenticator.from_settings(config({"jwks_url": jwks_server.url}))
    try:
        with pytest.raises(AuthUnavailable) as caught:
            await auth.authenticate(bearer(idp.token()))
        assert caught.value.extensions() == {"code": "AUTH_UNAVAILABLE"}
        assert jwks_server.url not in caught.value.message
    finally:
        await auth.aclose()


async def test_cached_keys_outlive_an_identity_provider_outage(jwks_server: JwksServer, idp: IdentityProvider) -> None:
    auth = Authenticator.from_settings(
        config({"jwks_url": jwks_server.url, "jwks_cache_s": 0, "jwks_min_refresh_s": 0})
    )
    try:
        await auth.authenticate(bearer(idp.token()))
        jwks_server.status = 500
        assert (await auth.authenticate(bearer(idp.token("ES256")))).kind == "jwt"
        assert jwks_server.fetches == 2  # it did try again, and kept the keys it had
    finally:
        await auth.aclose()


# --- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"clients": [{"id": "a", "role": "r", "key": "sdk_x"}]}, "holds a key in clear"),
        ({"clients": [{"id": "a", "role": "r", "key_sha256": "abc"}]}, "64 hexadecimal digits"),
        ({"clients": [{"id": "a", "role": "r", "key_sha256": "0" * 64, "school": "123"}]}, "NPSN"),
        ({"clients": [{"id": "a", "role": "r", "key_sha256": "0" * 64, "colour": "red"}]}, "clients[0].colour is not a key of clients[0]"),
        ({"clients": [{"id": "a", "role": "r", "key_sha256": "0" * 64},
                      {"id": "b", "role": "r", "key_sha256": "0" * 64}]}, "same as an earlier client"),
        ({"auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE}}}, "exactly one of jwks_file and jwks_url"),
        ({"auth": {"jwt": {"jwks_url": "https://x/certs", "issuer": ISSUER, "audience": AUDIENCE,
                           "algorithms": ["RS256", "HS256"]}}}, 'auth.jwt.algorithms[1] must be one of "RS256", "ES256", not the string "HS256"'),
        ({"auth": {"jwt": {"jwks_url": "https://x/certs", "audience": AUDIENCE}}}, "auth.jwt.issuer is required"),
        ({"auth": {"jwt": {"jwks_url": "env:SATUDATA_TEST_UNSET_JWKS", "issuer": ISSUER, "audience": AUDIENCE}}},
         "SATUDATA_TEST_UNSET_JWKS, which is not set"),
    ],
)  # fmt: skip
def test_bad_auth_config_fails_at_startup_naming_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Authenticator.from_settings(raw)
    assert message in caught.value.message


def test_jwks_file_with_only_a_symmetric_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}), encoding="utf-8")
    with pytest.raises(ConfigError, match="no signature key for RS256, ES256"):
        Authenticator.from_settings(config({"jwks_file": str(tmp_path / "jwks.json")}))


def test_new_api_keys_are_long_random_and_match_their_digest() -> None:
    keys = {new_api_key() for _ in range(3)}
    assert len(keys) == 3
    for key, digest in keys:
        assert key.startswith("sdk_") and len(key) >= 40
        assert hashlib.sha256(key.encode()).hexdigest() == digest
