"""``python -m bench.instructions``: what one request costs the gateway, counted in instructions.

The floor (``python -m bench.floor``) measures rates from outside, on a shared machine where two
runs of the same server differ by 15% and more; a change worth 5% does not show. Here each server
runs in-process under valgrind's callgrind, which counts the instructions the process executes:
the same code, data and requests give the same count, whatever else the machine is doing (two
runs agree within about 0.3%). Only the measured requests are counted (instrumentation is turned on
after the warm-up, ``bench.instructions_driver``), and the count is divided by their number.
Requests go one at a time by default: with several in flight, how many lookups share a statement
(``connectors.coalesce``) and how many audit entries share a commit depend on timing, and counts
of the same build at ``--concurrency 20`` differ by up to 4%.

What is counted is the app, the database drivers and the event loop, in-process through the ASGI
interface: no sockets and no HTTP parsing (uvicorn's part, the same for every server), and not the
databases' own work. Servers:

- ``bare``: the floor's bare endpoint (``bench.floor_bare``), the same answers without a gateway;
- ``open``: the gateway without the access layer (the floor's config);
- ``access``: with it (policy, lookup budget, the audit log in PostgreSQL with group commit).

``--compare PATH`` counts the gateway of another checkout too (``open`` only, in that checkout's
own config language, as the floor does). Instructions are not time: a request that waits on a
lock or a disk costs no instructions while it waits. Use this to tell whether a change to the
gateway's own work pays; use the floor for what users get.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import floor
from .databases import DEFAULT_MARIADB, DEFAULT_POSTGRES, bench_databases, ensure_loaded
from .floor_configs import ACCESS_HEADERS, gateway_config
from .floor_report import replace_section
from .server import REPO_ROOT

HEADING = "## Instructions per request"
RESULTS_MD = REPO_ROOT / "bench" / "RESULTS.md"
DRIVER = REPO_ROOT / "bench" / "instructions_driver.py"
SERVERS = ("bare", "open", "access")
_COLLECTED = re.compile(r"Collected\s*:\s*([\d,]+)")


@dataclass(frozen=True)
class Count:
    """One server's count for one query."""

    server: str
    query: str
    requests: int
    instructions: int
    errors: int

    @property
    def per_request(self) -> float:
        return self.instructions / self.requests


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    p.add_argument("--queries", default="A,B", help="comma-separated subset of the floor's A,B,C (default %(default)s)")
    p.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of %(default)s")
    p.add_argument("--requests", type=int, default=200, help="measured requests per server and query (default %(default)s)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="requests in flight (default %(default)s: repeatable; 20 as the floor's wrk shares statements and "
                        "audit commits between requests, which depends on timing)")
    p.add_argument("--compare", type=Path, default=None, help="also count the gateway (open) of this checkout")
    p.add_argument("--markdown", action="store_true", help=f"write the section '{HEADING[3:]}' into bench/RESULTS.md")
    p.add_argument("--postgres", default=DEFAULT_POSTGRES)
    p.add_argument("--mariadb", default=DEFAULT_MARIADB)
    args = p.parse_args(argv)
    for name, given, known in (("queries", args.queries, floor.QUERIES), ("servers", args.servers, SERVERS)):
        unknown = set(given.split(",")) - set(known)
        if unknown:
            p.error(f"--{name}: unknown {sorted(unknown)}; choose from {sorted(known)}")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        p.error("needs valgrind (Debian package valgrind): callgrind counts the instructions")
    return args


def collected(valgrind_log: str) -> int:
    """The instructions callgrind counted while instrumentation was on (its ``Collected :`` line)."""

    found = _COLLECTED.findall(valgrind_log)
    if not found:
        raise RuntimeError("callgrind reported no count:\n" + valgrind_log[-2000:])
    return int(found[-1].replace(",", ""))


def count(
    *, root: Path, server: str, query: str, config: Path | None, bodies: Path, headers: dict[str, str],
    requests: int, concurrency: int, out: Path, env: dict[str, str], bare: Path = REPO_ROOT / "bench" / "floor_bare.py",
) -> Count:
    """Run the driver under callgrind in ``root`` and return its count (``config`` ``None``: the
    bare endpoint, the app of ``bare``)."""

    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out / 'callgrind.out'}",
        sys.executable, str(DRIVER), "--bodies", str(bodies), "--requests", str(requests),
        "--concurrency", str(concurrency),
        *(["--config", str(config)] if config is not None else ["--bare", str(bare)]),
        "--path", floor.QUERIES[query].bare_path if config is None else "/graphql",
        *(arg for name, value in headers.items() for arg in ("--header", f"{name}={value}")),
    ]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=1800, env={**os.environ, **env})
    if done.returncode != 0:
        raise RuntimeError(f"{server} {query}: the driver failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Count(server, query, result["requests"], collected(done.stderr), result["errors"] + result["warmup_errors"])


def section(counts: list[Count], *, commit: str, compare: str | None, requests: int, concurrency: int) -> str:
    """The markdown section: instructions per request, and each as a multiple of the bare endpoint's."""

    queries = sorted({c.query for c in counts})
    servers = list(dict.fromkeys(c.server for c in counts))
    by = {(c.server, c.query): c for c in counts}
    lines = [
        f"{HEADING}: `{commit}`" + (f" against `{compare}`" if compare else ""),
        "",
        f"Written by `python -m bench.instructions` (see `bench/README.md`) on "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}; scale {floor.SCALE:g}, {requests} measured requests "
        f"per server and query, {concurrency} at a time, in-process under callgrind (no sockets, no HTTP parsing, "
        "not the databases' own work). "
        + ("Counts repeat within about 0.3% whatever the machine is doing."
           if concurrency == 1 else
           "With requests in flight together, shared statements and audit commits depend on timing: counts of one "
           "build differ by up to 4%."),
        "",
        "| server | " + " | ".join(f"{q} instructions/request | {q} × bare" for q in queries) + " | errors |",
        "|---|" + "---:|---:|" * len(queries) + "---:|",
    ]
    for server in servers:
        cells = []
        for q in queries:
            c, bare = by.get((server, q)), by.get(("bare", q))
            cells.append(f"{c.per_request:,.0f}" if c else "–")
            cells.append(f"{c.per_request / bare.per_request:.2f}×" if c and bare else "–")
        errors = sum(by[(server, q)].errors for q in queries if (server, q) in by)
        lines.append(f"| {server} | " + " | ".join(cells) + f" | {errors} |")
    return "\n".join(lines) + "\n"


