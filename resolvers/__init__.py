"""The vocabulary: one typed graph over every source (Person, Family, Region, School, Student, Agency).

Resolvers ask loaders for entities by key; they never know which source answers.
Types whose data is about one person expose ``data_subject`` (that person's NIK), which
the gateway's audit reads to name whose data an answer disclosed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from graphql import GraphQLEnumType, GraphQLSchema
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from .context import GraphContext, Info
from .cursors import CursorSeal, new_cursor_key
from .entities import CheckedRepresentations
from .errors import InvalidInput
from .loaders import Loaders
from .query import Query
from .scalars import SCALAR_MAP
from .subscription import Subscription
from .truth.types import VALUE_TYPES


class GraphSchema(CheckedRepresentations, strawberry.federation.Schema):
    """The regency graph's schema: an Apollo Federation v2 subgraph (``_service``, ``_entities``,
    ``@key`` on Person, Family, School, Student, Region and Agency), so other portals' routers
    can compose it. Errors are logged by the gateway's error boundary, once."""

    def process_errors(self, errors: object, execution_context: object = None) -> None:
        return None


#: Integrator documentation for what Apollo Federation adds to the schema.
FEDERATION_DESCRIPTIONS = {
    "_Any": (
        "A federation entity representation: `__typename` plus the type's key fields, "
        'e.g. `{"__typename": "Person", "nik": "3503..."}`.'
    ),
    "_Entity": "Every type another graph can reference by key (Apollo Federation).",
    "_Service": "This subgraph's own description, for federation routers.",
    "_Service.sdl": "The subgraph schema in SDL, with its federation directives.",
    "_FieldSet": "A selection of fields naming an entity's key (federation `@key(fields:)`).",
    "Query._entities": (
        "Apollo Federation: the entities named by `representations`, in order; null for a key no source knows. "
        "Batched like every other lookup; the access policy applies to their fields as to root fields."
    ),
    "Query._entities(representations)": "Entity representations: `__typename` and the type's key.",
    "Query._service": "Apollo Federation: this subgraph's SDL, for a router composing the regency graph with others.",
    "link__Purpose": "Why a spec is linked (federation `@link`).",
    "link__Purpose.SECURITY": "The linked spec affects security.",
    "link__Purpose.EXECUTION": "The linked spec affects execution.",
    "link__Import": "An import from a linked spec (federation `@link`).",
}


def _describe_federation(schema: GraphQLSchema) -> None:
    """Give the types and fields strawberry adds for federation the descriptions above (it adds none)."""

    for path, text in FEDERATION_DESCRIPTIONS.items():
        type_name, _, rest = path.partition(".")
        gql_type = schema.type_map.get(type_name)
        if gql_type is None:
            continue
        if not rest:
            gql_type.description = text
        elif "(" in rest:
            field_name, arg = rest.rstrip(")").split("(")
            gql_type.fields[field_name].args[arg].description = text  # type: ignore[union-attr]
        elif isinstance(gql_type, GraphQLEnumType):
            gql_type.values[rest].description = text
        else:
            gql_type.fields[rest].description = text  # type: ignore[union-attr]


def build_schema(extensions: Sequence[Any] = ()) -> GraphSchema:
    """The regency graph's schema, with parse/validation caches and the caller's ``extensions``
    (the gateway adds its query limits and access policy here)."""

    schema = GraphSchema(
        query=Query,
        subscription=Subscription,
        types=VALUE_TYPES,  # a discrepancy's values: no field names them, the interface DiscrepancyValue does
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        federation_version="2.5",
        extensions=[lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256), *extensions],
    )
    _describe_federation(schema._schema)
    return schema


schema = build_schema()

__all__ = ["CursorSeal", "GraphContext", "GraphSchema", "Info", "InvalidInput", "Loaders", "Query", "Subscription", "build_schema", "new_cursor_key", "schema"]
