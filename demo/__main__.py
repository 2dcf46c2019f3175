"""``python -m demo``: generate the demo OPD databases by hand and print what was made.

    python -m demo --scale 0.1 --seed 3503 --data-dir .data/demo
    python -m demo --scale 1.0 --data-dir out \\
        --registry-url postgresql+asyncpg://postgres@127.0.0.1/siak \\
        --education-url postgresql+asyncpg://postgres@127.0.0.1/dapodik

Without URLs the two databases are (re)written as SQLite files in ``--data-dir``; with URLs
they are loaded there, and ``--data-dir`` only receives ``ground-truth.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from .dataset import build_dataset
from .load import load_dataset
from .sqlite_demo import GROUND_TRUTH_FILE, generate_sqlite_demo, write_ground_truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1.0 is Trenggalek's real size (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=3503, help="random seed (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=Path(".data/demo"), help="output folder (default: %(default)s)")
    parser.add_argument("--registry-url", help="SQLAlchemy async URL of the Dispendukcapil database")
    parser.add_argument("--education-url", help="SQLAlchemy async URL of the Dinas Pendidikan database")
    args = parser.parse_args(argv)
    if (args.registry_url is None) != (args.education_url is None):
        parser.error("give both --registry-url and --education-url, or neither (SQLite files in --data-dir)")

    started = time.perf_counter()
    ds = build_dataset(scale=args.scale, seed=args.seed)
    built = time.perf_counter()
    print(f"built scale={args.scale} seed={args.seed} in {built - started:.1f} s", file=sys.stderr)
    if args.registry_url:
        asyncio.run(load_dataset(ds, registry_url=args.registry_url, education_url=args.education_url))
        args.data_dir.mkdir(parents=True, exist_ok=True)
        write_ground_truth(args.data_dir / GROUND_TRUTH_FILE, ds)
        target = f"{args.registry_url} and {args.education_url}"
    else:
        generate_sqlite_demo(args.data_dir, ds)
        target = str(args.data_dir.resolve())
    loaded = time.perf_counter()

    for table, count in ds.counts().items():
        print(f"{table:>14} {count:>12,}")
    for kind, entries in ds.quirks.items():
        print(f"{'quirk':>14} {len(entries):>12,}  {kind}")
    print(f"{'outbreaks':>14} {len(ds.outbreaks):>12,}")
    print(f"loaded into {target} in {loaded - built:.1f} s; total {loaded - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
