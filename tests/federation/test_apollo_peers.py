"""Real Apollo Federation peers from npm, both ways.

A Node subgraph built with ``@apollo/subgraph`` plays a provincial portal: it knows social-aid
recipients by NIK only, and its ``Person`` (by NIK) carries a JKN health-insurance membership.

- Composed with this gateway's ``_service { sdl }`` by ``@apollo/composition`` and served by
  ``@apollo/gateway``: a query that starts at the Node subgraph's root and needs our Person
  fields makes the router call our ``_entities``, with the credential and purpose it is
  configured to send; the answer must equal what our gateway answers for the same persons.
- Federated in: this gateway's ``jkn_portal`` source points at the Node subgraph, so our
  ``Person.healthInsurance`` mixes registry fields with the portal's, read through its
  ``_entities``; the answer must equal the portal's own.

The Node packages are installed by ``make test`` (which ``.ci/run`` runs): ``npm ci --prefix
tests/federation/node`` from the committed lock file, again whenever the lock file changes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.access_config import demo_clients
from demo.gateway_config import render_config
from gateway.access.audit import AuditEntry, AuditLog

from ..conftest import Backend, _free_port
from ..support.server import serve_app
from ..support.sqlite import sqlite_file

NODE_DIR = Path(__file__).parent / "node"
OFFICER = next(c for c in demo_clients("-") if c.role == "registry_officer")
PROGRAMMES = ["PKH", "BPNT", "BLT Dana Desa"]  # subgraph.mjs hands them out in turn


def node_or_fail() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@apollo" / "gateway").is_dir():
        reason = "node and tests/federation/node/node_modules are needed (npm ci --prefix tests/federation/node)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the federation peers", pytrace=False)
        pytest.skip(reason)
    return node


@pytest.fixture(scope="module")
def node_portal(sqlite_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Node subgraph on a real socket; its aid recipients are the first living residents."""

    node = node_or_fail()
    port = _free_port()
    log = tmp_path_factory.mktemp("node") / "subgraph.log"
    process = start(node, "subgraph.mjs", ["--port", str(port)], {"AID_NIKS": ",".join(recipients(sqlite_backend))},
                    log, "aid subgraph ready")
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.sqlite"


@pytest.fixture(scope="module")
def satudata_url(sqlite_backend: Backend, node_portal: str, audit_path: Path) -> Iterator[str]:
    """This gateway, with the demo's access policy, on a real socket, federating the Node portal in."""

    from gateway import GatewaySettings, create_app

    config = tomllib.loads(
        render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url,
                      jkn_url="http://placeholder", access=True)
    )
    config["sources"]["jkn_portal"]["url"] = node_portal
    config["audit"] = {"path": str(audit_path)}
    app = create_app(GatewaySettings.from_dict(config))
    with serve_app(app, name="satudata-gateway") as url:
        yield url


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


def audited(audit_path: Path, nik: str) -> list[AuditEntry]:
    """The audit log's entries naming ``nik``, oldest first."""

    async def read() -> list[AuditEntry]:
        log = AuditLog.from_settings({"audit": {"path": str(audit_path)}})
        try:
            return await log.for_person(nik)
        finally:
            await log.aclose()

    return asyncio.run(read())


def recipients(sqlite_backend: Backend) -> list[str]:
    registry = sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite_file(registry) as conn:
        return [r[0] for r in conn.execute("SELECT nik FROM penduduk WHERE status_penduduk = 'HIDUP' ORDER BY nik LIMIT 4")]


def test_a_query_from_the_node_subgraph_root_reaches_our_persons(
    satudata_url: str, node_portal: str, sqlite_backend: Backend, audit_path: Path, tmp_path: Path
) -> None:
    node = node_or_fail()
    niks = recipients(sqlite_backend)
    router_port = _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # The router sends the registry officer's key and purpose to the regency graph
        # (RemoteGraphQLDataSource.willSendRequest in router.mjs).
        processes.append(start(node, "router.mjs", [
            "--port", str(router_port), "--satudata", f"{satudata_url}/graphql", "--aid", node_portal,
            "--api-key", OFFICER.key, "--purpose", OFFICER.purpose,
        ], {}, tmp_path / "router.log", "router ready"))

        query = "{ aidRecipients { programme person { nik name family { kk members { nik } } } } }"
        answer = httpx.post(f"http://127.0.0.1:{router_port}/", json={"query": query}, timeout=30).json()
        assert "errors" not in answer, answer
        got = answer["data"]["aidRecipients"]
        assert [r["person"]["nik"] for r in got] == niks
        assert [r["programme"] for r in got] == [PROGRAMMES[i % len(PROGRAMMES)] for i in range(len(niks))]
        # Our gateway saw the router as the registry officer: its _entities call is audited as such.
        router_entry = audited(audit_path, niks[0])[-1]
        assert (router_entry.record.role, router_entry.record.purpose) == (OFFICER.role, OFFICER.purpose)
        assert set(niks) <= set(router_entry.record.persons)
        assert {"Person.name", "Family.kk"} <= set(router_entry.record.fields)

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


def test_our_gateway_mixes_registry_fields_with_the_node_portals(satudata_url: str, node_portal: str, sqlite_backend: Backend) -> None:
    niks = recipients(sqlite_backend) + ["3503010101010007"]  # the last: unknown to the registry
    reps = [{"__typename": "Person", "nik": nik} for nik in niks]
    own = httpx.post(node_portal, json={
        "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on Person { nik jkn { cardNumber status segment careClass since } } } }",
        "variables": {"r": reps}}, timeout=30).json()["data"]["_entities"]
    status = {"AKTIF": "ACTIVE", "NONAKTIF": "INACTIVE"}
    segment = {"PBI_APBN": "PBI_NATIONAL", "PBPU": "SELF_PAYING"}
    expected = {e["nik"]: None if e["jkn"] is None else {
        "cardNumber": e["jkn"]["cardNumber"], "status": status[e["jkn"]["status"]], "segment": segment[e["jkn"]["segment"]],
        "careClass": e["jkn"]["careClass"], "memberSince": e["jkn"]["since"]} for e in own}

    query = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Person {
      nik name healthInsurance { cardNumber status segment careClass memberSince } } } }"""
    answer = httpx.post(f"{satudata_url}/graphql", json={"query": query, "variables": {"r": reps[:-1]}},
                        headers={"X-API-Key": OFFICER.key, "X-Satudata-Purpose": OFFICER.purpose,
                                 "X-Satudata-Trace": "sources"}, timeout=30).json()
    assert "errors" not in answer, answer
    persons = answer["data"]["_entities"]
    assert all(p["name"] for p in persons)  # the registry's fields ...
    assert {p["nik"]: p["healthInsurance"] for p in persons} == {n: expected[n] for n in niks[:-1]}  # ... and the portal's
    assert answer["extensions"]["sources"]["jkn_portal"]["calls"] == 1
