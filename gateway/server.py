"""The door before the hall: how uvicorn serves the gateway, and what it refuses on the wire.

``server_config(app, settings, host=..., port=...)`` is the one place the server is set up
(``satudata serve`` and ``satudata demo`` use it, and so do the tests that open real sockets).
What it builds can be handed to worker processes (``satudata serve --workers N``,
``gateway.workers``): every setting below is on the ``GatewayServerConfig`` itself, so each
worker keeps them all:

- **a strict HTTP/1.1 parser**: httptools (llhttp) refuses ``Transfer-Encoding`` with
  ``Content-Length``, a repeated ``Content-Length``, obs-fold and bare LF with 400, which
  h11 lets through — the differences a fronting proxy and the gateway could disagree on
  (request smuggling);
- **a header read deadline** (``[gateway] header_read_timeout_s``): uvicorn has none, so a
  client could hold a connection for ever by sending one header byte at a time (slowloris).
  ``GuardedHttpToolsProtocol`` starts a timer when a connection opens and when a request's
  first byte arrives, and answers 408 and closes if the headers are not complete by then;
  it also caps the request line plus headers (``MAX_HEADER_BYTES``) and their number
  (``MAX_HEADER_FIELDS``) with 431, which llhttp does not;
- **a concurrency limit** (``[gateway] max_concurrency``, uvicorn's ``limit_concurrency``):
  connections plus running requests beyond it are answered 503;
- **an idle keep-alive deadline** (``[gateway] keep_alive_timeout_s``);
- **explicit proxies** (``[gateway] trusted_proxies``): ``X-Forwarded-For`` is believed only
  from those peers; with none (the default) uvicorn's proxy-header support is off, where its
  own default would trust 127.0.0.1 — and so any local reverse proxy's clients, or anyone
  who reaches the port through one, could choose the address their rate limit is kept under.

- **streams end when the server stops**: on SIGTERM uvicorn asks each connection to shut down,
  and the protocol tells the request on it (``gateway.going_away``), so an SSE subscription or
  the ``/status`` stream ends at once with a last word, rather than holding the shutdown for its
  whole margin and being cancelled.

The body read deadline is the endpoint's (``GraphQLEndpoint``, ``[gateway] body_read_timeout_s``):
it starts once the request has been admitted, so a caller who is refused never gets to send one.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .going_away import SCOPE_KEY as GOING_AWAY
from .settings import GatewaySettings

log = logging.getLogger("satudata.gateway.server")

#: Request line plus header fields, in bytes. A GraphQL document too long for this goes in a POST body.
MAX_HEADER_BYTES = 32 * 1024
#: Header fields per request; browsers send about 20.
MAX_HEADER_FIELDS = 100
#: After a refusal (408, 431, 400) the gateway half-closes and drops what the client still sends
#: for at most this long before it closes. Closing a socket with unread input sends a TCP reset,
#: and a reset can make the client's kernel discard the refusal before the client has read it
#: (RFC 9112 §9.6, "lingering close"); a client that keeps sending learns nothing either way.
REFUSAL_LINGER_S = 2.0


class GatewayServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the request head deadline ``GuardedHttpToolsProtocol`` reads.

    The deadline travels on the configuration, not on a class made per deadline, because a
    worker process is handed the configuration pickled, and pickle finds a class by its name.
    """

    def __init__(self, app: Any, *, header_timeout_s: float, **options: Any) -> None:
        super().__init__(app, **options)
        self.header_timeout_s = header_timeout_s


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on the request head.

    uvicorn builds one instance per connection with its own arguments; the deadline is the
    configuration's ``header_timeout_s`` (``GatewayServerConfig``), else this default.
    """

    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = getattr(self.config, "header_timeout_s", self.header_timeout_s)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_fields = 0
        self._refusal: tuple[int, str] | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._going_away = asyncio.Event()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown reached this connection: a stream on it ends now, with a
        last word for its client, instead of holding the shutdown until its margin runs out."""

        self._going_away.set()
        super().shutdown()

    # The head deadline runs from the connection's first moment (a client that sends nothing
    # is held no longer than one that sends slowly) and again from each later request's first byte.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger_timer is not None:
            return  # refused and half-closed: what still comes is read and dropped
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # Streams read it to end when the server shuts down (gateway.going_away).
        self.scope[GOING_AWAY] = self._going_away  # type: ignore[literal-required]
        self._head_bytes = 0
        self._head_fields = 0
        if self._head_timer is None:
            self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), fields=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value), fields=1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this for every parser error, including the one _count raises to stop
        # the parser: answer that one with its own status.
        status, message = self._refusal or (400, msg)
        self._refuse(status, message)

    def _count(self, size: int, *, fields: int) -> None:
        self._head_bytes += size
        self._head_fields += fields
        if self._head_bytes > MAX_HEADER_BYTES or self._head_fields > MAX_HEADER_FIELDS:
            self._refusal = (
                431, f"Request line and headers exceed {MAX_HEADER_BYTES} bytes or {MAX_HEADER_FIELDS} fields."
            )
            raise ValueError(self._refusal[1])  # httptools stops parsing and reports a parser error

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_deadline_passed)

    def _disarm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        client = "%s:%d" % self.client if self.client else "-"
        log.info("%s: request headers not complete within %.1f s; connection closed", client, self.header_timeout_s)
        self._refuse(408, "The request headers did not arrive in time.")

    def _refuse(self, status: int, message: str) -> None:
        if self.transport.is_closing() or self._linger_timer is not None:
            return
        body = message.encode("ascii")
        self.transport.write(
            b"".join((
                STATUS_LINE[status],
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body),
                body,
            ))
        )
        self._disarm_head_deadline()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # The client sees the end of the answer now (FIN after it); the socket closes when the
        # client closes its side (eof_received) or after REFUSAL_LINGER_S, whichever is first.
        self.transport.write_eof()
        self._linger_timer = self.loop.call_later(REFUSAL_LINGER_S, self.transport.close)


