"""The in-process half of ``python -m bench.instructions``: one server's app, one query, under callgrind.

Run by ``bench.instructions`` as ``valgrind --tool=callgrind --instr-atstart=no python
bench/instructions_driver.py ...`` with the measured checkout as its working directory and first
on ``sys.path``, so that the code counted is that checkout's (as ``bench.server.serve_command``
does for the floor's servers). It builds the gateway as ``satudata serve`` does, with what the
checkout has of that (``gateway.settings``, ``gateway.app``; the logging, ``gateway.reload``'s
wrapper and ``gateway.server.tune_garbage_collector`` where they exist) and, for the bare endpoint, this checkout's ``bench.floor_bare`` by path.

It opens the app's lifespan, sends ``--warmup`` requests (pools filled, statements prepared,
documents cached), then turns callgrind's instrumentation on for its own process
(``callgrind_control -i on``), sends ``--requests`` requests ``--concurrency`` at a time through
the ASGI interface (no sockets: what is counted is the app, the drivers and the event loop), turns
it off, and prints one JSON line: the requests, the answers with errors, and the CPU seconds.
Without valgrind (``--no-callgrind``) it does the same and reports CPU time only, for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The bare endpoint's routes by query (``bench.floor_bare``).
BARE_PATHS = {"A": "/a", "B": "/b", "C": "/c"}


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--config", help="the gateway's config file; none: the bare endpoint")
    p.add_argument("--bare", type=Path, help="bench/floor_bare.py to load as the app instead of a gateway")
    p.add_argument("--bodies", type=Path, required=True, help="one JSON request body per line, sent in turn")
    p.add_argument("--path", default="/graphql")
    p.add_argument("--header", action="append", default=[], help="NAME=VALUE sent with every request")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--no-callgrind", action="store_true")
    return p.parse_args()


def _app(args: argparse.Namespace) -> Any:
    if args.bare is not None:
        spec = importlib.util.spec_from_file_location("floor_bare", args.bare)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.app
    # As `satudata serve` builds it (gateway.cli), with what the checkout has of it: logging as the
    # config says (the access line is part of every request), the reloadable wrapper, and the
    # garbage collector's tuning.
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    settings = GatewaySettings.from_file(args.config)
    try:
        from gateway.logs import configure_logging_from
    except ImportError:
        pass
    else:
        configure_logging_from(settings.raw.get("logging"))
    try:
        from gateway.reload import ReloadableGateway
    except ImportError:
        app = create_app(settings)
    else:
        app = ReloadableGateway(Path(args.config), settings, create_app)
    try:
        from gateway.server import tune_garbage_collector
    except ImportError:
        pass
    else:
        tune_garbage_collector()
    return app


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    app = _app(args)
    bodies = [line.encode() for line in args.bodies.read_text(encoding="utf-8").splitlines() if line]
    headers = [(b"content-type", b"application/json"), (b"accept", b"application/json"), (b"host", b"bench")]
    headers += [(name.lower().encode(), value.encode()) for name, _, value in (h.partition("=") for h in args.header)]
    startup: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    started = asyncio.Event()
    failed: list[str] = []

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"].endswith(".failed"):
            failed.append(str(message.get("message")))
        started.set()

    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, startup.get, lifespan_send))
    await started.wait()
    if failed:
        raise SystemExit(f"the app did not start: {failed[0]}")
    errors = 0
    counter = iter(range(1 << 62))

    async def request() -> None:
        nonlocal errors
        body = bodies[next(counter) % len(bodies)]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": args.path, "raw_path": args.path.encode(), "query_string": b"", "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {},
        }
        sent = False
        out: list[bytes] = []
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client stays; the app never reads past the body
            return {}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        await app(scope, receive, send)
        if status != 200 or b'"errors"' in b"".join(out):
            errors += 1

    async def load(count: int) -> None:
        async def connection(n: int) -> None:
            for _ in range(n):
                await request()

        share, rest = divmod(count, args.concurrency)
        await asyncio.gather(*(connection(share + (i < rest)) for i in range(args.concurrency)))

    await load(args.warmup)
    warm_errors, errors = errors, 0
    if not args.no_callgrind:
        subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    cpu = time.process_time()
    await load(args.requests)
    cpu = time.process_time() - cpu
    if not args.no_callgrind:
        subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True, capture_output=True)
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan
    return {"requests": args.requests, "errors": errors, "warmup_errors": warm_errors, "cpu_s": cpu}


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())  # the measured checkout's packages, not this one's
    try:
        import uvloop  # as the gateway and the bare endpoint serve (uvicorn --loop uvloop)
    except ImportError:  # pragma: no cover - every lock has it
        uvloop = None
    arguments = _arguments()
    if uvloop is not None:
        uvloop.install()
    print(json.dumps(asyncio.run(_main(arguments))))
