"""Real Apollo Federation peers from npm compose the regency graph and query through it.

A Node subgraph built with ``@apollo/subgraph`` (a provincial social-aid portal that knows
recipients only by NIK) is composed with this gateway's ``_service { sdl }`` by
``@apollo/composition`` and served by ``@apollo/gateway``. A query that starts at the Node
subgraph's root and needs our Person fields makes the router call our ``_entities``, with the
credential and purpose the router is configured to send; the answer must equal what our
gateway answers for the same persons, and our audit log must name the router's client.

The Node packages are installed by ``.ci/run`` (``npm ci --prefix tests/federation/node``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.access_config import demo_clients
from demo.gateway_config import render_config

from ..conftest import Backend, _free_port

NODE_DIR = Path(__file__).parent / "node"
OFFICER = next(c for c in demo_clients("-") if c.role == "registry_officer")


def node_or_fail() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@apollo" / "gateway").is_dir():
        reason = "node and tests/federation/node/node_modules are needed (npm ci --prefix tests/federation/node)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the federation peers", pytrace=False)
        pytest.skip(reason)
    return node


@pytest.fixture(scope="module")
def satudata_url(sqlite_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This gateway, with the demo's access policy, on a real socket."""

    import uvicorn

    from gateway import GatewaySettings, create_app

    config = tomllib.loads(
        render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, access=True)
    )
    config["audit"] = {"path": str(tmp_path_factory.mktemp("audit") / "audit.sqlite")}
    app = create_app(GatewaySettings.from_dict(config))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def start(node: str, script: str, args: list[str], env: dict[str, str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([node, script, *args], cwd=NODE_DIR, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while ready not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{script} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return process


def recipients(sqlite_backend: Backend) -> list[str]:
    import sqlite3

    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(registry) as conn:
        return [r[0] for r in conn.execute("SELECT nik FROM penduduk WHERE status_penduduk = 'HIDUP' ORDER BY nik LIMIT 4")]


def test_a_query_from_the_node_subgraph_root_reaches_our_persons(
    satudata_url: str, sqlite_backend: Backend, tmp_path: Path
) -> None:
    node = node_or_fail()
    niks = recipients(sqlite_backend)
    aid_port, router_port = _free_port(), _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(start(node, "subgraph.mjs", ["--port", str(aid_port)], {"AID_NIKS": ",".join(niks)},
                               tmp_path / "subgraph.log", "aid subgraph ready"))
        processes.append(start(node, "router.mjs", [
            "--port", str(router_port), "--satudata", f"{satudata_url}/graphql", "--aid", f"http://127.0.0.1:{aid_port}/",
            "--api-key", OFFICER.key, "--purpose", OFFICER.purpose,
        ], {}, tmp_path / "router.log", "router ready"))

        query = "{ aidRecipients { programme person { nik name family { kk members { nik } } } } }"
        answer = httpx.post(f"http://127.0.0.1:{router_port}/", json={"query": query}, timeout=30).json()
        assert "errors" not in answer, answer
        got = answer["data"]["aidRecipients"]
        assert [r["person"]["nik"] for r in got] == niks

        # The same persons asked of our gateway directly, by the same client.
        ours: dict[str, Any] = {}
        for nik in niks:
            direct = httpx.post(
                f"{satudata_url}/graphql",
                json={"query": "query($n: NIK!) { person(nik: $n) { nik name family { kk members { nik } } } }", "variables": {"n": nik}},
                headers={"X-API-Key": OFFICER.key, "X-Satudata-Purpose": OFFICER.purpose},
            ).json()
            ours[nik] = direct["data"]["person"]
        assert [r["person"] for r in got] == [ours[n] for n in niks]

        # Without the credential, the router gets nothing personal from the regency graph.
        anonymous = httpx.post(
            f"{satudata_url}/graphql",
            json={"query": 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { name } } }',
                  "variables": {"r": [{"__typename": "Person", "nik": niks[0]}]}},
        ).json()
        assert {e["extensions"]["code"] for e in anonymous["errors"]} == {"FORBIDDEN"}
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
