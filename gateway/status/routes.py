"""``GET /status`` (the page), ``GET /status/events`` (its SSE stream) and ``/status/static`` (its files).

Everything the page needs is served from here (``gateway/static/status``): no CDN, and a
Content-Security-Policy that allows this origin only. Who may open the screen is ``[status]
allow_from`` (client networks; loopback by default): the screen shows aggregates only, and what it
may show is decided by the policy for its ``client``, but it is an intranet screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import RequestError, refusal
from ..going_away import until_going_away
from .screen import StatusScreen
from .settings import StatusSettings

ASSETS_DIR = Path(__file__).resolve().parent.parent / "static" / "status"

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
    "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
))
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no", "x-content-type-options": "nosniff"}


def status_routes(settings: StatusSettings, screen: StatusScreen) -> list[BaseRoute]:
    """The screen's routes; none when ``[status] enabled = false``."""

    if not settings.enabled:
        return []

    def refused(request: Request) -> Response | None:
        host = request.client.host if request.client else None
        if settings.admits(host):
            return None
        body, status, headers = refusal(
            RequestError(403, "Layar Smart Center hanya untuk jaringan yang diizinkan ([status] allow_from).", "FORBIDDEN")
        )
        return JSONResponse(body, status_code=status, headers=headers)

    async def page(request: Request) -> Response:
        return refused(request) or Response(
            (ASSETS_DIR / "index.html").read_bytes(), media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS
        )

    async def events(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        # Ends when the server shuts down: the page's EventSource reconnects to the next one.
        return StreamingResponse(
            until_going_away(request.scope, _sse(screen)), media_type="text/event-stream", headers=_STREAM_HEADERS
        )

    async def assets(scope, receive, send):  # type: ignore[no-untyped-def]
        request = Request(scope, receive)
        denied = refused(request)
        if denied is not None:
            await denied(scope, receive, send)
            return
        await files(scope, receive, send)

    files = StaticFiles(directory=ASSETS_DIR)
    return [
        Route("/status", page, methods=["GET"], name="status"),
        Route("/status/events", events, methods=["GET"], name="status-events"),
        Mount("/status/static", app=assets, name="status-assets"),
    ]


async def _sse(screen: StatusScreen) -> AsyncIterator[bytes]:
    """Each snapshot as ``event: snapshot``; the client's ``EventSource`` reconnects on its own after ``retry``."""

    yield b"retry: 3000\n\n"
    async for snapshot in screen.stream():
        yield b"event: snapshot\ndata: " + orjson.dumps(snapshot) + b"\n\n"
