"""One GraphQL operation over a long-lived transport, with the gateway's whole pipeline.

Both transports (``websocket``: graphql-transport-ws; ``sse``: GraphQL over SSE) hand an
operation here and send on what comes back. Queries and mutations run through the HTTP
endpoint's own ``execute`` (prepared documents, limits, access, audit: the same answer as a
POST). A subscription passes the same checks before its event stream starts: the document's
tokens, depth and cost (``QueryGuard``), the policy on the root field and its arguments
(``gateway.access.enforcement`` guards ``subscribe`` too), and ``sourceStatus`` only for roles
that may ``operations``. Then each event is executed on a context of its own (fresh loaders on
a fresh source session with the caller's row filters, a fresh access ledger, a deadline), so
every event is read live under the subscriber's policy, and each event that disclosed
personal data is written to the audit log like an answer; an event whose audit record cannot
be written is withheld and the subscription ends (fail closed).

Subscriptions whose answers cannot differ (``groups``: same document, variables, role,
purpose and row scope) share that execution: it runs once per event for the group, and each
subscriber's delivery is then audited on its own, under its own principal.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from graphql import (
    ExecutionResult,
    GraphQLError,
    OperationType,
)
from graphql.execution import create_source_event_stream, execute_subscription_event
from starlette.datastructures import Headers
from starlette.types import Scope
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from connectors import ChangeFeed, SourceHealth, SourceTrace, SubscriberTooSlow
from core import SatudataError
from resolvers.execution import NoSuchOperation

from ..access import Admission
from ..access.audit import AuditUnavailable
from ..access.auth import Unauthenticated
from ..context import RequestContext
from ..errors import RequestError
from ..http import JSON, GraphQLEndpoint, GraphQLParams, _params, root_field_names
from ..logs import note_request
from .groups import Group, NoticeTap, Resolution, SubscriberGroups, group_key
from .limits import ClientSubscriptions

log = logging.getLogger("satudata.gateway.subscriptions")

#: Root fields only roles that may ``operations`` may subscribe to (as /readyz's detail).
OPERATOR_FIELDS = frozenset({"sourceStatus"})


def too_slow() -> RequestError:
    """Why a subscription whose queue of change notices overflowed was ended."""

    return RequestError(
        429,
        "This subscription fell too far behind the changes (its queue overflowed) and was ended; subscribe again "
        "and read events as they come.",
        "SUBSCRIBER_TOO_SLOW",
    )


def shutting_down() -> RequestError:
    """Why a subscription was ended when the server began to shut down (``gateway.going_away``)."""

    return RequestError(
        503,
        "The gateway is shutting down (a restart or a deploy), so this subscription was ended; subscribe again "
        "in a moment.",
        "GATEWAY_SHUTTING_DOWN",
    )


class Carrier:
    """What the access layer and the HTTP endpoint read of a request, for one transport's operations.

    A WebSocket's credentials come from its ``connection_init`` payload or the upgrade request's
    headers; an SSE stream's from its POST. ``method`` is POST: a mutation may run, and personal
    data is not refused as it is over GET.
    """

    method = "POST"

    def __init__(self, scope: Scope, headers: Headers) -> None:
        self.scope = scope
        self.headers = headers
        client = scope.get("client")
        self.client = _Address(client[0]) if client else None


@dataclass(frozen=True)
class _Address:
    host: str


def credential_expiry(headers: Headers, admission: Admission | None) -> float | None:
    """When the caller's bearer token expires (epoch seconds), or ``None`` (API key, anonymous).

    The token has just been verified by ``AccessControl.admit``; only its ``exp`` is read here.
    """

    if admission is None or admission.principal.kind != "jwt":
        return None
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    try:
        exp = jwt.decode(token.strip(), options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def expired() -> Unauthenticated:
    return Unauthenticated("The bearer token has expired; the subscription is ended. Connect again with a new one.", reason="EXPIRED")


@dataclass
class Single:
    """A finished operation: one response (``data`` and/or ``errors``)."""

    body: dict[str, Any]
    #: True when the operation was refused before it ran (no ``data``): the graphql-ws ``error`` message.
    refused: bool


@dataclass
class Stream:
    """A running subscription: its responses, one per delivered event (close with ``events.aclose()``)."""

    events: AsyncGenerator[dict[str, Any], None]
    close: Callable[[], Any]


class Operations:
    """Runs operations for the transports (see the module docstring)."""

    def __init__(
        self,
        endpoint: GraphQLEndpoint,
        *,
        changes: ChangeFeed,
        source_health: Callable[[], Sequence[SourceHealth]],
        clients: ClientSubscriptions,
        groups: SubscriberGroups | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.changes = changes
        self.source_health = source_health
        self.clients = clients
        #: Subscriptions that share one resolution per event (see ``groups``).
        self.groups = groups if groups is not None else SubscriberGroups()

    @property
    def access(self) -> Any:
        return self.endpoint.access

    async def admit(self, carrier: Carrier) -> Admission | None:
        """Authenticate, spend a rate-limit hit and check the purpose, as for an HTTP request."""

        return await self.endpoint.admit(carrier)  # type: ignore[arg-type]

    def params(self, payload: Any) -> GraphQLParams:
        """The operation's ``query``, ``variables``, ``operationName`` and ``extensions``, checked."""

        if not isinstance(payload, Mapping):
            raise RequestError(400, "The operation must be a JSON object with a `query`.")
        return _params(payload)

    async def open(self, carrier: Carrier, params: GraphQLParams, admission: Admission | None) -> Single | Stream:
        """Run a query or mutation to its answer, or start a subscription.

        Raises ``SatudataError`` for a request refused before GraphQL ran (the caller's limits,
        too many subscriptions).
        """

        request_id = uuid.uuid4().hex
        endpoint = self.endpoint
        role = admission.principal.role if admission is not None else None
        if params.extensions and "persistedQuery" in params.extensions and not params.query:
            raise RequestError(400, "Persisted queries are not served over this transport; send the document.")
        try:
            entry = endpoint.prepared.get(params.query)
            if entry is None:
                tokens = endpoint.guard.check_source(params.query, role)
                entry = endpoint.prepared.prepare(params.query, tokens)
            else:
                endpoint.guard.check_tokens(entry.tokens, role)
        except SatudataError as exc:
            return self._refused([GraphQLError(exc.message, original_error=exc)], request_id)
        prepared = entry.prepared
        if prepared.errors:
            return self._refused(list(prepared.errors), request_id)
        try:
            operation = prepared.operation(params.operation_name)
        except NoSuchOperation:
            if params.operation_name is None:
                raise RequestError(400, "The document has several operations: name one in `operationName`.") from None
            raise RequestError(400, f"The document has no operation named {params.operation_name!r}.") from None
        if operation.operation is not OperationType.SUBSCRIPTION:
            body, _ = await endpoint.execute(carrier, request_id, params, JSON, admission)  # type: ignore[arg-type]
            return Single(body, refused="data" not in body)
        note_request(carrier.scope, operation.name.value if operation.name else None, role)
        try:
            endpoint.guard.check_prepared(entry, role, variables=params.variables, operation_name=params.operation_name)
        except SatudataError as exc:
            return self._refused([GraphQLError(exc.message, original_error=exc)], request_id)
        # Through fragments too: reading only the top level's names once let sourceStatus past this check.
        fields = root_field_names(prepared.document, operation)
        if admission is not None and fields & OPERATOR_FIELDS and not admission.access.role.may("operations"):
            raise RequestError(
                403, f"Only roles that may `operations` may subscribe to {', '.join(sorted(fields & OPERATOR_FIELDS))}.",
                "FORBIDDEN",
            )
        if admission is not None:
            admission.access.operation = operation.name.value if operation.name else None
        return await self._subscribe(carrier, params, admission, prepared.document, request_id)

    async def _subscribe(
        self, carrier: Carrier, params: GraphQLParams, admission: Admission | None, document: Any, request_id: str
    ) -> Single | Stream:
        who = client_key(carrier, admission)
        self.clients.acquire(who)  # raises TooManySubscriptions
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.clients.release(who)

        try:
            # The field reads its notices through a tap: which notice an event came from names it in its group.
            tap = NoticeTap(self.changes)
            context = self._context(carrier, request_id, admission, SourceTrace(), changes=tap)
            executor = StrawberryGraphQLCoreExecutionContext.build(
                self.endpoint.schema._schema,
                document,
                None,
                context,
                params.variables,
                params.operation_name,
                is_awaitable=optimized_is_awaitable,
            )
            # Errors from here on are the operation's result (next, then complete), as graphql-ws and
            # graphql-sse servers answer them; only a document refused before it runs is an `error` / a 400.
            if isinstance(executor, list):  # the variables did not coerce
                release()
                return self._refused(executor, request_id, ran=True)
            stream = create_source_event_stream(executor)
            if optimized_is_awaitable(stream):
                stream = await stream
            if isinstance(stream, ExecutionResult):
                release()
                await self._record_refusal(admission, params, request_id)
                return self._refused(list(stream.errors or ()), request_id, ran=True)
        except BaseException:
            release()
            raise
        events = self._events(carrier, params, admission, document, stream, tap, release)
        # Closing ``events`` closes the source stream (its finally); ``close`` only frees the client's count
        # at once, for a transport that stops reading before it can close the generator.
        return Stream(events, release)

    async def _events(
        self,
        carrier: Carrier,
        params: GraphQLParams,
        admission: Admission | None,
        document: Any,
        source: Any,
        tap: NoticeTap,
        release: Callable[[], None],
    ) -> AsyncGenerator[dict[str, Any], None]:
        # Joined here, not when subscribing: a stream closed before its first read never runs its finally.
        key = group_key(params.query, params.operation_name, params.variables, admission)
        group: Group | None = None if key is None else self.groups.join(key)
        try:
            while True:
                try:
                    event = await source.__anext__()
                except StopAsyncIteration:
                    return
                except SubscriberTooSlow:
                    raise too_slow() from None
                identity = None if group is None else tap.identify(event)

                def resolve(event: Any = event) -> Any:
                    return self._resolve(carrier, params, admission, document, event)

                resolution = await (resolve() if group is None or identity is None else group.resolve(identity, resolve))
                body = await self._deliver(resolution, params, admission)
                if body is not None:
                    yield body
        finally:
            if group is not None:
                self.groups.leave(group)
            release()
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _resolve(
        self, carrier: Carrier, params: GraphQLParams, admission: Admission | None, document: Any, event: Any
    ) -> Resolution:
        """One event executed on a fresh context (for the subscriber, or for its whole group).

        Its body is ``None`` when the live read finds nothing (``admits``); its ledger is kept for
        each subscriber's audit entry, which ``_deliver`` writes.
        """

        request_id = uuid.uuid4().hex
        trace = SourceTrace()
        fresh = None if admission is None else dataclasses.replace(
            admission, access=dataclasses.replace(admission.access, notes=[], refused=[], budget_exceeded=False)
        )
        context = self._context(carrier, request_id, fresh, trace)
        admits = getattr(event, "admits", None)
        if admits is not None and not await admits(context):
            return Resolution(None, trace=trace, request_id=request_id)
        executor = StrawberryGraphQLCoreExecutionContext.build(
            self.endpoint.schema._schema,
            document,
            event,
            context,
            params.variables,
            params.operation_name,
            is_awaitable=optimized_is_awaitable,
        )
        if isinstance(executor, list):
            body = {"errors": [self.endpoint.format_error(e, request_id) for e in executor]}
            return Resolution(body, trace=trace, request_id=request_id)
        result = execute_subscription_event(executor)
        if optimized_is_awaitable(result):
            result = await result
        body = {"data": result.data}
        if result.errors:
            body = {"errors": [self.endpoint.format_error(e, request_id) for e in result.errors], **body}
        if fresh is None:
            return Resolution(body, result.data, trace=trace, request_id=request_id)
        access = fresh.access
        return Resolution(
            body, result.data, tuple(access.notes), tuple(access.refused), access.budget_exceeded, trace, request_id
        )

    async def _deliver(self, resolution: Resolution, params: GraphQLParams, admission: Admission | None) -> dict[str, Any] | None:
        """The subscriber's body of a resolved event, once its own audit entry is written.

        The entry names this subscriber (its principal, role and purpose) with what the shared
        execution disclosed to it, and the execution's request id, which ties the entries of the
        group's subscribers for one event together and to the execution's log lines.
        """

        if resolution.body is None or admission is None or self.access is None:
            return resolution.body
        mine = dataclasses.replace(
            admission,
            access=dataclasses.replace(
                admission.access,
                notes=list(resolution.notes),
                refused=list(resolution.refused),
                budget_exceeded=resolution.budget_exceeded,
            ),
        )
        try:
            await self.access.record(
                mine, resolution.data, document=params.query, operation=params.operation_name, trace=resolution.trace,
                request_id=resolution.request_id,
            )
        except AuditUnavailable as exc:
            log.error("subscription event %s withheld, audit log unavailable: %s", resolution.request_id, exc.message)
            raise RequestError(
                exc.status,
                "An event held personal data and could not be recorded in the audit log, so it is withheld "
                "and the subscription ended. Subscribe again later.",
                exc.code,
            ) from None
        return resolution.body

    def _context(
        self, carrier: Carrier, request_id: str, admission: Admission | None, trace: SourceTrace,
        *, changes: Any = None,
    ) -> RequestContext:
        return self.endpoint.request_context(
            carrier, request_id, admission, trace,
            changes=self.changes if changes is None else changes, source_health=self.source_health,
        )

    async def _record_refusal(self, admission: Admission | None, params: GraphQLParams, request_id: str) -> None:
        """A subscription refused on personal data is on the record, as a refused query is."""

        if admission is None or self.access is None or not admission.access.refused:
            return
        await self.access.record(
            admission, None, document=params.query, operation=params.operation_name, trace=SourceTrace(),
            request_id=request_id,
        )

    def _refused(self, errors: Sequence[GraphQLError], request_id: str, *, ran: bool = False) -> Single:
        return Single({"errors": [self.endpoint.format_error(e, request_id) for e in errors]}, refused=not ran)


def client_key(carrier: Carrier, admission: Admission | None) -> str:
    """Whose subscriptions count together: the principal, or an anonymous caller's address."""

    if admission is not None and not admission.principal.is_anonymous:
        return admission.principal.client_id
    return f"ip:{carrier.client.host if carrier.client else '-'}"

