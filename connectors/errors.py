"""The gateway's typed errors.

Every layer raises these; exactly one place (``gateway.errors``) turns them into GraphQL
errors, with ``extensions.code`` taken from the class. The tree::

    SatudataError                     code
      SourceError(source=...)
        SourceUnavailable             SOURCE_UNAVAILABLE
        SourceTimeout                 SOURCE_TIMEOUT
        SourceBadResponse             SOURCE_BAD_RESPONSE
      ConfigError                     CONFIG_ERROR (start-up only; never reaches a client)

The vocabulary layer adds ``InvalidInput`` (BAD_USER_INPUT) in ``resolvers.errors``.
Messages are written for the integrator reading them: they never carry a stack trace,
a connection string or an internal address.
"""

from __future__ import annotations

from typing import Any


class SatudataError(Exception):
    """Base of every error the gateway raises on purpose."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extensions

    def extensions(self) -> dict[str, Any]:
        """The ``extensions`` object a client sees: ``code`` first, then the details."""
        return {"code": self.code, **self.extra}


class SourceError(SatudataError):
    """An OPD source could not answer; only the fields it feeds are affected."""

    code = "SOURCE_ERROR"

    def __init__(self, message: str, *, source: str, **extensions: Any) -> None:
        super().__init__(message, source=source, **extensions)
        self.source = source


class SourceUnavailable(SourceError):
    """The source refused or dropped the connection, or is not reachable at all."""

    code = "SOURCE_UNAVAILABLE"


class SourceTimeout(SourceError):
    """The source did not answer within its timeout."""

    code = "SOURCE_TIMEOUT"


class SourceBadResponse(SourceError):
    """The source answered, but with something the mapping cannot read."""

    code = "SOURCE_BAD_RESPONSE"


class ConfigError(SatudataError):
    """The configuration is wrong; raised at start-up, naming the key and the fix."""

    code = "CONFIG_ERROR"
