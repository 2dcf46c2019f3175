"""``create_app(settings)``: the Starlette application, with the connector registry's lifetime."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import ConnectorRegistry
from resolvers import GraphSchema, build_schema

from .graphiql import ASSETS_MOUNT, ExampleQuery, graphiql_page
from .http import GraphQLEndpoint
from .settings import Example, GatewaySettings

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


def create_app(settings: GatewaySettings, *, schema: GraphSchema | None = None) -> Starlette:
    """Build the gateway. Configuration errors raise ``ConfigError`` here, before serving."""

    registry = ConnectorRegistry.from_config(settings.sources, settings.agencies, base_dir=settings.base_dir)
    schema = schema or build_schema()
    examples = [
        ExampleQuery(title=e.title, query=e.query, variables=e.variables)
        for e in (settings.examples or DEFAULT_EXAMPLES)
    ]

    def graphiql(request: Request) -> Response:
        return graphiql_page(endpoint=str(request.url_for("graphql").path), examples=examples, title=settings.title)

    endpoint = GraphQLEndpoint(
        schema,
        lambda: registry,
        max_body_bytes=settings.max_body_bytes,
        graphiql=graphiql if settings.graphiql else None,
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "sources": [s.name for s in registry.sources()]})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await registry.start()
        log.info("gateway ready: sources %s", ", ".join(s.name for s in registry.sources()))
        try:
            yield
        finally:
            await registry.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], name="graphql"),
            Route("/healthz", healthz, methods=["GET"]),
            ASSETS_MOUNT,
        ],
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.schema = schema
    return app
