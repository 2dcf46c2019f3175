"""The floor beside the gateway: three queries against a bare endpoint and several gateways, from one run.

``python -m bench.floor`` serves, at the same time and on the bench's scale-0.1 databases (``python -m
bench --scales 0.1 --load-only`` loads them):

- **bare endpoint** (``bench.floor_bare``): Starlette + asyncpg + aiomysql + orjson, the SQL statements
  each answer needs, no GraphQL, one uvicorn process (uvloop, httptools);
- **gateway**, ``satudata serve`` from this tree: 1 worker without and with the access layer, 2 workers
  without and with it (configs: ``bench.floor_configs``);
- **gateway (ROOT)**, with ``--compare ROOT``: 1 worker, no access layer, from another checkout (an
  older commit in a ``git worktree``) with that checkout's own config, for a before/after from one run.

Queries: **A** ``person(nik)`` with family members, **B** ``persons(first: 50)`` with family members,
**C** 50 schools → pupils → person → family members with ``totalCount``. Every server's answer is first
checked to equal the bare endpoint's (same data, same order); then, per round, query and server in
turn, a warm-up and a measured ``wrk`` run (``bench.floor_wrk``, which counts non-200 answers and
answers holding ``"errors"``). The report (``bench.floor_report``) gives req/s, p50, p99, errors and the
share of the bare endpoint per query, and each server's RSS after the run; ``--markdown`` puts it in
``bench/RESULTS.md`` as the section "The floor beside us".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from . import floor_wrk
from .databases import DEFAULT_MARIADB, DEFAULT_POSTGRES, bench_databases
from .floor_client import closed_loop
from .floor_report import replace_section, section
from .floor_servers import Server
from .server import REPO_ROOT

OUT_DIR = Path(__file__).resolve().parent / "out"
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
SCALE = 0.1
SEED = 3503
AUDIT_DB = "satudata_bench_audit"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
#: Query A's distinct residents: under the default lookup budget (1000 persons per window), which
#: holds for anonymous callers even without a [policy]; more would be refused, fast, and look quick.
A_KEYS = 900


@dataclass(frozen=True)
class FloorQuery:
    """One measured operation: its GraphQL document, the bare endpoint's route, and its keys."""

    name: str
    title: str
    document: str
    bare_path: str
    #: Whether it is the deep query (its own concurrency and duration).
    deep: bool
    #: key -> the GraphQL variables and the bare endpoint's body.
    variables: Callable[[Any], dict[str, Any]]


QUERIES = {
    "A": FloorQuery(
        "A", "`person(nik)` with family members",
        "query($nik: NIK!) { person(nik: $nik) { nik name family { kk members { nik name } } } }",
        "/a", False, lambda nik: {"nik": nik},
    ),
    "B": FloorQuery(
        "B", "`persons(first: 50)` with family members",
        "{ persons(first: 50) { edges { node { nik name family { kk members { nik name } } } } } }",
        "/b", False, lambda _: {},
    ),
    "C": FloorQuery(
        "C", "`schools(first: 50)` → pupils → person → family members, with `totalCount`",
        "query($first: Int) { schools(first: $first) { totalCount edges { node { npsn students { nisn "
        "person { nik family { kk members { nik name } } } } } } } }",
        "/c", True, lambda first: {"first": first},
    ),
}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=20, help="connections for A and B (default %(default)s)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per round for A and B (default %(default)s)")
    # C is a heavy query: a gateway process runs [limits] heavy_concurrency (2) of them at once and
    # answers the rest GATEWAY_BUSY once they have waited half their deadline, by design.
    p.add_argument("--deep-concurrency", type=int, default=2, help="connections for C (default %(default)s)")
    p.add_argument("--deep-seconds", type=float, default=20.0, help="seconds per round for C (default %(default)s)")
    p.add_argument("--deep-warmup", type=float, default=10.0, help="warm-up seconds for C (default %(default)s)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per server and query (default %(default)s)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--queries", default="A,B,C", help="comma-separated subset of A,B,C (default %(default)s)")
    p.add_argument("--compare", type=Path, default=None, help="also serve the gateway from this checkout")
    p.add_argument("--markdown", action="store_true", help="write the section 'The floor beside us' into bench/RESULTS.md")
    p.add_argument("--postgres", default=DEFAULT_POSTGRES)
    p.add_argument("--mariadb", default=DEFAULT_MARIADB)
    p.add_argument("--redis", default=DEFAULT_REDIS, help="for the 2-worker gateways' shared lookup counts")
    args = p.parse_args(argv)
    unknown = set(args.queries.split(",")) - set(QUERIES)
    if unknown:
        p.error(f"--queries: unknown {sorted(unknown)}; choose from {sorted(QUERIES)}")
    if shutil.which(floor_wrk.WRK) is None:
        p.error("needs `wrk` (Debian package wrk): a Python client on the same cores would be the limit")
    return args


