"""``python -m bench``: load (or reuse) the sources per scale, serve the gateway, measure, report.

python -m bench [--scales 0.1,1.0] [--requests 200] [--seed 3503] [--reload]
python -m bench --subscribers 5000 [--groups 50] [--duration 30]   (bench/subscribers.py)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .databases import DEFAULT_MARIADB, DEFAULT_POSTGRES, bench_databases, ensure_loaded, scale_tag, server_version
from .keys import key_pools
from .measure import new_client, run_concurrent, run_sequential
from .queries import CURSOR_KEY, QUERIES
from .report import floors, keeping_other_sections, machine_info, markdown, write_json
from .server import REPO_ROOT, GatewayProcess

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
RESULTS_MD = BENCH_DIR / "RESULTS.md"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""

    p = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark the gateway over PostgreSQL + MariaDB sources."
    )
    p.add_argument("--scales", default="0.1,1.0", help="comma-separated demo scales (default: %(default)s)")
    p.add_argument(
        "--requests", type=int, default=200, help="measured requests per query at concurrency 1 (default: %(default)s)"
    )
    p.add_argument("--warmup", type=int, default=20, help="warm-up requests per query (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=8, help="workers in the mixed run (default: %(default)s)")
    p.add_argument("--mix-requests", type=int, default=None, help="requests in the mixed run (default: --requests)")
    p.add_argument("--seed", type=int, default=3503, help="demo data seed and key RNG seed (default: %(default)s)")
    p.add_argument("--reload", action="store_true", help="rebuild and reload the databases even if they match")
    p.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL server URL, no database (default: %(default)s)"
    )
    p.add_argument("--mariadb", default=DEFAULT_MARIADB, help="MariaDB server URL, no database (default: %(default)s)")
    p.add_argument(
        "--budget-s",
        type=float,
        default=300.0,
        help="stop measuring a query after this many seconds, once --min-requests are done (default: %(default)s)",
    )
    p.add_argument(
        "--min-requests",
        type=int,
        default=20,
        help="measured requests per query even past the budget (default: %(default)s)",
    )
    p.add_argument(
        "--load-only", action="store_true", help="only load (or check) the databases of each scale, then exit"
    )
    p.add_argument(
        "--gateway-root", type=Path, default=None, help="run the gateway from this checkout instead (to compare)"
    )
    p.add_argument("--no-markdown", action="store_true", help="do not rewrite bench/RESULTS.md")
    p.add_argument(
        "--queries",
        default=",".join(q.name for q in QUERIES),
        help="comma-separated query names to measure; a subset never rewrites bench/RESULTS.md (default: %(default)s)",
    )
    args = p.parse_args(argv)
    args.scales = [float(s) for s in args.scales.split(",") if s.strip()]
    known = {q.name: q for q in QUERIES}
    names = [n.strip() for n in args.queries.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        p.error(f"--queries: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    args.queries = [known[n] for n in names]
    if len(args.queries) < len(QUERIES):
        # The report's tables and floors are about all five queries together.
        args.no_markdown = True
    if args.mix_requests is None:
        args.mix_requests = args.requests
    return args


def log(message: str) -> None:
    """Progress on stderr."""

    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _rng(seed: int, scale: float, purpose: str) -> random.Random:
    return random.Random(f"bench:{seed}:{scale:g}:{purpose}")


async def bench_scale(scale: float, args: argparse.Namespace) -> dict[str, Any]:
    """Everything measured at one scale."""

    from demo.gateway_config import render_config

    dbs = bench_databases(scale, args.seed, postgres=args.postgres, mariadb=args.mariadb)
    load = await ensure_loaded(dbs, reload=args.reload, log=log)
    gc.collect()
    pools = await key_pools(dbs)
    log(f"scale {scale:g}: key pools {pools.summary()}")

    tag = scale_tag(scale)
    config = OUT_DIR / f"gateway-{tag}.toml"
    config.write_text(render_config(registry_url=dbs.registry_url, education_url=dbs.education_url, cursor_key=CURSOR_KEY), encoding="utf-8")

    plans = {}
    for q in args.queries:
        variables = q.make_variables(_rng(args.seed, scale, q.name), pools, args.warmup + args.requests)
        plans[q.name] = (variables[: args.warmup], variables[args.warmup :])
    # Keys differ per scale; the order of query kinds in the mix is the same at every scale, so the
    # scales see the same pattern of deep queries overlapping (which drives the gateway's peak memory).
    mix_rng = _rng(args.seed, scale, "mix")
    mix_vars = {q.name: q.make_variables(mix_rng, pools, args.mix_requests) for q in args.queries}
    kinds = [args.queries[i % len(args.queries)] for i in range(args.mix_requests)]
    random.Random(f"bench:{args.seed}:mix-order").shuffle(kinds)
    mix = [(q, mix_vars[q.name][i]) for i, q in enumerate(kinds)]

    root = {"root": args.gateway_root.resolve()} if args.gateway_root else {}
    load_before = os.getloadavg()[0]
    async with GatewayProcess(config, OUT_DIR / f"gateway-{tag}.log", **root) as gw:
        log(f"scale {scale:g}: gateway pid {gw.pid} at {gw.base_url}")
        start_mem = gw.memory_kb()
        stats = []
        async with new_client(gw.base_url) as client:
            for q in args.queries:
                warm, measured = plans[q.name]
                s, _ = await run_sequential(
                    client, q, warm, measured, budget_s=args.budget_s, min_requests=args.min_requests
                )
                stats.append(s)
                trips = (
                    s.round_trips_min
                    if s.round_trips_min == s.round_trips_max
                    else f"{s.round_trips_min}-{s.round_trips_max}"
                )
                log(
                    f"scale {scale:g}: {q.name}: {s.requests} requests, median {s.median_ms:.2f} ms, "
                    f"p99 {s.p99_ms:.2f} ms, round-trips {trips}, errors {s.errors}, empty {s.empty_answers}"
                )
        seq_mem = gw.memory_kb()
        async with new_client(gw.base_url, args.concurrency) as client:
            mixed = await run_concurrent(client, mix, args.concurrency)
        log(
            f"scale {scale:g}: mix at concurrency {args.concurrency}: "
            f"{mixed.requests_per_s:.1f} req/s, errors {mixed.errors}"
        )
        await asyncio.sleep(1.0)  # let the last responses be freed before reading VmRSS
        end_mem = gw.memory_kb()
        log(f"scale {scale:g}: RSS {start_mem['VmRSS'] / 1024:.1f} MiB -> {end_mem['VmRSS'] / 1024:.1f} MiB")
    return {
        "scale": scale,
        "databases": {"registry_url": dbs.registry_url, "education_url": dbs.education_url},
        "load": load.__dict__,
        "pools": pools.summary(),
        "gateway": {
            "rss_start_kb": start_mem["VmRSS"],
            "rss_after_sequential_kb": seq_mem["VmRSS"],
            "rss_after_mix_kb": end_mem["VmRSS"],
            "hwm_after_mix_kb": end_mem["VmHWM"],
            "log": str(gw.log_path.relative_to(BENCH_DIR.parent)),
        },
        "loadavg_1min": [load_before, os.getloadavg()[0]],
        "queries": [s.as_dict() for s in stats],
        "mix": mixed.as_dict(),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run every scale and assemble the results."""

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    first = bench_databases(args.scales[0], args.seed, postgres=args.postgres, mariadb=args.mariadb)
    scales = []
    if args.load_only:
        for scale in args.scales:
            dbs = bench_databases(scale, args.seed, postgres=args.postgres, mariadb=args.mariadb)
            await ensure_loaded(dbs, reload=args.reload, log=log)
        return {}
    for scale in args.scales:
        scales.append(await bench_scale(scale, args))
    servers = {
        "postgresql": (await server_version(first.registry_url)).split(" on ")[0].split(",")[0],
        "mariadb": "MariaDB " + (await server_version(first.education_url)),
    }
    from .floor import _commit

    return {
        "date": started.isoformat(timespec="seconds"),
        # The gateway measured: that of --gateway-root when given, this checkout's otherwise.
        "commit": _commit((args.gateway_root or REPO_ROOT).resolve()),
        "machine": machine_info(),
        "servers": servers,
        "args": {
            "scales": args.scales,
            "requests": args.requests,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "mix_requests": args.mix_requests,
            "seed": args.seed,
            "budget_s": args.budget_s,
            "min_requests": args.min_requests,
            "queries": [q.name for q in args.queries],
        },
        "scales": scales,
        "floors": floors(scales),
    }


def _terminate_on_sigterm() -> None:
    # Turn SIGTERM into SystemExit so the gateway subprocess is stopped by the context managers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench``."""

    given = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--subscribers" or a.startswith("--subscribers=") for a in given):
        from .subscribers import main as subscribers  # issue 11's live fan-out, a run of its own

        return subscribers(given)
    args = parse_args(argv)
    _terminate_on_sigterm()
    results = asyncio.run(main_async(args))
    if args.load_only:
        return 0
    write_json(results, OUT_DIR / "results.json")
    text = markdown(results)
    if not args.no_markdown:
        old = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else ""
        RESULTS_MD.write_text(keeping_other_sections(text, old), encoding="utf-8")
    print(text)
    log(f"wrote {OUT_DIR / 'results.json'}" + ("" if args.no_markdown else f" and {RESULTS_MD}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
