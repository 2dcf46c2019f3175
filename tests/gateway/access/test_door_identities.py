"""Identities are typed (finding 18), end to end: an API-key client and a token subject spelled
alike are two callers to the rate limits of the real app."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from gateway import GatewaySettings, create_app
from gateway.access.auth import key_sha256

from ...conftest import Backend, gateway_config
from .test_auth import AUDIENCE, ISSUER, IdentityProvider

KEY = "sdk_door-identities-0123456789abcdefghijklmnopqrstuvwxy"
AGENCIES = {"query": "{ agencies { code } }"}


async def test_finding_18_a_token_subject_named_like_an_api_key_client_has_its_own_rate_limit(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    idp = IdentityProvider()
    (tmp_path / "jwks.json").write_text(json.dumps(idp.jwks()), encoding="utf-8")
    config = gateway_config(sqlite_backend)
    config["policy"] = {"fields": {"Person.*": "personal"}, "roles": {"officer": {"grant": ["personal"], "purposes": ["tugas"]}}}
    config["clients"] = [{"id": "petugas", "role": "officer", "key_sha256": key_sha256(KEY)}]
    config["auth"] = {"jwt": {"jwks_file": "jwks.json", "issuer": ISSUER, "audience": AUDIENCE}}
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    config["ratelimit"] = {"roles": {"officer": {"requests_per_minute": 1, "burst": 2}}}
    app = create_app(GatewaySettings.from_dict(config, base_dir=tmp_path))
    token = idp.token(sub="petugas", role="officer")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
            by_key = [(await client.post("/graphql", json=AGENCIES, headers={"X-API-Key": KEY})).status_code for _ in range(3)]
            assert by_key == [200, 200, 429]
            # The token's subject is "petugas" too, with the same role: a different caller all the same.
            by_token = await client.post("/graphql", json=AGENCIES, headers={"Authorization": f"Bearer {token}"})
            assert by_token.status_code == 200, by_token.text
