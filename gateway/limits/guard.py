"""``QueryGuard``: the abuse limits every query passes before any source is asked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import DocumentNode, GraphQLSchema

from .analysis import QueryMeasure, asks_for_introspection, measure
from .budget import QueryLimits
from .gate import HeavyQueryGate
from .errors import IntrospectionDisabled, QueryTooCostly, QueryTooDeep, QueryTooLarge, TooManyAliases, TooManyRepresentations
from .tokens import count_tokens

#: The role of a client that presented no credentials.
ANONYMOUS = "anonymous"


def introspection_allowed(role: str | None, production: bool) -> bool:
    """Anonymous clients (no role, or ``anonymous``) may not introspect in production.

    Outside production everyone may (GraphiQL needs it). ``__typename`` is never restricted:
    clients need it to read unions, and it reveals nothing the answer does not.
    """

    return not production or (role is not None and role != ANONYMOUS)


class QueryGuard:
    """Checks a request against its role's budget; built once per app, shared by all requests.

    Two steps, because the first must run before the document is parsed::

        guard.check_source(query, role)                # QUERY_TOO_LARGE
        document = parse(query)                        # strawberry does this
        guard.check_document(document, role, ...)      # INTROSPECTION_DISABLED, QUERY_TOO_DEEP,
                                                       # TOO_MANY_ALIASES, TOO_MANY_REPRESENTATIONS,
                                                       # QUERY_TOO_COSTLY

    ``QueryLimitsExtension`` runs both inside strawberry's pipeline. Each refusal raises a
    ``SatudataError`` subclass whose ``code`` ``gateway.errors.format_error`` passes on.
    """

    def __init__(self, schema: GraphQLSchema, limits: QueryLimits, *, production: bool) -> None:
        self.schema = schema
        self.limits = limits
        self.production = production
        #: Where heavy queries wait for a slot before they execute (this process's only).
        self.gate = HeavyQueryGate(heavy_cost=limits.heavy_cost, concurrency=limits.heavy_concurrency)

    def check_source(self, query: str, role: str | None) -> None:
        """Refuse a document with more tokens than the role's ``max_tokens``, without parsing it."""

        limit = self.limits.budget(role).max_tokens
        tokens = count_tokens(query, stop_after=limit)
        if tokens > limit:
            raise QueryTooLarge(limit=limit, measured=tokens)

    def check_document(
        self,
        document: DocumentNode,
        role: str | None,
        *,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> QueryMeasure:
        """Refuse introspection the role may not do, then depth, aliases, representations and cost over budget.

        ``variables`` are the ones sent, uncoerced: the estimate coerces them as the executor will.

        Returns what was measured, for logs and metrics.
        """

        if not introspection_allowed(role, self.production) and asks_for_introspection(document):
            raise IntrospectionDisabled()
        budget = self.limits.budget(role)
        found = measure(document, self.schema, variables=variables, operation_name=operation_name, sizes=self.limits.sizes)
        if found.depth > budget.max_depth:
            raise QueryTooDeep(limit=budget.max_depth, measured=found.depth)
        if found.aliases > budget.max_aliases:
            raise TooManyAliases(limit=budget.max_aliases, measured=found.aliases)
        # Before the cost: an enumeration by `_entities` is also costly, and this says what to change.
        if found.representations > budget.max_representations:
            raise TooManyRepresentations(limit=budget.max_representations, measured=found.representations)
        if found.cost > budget.max_cost:
            raise QueryTooCostly(limit=budget.max_cost, measured=found.cost)
        return found
