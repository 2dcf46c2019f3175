"""The HTTP wire of the GraphQL endpoint: a request's headers read from a dict made once, its JSON
parameters, content negotiation, its request id, and the JSON answer sent as two ASGI messages.

Kept apart from ``gateway.http``, which says what a GraphQL request means (admission, documents,
execution, the audit): these are the bytes around it, each measured on the request path
(``tests/gateway/test_http_fast_path.py``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .errors import RequestError
from .logs import request_id_var

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestHeaders(Headers):
    """Starlette's ``Headers`` with lookups by name in a dict made once per request.

    ``Headers`` scans and decodes the header list on every lookup, and a missing name costs
    it a ``KeyError`` raised and caught (``Mapping.get``); a request's path asks for a dozen
    names (accept, content-type, the credential, the purpose, the trace header ...). The first
    value of a repeated name is the one returned, as ``Headers`` does; ``getlist`` and the
    rest are ``Headers``' own.
    """

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        first: dict[bytes, bytes] = {}
        for name, value in self._list:
            first.setdefault(name, value)
        self._first = first

    def __getitem__(self, key: str) -> str:
        value = self._first.get(key.lower().encode("latin-1"))
        if value is None:
            raise KeyError(key)
        return value.decode("latin-1")

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        value = self._first.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower().encode("latin-1") in self._first


class EndpointRequest(Request):
    """The endpoint's request: its headers are ``RequestHeaders``."""

    @property
    def headers(self) -> Headers:
        headers = self.__dict__.get("_request_headers")
        if headers is None:
            headers = self.__dict__["_request_headers"] = RequestHeaders(self.scope)
        return headers


class JsonAnswer:
    """A JSON answer sent as two ASGI messages, its header list made once (what Starlette's
    ``Response`` does, without its per-instance header merging and background-task hook)."""

    __slots__ = ("body", "status_code", "raw_headers")

    def __init__(self, body: bytes, status_code: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.body = body
        self.status_code = status_code
        self.raw_headers = raw_headers

    @property
    def headers(self) -> Headers:
        return Headers(raw=self.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def has_body(request: Request) -> bool:
    declared = request.headers.get("content-length", "0").strip()
    return "transfer-encoding" in request.headers or (declared != "0" and declared != "")


def json_param(value: str | None, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise RequestError(400, f"`{name}` is not valid JSON.") from None


#: ``negotiate``'s answers by ``Accept`` text: clients send the same few, and parsing one cost up to 7 us.
_NEGOTIATED: dict[str | None, str | None] = {}
_NEGOTIATED_MAX = 256
_UNSEEN = object()


def negotiate(accept: str | None) -> str | None:
    """Pick the response media type from an ``Accept`` header (``None``: nothing acceptable)."""

    chosen = _NEGOTIATED.get(accept, _UNSEEN)
    if chosen is _UNSEEN:
        chosen = _negotiate(accept)
        if len(_NEGOTIATED) < _NEGOTIATED_MAX and (accept is None or len(accept) <= 512):  # bounded: no client fills it
            _NEGOTIATED[accept] = chosen
    return chosen  # type: ignore[return-value]


def _negotiate(accept: str | None) -> str | None:
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, bool, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *options = (p.strip() for p in part.split(";"))
        quality = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    quality = float(option[2:])
                except ValueError:
                    quality = 0.0
        media = media.lower()
        chosen = {GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON, "*/*": JSON}.get(media)
        if chosen is None or quality <= 0:
            continue
        # A named type beats a wildcard of the same quality, whatever the order.
        rank = (quality, "*" not in media, -position, chosen)
        if best is None or rank[:3] > best[:3]:
            best = rank
    return best[3] if best else None


def request_id_of(request: Request) -> str:
    # Behind AccessLog (every request served), the id it chose, which is also the request's header by now.
    chosen = request_id_var.get()
    if chosen is not None:
        return chosen
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


#: ``content-type`` header values by media type.
_CONTENT_TYPES = {media: f"{media}; charset=utf-8".encode("latin-1") for media in (JSON, GRAPHQL_RESPONSE)}


def json_response(
    body: dict[str, Any],
    status: int,
    media_type: str,
    request_id: str,
    *,
    allow: bool = False,
    extra_headers: Mapping[str, str] | None = None,
) -> JsonAnswer:
    content = orjson.dumps(body)
    raw = [
        (b"x-request-id", request_id.encode("latin-1")),
        (b"content-length", str(len(content)).encode("latin-1")),
        (b"content-type", _CONTENT_TYPES.get(media_type) or f"{media_type}; charset=utf-8".encode("latin-1")),
    ]
    if extra_headers:
        raw.extend((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra_headers.items())
    if allow:
        raw.append((b"allow", b"GET, POST"))
    return JsonAnswer(content, status, raw)
