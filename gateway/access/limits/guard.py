"""``QueryGuard``: the abuse limits every query passes before any source is asked."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from graphql import DocumentNode, GraphQLSchema

from ..auth import ANONYMOUS
from .analysis import QueryMeasure, asks_for_introspection, measure
from .budget import QueryLimits
from .gate import HeavyQueryGate
from .errors import IntrospectionDisabled, QueryTooCostly, QueryTooDeep, QueryTooLarge, TooManyAliases, TooManyRepresentations
from .tokens import count_tokens

if TYPE_CHECKING:
    from ...prepared import PreparedEntry

def introspection_allowed(role: str | None, production: bool) -> bool:
    """Anonymous clients (no role, or ``anonymous``) may not introspect in production.

    Outside production everyone may (GraphiQL needs it). ``__typename`` is never restricted:
    clients need it to read unions, and it reveals nothing the answer does not.
    """

    return not production or (role is not None and role != ANONYMOUS.role)


class QueryGuard:
    """Checks a request against its role's budget; built once per app, shared by all requests.

    Two steps, because the first must run before the document is parsed::

        guard.check_source(query, role)                # QUERY_TOO_LARGE
        document = parse(query)                        # strawberry does this
        guard.check_document(document, role, ...)      # INTROSPECTION_DISABLED, QUERY_TOO_DEEP,
                                                       # TOO_MANY_ALIASES, TOO_MANY_REPRESENTATIONS,
                                                       # QUERY_TOO_COSTLY

    The gateway's endpoint (``gateway.http``) runs them on each request, with ``check_tokens`` and
    ``check_prepared`` for a document prepared before (``gateway.prepared``); ``QueryLimitsExtension``
    runs them inside strawberry's own pipeline, for a schema served without the gateway. Each refusal raises a
    ``SatudataError`` subclass whose ``code`` ``gateway.errors.format_error`` passes on.

    ``shuffles`` tells, for a ``Type.key`` (``Person.nik``), whether this request's lists by it
    are shuffled (``gateway.context.shuffles_list``): a list read shuffled without a narrowing
    condition is a scan of its source (``scans``), whose whole length is added to the cost
    (``heavy_cost`` when ``[limits.list_sizes]`` does not give it) and which makes the query heavy.
    A field that walks its sources whole in any order (the discrepancy report: ``scans.WALKS``)
    is such a scan for every caller, ``shuffles`` or not.
    """

    def __init__(self, schema: GraphQLSchema, limits: QueryLimits, *, production: bool) -> None:
        self.schema = schema
        self.limits = limits
        self.production = production
        #: Where heavy queries wait for a slot before they execute (this process's only).
        self.gate = HeavyQueryGate(heavy_cost=limits.heavy_cost, concurrency=limits.heavy_concurrency)

    def check_source(self, query: str, role: str | None) -> int:
        """Refuse a document with more tokens than the role's ``max_tokens``, without parsing it;
        return its token count."""

        limit = self.limits.budget(role).max_tokens
        tokens = count_tokens(query, stop_after=limit)
        if tokens > limit:
            raise QueryTooLarge(limit=limit, measured=tokens)
        return tokens

    def check_tokens(self, tokens: int, role: str | None) -> None:
        """``check_source`` for a document whose tokens were counted before (a prepared one)."""

        limit = self.limits.budget(role).max_tokens
        if tokens > limit:
            raise QueryTooLarge(limit=limit, measured=tokens)

    def check_prepared(
        self,
        entry: PreparedEntry,
        role: str | None,
        *,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        shuffles: Callable[[str], bool] | None = None,
    ) -> QueryMeasure:
        """``check_document`` on a prepared document, its estimate cached in the entry.

        An estimate depends on the document and on the values of the variables it read (list
        sizes, spans, representations, narrowing filters), never on the role: a cached one gets
        this request's scans (``shuffles``) and is compared with this role's budget like a fresh one.
        """

        document = entry.prepared.document
        assert document is not None
        if entry.introspection is None:
            entry.introspection = asks_for_introspection(document)
        if entry.introspection and not introspection_allowed(role, self.production):
            raise IntrospectionDisabled()
        sent = variables or {}
        reads = entry.reads.get(operation_name)
        if reads is not None:
            found = entry.measures.get(_measure_key(operation_name, reads, sent))
            if found is not None:
                return self._within_budget(self._scanned(found, shuffles), role)
        found = measure(document, self.schema, variables=sent, operation_name=operation_name, sizes=self.limits.sizes)
        reads = entry.reads[operation_name] = tuple(sorted(found.reads))
        key = _measure_key(operation_name, reads, sent)
        if len(entry.measures) >= self.MAX_MEASURES:
            entry.measures.pop(next(iter(entry.measures)))
        entry.measures[key] = found
        return self._within_budget(self._scanned(found, shuffles), role)

    #: Estimates kept per prepared document (distinct values of its size variables).
    MAX_MEASURES = 64

    def check_document(
        self,
        document: DocumentNode,
        role: str | None,
        *,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        shuffles: Callable[[str], bool] | None = None,
    ) -> QueryMeasure:
        """Refuse introspection the role may not do, then depth, aliases, representations and cost over budget.

        ``variables`` are the ones sent, uncoerced: the estimate coerces them as the executor will.
        ``shuffles``: whether the request's lists by a ``Type.key`` are shuffled (``None``: none are).

        Returns what was measured, for logs and metrics.
        """

        if not introspection_allowed(role, self.production) and asks_for_introspection(document):
            raise IntrospectionDisabled()
        found = measure(document, self.schema, variables=variables, operation_name=operation_name, sizes=self.limits.sizes)
        return self._within_budget(self._scanned(found, shuffles), role)

    def _scanned(self, found: QueryMeasure, shuffles: Callable[[str], bool] | None) -> QueryMeasure:
        """``found`` with the scans this request makes (its lists by their key shuffled) in its cost.

        A scan costs the whole list's length each time it is read (``heavy_cost`` when not
        configured: the gateway does not know how long the list is), and the query costs at least
        ``heavy_cost``: a full sort at the source per request takes a heavy-query slot.
        """

        if not found.scans:
            return found
        extra = 0.0
        scanned: list[str] = []
        for scan in found.scans:
            # A walk (no key) scans whatever the order; a list, only where this caller gets it shuffled.
            if scan.times > 0 and (scan.key is None or (shuffles is not None and shuffles(scan.key))):
                extra += scan.times * (scan.rows if scan.rows is not None else self.limits.heavy_cost)
                scanned.append(scan.field)
        if not scanned:
            return found
        cost = max(math.ceil(found.cost + extra), self.limits.heavy_cost)
        return replace(found, cost=cost, scanned=tuple(scanned))

    def _within_budget(self, found: QueryMeasure, role: str | None) -> QueryMeasure:
        budget = self.limits.budget(role)
        if found.depth > budget.max_depth:
            raise QueryTooDeep(limit=budget.max_depth, measured=found.depth)
        if found.aliases > budget.max_aliases:
            raise TooManyAliases(limit=budget.max_aliases, measured=found.aliases)
        # Before the cost: an enumeration by `_entities` is also costly, and this says what to change.
        if found.representations > budget.max_representations:
            raise TooManyRepresentations(limit=budget.max_representations, measured=found.representations)
        if found.cost > budget.max_cost:
            raise QueryTooCostly(limit=budget.max_cost, measured=found.cost, scanned=found.scanned)
        return found


def _measure_key(operation_name: str | None, reads: tuple[str, ...], sent: Mapping[str, Any]) -> tuple[str | None, bytes]:
    # Left out and null differ: a left-out variable takes its default, null does not.
    values = [[name in sent, sent.get(name)] for name in reads]
    return operation_name, orjson.dumps(values, default=str, option=orjson.OPT_SORT_KEYS)
