"""The sources' typed errors.

Every layer raises subclasses of ``core.SatudataError``; exactly one place (``gateway.errors``)
turns them into GraphQL errors, with ``extensions.code`` taken from the class. The tree of
this layer::

    core.SatudataError                code                    status
      SourceError(source=...)         SOURCE_ERROR            502
        SourceUnavailable             SOURCE_UNAVAILABLE      503
        SourceTimeout                 SOURCE_TIMEOUT          504
        SourceBadResponse             SOURCE_BAD_RESPONSE     502
        SourceRejectedInput           BAD_USER_INPUT          400 (the caller's argument, not the source, is at fault)
          UnusableKey                 BAD_USER_INPUT          400 (refused before the source is asked)
      core.ConfigError                CONFIG_ERROR            (start-up only; never reaches a client)

A source's error nulls the fields it feeds, so its ``status`` is what it would mean for a whole
request; the response to a request with partial data stays 200. The vocabulary layer adds
``InvalidInput`` (BAD_USER_INPUT) in ``resolvers.errors``.
Messages are written for the integrator reading them: they never carry a stack trace,
a connection string, an internal address or a key (a key may be a NIK).

Only ``SourceUnavailable``, ``SourceTimeout`` and ``SourceBadResponse`` count towards a
source's circuit breaker: a ``SourceRejectedInput`` is the caller's mistake, and one client's
mistakes must never switch a source off for everyone.
"""

from __future__ import annotations

from typing import Any

from core import SatudataError


class SourceError(SatudataError):
    """An OPD source could not answer; only the fields it feeds are affected."""

    code = "SOURCE_ERROR"
    status = 502

    def __init__(self, message: str, *, source: str, **extensions: Any) -> None:
        super().__init__(message, source=source, **extensions)
        self.source = source


class SourceUnavailable(SourceError):
    """The source refused or dropped the connection, or is not reachable at all."""

    code = "SOURCE_UNAVAILABLE"
    status = 503


class SourceTimeout(SourceError):
    """The source did not answer within its timeout."""

    code = "SOURCE_TIMEOUT"
    status = 504


class SourceBadResponse(SourceError):
    """The source answered, but with something the mapping cannot read."""

    code = "SOURCE_BAD_RESPONSE"


class SourceRejectedInput(SourceError):
    """The caller's own argument cannot be used, or the source refused it (HTTP 400 or 422).

    Nothing is wrong with the source, so this never counts towards its breaker. ``extensions``:
    ``source``, ``reason`` (``REJECTED_BY_SOURCE``, or ``MALFORMED`` for an unusable key) and,
    where known, ``argument`` (the vocabulary field the refused value was for). The source's own
    words go into the message, shortened and with long digit runs blanked (no NIK travels back).
    """

    code = "BAD_USER_INPUT"
    status = 400

    def __init__(self, message: str, *, source: str, reason: str = "REJECTED_BY_SOURCE", argument: str | None = None) -> None:
        extensions: dict[str, Any] = {"reason": reason}
        if argument is not None:
            extensions["argument"] = argument
        super().__init__(message, source=source, **extensions)


class UnusableKey(SourceRejectedInput):
    """Keys that cannot be put into the source's request as they are (``.``, ``..``, ``/`` ...).

    Raised before any request is made. ``keys`` holds the refused keys, so that the loaders can
    answer just those with this error and still fetch the others; they are never in the message.
    """

    def __init__(self, message: str, *, source: str, argument: str, keys: tuple[object, ...]) -> None:
        super().__init__(message, source=source, reason="MALFORMED", argument=argument)
        self.keys = keys
