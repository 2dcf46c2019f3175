"""Telling a long-lived response that the server is shutting down.

On SIGTERM uvicorn stops accepting connections and waits for the open ones to finish, at most
``timeout_graceful_shutdown`` (the request deadline and a margin), before it cancels what is
left and runs the lifespan's shutdown. An ordinary request finishes well within that; a stream
(a subscription over SSE, the ``/status`` screen's events) never ends by itself, so each one held
the shutdown for the whole margin and was then cancelled mid-stream: an ``ERROR`` in the log, and
no last word for its client, which could not tell a restart from a finished subscription.

So the server's HTTP protocol (``gateway.server.GuardedHttpToolsProtocol``) puts an
``asyncio.Event`` into each request's scope under ``SCOPE_KEY`` and sets it when uvicorn asks the
connection to shut down. A stream reads it with ``going_away(scope)`` and ends at once, telling its
client why. Served by anything else (a test's ASGI transport) the scope has no event, and streams
run as before. WebSockets need nothing of this: uvicorn closes them itself (code 1012, service
restart).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from starlette.types import Scope

SCOPE_KEY = "satudata.going_away"

T = TypeVar("T")


def going_away(scope: Scope) -> asyncio.Event | None:
    """The event set when the server begins to shut down, or ``None`` if the server gives none."""

    event = scope.get(SCOPE_KEY)
    return event if isinstance(event, asyncio.Event) else None


async def until_going_away(scope: Scope, items: AsyncIterator[T]) -> AsyncIterator[T]:
    """The items of ``items`` until it ends or the server begins to shut down, whichever is first.

    For streams with few items (one wait of two futures per item); ``items`` is closed either way.
    """

    event = going_away(scope)
    if event is None:
        async for item in items:
            yield item
        return
    stopping = asyncio.ensure_future(event.wait())
    try:
        while not event.is_set():
            following: asyncio.Future[Any] = asyncio.ensure_future(anext(items))
            await asyncio.wait((following, stopping), return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                with contextlib.suppress(BaseException):
                    await following
                return
            try:
                item = following.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        stopping.cancel()
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
