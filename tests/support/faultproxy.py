"""A fault-injecting TCP proxy for tests: put it between the gateway and one source.

``FaultProxy`` listens on ``127.0.0.1:<free port>`` and forwards to one upstream ``(host, port)``
(a PostgreSQL, a MariaDB, an HTTP API).  Tests switch its behaviour while it runs::

    async with FaultProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url_for("postgresql+asyncpg://postgres@127.0.0.1:5432/db")
        proxy.set_mode(delay(10))          # or set_mode("delay", seconds=10) / set_mode("delay(10)")
        proxy.set_mode("refuse")
        proxy.drop_connections()           # a failover: every open connection dies, mode unchanged
        async with proxy.flap(0.2, ["pass", "refuse"], max_duration=5):
            ...

Sync tests use ``ThreadedFaultProxy`` (or ``start_in_thread``): the same proxy on its own event
loop in a daemon thread, with the same controls as blocking, thread-safe methods.

What each mode does on the wire (a mode applies to connections accepted while it is set, and the
ones marked *live* also to bytes flowing on connections that were already open -- pooled
connections of the gateway therefore see delay / cut / garbage / blackhole at once):

``pass``
    Forward both ways (half-closes are forwarded too).
``refuse``
    The listening socket is closed, so a connect gets ``ECONNREFUSED`` at once (httpx
    ``ConnectError``, asyncpg ``ConnectionRefusedError``).  The port stays reserved by a bound,
    non-listening ``SO_REUSEPORT`` socket, so nobody else can take it and leaving ``refuse``
    listens on the same port again.  Open connections are left alone -- call
    ``drop_connections()`` (or ``flap(..., drop=True)``) for a full outage.
``reset``
    Accept, then close with ``SO_LINGER=0``: the client sees a connection reset (httpx
    ``ReadError``/``WriteError``, asyncpg ``ConnectionResetError``) instead of a refusal.
``delay(seconds)`` *live*
    The first upstream->client chunk after each client->upstream chunk (i.e. the start of every
    response; on a new connection also a server greeting) is held ``seconds`` before it is
    forwarded; the rest of that response then flows at once.  Leaving ``delay`` releases held
    data early; a client that hangs up (times out) while its answer is held ends the connection
    at once.  Connecting to the upstream is not delayed.
``cut_after(n_bytes)`` *live*
    Forward the first ``n_bytes`` that the upstream sends on each connection (counted from the
    moment the mode was set for connections that were already open), then close both sides
    (FIN to the client): a mid-response cut.
``garbage_http_json(body=..., status=200)`` *live*
    A new connection never reaches the upstream: the proxy waits for the request head (at most
    1 s), answers ``HTTP/1.1 200 OK`` with ``Content-Type: application/json``, a correct
    ``Content-Length``, ``Connection: close`` and a malformed JSON body, then half-closes.  On an
    open connection the next upstream response is replaced by that answer and the connection is
    closed.
``garbage_bytes(n_bytes=512)`` *live*
    A new connection gets ``n_bytes`` of junk at once (a NUL/0xFF prefix, then random bytes;
    sent without waiting, so server-speaks-first protocols such as MySQL choke too), then a
    half-close.  On an open connection every upstream chunk is replaced by as many random bytes.
``blackhole`` *live*
    A new connection is accepted and its bytes are read and discarded, but it is never answered
    and never connected upstream (it stays a black hole until the client gives up, it is
    dropped, or the proxy stops).  On an open connection upstream->client bytes are held (not
    lost) until the mode changes.

Counters: ``connections`` (accepted, including ``reset`` ones), ``active`` (open now),
``bytes_up`` (read from clients), ``bytes_down`` (written to clients, fabricated answers included),
``upstream_errors`` (upstream connects that failed; the client then gets a reset).

All sockets are closed and all tasks awaited by ``stop()``; nothing is left pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import http
import logging
import os
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "Fault",
    "FaultProxy",
    "Flapper",
    "Mode",
    "ThreadedFaultProxy",
    "ThreadedFlapper",
    "blackhole",
    "cut_after",
    "delay",
    "garbage_bytes",
    "garbage_http_json",
    "parse_fault",
    "passthrough",
    "refuse",
    "reset",
    "start_in_thread",
]

log = logging.getLogger(__name__)

_BUFFER = 64 * 1024
_HAVE_REUSEPORT = hasattr(socket, "SO_REUSEPORT")
_T = TypeVar("_T")

#: Looks like JSON to a glance, is not: trailing comma, unterminated array and object.
DEFAULT_BAD_JSON = b'{"data": {"rows": [{"id": 1, "nama": "Trenggalek"},, {"id": 2, "nama": '
_JUNK_PREFIX = b"\x00\xff\xfeNOT-A-PROTOCOL\r\n"


class Mode(str, enum.Enum):
    PASS = "pass"
    REFUSE = "refuse"
    RESET = "reset"
    DELAY = "delay"
    CUT_AFTER = "cut_after"
    GARBAGE_HTTP_JSON = "garbage_http_json"
    GARBAGE_BYTES = "garbage_bytes"
    BLACKHOLE = "blackhole"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Fault:
    """A mode and its parameter; build with the helpers below or ``parse_fault``."""

    mode: Mode
    seconds: float = 0.0  # DELAY
    n_bytes: int = 0  # CUT_AFTER, GARBAGE_BYTES
    body: bytes = b""  # GARBAGE_HTTP_JSON
    status: int = 200  # GARBAGE_HTTP_JSON

    def __str__(self) -> str:
        if self.mode is Mode.DELAY:
            return f"delay({self.seconds:g})"
        if self.mode in (Mode.CUT_AFTER, Mode.GARBAGE_BYTES):
            return f"{self.mode.value}({self.n_bytes})"
        return self.mode.value


def passthrough() -> Fault:
    return Fault(Mode.PASS)


def refuse() -> Fault:
    return Fault(Mode.REFUSE)


def reset() -> Fault:
    return Fault(Mode.RESET)


def delay(seconds: float) -> Fault:
    if not seconds >= 0:
        raise ValueError(f"delay needs seconds >= 0, got {seconds!r}")
    return Fault(Mode.DELAY, seconds=float(seconds))


def cut_after(n_bytes: int) -> Fault:
    if int(n_bytes) != n_bytes or n_bytes < 0:
        raise ValueError(f"cut_after needs an integer n_bytes >= 0, got {n_bytes!r}")
    return Fault(Mode.CUT_AFTER, n_bytes=int(n_bytes))


def garbage_http_json(body: bytes | None = None, status: int = 200) -> Fault:
    return Fault(Mode.GARBAGE_HTTP_JSON, body=DEFAULT_BAD_JSON if body is None else bytes(body), status=int(status))


def garbage_bytes(n_bytes: int = 512) -> Fault:
    if int(n_bytes) != n_bytes or n_bytes < 1:
        raise ValueError(f"garbage_bytes needs an integer n_bytes >= 1, got {n_bytes!r}")
    return Fault(Mode.GARBAGE_BYTES, n_bytes=int(n_bytes))


def blackhole() -> Fault:
    return Fault(Mode.BLACKHOLE)


_SPEC = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


def parse_fault(spec: Fault | Mode | str, /, **params: Any) -> Fault:
    """``Fault`` as is; ``"pass"``, ``Mode.REFUSE``, ``"delay(0.5)"``, ``("delay", seconds=0.5)``,
    ``"cut_after(100)"``, ``("cut_after", n_bytes=100)``, ``"garbage_bytes"``, ..."""

    if isinstance(spec, Fault):
        if params:
            raise TypeError("parameters go inside the Fault, not next to it")
        return spec
    arg: str | None = None
    if isinstance(spec, Mode):
        mode = spec
    else:
        match = _SPEC.match(str(spec))
        if match is None:
            raise ValueError(f"not a fault spec: {spec!r}")
        name, arg = match.group(1), match.group(2) or None
        try:
            mode = Mode(name)
        except ValueError:
            raise ValueError(f"unknown mode {name!r}; modes: {', '.join(m.value for m in Mode)}") from None
    if mode is Mode.DELAY:
        seconds = params.pop("seconds", None if arg is None else float(arg))
        if seconds is None:
            raise ValueError("delay needs seconds: 'delay(0.5)' or set_mode('delay', seconds=0.5)")
        fault = delay(seconds)
    elif mode is Mode.CUT_AFTER:
        n = params.pop("n_bytes", None if arg is None else int(arg))
        if n is None:
            raise ValueError("cut_after needs n_bytes: 'cut_after(100)' or set_mode('cut_after', n_bytes=100)")
        fault = cut_after(n)
    elif mode is Mode.GARBAGE_BYTES:
        fault = garbage_bytes(params.pop("n_bytes", 512 if arg is None else int(arg)))
    elif mode is Mode.GARBAGE_HTTP_JSON:
        fault = garbage_http_json(params.pop("body", None), params.pop("status", 200))
    else:
        if arg is not None:
            raise ValueError(f"mode {mode.value!r} takes no argument")
        fault = Fault(mode)
    if params:
        raise TypeError(f"unexpected parameters for {mode.value}: {sorted(params)}")
    return fault


def _http_json_response(fault: Fault) -> bytes:
    try:
        reason = http.HTTPStatus(fault.status).phrase
    except ValueError:
        reason = "Unknown"
    head = (
        f"HTTP/1.1 {fault.status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(fault.body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    return head.encode("ascii") + fault.body


def _junk(n: int) -> bytes:
    return (_JUNK_PREFIX + os.urandom(max(n, 0)))[: max(n, 1)]


def _set_rst(sock: Any) -> None:
    """Make the next close send RST instead of FIN."""

    with contextlib.suppress(OSError, ValueError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _abort_writer(writer: asyncio.StreamWriter, rst: bool) -> None:
    transport = writer.transport
    if rst and not transport.is_closing():
        sock = transport.get_extra_info("socket")
        if sock is not None:
            _set_rst(sock)
    transport.abort()


_EOF = "eof"
_CLOSE = "close"


class _Conn:
    """One proxied connection: the client side, and (maybe) the upstream side."""

    def __init__(self, ident: int, sock: socket.socket) -> None:
        self.id = ident
        self.sock = sock
        self.task: asyncio.Task[None] | None = None
        self.started = False
        self.closing = False
        self.creader: asyncio.StreamReader | None = None
        self.client: asyncio.StreamWriter | None = None
        self.ureader: asyncio.StreamReader | None = None
        self.upstream: asyncio.StreamWriter | None = None
        self.awaiting_response = True  # the next upstream chunk starts a response (for delay)
        self.client_eof = False
        self.holding = False
        self.cut_generation = -1
        self.cut_sent = 0

    def abort(self, rst: bool) -> None:
        """Close both sides now, synchronously: the peer sees RST/FIN before this returns."""

        if self.closing:
            return
        if self.upstream is not None:
            sock = self.upstream.transport.get_extra_info("socket")
            _abort_writer(self.upstream, rst)
            if sock is not None:  # the transport closes the socket on the next loop turn; say it now
                with contextlib.suppress(OSError, ValueError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self.client is not None:
            _abort_writer(self.client, rst)
            # The transport has already unregistered the socket; closing the very socket object
            # it wraps now (it will close it again, a no-op) sends the RST/FIN immediately.
            self.sock.close()
        if self.task is not None:
            self.task.cancel()  # never-started handlers close the raw socket in _handler_done


class FaultProxy:
    """The proxy on the current event loop.  Controls must be called from that loop's thread."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        mode: Fault | Mode | str = "pass",
        listen_host: str = "127.0.0.1",
        connect_timeout: float = 5.0,
        linger: float = 2.0,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = int(upstream_port)
        self.listen_host = listen_host
        self.connect_timeout = connect_timeout
        #: How long a fabricated answer waits for the client to close before the proxy closes.
        self.linger = linger
        self._fault = parse_fault(mode)
        self._generation = 0
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port: int | None = None
        self._placeholder: socket.socket | None = None
        self._lsock: socket.socket | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flappers: set[Flapper] = set()
        self._next_id = 0
        self._closing = False
        self._stopped = False
        self.connections = 0
        self.active = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.upstream_errors = 0
        #: Unexpected (non-network) exceptions from connection handlers, newest last; should stay empty.
        self.errors: list[BaseException] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FaultProxy:
        if self._loop is not None:
            raise RuntimeError("FaultProxy already started (it cannot be restarted after stop)")
        self._loop = asyncio.get_running_loop()
        if _HAVE_REUSEPORT:
            ph = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                ph.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                ph.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                ph.bind((self.listen_host, 0))
            except BaseException:
                ph.close()
                raise
            self._placeholder = ph
            self._port = ph.getsockname()[1]
        else:  # pragma: no cover - not Linux: the port is only held while listening
            self._port = 0
        try:
            if self._fault.mode is not Mode.REFUSE or not _HAVE_REUSEPORT:
                self._listen()
                if self._fault.mode is Mode.REFUSE:  # pragma: no cover
                    self._unlisten()
        except BaseException:
            if self._placeholder is not None:
                self._placeholder.close()
            raise
        log.debug(
            "fault proxy %s:%s -> %s:%s in %s",
            self.listen_host,
            self._port,
            self.upstream_host,
            self.upstream_port,
            self._fault,
        )
        return self

    async def stop(self) -> None:
        """Stop flapping, stop listening, close every connection and wait for all handlers."""

        if self._loop is None or self._stopped:
            return
        self._check_thread()
        self._closing = True
        for flapper in list(self._flappers):
            await flapper.stop()
        if self._lsock is not None:
            self._unlisten()
        for conn in list(self._conns):
            conn.abort(rst=False)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            # Handlers leave _tasks in their done callbacks, which need a loop turn; since Python 3.12
            # gather over tasks that are all finished returns without one, and this loop would spin.
            await asyncio.sleep(0)
        if self._placeholder is not None:
            self._placeholder.close()
            self._placeholder = None
        self._changed.set()
        self._stopped = True

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- addressing --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FaultProxy not started")
        return self._port

    @property
    def host(self) -> str:
        return self.listen_host

    @property
    def address(self) -> tuple[str, int]:
        return (self.listen_host, self.port)

    @property
    def upstream(self) -> tuple[str, int]:
        return (self.upstream_host, self.upstream_port)

    def url_for(self, url: str, *, check: bool = True) -> str:
        """``url`` with its host:port replaced by the proxy's (user, path, query kept).

        With ``check`` a URL whose explicit port is not the upstream's raises ``ValueError``
        (it would point the test at a different server than the one the proxy fronts)."""

        return _rewrite_url(url, self.listen_host, self.port, self.upstream_port if check else None)

    # -- controls ----------------------------------------------------------------------------

    @property
    def mode(self) -> Fault:
        return self._fault

    def set_mode(self, mode: Fault | Mode | str, /, **params: Any) -> Fault:
        """Switch mode now (new connections; live modes also on open ones).  Returns the Fault."""

        fault = parse_fault(mode, **params)
        self._check_thread()
        if self._loop is not None and not self._closing:
            if fault.mode is Mode.REFUSE and self._lsock is not None:
                self._unlisten()
            elif fault.mode is not Mode.REFUSE and self._lsock is None:
                self._listen()
        self._fault = fault
        self._generation += 1
        old, self._changed = self._changed, asyncio.Event()
        old.set()
        log.debug("fault proxy :%s now %s", self._port, fault)
        return fault

    def drop_connections(self, *, rst: bool = True) -> int:
        """Close every open proxied connection now (both sides; RST unless ``rst=False``).

        The mode is unchanged, so new connections behave as before.  Returns how many."""

        self._check_thread()
        conns = list(self._conns)
        for conn in conns:
            conn.abort(rst)
        return len(conns)

    def reset_counters(self) -> None:
        self.connections = self.bytes_up = self.bytes_down = self.upstream_errors = 0

    def flap(
        self,
        period_s: float,
        modes: Iterable[Fault | Mode | str],
        *,
        max_duration: float = 30.0,
        final: Fault | Mode | str | None = "pass",
        drop: bool = False,
    ) -> Flapper:
        """Cycle ``modes`` every ``period_s`` (first one at once) in a task until ``stop()`` or
        ``max_duration``; then set ``final`` (None: leave the last mode).  With ``drop`` open
        connections are dropped whenever a mode other than ``pass`` begins."""

        self._check_thread()
        if self._loop is None or self._closing:
            raise RuntimeError("FaultProxy not running")
        return Flapper(
            self,
            period_s,
            [parse_fault(m) for m in modes],
            max_duration=max_duration,
            final=None if final is None else parse_fault(final),
            drop=drop,
        )

    # -- internals ---------------------------------------------------------------------------

    def _check_thread(self) -> None:
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:
            raise RuntimeError("FaultProxy controls must run on its event loop; use ThreadedFaultProxy from sync code")

    def _listen(self) -> None:
        assert self._loop is not None and self._port is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if _HAVE_REUSEPORT:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.listen_host, self._port))
            sock.listen(128)
            sock.setblocking(False)
            self._port = sock.getsockname()[1]
            self._loop.add_reader(sock.fileno(), self._on_acceptable)
        except BaseException:
            sock.close()
            raise
        self._lsock = sock

    def _unlisten(self) -> None:
        assert self._loop is not None and self._lsock is not None
        sock, self._lsock = self._lsock, None
        self._loop.remove_reader(sock.fileno())
        sock.close()  # connections still in the backlog get a reset

    def _on_acceptable(self) -> None:
        assert self._loop is not None
        for _ in range(64):
            if self._lsock is None:
                return
            try:
                csock, _addr = self._lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: try again on the next readiness
                log.warning("fault proxy accept failed: %s", exc)
                return
            self.connections += 1
            if self._fault.mode is Mode.RESET or self._closing:
                _set_rst(csock)
                csock.close()
                continue
            csock.setblocking(False)
            self._next_id += 1
            conn = _Conn(self._next_id, csock)
            self._conns.add(conn)
            self.active += 1
            task = self._loop.create_task(self._handle(conn), name=f"faultproxy-{self._port}-{conn.id}")
            conn.task = task
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._handler_done, conn))

    def _handler_done(self, conn: _Conn, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not conn.started:  # cancelled before it ever ran: nobody else owns the socket
            conn.sock.close()
            self._forget(conn)
        if not task.cancelled() and task.exception() is not None:  # retrieve it; record it
            self.errors.append(task.exception())  # type: ignore[arg-type]

    def _forget(self, conn: _Conn) -> None:
        if conn in self._conns:
            self._conns.discard(conn)
            self.active -= 1

    async def _handle(self, conn: _Conn) -> None:
        conn.started = True
        try:
            try:
                conn.creader, conn.client = await asyncio.open_connection(sock=conn.sock, limit=_BUFFER)
            except BaseException:
                conn.sock.close()
                raise
            fault = self._fault
            if fault.mode is Mode.BLACKHOLE:
                await self._sink(conn)
            elif fault.mode in (Mode.GARBAGE_HTTP_JSON, Mode.GARBAGE_BYTES):
                await self._fabricate(conn, fault)
            else:
                try:
                    async with asyncio.timeout(self.connect_timeout):
                        conn.ureader, conn.upstream = await asyncio.open_connection(
                            self.upstream_host, self.upstream_port, limit=_BUFFER
                        )
                except (OSError, TimeoutError) as exc:
                    self.upstream_errors += 1
                    log.debug("fault proxy: upstream %s:%s failed: %r", self.upstream_host, self.upstream_port, exc)
                    _abort_writer(conn.client, rst=True)
                    return
                await self._pipe(conn)
        except (OSError, EOFError):
            pass  # a side went away: that is what this proxy is for
        except Exception as exc:  # a bug here: keep it visible without killing the loop
            self.errors.append(exc)
            log.exception("fault proxy connection handler failed")
        finally:
            conn.closing = True
            self._forget(conn)
            await self._close(conn)

    @staticmethod
    async def _close(conn: _Conn) -> None:
        writers = [w for w in (conn.upstream, conn.client) if w is not None]
        for w in writers:
            w.close()
        for w in writers:
            with contextlib.suppress(Exception):
                await w.wait_closed()

    async def _pipe(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        pumps = [loop.create_task(self._pump_up(conn)), loop.create_task(self._pump_down(conn))]
        try:
            pending: set[asyncio.Task[str]] = set(pumps)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if t.cancelled():
                        return
                    exc = t.exception()
                    if exc is not None:
                        if not isinstance(exc, (OSError, EOFError)):
                            self.errors.append(exc)
                        return
                    if t.result() == _CLOSE:
                        return
        finally:
            for t in pumps:
                t.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump_up(self, conn: _Conn) -> str:
        assert conn.creader is not None and conn.upstream is not None
        reader, writer = conn.creader, conn.upstream
        while True:
            data = await reader.read(_BUFFER)
            if not data:
                conn.client_eof = True
                if writer.can_write_eof() and not writer.transport.is_closing():
                    writer.write_eof()
                # A client that hangs up while its answer is held (delay, blackhole) has given up.
                return _CLOSE if conn.holding else _EOF
            self.bytes_up += len(data)
            writer.write(data)
            conn.awaiting_response = True
            await writer.drain()

    async def _pump_down(self, conn: _Conn) -> str:
        assert conn.ureader is not None and conn.client is not None
        reader, writer = conn.ureader, conn.client
        while True:
            data = await reader.read(_BUFFER)
            if not data:
                if writer.can_write_eof() and not writer.transport.is_closing():
                    writer.write_eof()
                return _EOF
            await self._hold(conn)
            fault = self._fault
            if fault.mode is Mode.CUT_AFTER:
                if conn.cut_generation != self._generation:
                    conn.cut_generation, conn.cut_sent = self._generation, 0
                allowed = fault.n_bytes - conn.cut_sent
                if len(data) >= allowed:
                    if allowed > 0:
                        writer.write(data[:allowed])
                        self.bytes_down += allowed
                        conn.cut_sent += allowed
                        await writer.drain()
                    return _CLOSE
                conn.cut_sent += len(data)
            elif fault.mode is Mode.GARBAGE_HTTP_JSON:
                payload = _http_json_response(fault)
                writer.write(payload)
                self.bytes_down += len(payload)
                await writer.drain()
                return _CLOSE
            elif fault.mode is Mode.GARBAGE_BYTES:
                data = os.urandom(len(data))
            writer.write(data)
            self.bytes_down += len(data)
            conn.awaiting_response = False
            await writer.drain()

    async def _hold(self, conn: _Conn) -> None:
        """Wait while the mode says so: blackhole (until it changes) or delay (once per response)."""

        loop = asyncio.get_running_loop()
        started = loop.time()
        conn.holding = True
        try:
            while not self._closing and not conn.client_eof:
                fault = self._fault
                if fault.mode is Mode.BLACKHOLE:
                    await self._mode_change()
                elif fault.mode is Mode.DELAY and conn.awaiting_response:
                    remaining = started + fault.seconds - loop.time()
                    if remaining <= 0:
                        return
                    await self._mode_change(remaining)
                else:
                    return
        finally:
            conn.holding = False

    async def _mode_change(self, timeout: float | None = None) -> None:
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await changed.wait()

    async def _sink(self, conn: _Conn) -> None:
        assert conn.creader is not None
        while data := await conn.creader.read(_BUFFER):
            self.bytes_up += len(data)

    async def _fabricate(self, conn: _Conn, fault: Fault) -> None:
        assert conn.creader is not None and conn.client is not None
        reader, writer = conn.creader, conn.client
        if fault.mode is Mode.GARBAGE_HTTP_JSON:
            head = b""
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):  # the client speaks first; don't wait forever if not
                    while b"\r\n\r\n" not in head and len(head) < _BUFFER:
                        chunk = await reader.read(_BUFFER)
                        if not chunk:
                            break
                        self.bytes_up += len(chunk)
                        head += chunk
            payload = _http_json_response(fault)
        else:
            payload = _junk(fault.n_bytes)
        writer.write(payload)
        self.bytes_down += len(payload)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        # Read until the client closes (closing with unread input would RST away the answer).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.linger):
                while data := await reader.read(_BUFFER):
                    self.bytes_up += len(data)


class Flapper:
    """A running ``FaultProxy.flap``: ``await stop()``, ``await wait()``, ``history``, ``done``."""

    def __init__(
        self,
        proxy: FaultProxy,
        period_s: float,
        modes: list[Fault],
        *,
        max_duration: float,
        final: Fault | None,
        drop: bool,
    ) -> None:
        if not period_s > 0:
            raise ValueError("period_s must be > 0")
        if not modes:
            raise ValueError("flap needs at least one mode")
        if not max_duration > 0:
            raise ValueError("max_duration must be > 0")
        self.proxy = proxy
        self.period_s = period_s
        self.modes = modes
        self.max_duration = max_duration
        self.final = final
        self.drop = drop
        #: Every mode set, in order (the final restore not included).
        self.history: list[Fault] = []
        #: "max_duration" or "stop" once finished.
        self.stopped_by: str | None = None
        proxy._flappers.add(self)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"faultproxy-flap-{proxy.port}")

    @property
    def done(self) -> bool:
        return self._task.done()

    @property
    def cycles(self) -> int:
        return len(self.history)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_duration
        try:
            i = 0
            while True:
                fault = self.modes[i % len(self.modes)]
                i += 1
                self.proxy.set_mode(fault)
                if self.drop and fault.mode is not Mode.PASS:
                    self.proxy.drop_connections()
                self.history.append(fault)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(self.period_s, remaining))
                if loop.time() >= deadline:
                    break
            self.stopped_by = "max_duration"
        finally:
            if self.stopped_by is None:
                self.stopped_by = "stop"
            self.proxy._flappers.discard(self)
            if self.final is not None and not self.proxy._closing:
                self.proxy.set_mode(self.final)

    async def stop(self) -> list[Fault]:
        """Stop now (no-op when already finished); the final mode is set.  Returns ``history``."""

        self._task.cancel()
        return await self.wait()

    async def wait(self) -> list[Fault]:
        """Until it finishes (by ``stop()`` or ``max_duration``).  Returns ``history``."""

        await asyncio.gather(self._task, return_exceptions=True)
        if not self._task.cancelled() and self._task.exception() is not None:
            raise self._task.exception()  # type: ignore[misc]
        return self.history

    async def __aenter__(self) -> Flapper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class ThreadedFaultProxy:
    """``FaultProxy`` on its own event loop in a daemon thread, for sync tests.

    Same controls, as blocking thread-safe calls (each returns once the proxy's loop applied it).
    Use as a context manager or ``start()`` / ``stop()``."""

    def __init__(self, upstream_host: str, upstream_port: int, *, call_timeout: float = 10.0, **kwargs: Any) -> None:
        self._proxy = FaultProxy(upstream_host, upstream_port, **kwargs)
        self.call_timeout = call_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def proxy(self) -> FaultProxy:
        """The underlying async proxy (touch it only from its loop)."""

        return self._proxy

    def start(self) -> ThreadedFaultProxy:
        if self._loop is not None:
            raise RuntimeError("ThreadedFaultProxy already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run_loop, name=f"faultproxy->{self._proxy.upstream_port}", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._proxy.start(), self._loop).result(self.call_timeout)
        except BaseException:
            self._end_loop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            if self._proxy._loop is not None:
                asyncio.run_coroutine_threadsafe(self._proxy.stop(), self._loop).result(self.call_timeout)
        finally:
            self._end_loop()

    def __enter__(self) -> ThreadedFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        try:
            loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for t in tasks:
                    t.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    def _end_loop(self) -> None:
        loop, thread = self._loop, self._thread
        assert loop is not None and thread is not None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.call_timeout)
        if thread.is_alive():  # pragma: no cover
            raise RuntimeError("fault proxy thread did not stop")
        self._loop = None

    def _call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if self._loop is None:
            raise RuntimeError("ThreadedFaultProxy not started")
        if threading.current_thread() is self._thread:
            raise RuntimeError("blocking ThreadedFaultProxy call from its own loop thread")

        async def call() -> _T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(self.call_timeout)

    def _await(self, coro: Any) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("ThreadedFaultProxy not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.call_timeout)

    # controls
    def set_mode(self, mode: Fault | Mode | str, /, **params: Any) -> Fault:
        return self._call(self._proxy.set_mode, mode, **params)

    def drop_connections(self, *, rst: bool = True) -> int:
        return self._call(self._proxy.drop_connections, rst=rst)

    def reset_counters(self) -> None:
        self._call(self._proxy.reset_counters)

    def flap(
        self,
        period_s: float,
        modes: Iterable[Fault | Mode | str],
        *,
        max_duration: float = 30.0,
        final: Fault | Mode | str | None = "pass",
        drop: bool = False,
    ) -> ThreadedFlapper:
        modes = list(modes)
        flapper = self._call(self._proxy.flap, period_s, modes, max_duration=max_duration, final=final, drop=drop)
        return ThreadedFlapper(self, flapper)

    def url_for(self, url: str, *, check: bool = True) -> str:
        return self._proxy.url_for(url, check=check)

    # read-only state (plain attribute reads: safe from any thread)
    mode = property(lambda self: self._proxy.mode)
    port = property(lambda self: self._proxy.port)
    host = property(lambda self: self._proxy.host)
    address = property(lambda self: self._proxy.address)
    upstream = property(lambda self: self._proxy.upstream)
    connections = property(lambda self: self._proxy.connections)
    active = property(lambda self: self._proxy.active)
    bytes_up = property(lambda self: self._proxy.bytes_up)
    bytes_down = property(lambda self: self._proxy.bytes_down)
    upstream_errors = property(lambda self: self._proxy.upstream_errors)
    errors = property(lambda self: list(self._proxy.errors))


class ThreadedFlapper:
    """A ``Flapper`` driven from another thread: ``stop()``, ``wait(timeout)``, ``history``, ``done``."""

    def __init__(self, owner: ThreadedFaultProxy, flapper: Flapper) -> None:
        self._owner = owner
        self._flapper = flapper

    def stop(self) -> list[Fault]:
        return list(self._owner._await(self._flapper.stop()))

    def wait(self, timeout: float | None = None) -> list[Fault]:
        assert self._owner._loop is not None
        fut = asyncio.run_coroutine_threadsafe(self._flapper.wait(), self._owner._loop)
        try:
            return list(fut.result(timeout))
        except TimeoutError:
            fut.cancel()
            raise

    history = property(lambda self: list(self._flapper.history))
    done = property(lambda self: self._flapper.done)
    cycles = property(lambda self: self._flapper.cycles)
    stopped_by = property(lambda self: self._flapper.stopped_by)

    def __enter__(self) -> ThreadedFlapper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(upstream_host: str, upstream_port: int, **kwargs: Any) -> ThreadedFaultProxy:
    """A started ``ThreadedFaultProxy`` (call ``stop()``, or use it as a context manager)."""

    return ThreadedFaultProxy(upstream_host, upstream_port, **kwargs).start()


def _rewrite_url(url: str, host: str, port: int, expect_port: int | None) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not a URL with a host: {url!r}")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if expect_port is not None:
        try:
            explicit = parts.port
        except ValueError:
            raise ValueError(f"bad port in {url!r}") from None
        if explicit is not None and explicit != expect_port:
            raise ValueError(f"{url!r} has port {explicit}, but the proxy's upstream is port {expect_port}")
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}:{port}"))