def _servers(args: argparse.Namespace, dbs: Any, audit_url: str) -> list[Server]:
    """Every server of the run, with its config written to ``bench/out``."""

    from resolvers.cursors import new_cursor_key

    from .floor_configs import ACCESS_HEADERS, gateway_config

    bare_env = {
        "FLOOR_REGISTRY_DSN": dbs.registry_url.replace("postgresql+asyncpg://", "postgresql://"),
        "FLOOR_EDUCATION_DSN": dbs.education_url.replace("mysql+aiomysql://", "mysql://"),
    }
    servers = [Server("bare endpoint", "bare", env=bare_env)]
    cursor_key = new_cursor_key()
    private = OUT_DIR / "floor-audit"  # the audit checkpoints: the gateway wants a directory of their own
    private.mkdir(mode=0o700, exist_ok=True)
    private.chmod(0o700)
    for workers, access in ((1, False), (1, True), (2, True), (2, False)):
        tag = f"{workers}w-{'access' if access else 'open'}"
        config = OUT_DIR / f"floor-{tag}.toml"
        config.touch(mode=0o600)  # it holds the audit's subject key: the gateway warns about a readable one
        config.chmod(0o600)
        config.write_text(gateway_config(
            registry_url=dbs.registry_url, education_url=dbs.education_url, access=access, workers=workers,
            cursor_key=cursor_key, audit_url=audit_url, redis_url=args.redis,
            checkpoint=private / f"{tag}-checkpoint.json",
        ), encoding="utf-8")
        label = f"gateway, {workers} worker{'s' if workers > 1 else ''}, access {'on' if access else 'off'}"
        servers.append(Server(label, "gateway", config=config, workers=workers, headers=ACCESS_HEADERS if access else {}))
    if args.compare:
        root = args.compare.resolve()
        servers.append(Server(f"gateway {_commit(root)}, 1 worker, access off", "gateway", root=root,
                              config=_config_of(root, dbs)))
    return servers


