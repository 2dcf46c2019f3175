"""Why a caller was not let in.

::

    SatudataError
      Unauthenticated      UNAUTHENTICATED    the credentials are wrong (HTTP 401)
      AuthUnavailable      AUTH_UNAVAILABLE   the identity provider's keys cannot be read (HTTP 503)

``Unauthenticated`` carries ``extensions.reason`` so an integrator can tell an expired token
from a wrong audience without reading prose. Messages never repeat the token or the key.
"""

from __future__ import annotations

from core import SatudataError


class Unauthenticated(SatudataError):
    """The request carried credentials the gateway does not accept.

    ``reason`` is one of ``MALFORMED``, ``AMBIGUOUS``, ``UNSUPPORTED_SCHEME``,
    ``UNSUPPORTED_ALGORITHM``, ``UNKNOWN_API_KEY``, ``UNKNOWN_SIGNING_KEY``,
    ``BAD_SIGNATURE``, ``EXPIRED``, ``NOT_YET_VALID``, ``WRONG_ISSUER``,
    ``WRONG_AUDIENCE``, ``MISSING_CLAIM``, ``BAD_CLAIM``, ``LIFETIME_TOO_LONG``,
    ``JWT_NOT_CONFIGURED``.
    """

    code = "UNAUTHENTICATED"
    status = 401

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason

    def headers(self) -> dict[str, str]:
        return {"www-authenticate": "Bearer"}


class AuthUnavailable(SatudataError):
    """The identity provider's signing keys could not be fetched and none are cached.

    Not the caller's fault: the same token may succeed once the provider answers again.
    """

    code = "AUTH_UNAVAILABLE"
    status = 503
