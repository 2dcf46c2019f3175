"""The error boundary: the one place where errors become what a client sees.

Inside, code raises the typed errors of ``connectors.errors`` and ``resolvers.errors``
(each with a stable ``code``). Here they become GraphQL error objects with
``extensions.code``; anything unexpected becomes ``INTERNAL_SERVER_ERROR`` with a
generic message (the detail goes to the log with the request id, never to the client).
Nothing logged here carries a NIK: the traceback of an unexpected error is written with every
long number blanked (``connectors.redact_numbers``), as an exception's text may hold a key.

Codes a client can see::

    GRAPHQL_PARSE_FAILED       the document is not GraphQL
    GRAPHQL_VALIDATION_FAILED  the document does not fit the schema
    BAD_USER_INPUT             an argument or variable is malformed (see extensions.reason, .argument);
                               also a key a source cannot use (reason MALFORMED) or an argument a
                               source refused (reason REJECTED_BY_SOURCE, its words in the message),
                               both with extensions.source: the caller's mistake, never counted
                               against the source (connectors.SourceRejectedInput)
    BAD_REQUEST                the HTTP request itself is malformed
    OPERATION_NOT_ALLOWED      e.g. a mutation over GET
    SOURCE_UNAVAILABLE / SOURCE_TIMEOUT / SOURCE_BAD_RESPONSE   an OPD source failed
    UNAUTHENTICATED            credentials were sent but do not check out (HTTP 401; extensions.reason)
    AUTH_UNAVAILABLE           the identity provider's keys cannot be read (HTTP 503)
    RATE_LIMITED               the client's budget is spent (HTTP 429, Retry-After)
    PURPOSE_NOT_ALLOWED        the declared purpose is not one the role may use (HTTP 403)
    FORBIDDEN                  a field the role may not see (null, with this error at its path), or an
                               argument testing a field the role may not read in full (extensions.argument)
    PURPOSE_REQUIRED           personal data asked for without a declared purpose
    LOOKUP_BUDGET_EXCEEDED     the client looked up as many persons by key as its role allows this window
    QUERY_TOO_LARGE / QUERY_TOO_DEEP / TOO_MANY_ALIASES / QUERY_TOO_COSTLY / INTROSPECTION_DISABLED /
    TOO_MANY_REPRESENTATIONS   refused before any source is asked (extensions.limit, .measured)
    AUDIT_UNAVAILABLE          the answer held personal data and could not be audited, so it is withheld
    PERSISTED_QUERY_NOT_FOUND / PERSISTED_QUERY_NOT_SUPPORTED / PERSISTED_QUERY_HASH_MISMATCH /
    PERSISTED_QUERY_NOT_IN_LIST / QUERY_NOT_IN_SAFELIST   persisted queries and trusted documents
                               (Apollo's codes; see gateway.documents.resolver)
    INTERNAL_SERVER_ERROR      a bug; reported with the request id
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from graphql import GraphQLError

from connectors import SatudataError, redact_numbers

log = logging.getLogger("satudata.gateway")


class RequestError(Exception):
    """An HTTP request that cannot be executed at all (before GraphQL runs)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        *,
        extensions: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extensions = {**(extensions or {}), "code": code}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "extensions": {"code": self.code, **self.extensions}}]}


def format_error(error: GraphQLError, *, request_id: str) -> dict[str, Any]:
    """A GraphQL error as it goes on the wire, with a stable ``extensions.code``."""

    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        formatted["path"] = list(error.path)
    original = error.original_error
    # graphql-core wraps a scalar's error once more when it coerces variables.
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    if isinstance(original, SatudataError):
        # graphql-core wraps our message in its own ("Expected value of type 'NIK', but
        # encountered error '...'"); say it once, naming the variable when there is one.
        formatted["message"] = _variable_prefix(error.message) + original.message
        formatted["extensions"] = original.extensions()
    elif original is None or isinstance(original, GraphQLError):
        formatted["extensions"] = {"code": _static_error_code(error.message)}
    else:
        trace = "".join(traceback.format_exception(original)).rstrip()
        log.error("unexpected error in request %s at %s\n%s", request_id, error.path, redact_numbers(trace, keep_lines=True))
        formatted["message"] = "Unexpected error."
        formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    return formatted


def _static_error_code(message: str) -> str:
    # graphql-core gives these errors no class of their own; its messages are stable.
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def _variable_prefix(message: str) -> str:
    if message.startswith("Variable '$"):
        name = message[len("Variable '") :].split("'", 1)[0]
        return f"Variable '{name}' has an invalid value: "
    return ""
