"""What a ``[sources.NAME]`` table may hold, as the connector kinds define it.

The gateway's config tree (``gateway.config_schema``) declares every key of the config file
once; for the sources' tables it needs the kinds' own choices and defaults (pool keys, REST
transports, GraphQL schema modes, mapping transforms and types). They are gathered here, so
that the gateway reads them from the ``connectors`` package, never from one kind's module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .graphql import DEFAULT_LOOKUP_MAX, SCHEMA_MODES
from .graphql import DEFAULT_MAX_PAGES as GRAPHQL_MAX_PAGES
from .mapping import TRANSFORMS, TYPES
from .rest import DEFAULT_MAX_PAGES as REST_MAX_PAGES
from .rest import TRANSPORTS
from .sql import POOL_KEYS


@dataclass(frozen=True)
class SourceOptions:
    """The connector kinds' choices and defaults for the config file's source tables."""

    #: ``[sources.X.entities.E.fields] transform``: the reversible conversions.
    transforms: tuple[str, ...]
    #: ``type``: how a wire value without a type is parsed.
    types: tuple[str, ...]
    #: SQL pool keys: config key -> (SQLAlchemy argument, default, least value).
    sql_pool_keys: Mapping[str, tuple[str, float, float]]
    #: REST: the HTTP clients underneath, and the pages one list may take.
    rest_transports: tuple[str, ...]
    rest_max_pages: int
    #: GraphQL peers: how their schema is read, the pages one list may take, keys per lookup.
    graphql_schema_modes: tuple[str, ...]
    graphql_max_pages: int
    graphql_lookup_max: int


SOURCE_OPTIONS = SourceOptions(
    transforms=tuple(TRANSFORMS),
    types=tuple(TYPES),
    sql_pool_keys=POOL_KEYS,
    rest_transports=tuple(TRANSPORTS),
    rest_max_pages=REST_MAX_PAGES,
    graphql_schema_modes=tuple(SCHEMA_MODES),
    graphql_max_pages=GRAPHQL_MAX_PAGES,
    graphql_lookup_max=DEFAULT_LOOKUP_MAX,
)
