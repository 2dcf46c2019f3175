"""Persisted queries as the real Apollo Client speaks them, against the gateway on a real socket.

``node_apq/client.mjs`` runs ``@apollo/client`` with its persisted queries link (pinned in
``node_apq/package-lock.json``; ``make test`` installs it with ``npm ci``) over the operations in
``node_apq/operations``, twice each. An ASGI recorder in front of the gateway notes what each
request carried and what it was answered, so the tests assert on what the server saw: a hash
alone and a miss, the link's retry with the whole document, then the hash alone and a hit. The
trusted-documents test makes its manifest with Apollo's own ``generate-persisted-query-manifest``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from demo.gateway_config import render_config
from gateway import GatewaySettings, create_app
from gateway.server import server_config

from ..conftest import Backend
from ..support.server import free_port, serve_in_thread

NODE_DIR = Path(__file__).parent / "node_apq"
OPERATIONS = ["Agencies", "Region"]  # client.mjs runs them in file order, each twice


def node_or_fail() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@apollo" / "client").is_dir():
        reason = "node and tests/gateway/node_apq/node_modules are needed (npm ci --prefix tests/gateway/node_apq)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run Apollo Client against the gateway", pytrace=False)
        pytest.skip(reason)
    return node


@dataclass(frozen=True)
class Exchange:
    """One request to /graphql as the gateway saw it, and its answer."""

    method: str
    operation: str | None
    sent_document: bool
    hash: str | None
    status: int
    codes: tuple[str, ...]
    answered_data: bool


class Recorder:
    """ASGI middleware that notes every /graphql request's parameters and the answer to it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        body, answer, status = bytearray(), bytearray(), [0]

        async def receiving() -> Any:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                answer.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receiving, sending)
        if scope["method"] == "GET":
            query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
            params = {**query, **{k: json.loads(query[k]) for k in ("extensions", "variables") if k in query}}
        else:
            params = json.loads(body)
        answered = json.loads(answer)
        self.exchanges.append(
            Exchange(
                method=scope["method"],
                operation=params.get("operationName"),
                sent_document="query" in params,
                hash=(params.get("extensions") or {}).get("persistedQuery", {}).get("sha256Hash"),
                status=status[0],
                codes=tuple(e["extensions"]["code"] for e in answered.get("errors", [])),
                answered_data="data" in answered,
            )
        )


@dataclass(frozen=True)
class Served:
    url: str
    recorder: Recorder


def serve(config: dict[str, Any]) -> Iterator[Served]:
    """The gateway behind ``gateway.server.server_config`` in a thread, with a recorder in front."""

    settings = GatewaySettings.from_dict(config)
    recorder = Recorder(create_app(settings))
    uvicorn_config = server_config(recorder, settings, host="127.0.0.1", port=free_port(), log_level="warning")
    with serve_in_thread(uvicorn_config, name="apq-gateway", stop_timeout_s=20) as url:
        yield Served(f"{url}/graphql", recorder)


def config_with(backend: Backend, documents: dict[str, Any] | None = None) -> dict[str, Any]:
    config = tomllib.loads(render_config(registry_url=backend.registry_url, education_url=backend.education_url))
    if documents is not None:
        config["documents"] = documents
    return config


def apollo_client(node: str, url: str, *args: str) -> dict[str, Any]:
    """What client.mjs got: ``results`` (operation, round, data or error) and the documents it ``hashed``."""

    command = [node, "client.mjs", "--url", url, *args]
    done = subprocess.run(command, cwd=NODE_DIR, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    output: dict[str, Any] = json.loads(done.stdout)
    assert all("error" not in r for r in output["results"]), output["results"]
    return output


def operation_name(document: str) -> str:
    return document.split()[1].split("(")[0]


def answers_equal_freeform(served: Served, output: dict[str, Any], documents: dict[str, str]) -> None:
    """Each answer Apollo Client got by hash is what the same document (by operation name) gets sent whole."""

    variables = {"Region": {"code": "35.03.08"}}
    for result in output["results"]:
        name = result["operation"]
        direct = httpx.post(served.url, json={"query": documents[name], "variables": variables.get(name)})
        assert result["data"] == direct.json()["data"]
    assert output["results"][-1]["data"]["region"]["name"] == "Watulimo"


@pytest.fixture
def gateway(sqlite_backend: Backend) -> Iterator[Served]:
    yield from serve(config_with(sqlite_backend))


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_apollo_client_misses_registers_and_then_sends_the_hash_alone(gateway: Served, method: str) -> None:
    node = node_or_fail()
    output = apollo_client(node, gateway.url, *(["--get"] if method == "GET" else []))
    hashes = {operation_name(h["document"]): h["hash"] for h in output["hashed"]}
    seen = list(gateway.recorder.exchanges)
    expected = []
    for name in OPERATIONS:
        miss = Exchange(method, name, False, hashes[name], 200, ("PERSISTED_QUERY_NOT_FOUND",), False)
        # The link's retry carries the whole document, always over POST; then the hash alone is enough.
        retry = Exchange("POST", name, True, hashes[name], 200, (), True)
        hit = Exchange(method, name, False, hashes[name], 200, (), True)
        expected += [miss, retry, hit]
    assert seen == expected
    answers_equal_freeform(gateway, output, {operation_name(h["document"]): h["document"] for h in output["hashed"]})


def test_trusted_documents_from_apollos_manifest_generator_are_served_by_id(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    node = node_or_fail()
    manifest = tmp_path / "persisted-query-manifest.json"
    (tmp_path / "config.json").write_text(
        json.dumps({"documents": [str(NODE_DIR / "operations" / "*.graphql")], "output": str(manifest)})
    )
    generator = NODE_DIR / "node_modules" / "@apollo" / "generate-persisted-query-manifest" / "cli.js"
    made = subprocess.run(
        [node, str(generator), "--config", str(tmp_path / "config.json")], cwd=NODE_DIR, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    operations = json.loads(manifest.read_text())["operations"]
    ids = {op["name"]: op["id"] for op in operations}
    assert sorted(ids) == OPERATIONS

    for served in serve(config_with(sqlite_backend, {"manifest": str(manifest), "trusted": "require"})):
        # An app built with the manifest sends its ids (@apollo/persisted-query-lists): every one a hit.
        output = apollo_client(node, served.url, "--manifest", str(manifest), "--get")
        by_id = [Exchange("GET", name, False, ids[name], 200, (), True) for name in OPERATIONS for _ in (1, 2)]
        assert served.recorder.exchanges == by_id
        # Plain APQ hashes the same printed documents: the generator's ids are the link's hashes.
        served.recorder.exchanges.clear()
        hashed = apollo_client(node, served.url)
        assert served.recorder.exchanges == [Exchange("POST", e.operation, False, e.hash, 200, (), True) for e in by_id]
        assert {h["hash"] for h in hashed["hashed"]} == set(ids.values())
        # Anything else is refused before it runs.
        other = httpx.post(served.url, json={"query": "{ agencies { code } }"})
        assert (other.status_code, other.json()["errors"][0]["extensions"]["code"]) == (403, "QUERY_NOT_IN_SAFELIST")
        answers_equal_freeform(served, output, {op["name"]: op["body"] for op in operations})
