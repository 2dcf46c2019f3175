"""The error boundary: the one place where errors become what a client sees.

Inside, code raises the typed errors rooted in ``core.SatudataError`` (``connectors.errors``,
``resolvers.errors``, ``gateway.access``), each with a stable ``code`` and the HTTP ``status``
it means for a whole request. Here they become GraphQL error objects with
``extensions.code`` (``format_error``), or, refused before GraphQL runs, a response body,
status and headers (``refusal``); anything unexpected becomes ``INTERNAL_SERVER_ERROR`` with a
generic message (the detail goes to the log with the request id, never to the client).
Nothing logged here carries a NIK: the traceback of an unexpected error is written with every
long number blanked (``connectors.redact_numbers``), as an exception's text may hold a key.

Codes a client can see::

    GRAPHQL_PARSE_FAILED       the document is not GraphQL
    GRAPHQL_VALIDATION_FAILED  the document does not fit the schema
    BAD_USER_INPUT             an argument or variable is malformed (see extensions.reason, .argument:
                               the argument's or input field's name, never a type's); the request
                               is then a request error, with no data (``refuses_request``);
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
    WITHHELD                   a value the role's mask withholds (hide; a date under a year mask): null, with
                               extensions.field and .mask at its path, never a silent null
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
import re
import traceback
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from graphql import (
    ArgumentNode,
    GraphQLError,
    Node,
    ObjectFieldNode,
    VariableDefinitionNode,
    VariableNode,
    parse,
)

from connectors import redact_numbers
from core import SatudataError
from resolvers.errors import InvalidInput

log = logging.getLogger("satudata.gateway")


class RequestError(SatudataError):
    """An HTTP request that cannot be executed at all (before GraphQL runs), with its own status and code."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        *,
        extensions: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, **(extensions or {}))
        self.status = status
        self.code = code
        self._headers = headers or {}

    def headers(self) -> dict[str, str]:
        return dict(self._headers)


def error_object(error: SatudataError, *, message: str | None = None) -> dict[str, Any]:
    """``error`` as one entry of a response's ``errors``: its message (or ``message``) and ``extensions``."""

    return {"message": error.message if message is None else message, "extensions": error.extensions()}


def refusal(error: SatudataError) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A request refused before GraphQL ran: the body (``errors``, no ``data``), HTTP status and headers."""

    return {"errors": [error_object(error)]}, error.status, error.headers()


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
        if "argument" in formatted["extensions"] and error.path is None:
            # A scalar's own check knows its type ("NIK"), not where the value was written.
            name = argument_name(error)
            if name is not None:
                formatted["extensions"]["argument"] = name
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


def original_error(error: GraphQLError) -> BaseException | None:
    """The exception a resolver or a scalar raised, under graphql-core's wrappings."""

    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def refuses_request(errors: Iterable[GraphQLError]) -> bool:
    """Whether ``errors`` make the request a request error (no ``data``): a wrong argument value.

    GraphQL's validation and variable coercion refuse a malformed NIK before execution; a
    field's own check (``first: 101``, ``fromWeek: 60``, a cursor that is not one) finds its
    mistake during execution. Both are the same mistake, so both get the answer of the first:
    the errors alone, HTTP 400 with ``application/graphql-response+json``. A key or argument
    that only a source refuses (``SourceRejectedInput``) is not a wrong value in the schema's
    terms and fails its field alone.
    """

    for error in errors:
        original = original_error(error)
        if isinstance(original, InvalidInput) and original.fails_request:
            return True
    return False


#: graphql-core's "Variable '$f' has invalid value at .region: ..." (or ``at .items[0].region``).
_AT_PATH = re.compile(r"invalid value at ((?:\.\w+|\[\d+\])+)")


def argument_name(error: GraphQLError) -> str | None:
    """The name of the argument (or input field) holding the value a validation or coercion error is about.

    A literal's error points at the value node; a variable's at its definition, and the
    argument is where the operation passes that variable (the first such place), or the
    input field graphql-core names in ``has invalid value at .field``.
    """

    if not error.nodes or error.source is None:
        return None
    node = error.nodes[0]
    if node.loc is None:
        return None
    if isinstance(node, VariableDefinitionNode):
        inside = _AT_PATH.search(error.message)
        if inside:
            return re.findall(r"\.(\w+)", inside.group(1))[-1]
        return _names_of_values(error.source.body).get(("$", node.variable.name.value))
    return _names_of_values(error.source.body).get(node.loc.start)


@lru_cache(maxsize=64)
def _names_of_values(body: str) -> dict[Any, str]:
    """Value position (or ``("$", variable)``) -> name of the argument or input field holding it."""

    try:
        document = parse(body, no_location=False)
    except GraphQLError:
        return {}
    names: dict[Any, str] = {}

    def visit(node: Any) -> None:
        if isinstance(node, (ArgumentNode, ObjectFieldNode)) and node.value.loc is not None:
            names.setdefault(node.value.loc.start, node.name.value)
            if isinstance(node.value, VariableNode):
                names.setdefault(("$", node.value.name.value), node.name.value)
        for key in node.keys:
            child = getattr(node, key, None)
            for item in child if isinstance(child, (list, tuple)) else (child,):
                if isinstance(item, Node):
                    visit(item)

    visit(document)
    return names