def server_config(app: Any, settings: GatewaySettings, *, host: str, port: int, **options: Any) -> GatewayServerConfig:
    """The uvicorn configuration of the gateway; ``options`` pass through (``log_level``, ``workers``, ...)."""

    trusted = list(settings.trusted_proxies)
    return GatewayServerConfig(
        app,
        header_timeout_s=settings.header_read_timeout_s,
        host=host,
        port=port,
        http=GuardedHttpToolsProtocol,
        ws="websockets-sansio",  # graphql-transport-ws at /graphql (gateway.subscriptions)
        ws_max_size=settings.max_body_bytes,  # a subscribe message is held to what a POST body may be
        limit_concurrency=settings.max_concurrency,
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout_s)),
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or [],
        access_log=False,
        # In-flight requests get the request deadline and a margin to finish; then uvicorn closes them.
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 2,
        **options,
    )


#: Allocations between two young-generation collections (CPython's default is 700), and young
#: collections between two middle-generation ones (default 10).
GC_YOUNG_THRESHOLD = 100_000
GC_MIDDLE_THRESHOLD = 20


def tune_garbage_collector() -> None:
    """Collect less often, and never walk what start-up built, in a serving process.

    An answer of fifty schools with their pupils and families allocates a few hundred thousand
    short-lived objects; at CPython's default threshold the cyclic collector ran every 700
    allocations and, at each older-generation pass, walked the whole schema and every cached
    document too: half of that query's CPU (4.2 s -> 2.1 s with this, measured in-process with
    ``bench`` data at scale 0.1). ``gc.freeze()`` moves everything alive at start-up (schema,
    policy, pools) out of the collector's reach; the larger young threshold lets a request's
    garbage die by reference counting before a collection looks at it. Cycles are still
    collected, only in larger batches. A deep answer leaves almost no cycles since d64dbe3 (15
    objects where it left 137,001), so batches that large hold little: with 100,000 and 20 (from
    10,000 and 10) query C took 981-1,009 ms of CPU where it took 1,163-1,232 ms (access off;
    1,760-1,829 ms where 1,965-2,062 ms with access on), in-process, two rounds each.
    """

    gc.freeze()
    _, _, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, old)


__all__ = [
    "GC_MIDDLE_THRESHOLD",
    "GC_YOUNG_THRESHOLD",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_FIELDS",
    "GatewayServerConfig",
    "GuardedHttpToolsProtocol",
    "server_config",
    "tune_garbage_collector",
]