async def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    queries = [QUERIES[name] for name in args.queries.split(",")]
    dbs = bench_databases(SCALE, SEED, postgres=args.postgres, mariadb=args.mariadb)
    OUT_DIR.mkdir(exist_ok=True)
    keys = {"A": await _niks(dbs.registry_url, A_KEYS), "B": [None], "C": [50]}
    audit_url = f"{args.postgres.rstrip('/')}/{AUDIT_DB}"
    await _recreate_database(args.postgres, AUDIT_DB)
    load_before = os.getloadavg()[0]
    commit_before = _commit(REPO_ROOT)  # each server starts anew every round: a commit in between would be measured
    try:
        servers = _servers(args, dbs, audit_url)
        loads = _loads(servers, queries, keys)
        runs, memory = await _measure(args, servers, queries, keys, loads)
    finally:
        await _drop_database(args.postgres, AUDIT_DB)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": SCALE,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_avg": [load_before, os.getloadavg()[0]],
        "commits": {"this": _moved(commit_before, _commit(REPO_ROOT)), **({"compare": _commit(args.compare.resolve())} if args.compare else {})},
        "queries": {
            q.name: {
                "title": q.title,
                "document": q.document,
                "concurrency": args.deep_concurrency if q.deep else args.concurrency,
                "seconds": args.deep_seconds if q.deep else args.seconds,
                "warmup": args.deep_warmup if q.deep else args.warmup,
                "client": "Python closed loop, window after the warm-up" if q.deep else "wrk",
                "keys": _keys_note(q, keys[q.name]),
            }
            for q in queries
        },
        "servers": [
            {"label": s.label, "kind": s.kind, "workers": s.workers, "root": str(s.root), "runs": runs[s.label],
             "rss_kb": memory[s.label][0], "processes": memory[s.label][1]}
            for s in servers
        ],
        "notes": _notes(args),
    }
    (OUT_DIR / "floor.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    text = section(results)
    print("\n" + text)
    if args.markdown:
        old = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else ""
        RESULTS_MD.write_text(replace_section(old, text), encoding="utf-8")
        print(f"wrote the section into {RESULTS_MD}")


async def _measure(
    args: argparse.Namespace,
    servers: list[Server],
    queries: list[FloorQuery],
    keys: dict[str, list[Any]],
    loads: dict[tuple[str, str], Load],
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[str, tuple[int, int]]]:
    """Every round: each server in turn is started, checked (first round), warmed up and measured on
    each query, and stopped. One at a time because together they would hold more connections than
    PostgreSQL allows (20 per worker and source: six servers, eight processes, 100 by default).

    Returns the runs per server and query, and each server's memory at the end of its last round.
    """

    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s.label: {q.name: [] for q in queries} for s in servers}
    memory: dict[str, tuple[int, int]] = {}
    expected: dict[tuple[str, Any], Any] = {}
    for round_ in range(args.rounds):
        order = servers if round_ % 2 == 0 else servers[::-1]  # drift of the machine falls on everyone alike
        for server in order:
            server.start(OUT_DIR / f"floor-{servers.index(server)}.log")
            try:
                await server.wait_healthy()
                if round_ == 0:  # the bare endpoint comes first in the first round
                    await _check_answers(server, queries, keys, expected)
                for query in queries:
                    result = await _run(args, server, query, loads[server.label, query.name])
                    runs[server.label][query.name].append(result.as_dict())
                    print(f"round {round_ + 1} {query.name} {server.label}: {result.rps:.1f} req/s, "
                          f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                          f"errors {result.errors} of {result.requests}", flush=True)
                memory[server.label] = server.rss_kb()
            finally:
                server.stop()
    return runs, memory


def _keys_note(query: FloorQuery, keys: list[Any]) -> str:
    if query.name == "A":
        return (f"{len(keys)} residents in turn (repeating; fewer than the anonymous lookup budget of 1,000 "
                "distinct persons per window)")
    return "the same request every time"


def _notes(args: argparse.Namespace) -> list[str]:
    notes = [
        "**bare endpoint**: Starlette + asyncpg + aiomysql + orjson, one uvicorn process (uvloop, httptools), the SQL "
        "statements each answer needs (`bench/floor_bare.py`); its answers were checked to equal the gateway's.",
        "**access on**: API key and purpose of a bench role reading persons and pupils in full, lookup budget raised "
        "out of reach, no rate limit, audit log in PostgreSQL (`bench/floor_configs.py`).",
        "**2 workers**: `satudata serve --workers 2`, lookup counts in Redis when access is on; RSS is the sum over "
        "the supervisor and its workers.",
        "*req/s*: answers without errors per second (a refusal answered fast is no throughput); *p50*, *p99*: "
        "over every answer; *errors*: answers that were not a 200 or held `\"errors\"`, plus socket errors and "
        "timeouts, summed over the rounds, of all answers, by code (above concurrency 2, query C meets the "
        "gateway's `[limits] heavy_concurrency`, 2 per process: a query that waits too long for a slot is refused "
        "with `GATEWAY_BUSY`, by design; hence C at 2).",
    ]
    if args.compare:
        notes.append(f"`--compare`: the gateway of the checkout at `{args.compare}`, with its own `render_config`.")
    return notes


async def _run(args: argparse.Namespace, server: Server, query: FloorQuery, load: Load) -> floor_wrk.LoadResult:
    """Warm up, measure, and wait until the server is idle again (what was in flight is answered)."""

    if query.deep:  # seconds per request: warm-up and window in one unbroken load (bench.floor_client)
        result = await closed_loop(server.url, load.path, load.bodies, load.headers, concurrency=args.deep_concurrency,
                                   warmup=args.deep_warmup, seconds=args.deep_seconds)
    else:
        floor_wrk.run(server.url, load.script, concurrency=args.concurrency, seconds=args.warmup)
        await server.settle()
        result = floor_wrk.run(server.url, load.script, concurrency=args.concurrency, seconds=args.seconds)
    await server.settle()
    return result


