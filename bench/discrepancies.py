"""``python -m bench.discrepancies``: the regency-wide discrepancy report, walked, counted, timed and scored.

Serves what the report compares at ``--scale`` (default 1.0, Trenggalek's real size): the
registry on PostgreSQL and Dapodik on MariaDB (the bench's databases, loaded once per scale, as
``python -m bench`` and ``bench.alerts`` use them), the health office's, Sepeda Keren's and the
JKN portal's demo APIs as their own processes, and ``satudata serve`` over them without an access
policy. Then, one request after another on one keep-alive client:

- **first page**: ``discrepancies(first: 20)``, what a school operator opening the report waits for;
- **walk**: the whole report in pages of 100, each page resumed from the last one's ``endCursor``,
  as a client pages it (``--walks`` times);
- **counts**: ``discrepancyCounts``, the walk the Smart Center's screen asks for.

The walk's items are scored against what the generator planted at that scale and seed
(``ground_truth()["quirks"]`` and ``["agency_quirks"]``, rebuilt here: the same scale and seed give
the same rows), per pair of systems: found, missed, reported but not planted. The suite checks the
same at scale 0.07 and, marked slow, 0.1 (``tests/test_discrepancies_agencies.py``).

python -m bench.discrepancies [--scale 1.0] [--walks 3] [--dry-run]

``--dry-run`` loads nothing and serves nothing: it prints the plan and the queries, so the wiring
can be checked in seconds. The gateway's ``request_timeout_s`` is raised to ``REQUEST_TIMEOUT_S``
for this run: the counts walk the whole regency in one request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx

from .queries import CURSOR_KEY

#: The demo APIs the report compares with the registry and Dapodik (``python -m demo.apis`` names).
APIS = ("dinkes", "sepeda-keren", "jkn")
#: What the counts (one request over the whole regency) may take before the gateway gives up.
REQUEST_TIMEOUT_S = 300

PAGE = """query Discrepancies($first: Int, $after: String) {
  discrepancies(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    comparisons { source complete }
    nodes { fact values { source authoritative record agency { code } } }
  }
}"""
COUNTS = "query DiscrepancyCounts { discrepancyCounts { fact count agency { code } region { code } } }"

#: The agency whose record each kind of planted quirk is in (the pupils' are all Dapodik's).
PUPILS = "DINDIKPORA"
KIND_FACT = {"name_mismatch": "NAME", "birth_date_mismatch": "BIRTH_DATE", "unknown_nik": "NIK", "null_nik": "NIK", "deceased_enrolled": "ALIVE"}

Key = tuple[str, str, str]  # (agency of the side to correct, its record's key, fact)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.discrepancies", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="demo scale (default: %(default)s)")
    p.add_argument("--seed", type=int, default=3503, help="demo data seed (default: %(default)s)")
    p.add_argument("--walks", type=int, default=3, help="measured walks of the whole report (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up first pages (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the queries; load and serve nothing")
    return p.parse_args(argv)


def plan(args: argparse.Namespace) -> dict[str, Any]:
    """What a run would do, JSON-ready."""

    from .databases import bench_databases

    dbs = bench_databases(args.scale, args.seed)
    return {
        "queries": ["first_page", "walk", "counts"],
        "scale": args.scale,
        "registry_url": dbs.registry_url,
        "education_url": dbs.education_url,
        "apis": list(APIS),
        "page_sizes": {"first_page": 20, "walk": 100},
        "walks": args.walks,
        "warmup": args.warmup,
        "request_timeout_s": REQUEST_TIMEOUT_S,
    }


def planted(truth: dict[str, Any]) -> set[Key]:
    """Every quirk the generator planted, keyed as the report shows it."""

    keys = {(PUPILS, q["nisn"], KIND_FACT[kind]) for kind, entries in truth["quirks"].items() for q in entries}
    return keys | {(q["agency"], q["nik"], "ALIVE") for entries in truth["agency_quirks"].values() for q in entries}


def found_key(item: dict[str, Any]) -> Key:
    """An item of the report as (agency to correct, its record, fact): the side that is not the authority."""

    (other,) = [v for v in item["values"] if not v["authoritative"]]
    return (other["agency"]["code"], other["record"], item["fact"])


async def walk(client: httpx.AsyncClient, first: int = 100) -> tuple[list[dict[str, Any]], int, list[str]]:
    """The whole report page by page: its items, the pages it took, and the errors of any page."""

    items: list[dict[str, Any]] = []
    errors: list[str] = []
    after, pages = None, 0
    while True:
        body = (await client.post("/graphql", json={"query": PAGE, "variables": {"first": first, "after": after}})).json()
        pages += 1
        errors += [str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or ()]
        page = (body.get("data") or {}).get("discrepancies")
        if page is None:
            return items, pages, errors
        items += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return items, pages, errors
        after = page["pageInfo"]["endCursor"]


def score(items: list[dict[str, Any]], truth: set[Key]) -> dict[str, dict[str, int]]:
    """Per agency (pair of systems with the registry): planted, found, missed and reported but not planted."""

    found = Counter(found_key(i) for i in items)
    seen = set(found)
    out: dict[str, dict[str, int]] = {}
    for agency in sorted({k[0] for k in truth | seen}):
        mine, shown = {k for k in truth if k[0] == agency}, {k for k in seen if k[0] == agency}
        out[agency] = {
            "planted": len(mine),
            "found": len(shown & mine),
            "missed": len(mine - shown),
            "not_planted": len(shown - mine),
            "twice": sum(1 for k in shown if found[k] > 1),
        }
    return out


async def timed(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    body = (await client.post("/graphql", json={"query": query, "variables": variables or {}})).json()
    return time.perf_counter() - started, body


async def measure(base_url: str, args: argparse.Namespace, truth: set[Key]) -> dict[str, Any]:
    """The three measurements against a served gateway, and the last walk's score."""

    from .measure import new_client

    async with new_client(base_url) as client:
        for _ in range(args.warmup):
            await timed(client, PAGE, {"first": 20})
        first_s, first = await timed(client, PAGE, {"first": 20})
        walks: list[float] = []
        items: list[dict[str, Any]] = []
        pages, errors = 0, []
        for _ in range(args.walks):
            started = time.perf_counter()
            items, pages, errors = await walk(client)
            walks.append(time.perf_counter() - started)
        counts_s, counts = await timed(client, COUNTS)
    return {
        "first_page_s": round(first_s, 3),
        "first_page_sources": (first.get("extensions") or {}).get("sources"),
        "walk_s": [round(s, 3) for s in walks],
        "walk_pages": pages,
        "walk_items": len(items),
        "walk_errors": dict(Counter(errors)),
        "counts_s": round(counts_s, 3),
        "counts_rows": len((counts.get("data") or {}).get("discrepancyCounts") or []),
        "counts_errors": dict(Counter(str((e.get("extensions") or {}).get("code")) for e in counts.get("errors") or ())),
        "counts_sources": (counts.get("extensions") or {}).get("sources"),
        "ground_truth": score(items, truth),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load (or reuse) the scale's databases, serve the APIs and the gateway, measure."""

    import demo
    from demo.gateway_config import render_config

    from .__main__ import OUT_DIR, log
    from .databases import bench_databases, ensure_loaded, scale_tag
    from .rest_fanout import Checkout, demo_apis
    from .server import REPO_ROOT, GatewayProcess

    out = OUT_DIR / "discrepancies"
    out.mkdir(parents=True, exist_ok=True)
    dbs = bench_databases(args.scale, args.seed)
    await ensure_loaded(dbs, log=log)
    truth = planted(demo.build_dataset(scale=args.scale, seed=args.seed).ground_truth())
    tag = scale_tag(args.scale)
    with demo_apis(Checkout("main", REPO_ROOT, sys.executable), args.scale, args.seed, out, names=APIS) as urls:
        text = render_config(
            registry_url=dbs.registry_url, education_url=dbs.education_url, dinkes_url=urls["dinkes"],
            sepeda_keren_url=urls["sepeda-keren"], jkn_url=urls["jkn"], cursor_key=CURSOR_KEY,
        )
        config = out / f"gateway-{tag}.toml"
        config.write_text(text.replace("[gateway]\n", f"[gateway]\nrequest_timeout_s = {REQUEST_TIMEOUT_S}\n", 1), encoding="utf-8")
        async with GatewayProcess(config, out / f"gateway-{tag}.log") as gw:
            result = await measure(gw.base_url, args, truth)
    log(f"scale {args.scale:g}: first page {result['first_page_s']} s; walk of {result['walk_items']} items in "
        f"{result['walk_pages']} pages {result['walk_s']} s; counts {result['counts_s']} s")
    for agency, s in result["ground_truth"].items():
        log(f"scale {args.scale:g}: {agency}: planted {s['planted']}, found {s['found']}, missed {s['missed']}, "
            f"not planted {s['not_planted']}")
    return {"scale": args.scale, "seed": args.seed, **result}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        print(json.dumps(plan(args), indent=2))
        print(PAGE)
        print(COUNTS)
        return 0
    print(json.dumps(asyncio.run(run(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
