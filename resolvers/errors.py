"""Errors the vocabulary raises; ``gateway.errors`` turns them into GraphQL errors."""

from __future__ import annotations

from typing import Any

from connectors import SatudataError


class InvalidInput(SatudataError):
    """An argument is malformed; raised before any source is asked.

    ``extensions``: ``code`` = ``BAD_USER_INPUT``, ``argument`` (what was wrong, e.g.
    ``"NIK"``) and ``reason`` (``LENGTH``, ``NOT_DIGITS``, ``UNKNOWN_REGION``,
    ``IMPOSSIBLE_DATE``, ``OUT_OF_RANGE``, ``MALFORMED``).
    """

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, argument: str, reason: str, **extensions: Any) -> None:
        super().__init__(message, argument=argument, reason=reason, **extensions)
