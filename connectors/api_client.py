"""``ApiClient``: GET one API's paths over an httpx transport, without httpx's client layer.

The REST connector asks one API for hundreds of paths per query and needs only this: the
base URL, fixed headers, a query string and the body. ``httpx.AsyncClient`` does more for every
call (merging the URL three times over, a cookie jar, redirect and auth plumbing), which cost
more than the call itself once the transport was lean (``connectors.http1``). The seam stays
httpx's: any ``httpx.AsyncBaseTransport`` (``MockTransport`` and ``ASGITransport`` in tests),
its ``Request``/``Response``, its exceptions and its content decoding (gzip, deflate).

What the client layer did that this does not: follow redirects (the connector never did), keep
cookies (an API's session cookie must not carry one caller's state to the next), and route
through a proxy named in the environment, which ``transport_for`` does instead by choosing
httpx's own proxying transport. Its request line is still written to the ``httpx`` logger at
INFO, as httpx's client wrote it, so an operator who turns that logger up sees the same lines
(``connectors.redaction`` keeps it at WARNING and blanks the keys in what it writes).
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Mapping
from typing import Any

import httpx

from .http1 import Http1Transport
from .tracing import current_tracing

#: httpx's client logger: ``connectors.redaction`` quiets and redacts it.
_httpx_log = logging.getLogger("httpx")

#: What httpx's client sends unless told otherwise; the API's own ``accept`` etc. override them.
DEFAULT_HEADERS = {
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "connection": "keep-alive",
    "user-agent": f"python-httpx/{httpx.__version__}",
}


class ApiClient:
    """``GET base_url + path ? params`` with fixed headers and timeouts, over ``transport``."""

    def __init__(
        self,
        base_url: str,
        transport: httpx.AsyncBaseTransport,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        source: str = "",
    ) -> None:
        self.base_url = httpx.URL(base_url)
        if self.base_url.scheme not in ("http", "https") or not self.base_url.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        self.transport = transport
        self.headers = httpx.Headers({**DEFAULT_HEADERS, **(headers or {})})
        self._prefix = self.base_url.raw_path.split(b"?")[0].rstrip(b"/")
        self._timeout = httpx.Timeout(timeout_s).as_dict()
        #: The source's name, for the span of each call when the request is traced.
        self.source = source

    def request(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Request:
        """The request ``get`` sends: ``path`` (quoted already) under the base URL's path."""

        target = self._prefix + path.encode("ascii")
        if params:
            target += b"?" + str(httpx.QueryParams(params)).encode("ascii")
        url = self.base_url.copy_with(raw_path=target)
        return httpx.Request("GET", url, headers=self.headers, extensions={"timeout": self._timeout})

    async def get(self, path: str, params: Mapping[str, Any] | None = None, *, route: str = "") -> httpx.Response:
        """The whole response to ``GET path?params``, its body read and decoded. ``route`` is the
        path without its keys (``/v1/participants/{nik}``): all a traced call's span may say of it."""

        request = self.request(path, params)
        tracing = current_tracing.get()
        if tracing is None:
            response = await self._send(request)
        else:
            with tracing.http_call(self.source, "GET", route) as trace_headers:
                request.headers.update(trace_headers)  # traceparent: the API's spans join the trace
                response = await self._send(request)
        if _httpx_log.isEnabledFor(logging.INFO):
            _httpx_log.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method, request.url, response.http_version, response.status_code, response.reason_phrase,
            )
        return response

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self.transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()


def transport_for(base_url: str, choice: str, max_connections: int) -> httpx.AsyncBaseTransport:
    """The transport for an API at ``base_url``: ``choice`` is ``"http1"`` (``Http1Transport``) or
    ``"httpcore"`` (httpx's own); either way through the proxy the environment names for it, if
    any (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), with httpx's transport."""

    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    proxy = environment_proxy(base_url)
    if proxy is not None:
        return httpx.AsyncHTTPTransport(limits=limits, proxy=proxy)
    if choice == "http1":
        return Http1Transport(max_connections=max_connections)
    return httpx.AsyncHTTPTransport(limits=limits)


def environment_proxy(base_url: str) -> str | None:
    """The proxy URL the environment names for ``base_url``, or ``None`` (none, or ``NO_PROXY`` matches)."""

    proxies = urllib.request.getproxies_environment()
    url = httpx.URL(base_url)
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(url.host, proxies):
        return None
    return proxy
