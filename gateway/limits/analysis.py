"""Measure a parsed document against the schema, before it runs: depth, aliases, cost.

The cost is an estimate of how many values the answer can hold: every field counts 1, and
the fields under a list count once per item the list may return. A list's length is, in order:

1. its own size argument (``first``, ``last``, ``limit``), from a literal or a variable
   (the value sent, else the variable's default), else the argument's schema default,
   else ``ListSizes.connection``;
2. inside a connection (an object-typed field with a size argument, e.g.
   ``schools(first: 50) { edges { node { … } } nodes { … } }``): the connection's size;
3. ``ListSizes.fields["Type.field"]``; for introspection lists, a size taken from the schema;
4. ``ListSizes.default``.

Fragments are expanded (each spread counts again) and memoised, so documents that spread
fragments exponentially are measured in linear time; a fragment cycle counts as nothing
(validation rejects the document anyway). Inline fragments on different types are summed,
which overestimates for unions — erring on the side of refusing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    Undefined,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    value_from_ast_untyped,
)

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class ListSizes:
    """How long the cost estimate assumes lists to be (``[limits]`` in the config)."""

    #: A list field without a size argument and without an entry in ``fields`` (``default_list_size``, default 10).
    default: int = 10
    #: A size argument left out, where the schema gives it no default (``connection_default``, default 20).
    connection: int = 20
    #: Assumed lengths of particular list fields, ``"School.students" = 300`` (``[limits.list_sizes]``).
    fields: Mapping[str, int] = field(default_factory=dict)
    #: Arguments that bound a list's length, looked for in this order.
    arguments: tuple[str, ...] = ("first", "last", "limit")


@dataclass(frozen=True)
class QueryMeasure:
    """What ``measure`` found in the operation that will run."""

    depth: int
    aliases: int
    cost: int


def measure(
    document: DocumentNode,
    schema: GraphQLSchema,
    *,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    sizes: ListSizes = ListSizes(),
) -> QueryMeasure:
    """Depth, aliases and cost of the operation ``operation_name`` selects.

    Works on documents that have not been validated: unknown fields count 1 and their
    sub-selections are still walked. When the operation is ambiguous, the largest measures of
    all operations are returned (the request will be refused for the ambiguity anyway).
    """

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name is not None and op.name.value == operation_name]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walker = _Walker(schema, fragments, sizes, _introspection_sizes(schema))
    depth = aliases = cost = 0
    for op in operations:
        walker.variables = _variable_values(op, variables or {})
        tally = walker.selection_set(op.selection_set, _root_type(schema, op.operation), None)
        depth, aliases, cost = max(depth, tally[0]), max(aliases, tally[1]), max(cost, tally[2])
    return QueryMeasure(depth=depth, aliases=aliases, cost=cost)


def asks_for_introspection(document: DocumentNode) -> bool:
    """Whether ``__schema`` or ``__type`` appears anywhere in the document (``__typename`` does not count)."""

    stack: list[SelectionSetNode] = [
        d.selection_set for d in document.definitions if isinstance(d, (OperationDefinitionNode, FragmentDefinitionNode))
    ]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode) and selection.name.value in INTROSPECTION_FIELDS:
                return True
            selection_set = getattr(selection, "selection_set", None)
            if selection_set is not None:
                stack.append(selection_set)
    return False


#: (depth, aliases, cost) of a selection set.
_Tally = tuple[int, int, int]


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        sizes: ListSizes,
        introspection_sizes: Mapping[str, int],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.sizes = sizes
        self.introspection_sizes = introspection_sizes
        self.variables: dict[str, Any] = {}
        self._memo: dict[tuple[str, int | None], _Tally] = {}
        self._expanding: set[str] = set()

    def selection_set(self, node: SelectionSetNode, parent: GraphQLNamedType | None, page: int | None) -> _Tally:
        depth = aliases = cost = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                tally = self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                tally = self.selection_set(
                    selection.selection_set, self.schema.get_type(condition.name.value) if condition else parent, page
                )
            elif isinstance(selection, FragmentSpreadNode):
                tally = self.fragment(selection.name.value, page)
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            depth, aliases, cost = max(depth, tally[0]), aliases + tally[1], cost + tally[2]
        return depth, aliases, cost

    def fragment(self, name: str, page: int | None) -> _Tally:
        key = (name, page)
        if key in self._memo:
            return self._memo[key]
        definition = self.fragments.get(name)
        if definition is None or name in self._expanding:
            return 0, 0, 0
        # Our own recursion must not be the thing a fragment cycle exhausts.
        self._expanding.add(name)
        try:
            tally = self.selection_set(
                definition.selection_set, self.schema.get_type(definition.type_condition.name.value), page
            )
        finally:
            self._expanding.discard(name)
        self._memo[key] = tally
        return tally

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None) -> _Tally:
        aliases = 1 if node.alias is not None else 0
        if node.selection_set is None:
            return 1, aliases, 1
        definition = self._definition(parent, node.name.value)
        child_type = get_named_type(definition.type) if definition is not None else None
        size = self._size_argument(node, definition)
        if definition is not None and isinstance(get_nullable_type(definition.type), GraphQLList):
            length = size if size is not None else page if page is not None else self._assumed(parent, node.name.value)
            depth, inner_aliases, cost = self.selection_set(node.selection_set, child_type, None)
            return 1 + depth, aliases + inner_aliases, 1 + length * cost
        # An object with a size argument is a connection: its lists are as long as its page.
        depth, inner_aliases, cost = self.selection_set(node.selection_set, child_type, size)
        return 1 + depth, aliases + inner_aliases, 1 + cost

    def _definition(self, parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
        if name == "__typename":
            return TypeNameMetaFieldDef
        if parent is not None and parent is self.schema.query_type:
            if name == "__schema":
                return SchemaMetaFieldDef
            if name == "__type":
                return TypeMetaFieldDef
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return parent.fields.get(name)
        return None

    def _size_argument(self, node: FieldNode, definition: GraphQLField | None) -> int | None:
        if definition is None:
            return None
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        for name in self.sizes.arguments:
            argument = definition.args.get(name)
            if argument is None:
                continue
            value: Any = Undefined
            if name in given:
                literal = given[name]
                if isinstance(literal, VariableNode):
                    value = self.variables.get(literal.name.value, Undefined)
                elif isinstance(literal, IntValueNode):
                    value = int(literal.value)
                else:
                    value = None
            if value is Undefined or value is None:
                value = argument.default_value
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, value)
            # Left out or unreadable (variable coercion will complain): the resolver's own default.
            return self.sizes.connection
        return None

    def _assumed(self, parent: GraphQLNamedType | None, name: str) -> int:
        key = f"{parent.name if parent is not None else '?'}.{name}"
        if key in self.sizes.fields:
            return self.sizes.fields[key]
        return self.introspection_sizes.get(key, self.sizes.default)


def _root_type(schema: GraphQLSchema, operation: OperationType) -> GraphQLObjectType | None:
    return {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation]


def _variable_values(operation: OperationDefinitionNode, sent: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in sent:
            values[name] = sent[name]
        elif definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


@lru_cache(maxsize=8)  # one entry per schema in practice; the schema never changes after start-up
def _introspection_sizes(schema: GraphQLSchema) -> Mapping[str, int]:
    """Introspection lists sized from the schema itself, so introspection is costed like any query.

    Per-type lists take the average over the schema's types: the full introspection query then
    costs about what its answer holds, while ``__type(name:)`` on one type stays cheap.
    """

    types = list(schema.type_map.values())
    fields = [f for t in types if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType)) for f in t.fields.values()]

    def mean(counts: list[int]) -> int:
        return max(1, math.ceil(sum(counts) / len(counts))) if counts else 1

    return {
        "__Schema.types": len(types),
        "__Schema.directives": len(schema.directives),
        "__Type.fields": mean([len(t.fields) for t in types if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType))]),
        "__Type.inputFields": mean([len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)]),
        "__Type.enumValues": mean([len(t.values) for t in types if isinstance(t, GraphQLEnumType)]),
        "__Type.interfaces": mean([len(t.interfaces) for t in types if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType))]),
        "__Type.possibleTypes": mean([len(schema.get_possible_types(t)) for t in types if is_abstract_type(t)]),
        "__Field.args": mean([len(f.args) for f in fields]),
        "__Directive.args": mean([len(d.args) for d in schema.directives]),
    }
