"""Abuse limits checked before any source is touched: tokens, depth, aliases, representations, cost, introspection.

``QueryLimits.from_config(raw["limits"])`` reads the budgets, ``QueryGuard`` applies them, and
The gateway's endpoint runs the guard before each document executes; ``QueryLimitsExtension`` runs it inside
strawberry's pipeline for a schema served on its own. ``analysis`` holds the pure measures.
"""

from .analysis import ListSize, ListSizes, QueryMeasure, asks_for_introspection, measure
from .budget import Budget, QueryLimits
from .errors import (
    IntrospectionDisabled,
    LimitExceeded,
    QueryTooCostly,
    QueryTooDeep,
    QueryTooLarge,
    TooManyAliases,
    TooManyRepresentations,
)
from .gate import GatewayBusy, HeavyQueryGate
from .extension import QueryLimitsExtension, role_attribute
from .guard import QueryGuard, introspection_allowed
from .tokens import count_tokens

__all__ = [
    "Budget",
    "GatewayBusy",
    "HeavyQueryGate",
    "IntrospectionDisabled",
    "LimitExceeded",
    "ListSize",
    "ListSizes",
    "QueryGuard",
    "QueryLimits",
    "QueryLimitsExtension",
    "QueryMeasure",
    "QueryTooCostly",
    "QueryTooDeep",
    "QueryTooLarge",
    "TooManyAliases",
    "TooManyRepresentations",
    "asks_for_introspection",
    "count_tokens",
    "introspection_allowed",
    "measure",
    "role_attribute",
]
