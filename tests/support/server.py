"""An ASGI app on uvicorn in a daemon thread, on a real socket: the one starter the tests share.

httpx's test suite does the same (``serve_in_thread`` in its ``conftest.py``): the server runs its
own event loop in its own thread, so a test on any loop, or none, talks to it over TCP exactly as a
client elsewhere would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_in_thread(
    config: uvicorn.Config,
    *,
    name: str = "uvicorn",
    sockets: list[socket.socket] | None = None,
    start_timeout_s: float = 30.0,
    stop_timeout_s: float = 15.0,
) -> Iterator[str]:
    """Serve ``config`` until the block ends; yields the base URL, ``http://host:port``.

    ``sockets`` are already bound sockets for uvicorn to serve on instead of ``config``'s host and
    port. Raises ``RuntimeError`` naming ``name`` when the server has not started within
    ``start_timeout_s`` or its thread died first (a port taken, an app failing at start-up).
    """

    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(stop_timeout_s)
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.02)
    host, port = sockets[0].getsockname()[:2] if sockets else (config.host, config.port)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(stop_timeout_s)


@contextmanager
def serve_app(app: Any, *, name: str = "uvicorn", **options: Any) -> Iterator[str]:
    """``app`` on a free port of 127.0.0.1, logging at warning; ``options`` go to ``uvicorn.Config``."""

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", **options)
    with serve_in_thread(config, name=name) as url:
        yield url
