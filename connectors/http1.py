"""``Http1Transport``: a lean HTTP/1.1 keep-alive transport for httpx, for sources that fan out.

An OPD API without a batch endpoint costs one call per key, so a REST source's cost is its
number of calls times the gateway's own cost per call. httpx's default transport (httpcore on
anyio) spends about a millisecond of CPU per call on locks, pool bookkeeping and per-read
socket checks; on asyncio streams parsed by httptools (uvicorn's parser, already a dependency)
the same call costs a fifth of that. This is that transport, behind httpx's own seam
(``handle_async_request``), so the client, its headers, decoding and error types stay httpx's
and a test still swaps in ``httpx.MockTransport``.

What it does, and no more:

- ``http`` and ``https`` (TLS verified with httpx's default context), HTTP/1.1 only;
- at most ``max_connections`` connections at once, kept alive and reused (idle ones for up to
  ``keepalive_expiry_s``); a caller beyond that waits up to the request's ``pool`` timeout;
- bodies framed by ``Content-Length``, chunked, or (HTTP/1.0 style) by the server closing;
- a reused connection the server closed before answering is retried once on a new one, for
  idempotent methods only (what browsers, urllib3 and httpcore do about that race);
- the ``connect`` timeout bounds connecting, the ``read`` timeout the silence between two reads
  (httpx's meaning), the ``pool`` timeout the wait for a connection;
- a request whose caller gives up (cancelled, timed out) closes its connection: a late answer
  must never be read as the answer to the next request.

Errors are httpx's (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError`` ...), so
``connectors.http_errors`` maps them like any other. Not supported: proxies (httpx mounts its
own transport for ``HTTP(S)_PROXY`` from the environment, so those still work), HTTP/2,
upgrades, ``HEAD``/``CONNECT``, and streaming a response (the body is read whole, as the REST
connector reads it anyway).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable
from typing import Any

import httptools
import httpx

#: Methods that may be sent again when a kept-alive connection turned out closed (RFC 9110 9.2.2).
IDEMPOTENT = frozenset({"GET", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: A header name or value holding one of these would split the request (header injection).
_UNSAFE_HEADER = re.compile(rb"[\r\n\x00]")

Origin = tuple[str, str, int]


class _NothingReceived(Exception):
    """The server closed the connection before sending a byte of its answer."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time, the answer parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]] | None = None
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._framed = False  # the answer says where its body ends (length or chunked)
        self._headers_done = False
        self._received = False
        self._read_timeout: float | None = None
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes nobody asked for (a server's goodbye, or garbage): never reuse this connection.
            self.close()
            return
        self._received = True
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("The server switched protocols, which this transport does not do."))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"Malformed HTTP response: {exc}"))

    def eof_received(self) -> bool:
        self._ended(None)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended(exc)

    # -- httptools callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            self.closed = True  # a second answer to one request: the stream is out of step
        self._reason, self._headers, self._body = b"", [], []
        self._framed = self._headers_done = False

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or lowered == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            return  # an interim answer (103 Early Hints): the final one follows
        self._finish(status, self._parser.should_keep_alive())

    # -- the exchange -----------------------------------------------------------------

    async def exchange(self, head: bytes, read_timeout: float | None) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
        """Send ``head`` (the request, body included) and wait for the whole answer.

        Returns (status, reason, headers, body, reusable). Raises ``_NothingReceived`` when the
        server closed without answering, an ``httpx`` error otherwise.
        """

        assert self._transport is not None
        if self.closed:
            raise _NothingReceived()
        self._waiter = self._loop.create_future()
        self._received = False
        self._read_timeout = read_timeout
        if read_timeout is not None:
            self._last_read = self._loop.time()
            self._timer = self._loop.call_at(self._last_read + read_timeout, self._check_read_timeout)
        try:
            self._transport.write(head)
            return await self._waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def _check_read_timeout(self) -> None:
        assert self._read_timeout is not None
        due = self._last_read + self._read_timeout
        if self._loop.time() >= due:
            self._timer = None
            self._fail(httpx.ReadTimeout("The server sent nothing for the read timeout."))
        else:
            self._timer = self._loop.call_at(due, self._check_read_timeout)

    def _ended(self, exc: Exception | None) -> None:
        """The server closed its side: the answer ends here, if it may, or is cut short."""

        waiter = self._waiter
        if waiter is None or waiter.done():
            self.closed = True
            return
        if not self._received:
            self._fail(_NothingReceived())
        elif self._headers_done and not self._framed and exc is None:
            # No length and not chunked: the body is whatever came before the close.
            self._finish(self._parser.get_status_code(), False)
        elif exc is not None:
            self._fail(httpx.ReadError(f"The connection broke during the answer: {exc}"))
        else:
            self._fail(httpx.RemoteProtocolError("The server closed the connection before its answer was complete."))

    def _finish(self, status: int, reusable: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((status, self._reason, self._headers, b"".join(self._body), reusable))

    def _fail(self, error: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()


class Http1Transport(httpx.AsyncBaseTransport):
    """Kept-alive HTTP/1.1 connections, at most ``max_connections`` at once (see module docstring)."""

    def __init__(
        self,
        *,
        max_connections: int = 10,
        keepalive_expiry_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.keepalive_expiry_s = keepalive_expiry_s
        self._ssl_context = ssl_context
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._in_use: set[_Connection] = set()
        self._closed = False
        #: Connections opened so far (tests and metrics: reuse means this stays small).
        self.connections_opened = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Http1Transport speaks http and https, not {scheme!r}.")
        if request.method in ("HEAD", "CONNECT"):
            raise httpx.LocalProtocolError(f"Http1Transport does not send {request.method} requests.")
        origin: Origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        head = _request_head(request, await request.aread())
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        if self._slots.locked():
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await self._slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("No connection to the source came free in time.") from None
        else:
            await self._slots.acquire()  # free: returns at once
        try:
            return await self._send(origin, head, request.method, timeouts)
        finally:
            self._slots.release()

    async def _send(self, origin: Origin, head: bytes, method: str, timeouts: dict[str, float | None]) -> httpx.Response:
        for attempt in (1, 2):
            conn = self._idle_connection(origin)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin, timeouts.get("connect"))
            self._in_use.add(conn)
            try:
                status, reason, headers, body, reusable = await conn.exchange(head, timeouts.get("read"))
            except _NothingReceived:
                conn.close()
                if reused and attempt == 1 and method in IDEMPOTENT:
                    continue  # the server had closed the idle connection: ask once more on a new one
                raise httpx.RemoteProtocolError("The server disconnected without sending an answer.") from None
            except BaseException:
                conn.close()  # cancelled or failed mid-answer: its late bytes must not meet the next request
                raise
            finally:
                self._in_use.discard(conn)
            if reusable and not conn.closed and not self._closed:
                conn.idle_since = asyncio.get_running_loop().time()
                self._idle.setdefault(origin, []).append(conn)
            else:
                conn.close()
            return httpx.Response(
                status,
                headers=headers,
                stream=httpx.ByteStream(body),
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        """The most recently used live idle connection to ``origin``; expired ones are closed."""

        idle = self._idle.get(origin)
        if not idle:
            return None
        expired_before = asyncio.get_running_loop().time() - self.keepalive_expiry_s
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since >= expired_before:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        factory: Callable[[], _Connection] = lambda: _Connection(loop)  # noqa: E731
        tls: dict[str, Any] = {}
        if scheme == "https":
            tls = {"ssl": self._tls(), "server_hostname": host}
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(factory, host, port, **tls)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"Connecting to {host}:{port} timed out.") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"Cannot connect to {host}:{port}: {exc}") from exc
        self.connections_opened += 1
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
            self._ssl_context.set_alpn_protocols(["http/1.1"])
        return self._ssl_context

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._in_use):
            conn.close()

    @property
    def idle_connections(self) -> int:
        return sum(len(v) for v in self._idle.values())


def _request_head(request: httpx.Request, body: bytes) -> bytes:
    """The request's bytes on the wire: request line, headers (checked), blank line, body."""

    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
    for name, value in request.headers.raw:
        if _UNSAFE_HEADER.search(name) or _UNSAFE_HEADER.search(value):
            raise httpx.LocalProtocolError("A header name or value holds CR, LF or NUL.")
        lowered = name.lower()
        if body and (lowered == b"content-length" or lowered == b"transfer-encoding"):
            continue  # the body is sent whole, with its own length below
        lines.append(b"%s: %s\r\n" % (name, value))
    if body:
        lines.append(b"content-length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)
