"""Which browser origins may call the gateway: an allow-list from ``[gateway] cors_origins``.

```toml
[gateway]
cors_origins = ["https://satudata.trenggalekkab.go.id", "http://localhost:5173"]
```

Absent or empty, no other origin may read answers (the browser's same-origin default, which
GraphiQL served by the gateway itself does not need to escape). ``"*"`` must be written out,
and cannot be combined with named origins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from core import ConfigError

#: Headers a browser client may send: the body's type, credentials, and the gateway's own.
ALLOWED_HEADERS = (
    "accept", "authorization", "content-type", "x-api-key", "x-request-id", "x-satudata-purpose", "x-satudata-trace"
)
#: Response headers a browser script may read.
EXPOSED_HEADERS = ("x-request-id", "retry-after")


def cors_origins(value: Any) -> tuple[str, ...]:
    """Check ``[gateway] cors_origins``: each an exact ``scheme://host[:port]``, as browsers send it."""

    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError('gateway.cors_origins must be a list of origins, e.g. ["https://portal.example.go.id"]')
    origins = tuple(value)
    if "*" in origins:
        if len(origins) > 1:
            raise ConfigError('gateway.cors_origins: "*" already allows every origin; list origins or "*", not both')
        return origins
    for origin in origins:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        # An Origin header never has a path, query or trailing slash, so such an entry would never match.
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or origin != f"{parts.scheme}://{parts.netloc}":
            raise ConfigError(
                f"gateway.cors_origins: {origin!r} is not an origin; write scheme://host[:port] with no path or trailing slash"
            )
    return origins


def cors_middleware(origins: Sequence[str]) -> Middleware:
    """Starlette's ``CORSMiddleware`` for these origins, for ``Starlette(middleware=[...])``.

    Credentials (cookies) are not allowed: clients authenticate with an ``Authorization``
    header, which a cross-origin script may send only to the origins listed.
    """

    return Middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST"],
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        allow_credentials=False,
        max_age=600,
    )
