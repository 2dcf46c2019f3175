"""Errors the vocabulary raises; ``gateway.errors`` turns them into GraphQL errors."""

from __future__ import annotations

from typing import Any

from core import SatudataError


class InvalidInput(SatudataError):
    """An argument is malformed; raised before any source is asked.

    ``extensions``: ``code`` = ``BAD_USER_INPUT``, ``argument`` (the name of the argument or
    input field holding the wrong value, e.g. ``"nik"``, ``"first"``; a scalar's check names
    its type, ``"NIK"``, and the error boundary replaces that with the argument's name) and
    ``reason`` (``LENGTH``, ``NOT_DIGITS``, ``UNKNOWN_REGION``, ``IMPOSSIBLE_DATE``,
    ``OUT_OF_RANGE``, ``MALFORMED``).

    One kind of mistake, one answer: whether GraphQL's validation, the coercion of a variable
    or a field's own check finds it, a wrong argument value makes the whole request a request
    error (no ``data``; HTTP 400 with ``application/graphql-response+json``), as the
    GraphQL-over-HTTP spec answers a value that fails coercion. ``fails_request`` is false only
    where the protocol wants an item to fail alone (a malformed federation representation).
    """

    code = "BAD_USER_INPUT"
    status = 400
    fails_request = True

    def __init__(self, message: str, *, argument: str, reason: str, **extensions: Any) -> None:
        super().__init__(message, argument=argument, reason=reason, **extensions)


class MalformedRepresentation(InvalidInput):
    """One ``_entities`` representation is malformed: that entity is null, the batch's others answer."""

    fails_request = False
