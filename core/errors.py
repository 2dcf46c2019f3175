"""The root of the gateway's typed errors, shared by every layer.

Each layer raises subclasses of ``SatudataError``; exactly one place (``gateway.errors``)
turns them into what a client sees: the ``extensions`` object with ``code`` first, and, for
an error that refuses a whole request before GraphQL runs, the HTTP ``status`` and
``headers`` the class declares. The tree, by layer::

    SatudataError                       code                      status
      ConfigError                       CONFIG_ERROR              500 (start-up only; never reaches a client)
      connectors.SourceError            SOURCE_*                  502 / 503 / 504; BAD_USER_INPUT 400
      resolvers.InvalidInput            BAD_USER_INPUT            400
      gateway.access.*                  UNAUTHENTICATED 401, FORBIDDEN 403, RATE_LIMITED 429, ...
      gateway.errors.RequestError       per request               per request (the HTTP request itself)

This package imports nothing of the project's: the connectors, the vocabulary and the gateway
all stand on it.
"""

from __future__ import annotations

from typing import Any


class SatudataError(Exception):
    """Base of every error the gateway raises on purpose.

    ``code`` is the stable ``extensions.code``; ``status`` the HTTP status when the error
    refuses a whole request (an error at a field's path leaves the response's status alone).
    """

    code = "INTERNAL_SERVER_ERROR"
    status = 500

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extensions

    def extensions(self) -> dict[str, Any]:
        """The ``extensions`` object a client sees: ``code`` first, then the details."""
        return {"code": self.code, **self.extra}

    def headers(self) -> dict[str, str]:
        """HTTP headers a refusal of the whole request carries (``Retry-After``, ``WWW-Authenticate``)."""
        return {}


class ConfigError(SatudataError):
    """The configuration is wrong; raised at start-up, naming the key and the fix."""

    code = "CONFIG_ERROR"
