"""``python -m bench.alerts``: a regency-wide ``absenceAlerts`` scan over the whole term, timed and scored.

The scan's answer is scored against what the generator planted at that scale and seed
(``Dataset.ground_truth()["outbreaks"]``, rebuilt here: the same scale and seed give the same
rows), with the suite's arithmetic (``demo.scoring``): recall and precision. The suite checks
them at scale 0.1 (``tests/test_absence_alerts.py``); this is the same check at 1.0.

Kept apart from ``python -m bench``'s five queries (its report and mixed run are about those): a
term-long scan of every school is a different kind of question, asked a few times a day by the
Smart Center, not hundreds of times a second. It reuses the same databases (registry on
PostgreSQL, education on MariaDB, loaded once per scale) and the same gateway process.

python -m bench.alerts [--scale 1.0] [--requests 5] [--dry-run]

``--dry-run`` loads nothing and serves nothing: it prints the query and the plan (what would be
loaded, how often the scan would be sent), so the wiring can be checked in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from demo.scoring import AlertScore, score_alerts

from .queries import CURSOR_KEY, TERM_END, TERM_START, BenchQuery, Variables

ALERTS_TERM = BenchQuery(
    name="alerts_term",
    title="(f) absenceAlerts over the whole term, every school of the regency",
    text="""query AbsenceAlerts($from: Date!, $to: Date!) {
  absenceAlerts(from: $from, to: $to) {
    date rombel count threshold expected dayFactor baseline { mean sd }
    school { npsn name }
  }
}""",
    # the schools, school days per school, sick pupils per class and day, the alerts' schools; and the
    # cluster test's one per distinct window of flagged days (at most one per school day of the term)
    expected_round_trips=(3, 4 + 100),
    make_variables=lambda rng, pools, k: alerts_variables(k),
    check=lambda data: None if isinstance(data.get("absenceAlerts"), list) else "absenceAlerts is null",
)


def alerts_variables(k: int) -> list[Variables]:
    """The same question ``k`` times: the whole term, the whole regency."""

    return [{"from": TERM_START.isoformat(), "to": TERM_END.isoformat()} for _ in range(k)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="demo scale (default: %(default)s)")
    p.add_argument("--seed", type=int, default=3503, help="demo data seed (default: %(default)s)")
    p.add_argument("--requests", type=int, default=5, help="measured scans (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up scans (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the query; load and serve nothing")
    return p.parse_args(argv)


def plan(args: argparse.Namespace) -> dict[str, Any]:
    """What a run would do, JSON-ready."""

    from .databases import bench_databases

    dbs = bench_databases(args.scale, args.seed)
    return {
        "query": ALERTS_TERM.name,
        "scale": args.scale,
        "registry_url": dbs.registry_url,
        "education_url": dbs.education_url,
        "variables": alerts_variables(1)[0],
        "warmup": args.warmup,
        "requests": args.requests,
        "expected_round_trips": list(ALERTS_TERM.expected_round_trips),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load (or reuse) the scale's databases, serve the gateway, time the scan."""

    from demo.gateway_config import render_config

    from .__main__ import OUT_DIR, log
    from .databases import bench_databases, ensure_loaded, scale_tag
    from .measure import new_client, run_sequential
    from .server import GatewayProcess

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    dbs = bench_databases(args.scale, args.seed)
    await ensure_loaded(dbs, log=log)
    config = OUT_DIR / f"gateway-alerts-{scale_tag(args.scale)}.toml"
    config.write_text(analytical(render_config(
        registry_url=dbs.registry_url, education_url=dbs.education_url, cursor_key=CURSOR_KEY
    )), encoding="utf-8")
    variables = alerts_variables(args.warmup + args.requests)
    async with GatewayProcess(config, OUT_DIR / f"gateway-alerts-{scale_tag(args.scale)}.log") as gw:
        # A term-long scan is no 10 s question at scale 1.0: the client waits as long as it takes.
        async with new_client(gw.base_url) as client:
            client.timeout = None  # type: ignore[assignment]
            stats, _ = await run_sequential(client, ALERTS_TERM, variables[: args.warmup], variables[args.warmup :])
            answer = (await client.post("/graphql", json={"query": ALERTS_TERM.text, "variables": variables[0]})).json()
    log(f"scale {args.scale:g}: {ALERTS_TERM.name}: {stats.requests} scans, median {stats.median_ms:.0f} ms, "
        f"round-trips {stats.round_trips_min}-{stats.round_trips_max}, errors {stats.errors}")
    score = _score(answer, args)
    log(f"scale {args.scale:g}: against the planted outbreaks: {score.summary()}")
    for alert in answer["data"]["absenceAlerts"]:  # each, so a false alarm can be looked at
        log(f"  {'not planted' if alert in score.unplanted else 'planted'}: {json.dumps(alert, sort_keys=True)}")
    return {**stats.as_dict(), "ground_truth": score.as_dict()}


#: A term-long scan of every school is an analytical question: its statements may run this long.
SCAN_TIMEOUT_S = 300


def analytical(config: str) -> str:
    """The demo config with time for a regency-wide scan: the request's deadline and each source
    call's limit raised to ``SCAN_TIMEOUT_S`` (the demo's 10 s and 5 s are for interactive questions)."""

    config = config.replace("[gateway]\n", f"[gateway]\nrequest_timeout_s = {SCAN_TIMEOUT_S}\n", 1)
    return re.sub(r"(?m)^timeout_s = \d+(\.\d+)?$", f"timeout_s = {SCAN_TIMEOUT_S}", config)


def _score(answer: dict[str, Any], args: argparse.Namespace) -> AlertScore:
    """The scan's alerts against the outbreaks the generator planted at ``args.scale`` and ``args.seed``."""

    import demo

    if answer.get("errors") or not isinstance((answer.get("data") or {}).get("absenceAlerts"), list):
        raise RuntimeError(f"the scan did not answer: {str(answer.get('errors'))[:500]}")
    truth = demo.build_dataset(scale=args.scale, seed=args.seed).ground_truth()
    return score_alerts(answer["data"]["absenceAlerts"], truth["outbreaks"])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        print(json.dumps(plan(args), indent=2))
        print(ALERTS_TERM.text)
        return 0
    print(json.dumps(asyncio.run(run(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
