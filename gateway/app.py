"""``create_app(settings)``: the Starlette application, with the connector registry's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors import ChangeFeed, ConnectorRegistry
from core import ConfigError
from resolvers import CursorSeal, GraphSchema, build_schema
from resolvers.signals import Parameters as SignalParameters

from .access import AccessControl
from .access.auth import ANONYMOUS, AuthUnavailable, Unauthenticated
from .access.enforcement import guard_fields
from .access.limits import QueryGuard, QueryLimits
from .cors import cors_middleware
from .documents import DocumentSettings, PersistedDocuments
from .errors import error_object
from .events import ChangeEvents
from .graphiql import ASSETS_MOUNT, ExampleQuery, graphiql_page
from .http import GraphQLEndpoint
from .logs import AccessLog
from .metrics import GatewayMetrics
from . import status
from .settings import Example, GatewaySettings
from .subscriptions import ClientSubscriptions, GraphQLOverSSE, GraphQLTransportWS, Operations, SubscriptionSettings
from .subscriptions.feed import SourceStatusNotices, change_feed
from .telemetry import Telemetry, TracingMiddleware

log = logging.getLogger("satudata.gateway")

#: Shown in GraphiQL when the config preloads no examples of its own.
DEFAULT_EXAMPLES = (
    Example(
        title="Agencies and their sources",
        query="query Agencies {\n  agencies {\n    code\n    name\n    sources { name kind system entities }\n  }\n}\n",
    ),
    Example(
        title="Kecamatan of the regency",
        query='query Kecamatan {\n  region(code: "35.03") {\n    name\n    children { code name level }\n  }\n}\n',
    ),
)


def create_app(
    settings: GatewaySettings,
    *,
    schema: GraphSchema | None = None,
    telemetry: Telemetry | None = None,
    changes: ChangeFeed | None = None,
) -> Starlette:
    """Build the gateway. Configuration errors raise ``ConfigError`` here, before serving.

    ``telemetry`` replaces the tracer ``[telemetry]`` would build (tests give one with an
    in-memory exporter). ``changes`` is the change feed subscriptions read from; without one
    the gateway builds its own (``gateway.subscriptions.feed.change_feed``) and closes it at
    shutdown; a feed given here stays the caller's to close."""

    registry = ConnectorRegistry.from_config(
        settings.sources,
        settings.agencies,
        base_dir=settings.base_dir,
        authority=(settings.raw.get("discrepancies") or {}).get("authority"),
    )
    access = AccessControl.from_config(settings.raw, base_dir=settings.base_dir, production=settings.production)
    limits = QueryLimits.from_config(settings.raw.get("limits"))
    persisted = PersistedDocuments.from_settings(
        DocumentSettings.from_config(settings.raw.get("documents"), base_dir=settings.base_dir, roles=access.policy.roles)
    )
    if schema is None:
        schema = build_schema()
    # The guard runs in the endpoint's own pipeline (gateway.http), before each document executes.
    guard = QueryGuard(schema._schema, limits, production=settings.production)
    guard_fields(schema._schema, access.policy)
    if settings.cursor_key is not None:
        cursors = CursorSeal.from_text(settings.cursor_key)
    else:
        cursors = CursorSeal.generate()
        if settings.production:
            log.warning(
                "no [gateway] cursor_key: paging cursors are sealed with a key of this process only, so they end "
                "with it and do not work across replicas; set one made by `satudata keygen-secret`"
            )
    examples = [
        ExampleQuery(title=e.title, query=e.query, variables=e.variables, headers=e.headers)
        for e in (settings.examples or DEFAULT_EXAMPLES)
    ]

    def graphiql(request: Request) -> Response:
        return graphiql_page(endpoint=str(request.url_for("graphql").path), examples=examples, title=settings.title)

    metrics = GatewayMetrics(registry, gate=guard.gate)
    telemetry = Telemetry.from_config(settings.raw.get("telemetry")) if telemetry is None else telemetry
    if telemetry is not None:
        registry.observers.append(telemetry.observe_call)  # a span per source round-trip
    access.refusal_observers.append(metrics.observe_refusal)
    subscriptions = SubscriptionSettings.from_config(settings.raw.get("subscriptions"))
    events = ChangeEvents.from_settings(settings.raw, base_dir=settings.base_dir)
    # A feed given by the caller wins; else the replicas' shared one ([events] nats_url); else our own.
    owns_feed = changes is None and events.feed is None  # the shared feed is closed with its capture
    feed = changes if changes is not None else events.feed or change_feed(subscriptions)
    registry.observe_health(SourceStatusNotices(feed))  # sourceStatus: told by the calls, never polled
    endpoint = GraphQLEndpoint(
        schema,
        lambda: registry,
        max_body_bytes=settings.max_body_bytes,
        request_timeout_s=settings.request_timeout_s,
        graphiql=graphiql if settings.graphiql else None,
        graphiql_authenticated=settings.graphiql == "authenticated",
        on_response=metrics.observe_request,
        access=access,
        cursors=cursors,
        body_read_timeout_s=settings.body_read_timeout_s,
        production=settings.production,
        trace_for_everyone=settings.source_trace == "everyone",
        persisted=persisted,
        guard=guard,
        compiled=settings.compiled_execution,
        projection=settings.projection,
        signals=signal_parameters(settings.raw.get("signals")),
        shuffled_lists=frozenset(settings.shuffled_lists),
    )

    operations = Operations(
        endpoint, changes=feed, source_health=registry.health, clients=ClientSubscriptions(subscriptions.max_per_client)
    )
    graphql_http = GraphQLOverSSE(endpoint, operations, keepalive_s=subscriptions.keepalive_s)
    graphql_ws = GraphQLTransportWS(
        operations, init_timeout_s=subscriptions.init_timeout_s, allowed_origins=tuple(settings.cors_origins or ())
    )
    # The Smart Center screen (/status): reads the graph through `operations`, as its [status] client.
    status_screen, status_routes = status.build(
        settings.raw, registry=registry, operations=operations, access=access, base_dir=settings.base_dir
    )

    async def healthz(request: Request) -> Response:
        """Liveness: the process answers. Says nothing about the sources (see /readyz)."""

        return JSONResponse({"status": "ok", "sources": [s.name for s in registry.sources()]})

    has_policy = "policy" in settings.raw

    async def readyz(request: Request) -> Response:
        """Each source's state as the gateway last saw it; 503 only when every source is down.

        The detail (breakers, last error text) is for operators: callers whose role may
        ``operations``. Everyone else, load balancers included, gets the status alone. A
        gateway without a ``[policy]`` (development only: every field is public) shows all.
        """

        ready = status.readiness(registry.health())
        code = ready.http_status
        if not has_policy:
            return JSONResponse({"status": ready.status, "sources": ready.sources}, status_code=code)
        try:
            principal = await access.authenticator.authenticate(request.headers)
        except Unauthenticated as exc:
            return JSONResponse(
                {"status": ready.status, "errors": [error_object(exc)]}, status_code=exc.status, headers=exc.headers()
            )
        except AuthUnavailable:
            principal = ANONYMOUS
        role = access.policy.roles.get(principal.role)
        if role is None or not role.may("operations"):
            return JSONResponse({"status": ready.status}, status_code=code)
        return JSONResponse({"status": ready.status, "sources": ready.sources}, status_code=code)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A start-up failure (a mapping the source does not have) closes what was opened too.
        try:
            await registry.start()
            await access.start()
            await events.start(feed)  # change capture publishes into the feed subscriptions read
            log.info("gateway ready: sources %s", ", ".join(s.name for s in registry.sources()))
            yield
        finally:
            await status_screen.aclose()  # every open /status stream ends
            await events.aclose()
            if owns_feed:
                await feed.aclose()  # every open subscription ends
            await persisted.aclose()
            await access.aclose()
            await registry.aclose()
            if telemetry is not None:  # export what is left; a reload's retired generation stops its exporter
                await asyncio.to_thread(telemetry.shutdown)

    app = GatewayApp(
        routes=[
            Route("/graphql", graphql_http, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], name="graphql"),
            WebSocketRoute("/graphql", graphql_ws, name="graphql-ws"),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            *events.routes(),  # POST /changes/{source} for sources that push (webhooks)
            *status_routes,  # GET /status, /status/events, /status/static ([status] enabled)
            ASSETS_MOUNT,
        ],
        lifespan=lifespan,
        # Outermost first: the request id and access line, the request's span (only with telemetry on), CORS.
        middleware=[
            Middleware(AccessLog),
            *([Middleware(TracingMiddleware, telemetry=telemetry)] if telemetry is not None else []),
            *([cors_middleware(settings.cors_origins)] if settings.cors_origins else []),
        ],
    )
    app.graphql_lane = graphql_http
    app.state.registry = registry
    app.state.schema = schema
    app.state.guard = guard
    app.state.changes = feed
    return app


