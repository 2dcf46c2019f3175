"""GraphQL over SSE, distinct connections mode (github.com/enisdenjo/graphql-sse, PROTOCOL.md).

A POST to ``/graphql`` whose ``Accept`` asks for ``text/event-stream`` is one operation on
one stream: each result is ``event: next`` with the JSON response as ``data``, and the stream
ends with ``event: complete``. The caller is admitted as for any POST (credential, purpose and
rate limit from the request's headers, before the body is read); a request refused before the
operation runs (a refusal, a document that does not validate, too many subscriptions) is
answered with the endpoint's JSON error body and its 4xx status, not with a stream.

A subscription that falls behind (``SUBSCRIBER_TOO_SLOW``), whose event could not be audited,
whose bearer token expires (``UNAUTHENTICATED``, reason ``EXPIRED``), or that is open when
the server shuts down (``GATEWAY_SHUTTING_DOWN``, ``gateway.going_away``) gets a last
``event: next`` with that error, then ``event: complete``. An idle stream carries a comment
line every ``keepalive_s`` so proxies do not cut it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from core import SatudataError

from ..errors import error_object, refusal
from ..going_away import going_away
from ..http import GraphQLEndpoint
from .operations import Carrier, Operations, Single, credential_expiry, expired, shutting_down

EVENT_STREAM = "text/event-stream"


def wants_event_stream(scope: Scope) -> bool:
    """A POST that asks for ``text/event-stream`` (before JSON, or alone)."""

    if scope["type"] != "http" or scope.get("method") != "POST":
        return False
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            accept = value.decode("latin-1").lower()
            position = accept.find(EVENT_STREAM)
            if position < 0:
                return False
            json_at = accept.find("application/json")
            return json_at < 0 or position < json_at
    return False


class GraphQLOverSSE:
    """In front of the HTTP endpoint: event-stream POSTs here, everything else to ``endpoint``."""

    def __init__(self, endpoint: GraphQLEndpoint, operations: Operations, *, keepalive_s: float = 15.0) -> None:
        self.endpoint = endpoint
        self.operations = operations
        self.keepalive_s = keepalive_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not wants_event_stream(scope):
            await self.endpoint(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        carrier = Carrier(request.scope, request.headers)
        try:
            admission = await self.endpoint.admit(request)
            params = await self.endpoint.read_params(request)
            opened = await self.operations.open(carrier, params, admission)
        except SatudataError as exc:
            body, status, headers = refusal(exc)
            return _json(body, status, headers)
        if isinstance(opened, Single):
            if opened.refused:
                return _json(opened.body, 400, {})
            return StreamingResponse(_single(opened.body), media_type=EVENT_STREAM, headers=_STREAM_HEADERS)
        expiry = credential_expiry(request.headers, admission)
        return StreamingResponse(
            self._stream(opened.events, opened.close, expiry, going_away(request.scope)),
            media_type=EVENT_STREAM,
            headers=_STREAM_HEADERS,
        )

    async def _stream(
        self,
        events: AsyncGenerator[dict[str, Any], None],
        close: Any,
        expiry: float | None,
        stopping: asyncio.Event | None = None,
    ) -> AsyncIterator[bytes]:
        """The events as SSE, with keep-alive comments, until the subscription or the credential
        ends, or the server shuts down (``stopping``: a last ``next`` saying so, then ``complete``)."""

        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=1)

        async def pump() -> None:
            try:
                async for body in events:
                    await queue.put(("next", body))
                await queue.put(("complete", None))
            except SatudataError as exc:
                await queue.put(("error", exc))

        async def end_when_stopping(event: asyncio.Event) -> None:
            await event.wait()
            task.cancel()  # no further events; the client is told to subscribe again
            with contextlib.suppress(BaseException):
                await task
            await queue.put(("error", shutting_down()))

        task = asyncio.create_task(pump())
        watcher = asyncio.create_task(end_when_stopping(stopping)) if stopping is not None else None
        try:
            while True:
                timeout = self.keepalive_s
                if expiry is not None:
                    timeout = min(timeout, max(0.0, expiry - time.time()))
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                    # cancellation (a client gone) that arrives as an event is queued.
                    async with asyncio.timeout(timeout):
                        kind, value = await queue.get()
                except TimeoutError:
                    if expiry is not None and time.time() >= expiry:
                        yield _event("next", {"errors": [error_object(expired())]})
                        yield _event("complete", None)
                        return
                    yield b":\n\n"
                    continue
                if kind == "next":
                    yield _event("next", value)
                    continue
                if kind == "error":
                    yield _event("next", {"errors": [error_object(value)]})
                yield _event("complete", None)
                return
        finally:
            if watcher is not None:
                watcher.cancel()
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            close()
            with contextlib.suppress(BaseException):
                await events.aclose()


_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def _single(body: dict[str, Any]) -> AsyncIterator[bytes]:
    yield _event("next", body)
    yield _event("complete", None)


def _event(kind: str, data: Any) -> bytes:
    payload = b"" if data is None else orjson.dumps(data)
    return b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"


def _json(body: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json; charset=utf-8", headers=headers)


__all__ = ["EVENT_STREAM", "GraphQLOverSSE", "wants_event_stream"]
