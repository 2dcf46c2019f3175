"""Running a GraphQL document on the regency schema: prepared once per text, run per request.

``prepare(schema, text)`` parses and validates (the work that depends only on the document);
``run(prepared, ...)`` coerces the variables and executes one operation. The caller keeps
prepared documents (the gateway caches them per text, ``gateway.prepared``) so a document sent
a thousand times is parsed and validated once.

``run`` executes with ``resolvers.compiled`` when the operation compiles (plain queries over
object types, lists, fragments, ``@skip``/``@include``) and with graphql-core otherwise
(introspection, unions, mutations); both give the same answers and errors, which a
differential test holds them to. There are no strawberry schema extensions on this path: the
gateway runs its guards itself, before ``run``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    specified_rules,
)
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document

from .compiled import CompiledOperation, compile_operation
from .person import FAMILY_READS, PERSON_READS
from .school import STUDENT_READS
from .projection import READ_ALL, Projection, TypeReads, projection

__all__ = ["NoSuchOperation", "OperationNotAllowed", "PreparedDocument", "prepare", "run"]

#: The types whose objects are built from one entity's records, with what each of their fields reads.
DECLARED_READS: tuple[TypeReads, ...] = (PERSON_READS, FAMILY_READS, STUDENT_READS)


class NoSuchOperation(Exception):
    """The document has no operation of that name, or several and no name was given."""

    def __init__(self, operation_name: str | None) -> None:
        super().__init__(operation_name)
        self.operation_name = operation_name


class OperationNotAllowed(Exception):
    """The operation's type (e.g. a mutation over GET) is not allowed for this request."""

    def __init__(self, operation_type: OperationType) -> None:
        super().__init__(operation_type.value)
        self.operation_type = operation_type


@dataclass
class PreparedDocument:
    """A document parsed and validated against one schema, or the errors that stop it running."""

    text: str
    document: DocumentNode | None
    #: Syntax or validation errors: a document with any never runs.
    errors: tuple[GraphQLError, ...]
    operations: Mapping[str | None, OperationDefinitionNode] = field(default_factory=dict)
    #: What the document reads of each entity (``resolvers.projection``); the loaders ask no more.
    projection: Projection = READ_ALL
    #: Compiled plans per operation name (``None`` when the operation does not compile).
    _plans: dict[str | None, CompiledOperation | None] = field(default_factory=dict, repr=False)

    def operation(self, name: str | None) -> OperationDefinitionNode:
        """The operation ``name`` selects: the named one, or the only one when no name is given."""

        if name is not None:
            found = self.operations.get(name)
        elif len(self.operations) == 1:
            found = next(iter(self.operations.values()))
        else:
            found = None
        if found is None:
            raise NoSuchOperation(name)
        return found


def prepare(schema: Any, text: str) -> PreparedDocument:
    """Parse and validate ``text`` against ``schema`` (a strawberry schema) once; the caller has
    bounded its size (the gateway counts its tokens first)."""

    try:
        document = parse(text)
    except GraphQLError as error:
        return PreparedDocument(text, None, (error,))
    errors = validate_document(schema._schema, document, tuple(specified_rules))
    operations: dict[str | None, OperationDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            operations[definition.name.value if definition.name else None] = definition
    if errors:
        return PreparedDocument(text, document, tuple(errors), operations)
    return PreparedDocument(text, document, (), operations, projection(schema._schema, document, DECLARED_READS))


async def run(
    schema: Any,
    prepared: PreparedDocument,
    *,
    variables: Mapping[str, Any] | None,
    context: Any,
    operation_name: str | None = None,
    allowed: Iterable[OperationType] = (OperationType.QUERY, OperationType.MUTATION),
    compiled: bool = True,
) -> ExecutionResult:
    """Execute the selected operation of a valid ``prepared`` document.

    Raises ``NoSuchOperation`` and ``OperationNotAllowed`` before anything runs; variable
    coercion errors come back as a result with no ``data`` (as graphql-core gives them).
    ``compiled=False`` forces graphql-core's executor (the differential test compares both).
    """

    assert prepared.document is not None and not prepared.errors, "run() takes a valid document"
    operation = prepared.operation(operation_name)
    if operation.operation not in allowed:
        raise OperationNotAllowed(operation.operation)
    if compiled:
        key = operation.name.value if operation.name else None
        if key not in prepared._plans:
            prepared._plans[key] = compile_operation(schema._schema, prepared.document, operation)
        plan = prepared._plans[key]
        if plan is not None:
            return await plan.execute(variables=variables or {}, context=context)
    result = execute(
        schema._schema,
        prepared.document,
        variable_values=variables,
        operation_name=operation_name,
        context_value=context,
        is_awaitable=optimized_is_awaitable,
        executor_class=StrawberryGraphQLCoreExecutionContext,
    )
    if not isinstance(result, ExecutionResult):
        result = await result
    return result