async def _check_answers(
    server: Server, queries: list[FloorQuery], keys: dict[str, list[Any]], expected: dict[tuple[str, Any], Any]
) -> None:
    """The bare endpoint's answers for a few keys of each query go into ``expected``; every other
    server must give the same data (same values, same order) without errors."""

    async with httpx.AsyncClient(timeout=120) as client:
        for query in queries:
            for key in keys[query.name][:3]:
                if server.kind == "bare":
                    answer = (await client.post(server.url + query.bare_path, json=query.variables(key))).json()
                    expected[query.name, key] = answer["data"]
                    continue
                answer = (await client.post(
                    server.url + "/graphql", json={"query": query.document, "variables": query.variables(key)},
                    headers={"accept": "application/json", **server.headers},
                )).json()
                if "errors" in answer or answer.get("data") != expected[query.name, key]:
                    raise RuntimeError(
                        f"{server.label} answers query {query.name} ({key}) otherwise than the bare endpoint: "
                        f"{json.dumps(answer)[:600]} ... expected {json.dumps(expected[query.name, key])[:300]} ..."
                    )


@dataclass(frozen=True)
class Load:
    """What one server is sent for one query: the path, the bodies in turn, and wrk's script for them."""

    path: str
    bodies: list[dict[str, Any]]
    headers: dict[str, str]
    script: Path


def _loads(servers: list[Server], queries: list[FloorQuery], keys: dict[str, list[Any]]) -> dict[tuple[str, str], Load]:
    """Per (server, query): the bare endpoint's route and bodies, or ``/graphql`` with the document."""

    loads: dict[tuple[str, str], Load] = {}
    for index, server in enumerate(servers):
        for query in queries:
            if server.kind == "bare":
                path, bodies = query.bare_path, [query.variables(k) for k in keys[query.name]]
            else:
                path = "/graphql"
                bodies = [{"query": query.document, "variables": query.variables(k)} for k in keys[query.name]]
            bodies_file = OUT_DIR / f"floor-{index}-{query.name}.bodies"
            bodies_file.write_text("".join(json.dumps(b) + "\n" for b in bodies), encoding="utf-8")
            script = OUT_DIR / f"floor-{index}-{query.name}.lua"
            script.write_text(floor_wrk.script_text(bodies_file, path, server.headers), encoding="utf-8")
            loads[server.label, query.name] = Load(path, bodies, server.headers, script)
    return loads


def _moved(before: str, after: str) -> str:
    return before if before == after else f"{before}, then {after} (the tree changed during the run)"


def _commit(root: Path) -> str:
    """``git rev-parse --short HEAD`` of ``root``, marked when tracked files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return f"{root} (not a git checkout)"
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return head + (f" + uncommitted changes in {len(changed)} files" if changed else "")


async def _niks(registry_url: str, count: int) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(registry_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch("SELECT nik FROM penduduk ORDER BY nik")
    finally:
        await conn.close()
    niks = [r["nik"] for r in rows]
    return random.Random(SEED).sample(niks, min(count, len(niks)))


async def _admin(postgres: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(postgres.replace("postgresql+asyncpg", "postgresql").rstrip("/") + "/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _recreate_database(postgres: str, name: str) -> None:
    """A fresh, empty audit database (the gateways create their tables in it)."""

    await _drop_database(postgres, name)
    await _admin(postgres, f'CREATE DATABASE "{name}"')


async def _drop_database(postgres: str, name: str) -> None:
    await _admin(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _config_of(root: Path, dbs: Any) -> Path:
    """The same sources in the config language of the checkout at ``root`` (its own ``render_config``)."""

    path = OUT_DIR / "floor-compare.toml"
    script = (
        "import sys; from demo.gateway_config import render_config; "
        "sys.stdout.write(render_config(registry_url=sys.argv[1], education_url=sys.argv[2]))"
    )
    text = subprocess.run(
        [sys.executable, "-c", script, dbs.registry_url, dbs.education_url],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, check=True, capture_output=True, text=True,
    ).stdout
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":
    asyncio.run(main())
