"""``python -m demo.apis NAME``: serve one demo OPD API on its own port.

    python -m demo.apis dinkes --port 8101 --scale 0.1 --seed 3503
    python -m demo.apis sepeda-keren --port 8102
    python -m demo.apis lapor --port 8103 --host 0.0.0.0

The civil registry and education dataset is generated first (a few seconds at scale 0.1), then
the service's own data, in memory; the service answers once uvicorn reports it is running.
"""

from __future__ import annotations

import argparse
import sys
import time

import uvicorn

from demo.dataset import build_dataset

from . import DEFAULT_PORTS, SERVICE_NAMES, create_app


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, build the data and serve until interrupted."""

    parser = argparse.ArgumentParser(prog="python -m demo.apis", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("name", choices=SERVICE_NAMES, help="which OPD API to serve")
    parser.add_argument("--port", type=int, help="TCP port (default: dinkes 8101, sepeda-keren 8102, lapor 8103)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--scale", type=float, default=0.1, help="dataset size, 1.0 = Trenggalek's real size (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=3503, help="random seed (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else DEFAULT_PORTS[args.name]

    started = time.perf_counter()
    ds = build_dataset(scale=args.scale, seed=args.seed)
    built = time.perf_counter()
    app = create_app(args.name, ds, args.seed)
    ready = time.perf_counter()
    print(
        f"demo API {args.name}: dataset scale={args.scale} seed={args.seed} built in {built - started:.1f} s, "
        f"service data in {ready - built:.2f} s; {app.state.data.counts()}",
        file=sys.stderr,
        flush=True,
    )
    # No access log: these APIs take keys in their paths (GET /v1/participants/<NIK>), and an access
    # log of them would be a file of NIKs beside the demo data.
    uvicorn.run(app, host=args.host, port=port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
