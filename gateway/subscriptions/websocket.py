"""graphql-transport-ws on the WebSocket at ``/graphql`` (github.com/enisdenjo/graphql-ws, PROTOCOL.md).

Written here on Starlette's ``WebSocket`` rather than reusing strawberry's handler: the
protocol is a dozen message rules, while what matters is that each operation goes through
the gateway's own pipeline (``Operations``: prepared documents, limits, access control, audit),
which strawberry's handler would bypass by calling its schema's ``subscribe``/``execute``.

The connection, as the protocol has it:

- ``connection_init`` within ``init_timeout_s`` (else close 4408); its payload may carry the
  credential and purpose (``Authorization``, ``X-API-Key``, ``X-Satudata-Purpose``, at the top
  level or under ``headers``), which replace those of the upgrade request. The caller is
  admitted like an HTTP request (``AccessControl.admit``); a refusal closes with 4403 and the
  reason. A second ``connection_init`` closes with 4429.
- ``subscribe`` before ``connection_ack``: 4401; an id already running: 4409; a message that is
  not one of the protocol's: 4400. ``ping`` is answered with ``pong``.
- Each ``subscribe`` is admitted again (a rate-limit hit, as a request; the credential checked
  again). Queries and mutations answer ``next`` then ``complete``; a subscription sends ``next``
  per event. An operation refused before it runs gets ``error`` (its GraphQL errors).
- A subscription that falls behind (its queue of change notices overflows) gets ``error`` with
  ``SUBSCRIBER_TOO_SLOW``: in graphql-transport-ws an ``error`` ends that one operation, which
  is the subscriber that fell behind; the socket and its other operations go on. 4429 is the
  protocol's code for repeated ``connection_init`` and is not reused for it.
- When the caller's bearer token expires the socket is closed with 4403 ("Forbidden: token
  expired"): every operation on it ran on that credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from core import SatudataError

from ..access import PURPOSE_HEADER, Admission
from ..access.auth import AuthUnavailable
from ..errors import error_object
from .operations import Carrier, Operations, Single, credential_expiry

log = logging.getLogger("satudata.gateway.subscriptions")

PROTOCOL = "graphql-transport-ws"
#: The headers a connection_init payload may set (lower-case).
PAYLOAD_HEADERS = ("authorization", "x-api-key", PURPOSE_HEADER)
_CREDENTIALS = ("authorization", "x-api-key")


class Close(Exception):
    """Close the socket with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class GraphQLTransportWS:
    """The ASGI app for WebSocket connections to ``/graphql``."""

    def __init__(self, operations: Operations, *, init_timeout_s: float = 10.0, allowed_origins: tuple[str, ...] = ()) -> None:
        self.operations = operations
        self.init_timeout_s = init_timeout_s
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        if PROTOCOL not in websocket.scope.get("subprotocols", ()):
            # Refused at the handshake (HTTP 403): a client of another protocol would misread every frame.
            await websocket.close(code=4406, reason="Subprotocol not acceptable: use graphql-transport-ws")
            return
        if not self._origin_allowed(websocket):
            await websocket.close(code=4403, reason="Forbidden: this Origin may not open a WebSocket here")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        await Connection(self, websocket).run()

    def _origin_allowed(self, websocket: WebSocket) -> bool:
        """A browser page of another site may not open a socket here (cross-site WebSocket hijacking)."""

        origin = websocket.headers.get("origin")
        if origin is None or origin in self.allowed_origins or "*" in self.allowed_origins:
            return True
        host = websocket.headers.get("host", "")
        return origin.split("://", 1)[-1] == host


