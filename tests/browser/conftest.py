"""Browser fixtures: a gateway on a real socket and a headless Chromium page.

``gateway_url`` serves, for now, a minimal Starlette app with GraphiQL and a one-field
schema; it is meant to be swapped for the real gateway. The tests only rely on it through
``gateway_url`` and ``example_expectation``.

Chromium is Debian's (``/usr/bin/chromium``); Playwright never downloads a browser here.
Without it the browser tests skip on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tiny_app() -> Any:
    """GraphiQL on GET, a ``hello: String`` schema on POST (stands in for the gateway)."""

    import strawberry
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from gateway.graphiql import ASSETS_MOUNT, ExampleQuery, graphiql_page, wants_graphiql

    @strawberry.type
    class Query:
        @strawberry.field
        def hello(self) -> str:
            return "halo Trenggalek"

    schema = strawberry.Schema(query=Query)
    examples = [
        ExampleQuery(title="Salam dari Trenggalek", query="query Hello {\n  hello\n}\n"),
        ExampleQuery(title="Jenis root", query="query Typename {\n  __typename\n}\n"),
    ]

    async def graphql(request: Request) -> Response:
        if request.method == "GET":
            if wants_graphiql(request):
                return graphiql_page(endpoint=request.url_for("graphql").path, examples=examples)
            return JSONResponse({"errors": [{"message": "POST the query"}]}, status_code=400)
        body = await request.json()
        result = await schema.execute(
            body.get("query"), variable_values=body.get("variables"), operation_name=body.get("operationName")
        )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [{"message": e.message} for e in result.errors]
        if request.headers.get("x-satudata-trace", "").lower() == "sources":
            payload["extensions"] = {"sources": {"tiny": {"entities": ["Query"]}}}
        return JSONResponse(payload, media_type="application/graphql-response+json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"], name="graphql"), ASSETS_MOUNT])


@pytest.fixture(scope="session")
def gateway_url() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT``) of a gateway serving ``/graphql`` and GraphiQL."""

    import uvicorn

    port = _free_port()
    config = uvicorn.Config(_tiny_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-browser-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test gateway did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def example_expectation() -> tuple[str, str]:
    """(title of a preloaded example, text its result pane shows after running it)."""

    return "Salam dari Trenggalek", "halo Trenggalek"


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A fresh page in headless Debian Chromium (Playwright's sync API).

    HOME and TMPDIR point at a short-lived folder directly under /tmp: Chromium puts a Unix
    socket there, and pytest's tmp_path is too deep for the 107-byte socket path limit.
    """

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is not installed (apt-get install chromium); the GraphiQL browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run them", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="chromium-", dir="/tmp", ignore_cleanup_errors=True) as home,
        sync_playwright() as playwright,
    ):
        env = {**os.environ, "HOME": home, "TMPDIR": home}
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, env=env)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="id-ID")
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
            context.close()
        finally:
            browser.close()
