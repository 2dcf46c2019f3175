"""The floor beside the gateway: ``person(nik)`` with family members, against a bare endpoint.

``python -m bench.floor`` serves, in one run and on the bench's scale-0.1 databases (``python -m
bench --scales 0.1 --load-only`` loads them):

- **bare**: Starlette + asyncpg + orjson, the same two SQL statements the gateway sends (the
  resident by NIK, then the members of their KK), no GraphQL, one uvicorn process;
- **gateway**: ``satudata serve`` from this checkout (no access layer, as ``python -m bench``);
- **gateway (ROOT)**, with ``--compare ROOT``: the same from another checkout, e.g. an older commit
  in a ``git worktree``, for a before/after from one run.

Each gets the same keys at ``--concurrency`` (default 20) for ``--seconds``, twice, interleaved,
and the report gives requests/s, p50 and p99, and each gateway's share of the bare endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from .databases import DEFAULT_MARIADB, DEFAULT_POSTGRES, bench_databases
from .server import REPO_ROOT, GatewayProcess, free_port

OUT_DIR = Path(__file__).resolve().parent / "out"
QUERY = "query($nik: NIK!) { person(nik: $nik) { nik name family { kk members { nik name } } } }"

BARE_APP = '''
import asyncpg, contextlib, orjson, sys
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

DSN = sys.argv[1]  # set by the launcher
pool = None

@contextlib.asynccontextmanager
async def lifespan(app):
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=20, max_size=20)
    yield
    await pool.close()

async def person(request):
    nik = orjson.loads(await request.body())["nik"]
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT nik, nama_lengkap, no_kk FROM penduduk WHERE nik = $1", nik)
        members = await conn.fetch("SELECT nik, nama_lengkap FROM penduduk WHERE no_kk = $1 ORDER BY nik", row["no_kk"])
    body = {"data": {"person": {"nik": row["nik"], "name": row["nama_lengkap"], "family": {"kk": row["no_kk"],
            "members": [{"nik": m["nik"], "name": m["nama_lengkap"]} for m in members]}}}}
    return Response(orjson.dumps(body), media_type="application/json")

async def healthz(request):
    return Response(b"ok")

app = Starlette(routes=[Route("/person", person, methods=["POST"]), Route("/healthz", healthz)], lifespan=lifespan)
'''


async def _load(send: Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]], base_url: str, niks: list[str],
                concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    keys = iter(niks * 1000)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await send(client, next(keys))
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or b'"errors"' in response.content:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "errors": errors,
    }


#: wrk's request script: one POST per NIK of ``floor-niks.txt``, in turn, with the body ``template`` makes.
WRK_SCRIPT = """
local niks = {}
for line in io.lines("%(niks)s") do niks[#niks + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
request = function()
  i = i %% #niks + 1
  return wrk.format(nil, "%(path)s", nil, string.format('%(template)s', niks[i]))
end
done = function(summary, latency, requests)
  io.write(string.format("FLOOR %%f %%f %%f %%d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""


def _wrk(url: str, path: str, template: str, niks_file: Path, concurrency: int, seconds: float, label: str) -> dict[str, float]:
    """One wrk run (a C load generator: a Python client would be the bottleneck at these rates)."""

    script = OUT_DIR / f"floor-{label}.lua"
    script.write_text(WRK_SCRIPT % {"niks": niks_file, "path": path, "template": template}, encoding="utf-8")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{max(1, int(seconds))}s", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps, p50, p99, errors = next(line for line in out.splitlines() if line.startswith("FLOOR ")).split()[1:]
    return {"rps": float(rps), "p50_ms": float(p50), "p99_ms": float(p99), "errors": float(errors)}


async def _niks(registry_url: str, count: int) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(registry_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch("SELECT nik FROM penduduk ORDER BY nik")
    finally:
        await conn.close()
    niks = [r["nik"] for r in rows]
    return random.Random(3503).sample(niks, min(count, len(niks)))


async def _wait(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--compare", type=Path, default=None, help="also serve the gateway from this checkout")
    p.add_argument("--postgres", default=DEFAULT_POSTGRES)
    p.add_argument("--mariadb", default=DEFAULT_MARIADB)
    args = p.parse_args(argv)

    from demo.gateway_config import render_config

    dbs = bench_databases(0.1, 3503, postgres=args.postgres, mariadb=args.mariadb)
    niks = await _niks(dbs.registry_url, 5000)
    OUT_DIR.mkdir(exist_ok=True)
    config = OUT_DIR / "floor-gateway.toml"
    config.write_text(render_config(registry_url=dbs.registry_url, education_url=dbs.education_url), encoding="utf-8")
    bare_file = OUT_DIR / "floor_bare.py"
    bare_file.write_text(BARE_APP, encoding="utf-8")

    port = free_port()
    # The bare app reads its DSN from sys.argv: run uvicorn from a one-line script that sets it.
    bare = subprocess.Popen(
        [sys.executable, "-c", f"import sys; sys.argv=['x', {dbs.registry_url.replace('postgresql+asyncpg', 'postgresql')!r}];"
         f"sys.path.insert(0, {str(OUT_DIR)!r}); import uvicorn, floor_bare;"
         f"uvicorn.run(floor_bare.app, port={port}, log_level='warning', access_log=False)"],
    )
    servers: dict[str, tuple[str, Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]]] = {}
    try:
        await _wait(f"http://127.0.0.1:{port}/healthz")
        servers["bare endpoint"] = (f"http://127.0.0.1:{port}", lambda c, nik: c.post("/person", json={"nik": nik}))
        gateways = [("gateway (this tree)", REPO_ROOT)] + ([(f"gateway ({args.compare})", args.compare)] if args.compare else [])
        async with _gateways(config, gateways) as running:
            for label, url in running:
                servers[label] = (url, lambda c, nik: c.post("/graphql", json={"query": QUERY, "variables": {"nik": nik}},
                                                             headers={"accept": "application/json"}))
            results: dict[str, list[dict[str, float]]] = {label: [] for label in servers}
            niks_file = OUT_DIR / "floor-niks.txt"
            niks_file.write_text("\n".join(niks) + "\n", encoding="utf-8")
            bodies = {"bare endpoint": ("/person", '{"nik":"%s"}')}
            graphql = '{"query":"' + QUERY.replace('"', '\\"') + '","variables":{"nik":"%s"}}'
            async with httpx.AsyncClient(timeout=30) as client:  # every server answers the same, without errors
                for label, (url, send) in servers.items():
                    client.base_url = httpx.URL(url)
                    answer = (await send(client, niks[0])).json()
                    if "errors" in answer or not answer["data"]["person"]["family"]["members"]:
                        raise RuntimeError(f"{label} did not answer person(nik): {answer}")
            for _round in range(args.rounds):
                for index, (label, (url, send)) in enumerate(servers.items()):
                    if shutil.which("wrk"):
                        path, template = bodies.get(label, ("/graphql", graphql))
                        _wrk(url, path, template, niks_file, args.concurrency, 2, f"{index}")  # warm
                        results[label].append(_wrk(url, path, template, niks_file, args.concurrency, args.seconds, f"{index}"))
                    else:  # a Python client: it, not the servers, may be what limits the rate
                        await _load(send, url, niks[:200], args.concurrency, 2.0)
                        results[label].append(await _load(send, url, niks, args.concurrency, args.seconds))
    finally:
        bare.terminate()
        bare.wait(timeout=10)

    floor = statistics.median(r["rps"] for r in results["bare endpoint"])
    print(f"\nperson(nik) with family members, scale 0.1, concurrency {args.concurrency}, {args.rounds} x {args.seconds:g} s\n")
    print("| server | req/s (each round) | p50 ms | p99 ms | errors | share of bare |")
    print("|---|---|---:|---:|---:|---:|")
    for label, rounds in results.items():
        rps = statistics.median(r["rps"] for r in rounds)
        each = " / ".join(f"{r['rps']:.0f}" for r in rounds)
        print(f"| {label} | {each} | "
              f"{statistics.median(r['p50_ms'] for r in rounds):.1f} | {statistics.median(r['p99_ms'] for r in rounds):.1f} | "
              f"{sum(int(r['errors']) for r in rounds)} | {rps / floor:.1%} |")


def _config_of(root: Path, config: Path, index: int) -> Path:
    """The same sources in the config language of the checkout at ``root`` (its own ``render_config``)."""

    import tomllib

    urls = tomllib.loads(config.read_text(encoding="utf-8"))["sources"]
    path = OUT_DIR / f"floor-gateway-{index}.toml"
    script = (
        "import sys; from demo.gateway_config import render_config; "
        "sys.stdout.write(render_config(registry_url=sys.argv[1], education_url=sys.argv[2]))"
    )
    text = subprocess.run(
        [sys.executable, "-c", script, urls["siak"]["url"], urls["dapodik"]["url"]],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, check=True, capture_output=True, text=True,
    ).stdout
    path.write_text(text, encoding="utf-8")
    return path


class _gateways:
    """Start each gateway process; yields (label, base URL) pairs; stops them all on exit."""

    def __init__(self, config: Path, gateways: list[tuple[str, Path]]) -> None:
        self.procs = [
            (label, GatewayProcess(config if root == REPO_ROOT else _config_of(root, config, i), OUT_DIR / f"floor-{i}.log", root=root))
            for i, (label, root) in enumerate(gateways)
        ]

    async def __aenter__(self) -> list[tuple[str, str]]:
        for _, proc in self.procs:
            proc.start()
        for _, proc in self.procs:
            await proc.wait_healthy()
        return [(label, proc.base_url) for label, proc in self.procs]

    async def __aexit__(self, *exc: object) -> None:
        for _, proc in self.procs:
            proc.stop()


if __name__ == "__main__":
    asyncio.run(main())
