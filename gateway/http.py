"""GraphQL over HTTP at ``/graphql``: GET and POST, ``application/graphql-response+json``.

Follows the GraphQL-over-HTTP draft (graphql.github.io/graphql-over-http): with
``application/graphql-response+json`` a request that fails before execution (parse,
validation, variable coercion) answers 4xx; with legacy ``application/json`` it answers
200 with the errors. A wrong argument value a field's own check finds (``first: 101``) is
answered the same way (``gateway.errors.refuses_request``). Without an ``Accept`` header, or with only a wildcard (``*/*``), the
answer is ``application/json``: a client that did not ask for the new media type may not
understand a 4xx that carries a GraphQL body (the spec's SHOULD, audited by graphql-http).

The order of a request is the order of trust: who is calling and whether they have budget
(``AccessControl.admit``) before a byte of the body is read, and the body only within
``body_read_timeout_s``; a request refused before its body was read is answered with
``Connection: close``, so the unread body is never taken in. In production mode the side
doors close: ``_service`` (the federation SDL) only for roles that may federate, no "Did you
mean ...?" in validation errors, and, for every role, personal data only over POST.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from connectors import ConnectorRegistry, SourceTrace
from core import SatudataError
from resolvers import CursorSeal, GraphSchema, Loaders
from resolvers.execution import NoSuchOperation, PreparedDocument, run
from resolvers.projection import READ_ALL, Projection
from resolvers.signals import Parameters as SignalParameters

from .access import PURPOSE_HEADER, AccessControl, Admission
from .access.audit import AuditUnavailable
from .access.limits import QueryGuard, QueryLimits
from .context import RequestContext, shuffles_list
from .errors import RequestError, format_error, refusal, refuses_request
from .graphiql import wants_graphiql
from .http_wire import (
    GRAPHQL_RESPONSE,
    JSON,
    EndpointRequest,
    JsonAnswer,
    has_body,
    json_param,
    json_response,
    negotiate,
    request_id_of,
)
from .logs import note_request
from .prepared import PreparedDocuments

if TYPE_CHECKING:
    from .documents import PersistedDocuments

TRACE_HEADER = "x-satudata-trace"

AUDIT_WITHHELD = (
    "The answer holds personal data and could not be recorded in the audit log, so it is withheld. Try again later."
)
#: Why personal data is refused over GET: its variables (NIKs) would sit in URLs.
GET_IS_PUBLIC_ONLY = (
    "Personal data is only served over POST: a GET request's URL, with its variables, ends up in "
    "browser histories and proxy logs."
)
#: graphql-core's suggestions name fields, types and enum values the caller did not ask about.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?\s*$", re.DOTALL)
log = logging.getLogger("satudata.gateway")


class _PreExecution(Exception):
    """The document is refused before it runs (syntax, validation, a limit): these errors, no ``data``."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class GraphQLParams:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