class GatewayApp(Starlette):
    """Starlette, with a lane for GraphQL requests: a GET or POST to ``/graphql`` goes through
    the same middleware (the server-error guard, the access line, tracing, CORS) straight to the
    endpoint, past the exception middleware and the router, which would only find the route it
    always finds (about a tenth of a small query's time in-process). Every other request, and
    ``/graphql``'s other methods (a CORS preflight, a 405), takes Starlette's own way.
    """

    #: The ASGI app of ``/graphql`` (set by ``create_app``); ``None``: no lane.
    graphql_lane: ASGIApp | None = None
    _lane_stack: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.graphql_lane is not None
            and scope["type"] == "http"
            and scope["path"] == "/graphql"
            and scope["method"] in ("GET", "POST")
        ):
            stack = self._lane_stack
            if stack is None:
                stack = self._lane_stack = self._build_lane(self.graphql_lane)
            scope["app"] = self
            scope["router"] = self.router  # what the route's endpoint finds there under Starlette (url_for)
            await stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _build_lane(self, endpoint: ASGIApp) -> ASGIApp:
        """``build_middleware_stack`` around ``endpoint``, without the exception middleware (the
        endpoint raises no ``HTTPException``; its refusals are answers) and the router."""

        if getattr(self, "max_body_size", None) is not None:  # a Starlette body limit: keep its whole stack
            return lambda scope, receive, send: Starlette.__call__(self, scope, receive, send)
        handler = self.exception_handlers.get(500) or self.exception_handlers.get(Exception)
        middleware = [Middleware(ServerErrorMiddleware, handler=handler, debug=self.debug), *self.user_middleware]
        app = endpoint
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        return app


def signal_parameters(raw: Any) -> SignalParameters:
    """``[signals.absence]`` as the method's parameters; what the config tree's types cannot say
    (alpha below 1, known statuses) is checked here, naming the table."""

    try:
        return SignalParameters.from_config((raw or {}).get("absence"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"signals.absence: {exc}") from exc