async def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    queries = args.queries.split(",")
    dbs = bench_databases(floor.SCALE, floor.SEED, postgres=args.postgres, mariadb=args.mariadb)
    await ensure_loaded(dbs)
    keys = {"A": await floor._niks(dbs.registry_url, floor.A_KEYS), "B": [None], "C": [50]}
    audit_url = f"{args.postgres.rstrip('/')}/{floor.AUDIT_DB}"
    bare_env = {  # the bare endpoint's databases (bench.floor_bare)
        "FLOOR_REGISTRY_DSN": dbs.registry_url.replace("postgresql+asyncpg://", "postgresql://"),
        "FLOOR_EDUCATION_DSN": dbs.education_url.replace("mysql+aiomysql://", "mysql://"),
    }
    counts: list[Count] = []
    with tempfile.TemporaryDirectory(prefix="satudata-instructions-") as tmp:
        out = Path(tmp)
        private = out / "audit"
        private.mkdir(mode=0o700)
        configs: dict[str, tuple[Path, Path | None, dict[str, str]]] = {}
        for server in args.servers.split(","):
            config = None
            if server != "bare":
                config = out / f"{server}.toml"
                config.touch(mode=0o600)
                config.write_text(gateway_config(
                    registry_url=dbs.registry_url, education_url=dbs.education_url, access=server == "access",
                    workers=1, cursor_key="", audit_url=audit_url, redis_url="", checkpoint=private / f"{server}.json",
                ), encoding="utf-8")
            configs[server] = (REPO_ROOT, config, ACCESS_HEADERS if server == "access" else {})
        if args.compare is not None:
            configs[f"open at {floor._commit(args.compare.resolve())}"] = (
                args.compare.resolve(), floor._config_of(args.compare.resolve(), dbs), {}
            )
        for query in queries:
            q = floor.QUERIES[query]
            for server, (root, config, headers) in configs.items():
                bodies = out / f"{query}-{'bare' if config is None else 'graphql'}.bodies"
                bodies.write_text("".join(
                    json.dumps(q.variables(k) if config is None else {"query": q.document, "variables": q.variables(k)}) + "\n"
                    for k in keys[query]
                ), encoding="utf-8")
                if server == "access":
                    await floor._recreate_database(args.postgres, floor.AUDIT_DB)
                requests = args.requests if not q.deep else max(2, args.requests // 50)
                result = count(root=root, server=server, query=query, config=config, bodies=bodies, headers=headers,
                               requests=requests, concurrency=min(args.concurrency, requests), out=out,
                               env=bare_env if config is None else {})
                print(f"{server:>24} {query}: {result.per_request:>12,.0f} instructions/request"
                      + (f"  ({result.errors} errors)" if result.errors else ""), flush=True)
                counts.append(result)
        await floor._drop_database(args.postgres, floor.AUDIT_DB)
    text = section(counts, commit=floor._commit(REPO_ROOT), compare=floor._commit(args.compare.resolve()) if args.compare else None,
                   requests=args.requests, concurrency=args.concurrency)
    print("\n" + text)
    if args.markdown:
        old = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else ""
        RESULTS_MD.write_text(replace_section(old, text, HEADING), encoding="utf-8")
        print(f"wrote the section into {RESULTS_MD}")


if __name__ == "__main__":
    asyncio.run(main())