class Connection:
    """One socket: its state, its operations, and the protocol's rules."""

    def __init__(self, app: GraphQLTransportWS, websocket: WebSocket) -> None:
        self.app = app
        self.operations = app.operations
        self.websocket = websocket
        self.carrier: Carrier | None = None
        self.acked = False
        self.running: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()
        self._closing: Close | None = None
        self._closed = asyncio.Event()
        #: The reader and the timers (init timeout, credential expiry): cancelled with the socket.
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        self._tasks += [asyncio.create_task(self._init_timeout()), asyncio.create_task(self._read())]
        try:
            await self._closed.wait()
        finally:
            timers = tuple(self._tasks)
            for task in (*timers, *self.running.values()):
                task.cancel()
            for task in (*timers, *self.running.values()):
                with contextlib.suppress(BaseException):
                    await task
            if self._closing is not None and self.websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await self.websocket.close(code=self._closing.code, reason=self._closing.reason[:120])

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = Close(code, reason)
        self._closed.set()

    async def _init_timeout(self) -> None:
        await asyncio.sleep(self.app.init_timeout_s)
        if self.carrier is None:
            self.close(4408, "Connection initialisation timeout")

    async def _read(self) -> None:
        try:
            while True:
                text = await self.websocket.receive_text()
                try:
                    await self._handle(text)
                except Close as close:
                    self.close(close.code, close.reason)
                    return
        except (WebSocketDisconnect, RuntimeError, KeyError):
            # The client went away (or sent a binary frame, which receive_text refuses).
            self._closed.set()

    async def _handle(self, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise Close(4400, "Invalid message received: not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise Close(4400, "Invalid message received: no type")
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            self._subscribe(message)
        elif kind == "complete":
            task = self.running.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            raise Close(4400, f"Invalid message received: unknown type {kind[:40]!r}")

    async def _init(self, payload: Any) -> None:
        if self.carrier is not None:
            raise Close(4429, "Too many initialisation requests")
        if payload is not None and not isinstance(payload, dict):
            raise Close(4400, "Invalid message received: the connection_init payload must be an object")
        carrier = Carrier(self.websocket.scope, init_headers(self.websocket.headers, payload or {}))
        try:
            admission = await self.operations.admit(carrier)
        except AuthUnavailable:
            raise Close(4500, "Internal server error: authentication is unavailable, try again") from None
        except SatudataError as exc:
            raise Close(4403, f"Forbidden: {exc.message}") from None
        self.carrier = carrier
        expiry = credential_expiry(carrier.headers, admission)
        if expiry is not None:
            self._tasks.append(asyncio.create_task(self._expire_at(expiry)))
        await self.send({"type": "connection_ack"})
        self.acked = True

    async def _expire_at(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))
        self.close(4403, "Forbidden: the bearer token expired")

    def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acked:
            raise Close(4401, "Unauthorized")
        operation_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(operation_id, str) or not operation_id or not isinstance(payload, dict):
            raise Close(4400, "Invalid message received: subscribe needs an id and a payload")
        if operation_id in self.running:
            raise Close(4409, f"Subscriber for {operation_id[:80]} already exists")
        task = asyncio.create_task(self._operation(operation_id, payload))
        self.running[operation_id] = task
        task.add_done_callback(lambda _: self._forget(operation_id, task))

    def _forget(self, operation_id: str, task: asyncio.Task[None]) -> None:
        if self.running.get(operation_id) is task:
            del self.running[operation_id]

    async def _operation(self, operation_id: str, payload: dict[str, Any]) -> None:
        assert self.carrier is not None
        stream = None
        try:
            try:
                admission: Admission | None = await self.operations.admit(self.carrier)
                params = self.operations.params(payload)
                opened = await self.operations.open(self.carrier, params, admission)
            except AuthUnavailable as exc:
                await self.send({"id": operation_id, "type": "error", "payload": [error_object(exc)]})
                return
            except SatudataError as exc:
                if exc.code == "UNAUTHENTICATED":  # the credential no longer holds: the whole socket ran on it
                    self.close(4403, f"Forbidden: {exc.message}")
                    return
                await self.send({"id": operation_id, "type": "error", "payload": [error_object(exc)]})
                return
            if isinstance(opened, Single):
                if opened.refused:
                    await self.send({"id": operation_id, "type": "error", "payload": opened.body.get("errors", [])})
                    return
                await self.send({"id": operation_id, "type": "next", "payload": opened.body})
                await self.send({"id": operation_id, "type": "complete"})
                return
            stream = opened
            try:
                async for body in stream.events:
                    await self.send({"id": operation_id, "type": "next", "payload": body})
            except SatudataError as exc:
                await self.send({"id": operation_id, "type": "error", "payload": [error_object(exc)]})
                return
            await self.send({"id": operation_id, "type": "complete"})
        except asyncio.CancelledError:
            raise
        except (WebSocketDisconnect, RuntimeError):
            self._closed.set()
        except Exception:
            log.exception("subscription operation failed")
            with contextlib.suppress(Exception):
                await self.send({"id": operation_id, "type": "error", "payload": [error_object(SatudataError("Unexpected error."))]})
        finally:
            if stream is not None:
                stream.close()
                with contextlib.suppress(BaseException):
                    await stream.events.aclose()

    async def send(self, message: Mapping[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(orjson.dumps(message).decode())


def init_headers(upgrade: Headers, payload: Mapping[str, Any]) -> Headers:
    """The upgrade request's headers, with the credential and purpose a ``connection_init`` payload gives.

    A payload credential replaces the upgrade's (both at once would be refused as ambiguous).
    """

    given: dict[str, str] = {}
    sources = [payload, payload.get("headers") if isinstance(payload.get("headers"), Mapping) else {}]
    for source in sources:
        for name, value in source.items():
            if isinstance(name, str) and name.lower() in PAYLOAD_HEADERS and isinstance(value, str):
                given[name.lower()] = value
    replaced = set(given) | (set(_CREDENTIALS) if set(given) & set(_CREDENTIALS) else set())
    raw = [(k, v) for k, v in upgrade.raw if k.decode("latin-1").lower() not in replaced]
    raw += [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in given.items()]
    return Headers(raw=raw)
