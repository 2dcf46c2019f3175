"""The ``satudata`` command: ``demo``, ``serve --config FILE``, ``export-schema``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from connectors import ConfigError

DEFAULT_DATA_DIR = Path(".data/demo")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="satudata", description="Satu Data Trenggalek GraphQL gateway.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate the demo OPD databases if missing and serve the gateway on them")
    demo.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where the demo databases live (default: %(default)s)")
    demo.add_argument("--scale", type=float, default=0.1, help="1.0 is Trenggalek's real size (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=3503, help="random seed of the generator (default: %(default)s)")
    _server_options(demo)

    serve = commands.add_parser("serve", help="serve the gateway from a config file")
    serve.add_argument("--config", type=Path, required=True, help="the gateway's TOML config")
    _server_options(serve)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, help="write to this file instead of standard output")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "export-schema":
            return _export_schema(args.output)
        if args.command == "demo":
            return _demo(args.data_dir, args.scale, args.seed, args.host, args.port)
        return _serve(args.config, args.host, args.port)
    except ConfigError as exc:
        print(f"satudata: configuration error: {exc.message}", file=sys.stderr)
        return 2


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")


def _export_schema(output: Path | None) -> int:
    from resolvers import schema

    sdl = schema.as_str() + "\n"
    if output is None:
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl, encoding="utf-8")
    return 0


def _demo(data_dir: Path, scale: float, seed: int, host: str, port: int) -> int:
    """Generate the OPD databases if missing, start the API-only OPDs as their own processes, serve."""

    from demo import ensure_sqlite_demo
    from demo.gateway_config import write_demo_config
    from demo.services import api_ports, running_apis

    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_sqlite_demo(data_dir, scale=scale, seed=seed)
    ports = api_ports(port)
    with running_apis(ports, scale=scale, seed=seed, log_dir=data_dir) as urls:
        config = write_demo_config(
            data_dir, dinkes_url=urls["dinkes"], sepeda_keren_url=urls["sepeda-keren"], lapor_url=urls["lapor"]
        )
        print(f"satudata: demo data in {data_dir.resolve()}; config written to {config.resolve()}", file=sys.stderr)
        for name, url in urls.items():
            print(f"satudata: demo OPD API {name} at {url} (OpenAPI: {url}/openapi.json)", file=sys.stderr)
        return _serve(config, host, port)


def _serve(config: Path, host: str, port: int) -> int:
    import uvicorn

    from .app import create_app
    from .settings import GatewaySettings

    settings = GatewaySettings.from_file(config)
    app = create_app(settings)
    print(f"satudata: GraphQL at http://{host}:{port}/graphql (open it in a browser for GraphiQL)", file=sys.stderr)
    # In-flight requests get the request deadline and a margin to finish; then uvicorn closes them.
    grace = int(settings.request_timeout_s) + 2
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, timeout_graceful_shutdown=grace)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
