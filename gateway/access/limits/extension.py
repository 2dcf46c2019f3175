"""The guard inside strawberry's pipeline: tokens before parsing, the rest after validation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

from .guard import QueryGuard


def role_attribute(context: Any) -> str | None:
    """The default way to find the caller's role: ``context.role``, absent meaning anonymous."""

    role = getattr(context, "role", None)
    return role if isinstance(role, str) else None


class QueryLimitsExtension(SchemaExtension):
    """Runs ``QueryGuard`` before execution. Pass a factory, as strawberry asks::

        extensions=[..., lambda: QueryLimitsExtension(guard)]

    A refusal raised here reaches the client as a pre-execution error (no ``data``), with
    the refusal's ``code`` once ``gateway.errors.format_error`` has read ``original_error``.
    Depth, aliases and cost are measured after validation, so a document that is not
    GraphQL or does not fit the schema gets the usual errors instead.
    """

    def __init__(self, guard: QueryGuard, role_of: Callable[[Any], str | None] = role_attribute) -> None:
        super().__init__()
        self.guard = guard
        self.role_of = role_of
        self.cost = 0

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            self.guard.check_source(context.query, self.role_of(context.context))
        yield

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if context.pre_execution_errors or context.graphql_document is None:
            return
        found = self.guard.check_document(
            context.graphql_document,
            self.role_of(context.context),
            variables=context.variables,
            operation_name=context.operation_name,
            # A context that shuffles lists says which (``RequestContext.shuffles``); others shuffle none.
            shuffles=getattr(context.context, "shuffles", None),
        )
        self.cost = found.cost

    async def on_execute(self) -> AsyncIterator[None]:
        # A heavy query waits here for a slot (gate.py), before any of its resolvers runs.
        async with self.guard.gate.admit(self.cost, deadline=getattr(self.execution_context.context, "deadline", None)):
            yield
