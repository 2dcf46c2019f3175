"""The source trace (``X-Satudata-Trace: sources``) is an operator's instrument.

It counts the calls, rows and time each source took for a request, before row scopes and masks
apply: a caller outside the rows who read it would learn what the policy keeps from it (how many
statements another school's alert day took, how many rows an answer emptied by its scope read;
``test_attack_alerts``). With a ``[policy]`` only roles that may ``operations`` get it; without
one (development) everyone does, and ``[gateway] source_trace = "everyone"`` says so for a
development gateway with a policy, which production mode refuses.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from core import ConfigError
from demo.access_config import demo_clients
from demo.gateway_config import render_config
from gateway import GatewaySettings
from gateway.access.policy import Policy

from ...conftest import Backend, open_gateway

#: A question every role may ask and that asks the registry: the regency's kecamatan.
QUERY = '{ region(code: "35.03") { name children { code } } }'
POLICY_TABLE = tomllib.loads(render_config(registry_url="sqlite:///r", education_url="sqlite:///e", access=True))["policy"]
OPERATORS = {name for name, role in POLICY_TABLE["roles"].items() if "operations" in role.get("may", ())}


def _config(backend: Backend, tmp_path: Path, **gateway: Any) -> dict[str, Any]:
    config = tomllib.loads(
        render_config(registry_url=backend.registry_url, education_url=backend.education_url, access=True)
    )
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    config.pop("ratelimit", None)
    config["gateway"].update(gateway)
    return config


async def _traces(config: dict[str, Any]) -> dict[str, bool]:
    """Role (and anonymous) -> whether its answer held the trace it asked for."""

    got: dict[str, bool] = {}
    async for gateway in open_gateway(config):
        for client in [None, *demo_clients(None)]:
            headers = {"X-Satudata-Trace": "sources"}
            if client is not None:
                headers |= {"X-API-Key": client.key, "X-Satudata-Purpose": client.purpose}
            answer = (await gateway.client.post("/graphql", json={"query": QUERY}, headers=headers)).json()
            assert answer["data"]["region"]["children"], answer
            got[client.role if client else "anonymous"] = "sources" in answer.get("extensions", {})
    return got


@pytest.fixture
def roles() -> set[str]:
    assert OPERATORS, "the demo policy names a role that may `operations`"
    return set(Policy.from_config(POLICY_TABLE).roles) | {"anonymous"}


async def test_only_operators_get_the_source_trace(sqlite_backend: Backend, tmp_path: Path, roles: set[str]) -> None:
    got = await _traces(_config(sqlite_backend, tmp_path))
    assert {role for role, traced in got.items() if traced} == OPERATORS & set(got)
    assert set(got) - {"anonymous"} <= roles


async def test_a_development_gateway_may_trace_for_everyone(sqlite_backend: Backend, tmp_path: Path) -> None:
    got = await _traces(_config(sqlite_backend, tmp_path, source_trace="everyone"))
    assert all(got.values()), got
    # Without a [policy] there is nothing to keep from anyone: every caller gets it.
    config = _config(sqlite_backend, tmp_path)
    for table in ("policy", "clients", "audit", "status"):
        config.pop(table, None)
    async for gateway in open_gateway(config):
        answer = (await gateway.client.post("/graphql", json={"query": QUERY}, headers={"X-Satudata-Trace": "sources"})).json()
        assert answer["extensions"]["sources"]["siak"]["calls"] >= 1


def test_production_mode_refuses_a_trace_for_everyone(sqlite_backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="source_trace"):
        GatewaySettings.from_dict(_config(sqlite_backend, tmp_path, production=True, source_trace="everyone"))
