"""Refusals of a query before it runs. Each has a stable ``code``; ``gateway.errors`` turns
them into GraphQL errors like every other ``SatudataError``::

    LimitExceeded(limit=, measured=)   LIMIT_EXCEEDED
      QueryTooLarge                    QUERY_TOO_LARGE     lexical tokens
      QueryTooDeep                     QUERY_TOO_DEEP      nesting of fields
      TooManyAliases                   TOO_MANY_ALIASES    aliased fields
      QueryTooCostly                   QUERY_TOO_COSTLY    estimated values in the answer
      TooManyRepresentations           TOO_MANY_REPRESENTATIONS   entities asked of ``_entities``
    IntrospectionDisabled              INTROSPECTION_DISABLED
"""

from __future__ import annotations

from core import SatudataError

from .scans import WALKS


class LimitExceeded(SatudataError):
    """A measure of the document is over the caller's budget.

    ``extensions`` carry ``limit`` and ``measured`` so a client can tell how far over it is.
    """

    code = "LIMIT_EXCEEDED"
    status = 400
    #: What is measured, as the message names it.
    unit = "units"

    def __init__(self, *, limit: int, measured: int, message: str | None = None) -> None:
        super().__init__(message or f"The query has {measured} {self.unit}; the limit is {limit}.", limit=limit, measured=measured)
        self.limit = limit
        self.measured = measured


class QueryTooLarge(LimitExceeded):
    """Too many lexical tokens. Counting stops one past the limit, so ``measured`` is a floor."""

    code = "QUERY_TOO_LARGE"
    unit = "tokens"

    def __init__(self, *, limit: int, measured: int) -> None:
        super().__init__(
            limit=limit,
            measured=measured,
            message=f"The document has at least {measured} tokens; the limit is {limit}. It was not parsed.",
        )


class QueryTooDeep(LimitExceeded):
    """Fields nested too deeply (fragments expanded)."""

    code = "QUERY_TOO_DEEP"

    def __init__(self, *, limit: int, measured: int) -> None:
        super().__init__(limit=limit, measured=measured, message=f"The query is {measured} levels deep; the limit is {limit}.")


class TooManyAliases(LimitExceeded):
    """Too many aliased fields (fragments expanded): the classic way to ask one field many times."""

    code = "TOO_MANY_ALIASES"
    unit = "aliases"


class QueryTooCostly(LimitExceeded):
    """The estimated size of the answer (see ``gateway.access.limits.analysis``) is over the budget.

    ``scanned``: lists read in a shuffled order without a narrowing filter, each a scan of its
    source that a smaller page does not make cheaper (``scans``), and fields that walk their
    sources whole whatever the order (``scans.WALKS``); the message says so.
    """

    code = "QUERY_TOO_COSTLY"

    def __init__(self, *, limit: int, measured: int, scanned: tuple[str, ...] = ()) -> None:
        advice = "Ask for smaller pages or fewer fields."
        walks = [name for name in dict.fromkeys(scanned) if name in WALKS]
        shuffled = [name for name in dict.fromkeys(scanned) if name not in WALKS]
        if shuffled:
            names = ", ".join(f"`{name}`" for name in shuffled)
            advice = (
                f"It reads {names} in a shuffled order without a narrowing filter, which sorts the whole list at its "
                "source whatever the page size: narrow it to a kecamatan or desa (`region`), or to a school."
            )
        if walks:
            names = ", ".join(f"`{name}`" for name in walks)
            advice = (advice + " " if shuffled else "") + (
                f"{names} walks its sources whole whatever its arguments: ask for it on its own."
            )
        super().__init__(
            limit=limit,
            measured=measured,
            message=f"The query's estimated cost is {measured}; the limit is {limit}. {advice}",
        )


class TooManyRepresentations(LimitExceeded):
    """More entity representations sent to ``_entities`` than ``[limits] max_representations``.

    A code of its own, not ``BAD_USER_INPUT``: the argument is well formed, there is only too
    much of it, and a federation router that meets this code knows to send smaller batches.
    ``extensions`` carry ``limit``, ``measured`` (representations in the whole operation, every
    ``_entities`` field counted) and ``argument = "representations"``. Nothing is executed, so
    no source is asked for any of them.
    """

    code = "TOO_MANY_REPRESENTATIONS"

    def __init__(self, *, limit: int, measured: int) -> None:
        super().__init__(
            limit=limit,
            measured=measured,
            message=f"The query names {measured} entities in `_entities(representations:)`; the limit is {limit}. "
            "Send them in batches.",
        )
        self.extra["argument"] = "representations"


class IntrospectionDisabled(SatudataError):
    """``__schema`` or ``__type`` asked by a client that may not introspect (``__typename`` is always allowed)."""

    code = "INTROSPECTION_DISABLED"
    status = 400

    def __init__(self) -> None:
        super().__init__("Introspection is disabled for anonymous clients; authenticate to read the schema.")