class GraphQLEndpoint:
    """The ASGI app behind ``/graphql``."""

    def __init__(
        self,
        schema: GraphSchema,
        registry: Callable[[], ConnectorRegistry],
        *,
        max_body_bytes: int,
        request_timeout_s: float = 10.0,
        graphiql: Callable[[Request], Response] | None = None,
        on_response: Callable[[int, float], None] | None = None,
        access: AccessControl | None = None,
        cursors: CursorSeal | None = None,
        body_read_timeout_s: float = 10.0,
        graphiql_authenticated: bool = False,
        production: bool = False,
        trace_for_everyone: bool = False,
        persisted: PersistedDocuments | None = None,
        guard: QueryGuard | None = None,
        compiled: bool = True,
        projection: bool = True,
        signals: SignalParameters | None = None,
        shuffled_lists: frozenset[str] = frozenset(),
    ) -> None:
        self.schema = schema
        self.registry = registry
        self.max_body_bytes = max_body_bytes
        self.request_timeout_s = request_timeout_s
        self.graphiql = graphiql
        self.on_response = on_response
        self.access = access
        self.cursors = cursors or CursorSeal.generate()
        #: Seconds an admitted request has to deliver its whole body (408 and closed otherwise).
        self.body_read_timeout_s = body_read_timeout_s
        #: Serve GraphiQL only to requests carrying a valid credential (``[graphiql] enabled = "authenticated"``).
        self.graphiql_authenticated = graphiql_authenticated
        self.production = production
        #: Every caller gets the source trace it asks for (``[gateway] source_trace = "everyone"``); otherwise
        #: operators only (``AccessControl.traces_for``).
        self.trace_for_everyone = trace_for_everyone
        #: The abuse limits every document passes before it runs (tokens, depth, cost, the heavy-query gate).
        self.guard = guard or QueryGuard(schema._schema, QueryLimits.from_config(None), production=production)
        #: Parsed, validated and measured documents by text.
        self.prepared = PreparedDocuments(schema)
        #: Run operations with ``resolvers.compiled`` where they compile (graphql-core otherwise).
        self.compiled = compiled
        #: Ask sources for what each document reads only (``resolvers.projection``), not every field.
        self.projection = projection
        #: The absence-alert method's parameters (``[signals.absence]``), handed to every request.
        self.signals = signals or SignalParameters()
        #: Lists every caller gets shuffled (``[gateway] shuffled_lists``; ``RequestContext.list_order_salt``).
        self.shuffled_lists = shuffled_lists
        #: Persisted queries (APQ) and trusted documents: what a ``persistedQuery`` extension names.
        self.persisted = persisted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = EndpointRequest(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)
        if self.on_response is not None:
            self.on_response(response.status_code, time.perf_counter() - started)

    async def handle(self, request: Request) -> Response | JsonAnswer:
        request_id = request_id_of(request)
        media_type: str | None = JSON
        body_read = False
        try:
            admission: Admission | None = None
            if self.graphiql is not None and wants_graphiql(request):
                if not self.graphiql_authenticated:
                    return self.graphiql(request)
                admission = await self.admit(request)
                if admission is not None and not admission.principal.is_anonymous:
                    return self.graphiql(request)
                # An anonymous visitor: as though GraphiQL were off.
            media_type = negotiate(request.headers.get("accept"))
            if media_type is None:
                raise RequestError(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}.", "NOT_ACCEPTABLE")
            if request.method not in ("GET", "POST"):
                raise RequestError(405, "Use GET or POST.", "METHOD_NOT_ALLOWED")
            # Who, whether they have budget, and why: before the body is read.
            if admission is None:
                admission = await self.admit(request)
            if admission is not None and request.method == "GET":
                admission.access.public_only = GET_IS_PUBLIC_ONLY
            params = await self.read_params(request)
            body_read = True
            persisted = self.persisted
            if persisted is not None:
                resolved = await persisted.resolve(params, admission)
                params = resolved.params
            body, status = await self.execute(request, request_id, params, media_type, admission)
            if persisted is not None and "data" in body:
                # Registered (APQ) only once it has run: a document refused before execution is not kept.
                await persisted.register(resolved)
        except SatudataError as exc:
            # Refused before GraphQL ran (the HTTP request itself, the caller's admission, a busy gateway).
            body, status, headers = refusal(exc)
            if not body_read and has_body(request):
                # Refused before its body was read: close rather than take the body in to reach the next request.
                headers["connection"] = "close"
            return json_response(body, status, media_type or JSON, request_id, allow=status == 405, extra_headers=headers)
        return json_response(body, status, media_type, request_id)

    async def admit(self, request: Request) -> Admission | None:
        """``AccessControl.admit``, after refusing a request that states its purpose twice."""

        if self.access is None:
            return None
        purposes = request.headers.getlist(PURPOSE_HEADER)
        if len(purposes) > 1:
            raise RequestError(400, f"Send one X-Satudata-Purpose header, not {len(purposes)}.", "AMBIGUOUS_PURPOSE")
        return await self.access.admit(request)

    def traces_for(self, admission: Admission | None) -> bool:
        """Whether this caller gets the source trace it asks for (``[gateway] source_trace``)."""

        return self.trace_for_everyone or self.access is None or admission is None or self.access.traces_for(admission)

    async def execute(
        self, request: Request, request_id: str, params: GraphQLParams, media_type: str, admission: Admission | None
    ) -> tuple[dict[str, Any], int]:
        role = admission.principal.role if admission is not None else None
        trace = SourceTrace()
        try:
            result = await self._run(request, request_id, params, admission, role, trace)
        except _PreExecution as stop:
            result = ExecutionResult(data=None, errors=stop.errors)
            pre_execution, withdrawn = True, False
        else:
            # Variable coercion failures come back as a result with no data and errors without a path.
            errors = result.errors or []
            # A wrong argument value a field's own check found: refused like one that failed coercion,
            # but the request ran, so what it was refused on the way is still audited (data: none).
            withdrawn = refuses_request(errors)
            pre_execution = (result.data is None and bool(errors) and all(e.path is None for e in errors)) or withdrawn
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [self.format_error(e, request_id) for e in result.errors]
        if not pre_execution:
            body["data"] = result.data
        if not pre_execution or withdrawn:
            if admission is not None and self.access is not None:
                try:
                    await self.access.record(
                        admission,
                        None if withdrawn else result.data,
                        document=params.query,
                        operation=params.operation_name,
                        trace=trace,
                        request_id=request_id,
                        nulled=bool(result.errors),
                    )
                except AuditUnavailable as exc:
                    # Fail closed: personal data that cannot be accounted for is not returned.
                    log.error("request %s: answer withheld, audit log unavailable: %s", request_id, exc.message)
                    raise RequestError(exc.status, AUDIT_WITHHELD, exc.code, extensions={"requestId": request_id}) from None
        if request.headers.get(TRACE_HEADER, "").strip().lower() == "sources" and self.traces_for(admission):
            body["extensions"] = {"sources": trace.as_dict()}
        status = 400 if pre_execution and media_type == GRAPHQL_RESPONSE else 200
        return body, status

    async def _run(
        self,
        request: Request,
        request_id: str,
        params: GraphQLParams,
        admission: Admission | None,
        role: str | None,
        trace: SourceTrace,
    ) -> ExecutionResult:
        """Prepare (or find prepared) the document, pass the guards, and execute it.

        Refusals before execution raise ``_PreExecution``; errors of the request itself
        (no such operation, a mutation over GET) raise ``RequestError``.
        """

        try:
            entry = self.prepared.get(params.query)
            if entry is None:
                tokens = self.guard.check_source(params.query, role)  # before a token of it is parsed
                entry = self.prepared.prepare(params.query, tokens)
            else:
                self.guard.check_tokens(entry.tokens, role)
        except SatudataError as exc:
            raise _PreExecution([GraphQLError(exc.message, original_error=exc)]) from None
        prepared = entry.prepared
        if prepared.errors:
            raise _PreExecution(list(prepared.errors))
        try:
            operation = prepared.operation(params.operation_name)
        except NoSuchOperation:
            if params.operation_name is None:
                raise RequestError(400, "The document has several operations: name one in `operationName`.") from None
            raise RequestError(400, f"The document has no operation named {params.operation_name!r}.") from None
        note_request(request.scope, operation.name.value if operation.name else None, role)  # access line, span
        allowed = (OperationType.QUERY,) if request.method == "GET" else (OperationType.QUERY, OperationType.MUTATION)
        if operation.operation not in allowed:
            raise RequestError(
                405, f"{operation.operation.value.capitalize()} operations are only allowed over POST.", "OPERATION_NOT_ALLOWED"
            )
        if self.production and admission is not None:
            self._refuse_service_sdl(prepared, admission)
        try:
            # Lists read shuffled without a narrowing filter are scans of their source: costed for this caller.
            access = admission.access if admission is not None else None
            found = self.guard.check_prepared(
                entry, role, variables=params.variables, operation_name=params.operation_name,
                shuffles=lambda name: shuffles_list(name, self.shuffled_lists, access),
            )
        except SatudataError as exc:
            raise _PreExecution([GraphQLError(exc.message, original_error=exc)]) from None
        projection = prepared.projection if self.projection else READ_ALL
        context = self.request_context(request, request_id, admission, trace, projection=projection)
        deadline = context.deadline
        if admission is not None:
            # The operation the audit names: the client's, or the document's only one.
            admission.access.operation = operation.name.value if operation.name else None
        # A heavy query waits here for a slot, before any of its resolvers runs; one that waited until its
        # deadline raises GatewayBusy (503, Retry-After) and nothing of it ran.
        async with self.guard.gate.admit(found.cost, deadline=deadline):
            return await run(
                self.schema,
                prepared,
                variables=params.variables,
                context=context,
                operation_name=params.operation_name,
                allowed=allowed,
                compiled=self.compiled,
            )

    def request_context(
        self, request: Any, request_id: str, admission: Admission | None, trace: SourceTrace,
        *, projection: Projection = READ_ALL, **extra: Any,
    ) -> RequestContext:
        """The context one operation runs with (a query here, a subscription's event in
        ``gateway.subscriptions``): its sources read through the caller's row scopes and lookup
        budget, by a deadline ``request_timeout_s`` from now, with the caller's decisions and
        cursor binding. ``request`` is the HTTP request, or a subscription's carrier of it;
        ``projection`` is what the document reads of each entity (every field unless given), to
        which the caller's row scopes add the fields they read; ``extra`` sets the context's other
        fields (a subscription's change feed)."""

        # Every source call must finish by then; a slow source costs only its fields.
        deadline = asyncio.get_running_loop().time() + self.request_timeout_s
        session = self.registry().session(trace, deadline=deadline, row_filters=admission.row_filters if admission else None)
        if admission is not None:
            projection = projection.widened(admission.access.role.scope_reads)
        return RequestContext(
            loaders=Loaders(admission.reader(session) if admission is not None else session, projection),
            request=request,
            request_id=request_id,
            trace=trace,
            principal=admission.principal if admission is not None else None,
            access=admission.access if admission is not None else None,
            cursors=admission.cursors(self.cursors) if admission is not None else self.cursors,
            deadline=deadline,
            signals=self.signals,
            shuffled_lists=self.shuffled_lists,
            **extra,
        )

    def format_error(self, error: GraphQLError, request_id: str) -> dict[str, Any]:
        formatted = format_error(error, request_id=request_id)
        if self.production:
            # "Did you mean 'person'?" lists schema names next to a typo: a map for whoever probes.
            formatted["message"] = _SUGGESTION.sub("", formatted["message"])
        return formatted

    def _refuse_service_sdl(self, prepared: PreparedDocument, admission: Admission) -> None:
        """Production: the federation SDL (``_service``) is for roles that may federate only."""

        if "_service" not in prepared.text or admission.access.role.may("federation"):
            return
        if "_service" in root_field_names(prepared.document):
            raise RequestError(403, "Only a federation router may read this gateway's _service (its SDL).", "FORBIDDEN")

    async def read_params(self, request: Request) -> GraphQLParams:
        if request.method == "GET":
            raw: Mapping[str, Any] = dict(request.query_params)
            variables = json_param(raw.get("variables"), "variables")
            extensions = json_param(raw.get("extensions"), "extensions")
            return _params({**raw, "variables": variables, "extensions": extensions})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise RequestError(415, "POST a JSON body with Content-Type: application/json.", "UNSUPPORTED_MEDIA_TYPE")
        body = await self.read_body(request)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise RequestError(400, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise RequestError(400, "The request body must be a JSON object with a `query`.")
        return _params(data)

    async def read_body(self, request: Request) -> bytes:
        """The body, at most ``max_body_bytes`` of it, within ``body_read_timeout_s``.

        Read from the ASGI ``receive`` itself rather than through ``Request.stream()``: an async
        generator per request cost more than the read, which is one message for most bodies.
        """

        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise RequestError(413, f"The request body exceeds {self.max_body_bytes} bytes.", "PAYLOAD_TOO_LARGE")
        receive = request.receive
        chunks: list[bytes] = []
        size = 0
        try:
            # A client that trickles its body would otherwise hold a connection and its buffer for ever.
            async with asyncio.timeout(self.body_read_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":  # http.disconnect: as Request.stream() says it
                        raise ClientDisconnect()
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise RequestError(413, f"The request body exceeds {self.max_body_bytes} bytes.", "PAYLOAD_TOO_LARGE")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise RequestError(
                408, f"The request body did not arrive within {self.body_read_timeout_s:g} s.", "REQUEST_TIMEOUT"
            ) from None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _params(data: Mapping[str, Any]) -> GraphQLParams:
    query = data.get("query")
    extensions = data.get("extensions")
    if query is None and isinstance(extensions, dict) and "persistedQuery" in extensions:
        query = ""  # a hash alone: gateway.documents fills the document in
    elif not isinstance(query, str) or not query.strip():
        raise RequestError(400, "`query` must be a non-empty string holding a GraphQL document.")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "`variables` must be a JSON object.")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "`operationName` must be a string.")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "`extensions` must be a JSON object.")
    return GraphQLParams(query, variables, operation_name or None, extensions)


def root_field_names(document: Any, operation: OperationDefinitionNode | None = None) -> set[str]:
    """Names of the root fields ``operation`` selects (every operation's, without one), through
    aliases, inline fragments and fragment spreads: ``{ ... on Query { _service { sdl } } }`` selects
    ``_service`` as surely as the plain field does."""

    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()
    expanded: set[str] = set()

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in expanded:
                expanded.add(selection.name.value)
                if selection.name.value in fragments:
                    walk(fragments[selection.name.value].selection_set)

    operations = [operation] if operation is not None else document.definitions
    for definition in operations:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set)
    return names
