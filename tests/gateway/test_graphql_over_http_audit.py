"""graphql-http's audits of the endpoint, run by the reference implementation itself (issue 13).

graphql-http (the GraphQL-over-HTTP spec's own test suite) checks a server on a real socket:
61 audits, MUSTs and SHOULDs. Two SHOULDs failed before: with ``Accept: */*`` or no ``Accept``
header, answer ``application/json``. Node and its packages are the federation peers' (``npm ci
--prefix tests/federation/node``, which ``make test`` runs).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from ..conftest import Backend, gateway_config
from ..federation.test_apollo_peers import NODE_DIR, node_or_fail
from ..support.server import serve_app


@pytest.fixture
def served(sqlite_backend: Backend) -> Iterator[str]:
    from gateway import GatewaySettings, create_app

    app = create_app(GatewaySettings.from_dict(gateway_config(sqlite_backend)))
    with serve_app(app, name="gateway") as url:
        yield f"{url}/graphql"


def test_every_graphql_over_http_audit_passes(served: str) -> None:
    node = node_or_fail()
    if not (NODE_DIR / "node_modules" / "graphql-http").is_dir():
        pytest.fail("tests/federation/node/node_modules lacks graphql-http: run npm ci --prefix tests/federation/node")
    done = subprocess.run([node, "audit_http.mjs", served], cwd=NODE_DIR, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(results) >= 61
    failed = [r for r in results if r["status"] != "ok"]
    assert failed == [], failed
