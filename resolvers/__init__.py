"""The vocabulary: one typed graph over every source (Person, Family, Region, School, Student, Agency).

Resolvers ask loaders for entities by key; they never know which source answers.
Types whose data is about one person expose ``data_subject`` (that person's NIK), which
the gateway's audit reads to name whose data an answer disclosed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from .context import GraphContext, Info
from .errors import InvalidInput
from .loaders import Loaders
from .query import Query
from .scalars import SCALAR_MAP


class GraphSchema(strawberry.Schema):
    """The regency graph's schema. Errors are logged by the gateway's error boundary, once."""

    def process_errors(self, errors: object, execution_context: object = None) -> None:
        return None


def build_schema(extensions: Sequence[Any] = ()) -> GraphSchema:
    """The regency graph's schema, with parse/validation caches and the caller's ``extensions``
    (the gateway adds its query limits and access policy here)."""

    return GraphSchema(
        query=Query,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256), *extensions],
    )


schema = build_schema()

__all__ = ["GraphContext", "GraphSchema", "Info", "InvalidInput", "Loaders", "Query", "build_schema", "schema"]
