"""Measure a parsed document against the schema, before it runs: depth, aliases, cost.

The cost is an estimate of how many values the answer can hold: every field counts 1, and
the fields under a list count once per item the list may return. Arguments are read as the
executor will see them: variables and literals coerced by graphql-core against the schema
(``first: 100.0`` sent as a variable is the Int 100), left-out arguments at their schema
default. A list's length is, in order:

1. its own size argument (``first``, ``last``, ``limit``), else ``ListSizes.connection``
   when the argument has no value at all;
2. inside a connection (an object-typed field with a size argument, e.g.
   ``schools(first: 50) { edges { node { … } } nodes { … } }``): the connection's size;
3. ``_entities(representations:)``: one item per representation, each costing the selection
   that applies to its ``__typename`` (``... on Person { … }``); ``QueryMeasure.representations``
   counts them for ``[limits] max_representations``;
4. ``ListSizes.fields["Type.field"]``: a fixed length, or a ``ListSize`` spanning two of the
   field's arguments (``School.attendance(from:, to:)``: one item per day of the window);
   for introspection lists, a size taken from the schema;
5. ``ListSizes.default``.

A list its source sorts whole when it is shuffled (``persons`` without a kecamatan or desa
filter: ``scans``), or a field that walks its sources whole in any order (the discrepancy
report), is also recorded, with how many times it is read and the whole list's length
(``ListSizes.fields``, by the list's name); whether it counts, and what, depends on who asks, so
``QueryGuard`` adds it (``QueryMeasure.scans``).

Fragments are expanded (each spread counts again) and memoised, so documents that spread
fragments exponentially are measured in linear time; a fragment cycle counts as nothing
(validation rejects the document anyway). Inline fragments on different types are summed,
which overestimates for unions — erring on the side of refusing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from operator import add
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
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
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from resolvers.arguments import representation_typename

from .scans import REGION, REGION_BY_CODE, SCANS, region_level

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})

#: Apollo Federation's entry point and the argument that names the entities it returns.
ENTITIES_FIELD = "_entities"
REPRESENTATIONS_ARGUMENT = "representations"


@dataclass(frozen=True)
class ListSize:
    """How long one list field is assumed to be (a value of ``[limits.list_sizes]``).

    ``"Family.members" = 8`` is ``ListSize(each=8)``: a fixed length. A table spans two of the
    field's arguments, ``"School.attendance" = { each = 1, from = "from", to = "to", most = 98 }``:
    ``each`` items per step from one to the other, inclusive (days between two ``Date``s, the
    difference between two ``Int``s; none when ``to`` is before ``from``), at most ``most``.
    """

    #: Items in all, or items per step of the span.
    each: float
    #: The arguments (``from``, ``to``) whose distance is the number of steps; ``None``: a fixed length.
    span: tuple[str, str] | None = None
    #: At most this many items, whatever the span (the source holds no more); ``None``: no cap.
    most: float | None = None

    def length(self, arguments: Mapping[str, Any]) -> float | None:
        """The assumed length for these (coerced) arguments; ``None`` when a span's ends are unreadable."""

        if self.span is None:
            return self.each
        steps = _steps(arguments.get(self.span[0]), arguments.get(self.span[1]))
        if steps is None:
            return self.most
        items = self.each * steps
        return items if self.most is None else min(items, self.most)


def _steps(start: Any, end: Any) -> int | None:
    if isinstance(start, date) and isinstance(end, date):
        return max(0, (end - start).days + 1)
    if isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool) and not isinstance(end, bool):
        return max(0, end - start + 1)
    return None


@dataclass(frozen=True)
class ListSizes:
    """How long the cost estimate assumes lists to be (``[limits]`` in the config)."""

    #: A list field without a size argument and without an entry in ``fields`` (``default_list_size``, default 10).
    default: int = 10
    #: A size argument left out, where the schema gives it no default (``connection_default``, default 20).
    connection: int = 20
    #: Assumed lengths of particular list fields, ``"School.students" = 300`` (``[limits.list_sizes]``);
    #: a number is a fixed length, a ``ListSize`` may span two arguments.
    fields: Mapping[str, float | ListSize] = field(default_factory=dict)
    #: Arguments that bound a list's length, looked for in this order.
    arguments: tuple[str, ...] = ("first", "last", "limit")


@dataclass(frozen=True)
class ScanRead:
    """A list the operation reads that its source sorts whole when shuffled (``scans.SCANS``)."""

    #: ``Type.field`` of the list (``Query.persons``).
    field: str
    #: ``Type.key`` whose reading decides whether it is shuffled (``Person.nik``); ``None``: a walk of
    #: its sources in any order (the discrepancy report), a scan for every caller.
    key: str | None
    #: How many times it is read: the lengths of the lists it hangs under, multiplied.
    times: float
    #: The whole list's length (``[limits.list_sizes]``, by ``field``); ``None``: not configured.
    rows: float | None


@dataclass(frozen=True)
class QueryMeasure:
    """What ``measure`` found in the operation that will run."""

    depth: int
    aliases: int
    cost: int
    #: Entity representations sent to ``_entities`` (all of its fields, fragments expanded).
    representations: int = 0
    #: The variables the estimate read (list sizes, spans, representations): another request
    #: with the same document and the same values of these has the same measure.
    reads: frozenset[str] = frozenset()
    #: Lists read without a narrowing condition that are scans of their source when shuffled;
    #: the same for every role (``QueryGuard`` counts those shuffled for the caller).
    scans: tuple[ScanRead, ...] = ()
    #: ``scans`` that were shuffled for the caller and counted in ``cost`` (set by ``QueryGuard``).
    scanned: tuple[str, ...] = ()


def measure(
    document: DocumentNode,
    schema: GraphQLSchema,
    *,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    sizes: ListSizes = ListSizes(),
) -> QueryMeasure:
    """Depth, aliases, cost and representations of the operation ``operation_name`` selects.

    Works on documents that have not been validated: unknown fields count 1 and their
    sub-selections are still walked. When the operation is ambiguous, the largest measures of
    all operations are returned (the request will be refused for the ambiguity anyway).
    """

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name is not None and op.name.value == operation_name]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    found = _Tally()
    reads: set[str] = set()
    for op in operations:
        coerced = _coerced_variables(schema, op, variables or {})
        if coerced is None:
            # Read at their defaults because these do not coerce: the measure depends on all of them.
            reads.update(d.variable.name.value for d in op.variable_definitions or ())
        walker = _Walker(schema, fragments, sizes, _introspection_sizes(schema), coerced)
        found = found.widest(walker.selection_set(op.selection_set, _root_type(schema, op.operation), None))
        reads |= walker.reads
    return QueryMeasure(
        depth=found.depth,
        aliases=found.aliases,
        cost=math.ceil(found.cost),
        representations=found.representations,
        reads=frozenset(reads),
        scans=tuple(
            ScanRead(name, SCANS[name].key, times, _whole_length(sizes.fields.get(name))) for name, times in found.scans
        ),
    )


def _whole_length(configured: float | ListSize | None) -> float | None:
    if isinstance(configured, ListSize):
        return configured.most if configured.span is not None else configured.each
    return configured


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


@dataclass(frozen=True)
class _Tally:
    """The measures of a selection set, as one item of its parent sees them."""

    depth: int = 0
    aliases: int = 0
    cost: float = 0
    representations: int = 0
    #: (``Type.field``, times read) of the scans under it (``ScanRead``), each field once.
    scans: tuple[tuple[str, float], ...] = ()

    def plus(self, other: _Tally) -> _Tally:
        """Two selections side by side."""

        return _Tally(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.cost + other.cost,
            self.representations + other.representations,
            _merged(self.scans, other.scans, add),
        )

    def widest(self, other: _Tally) -> _Tally:
        return _Tally(
            max(self.depth, other.depth),
            max(self.aliases, other.aliases),
            max(self.cost, other.cost),
            max(self.representations, other.representations),
            _merged(self.scans, other.scans, max),
        )


def _merged(
    one: tuple[tuple[str, float], ...], other: tuple[tuple[str, float], ...], combine: Callable[[float, float], float]
) -> tuple[tuple[str, float], ...]:
    if not other:
        return one
    if not one:
        return other
    times = dict(one)
    for name, n in other:
        times[name] = combine(times[name], n) if name in times else n
    return tuple(times.items())


def _times(scans: tuple[tuple[str, float], ...], length: float) -> tuple[tuple[str, float], ...]:
    """The scans of one item, for a list of ``length`` items."""

    return tuple((name, n * length) for name, n in scans) if scans else scans


class _Walker:
    """Walks one operation; fragments are memoised per (name, page, runtime type, region level)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        sizes: ListSizes,
        introspection_sizes: Mapping[str, int],
        variables: VariableValues | None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.sizes = sizes
        self.introspection_sizes = introspection_sizes
        self.variables = variables
        self._memo: dict[tuple[str, int | None, str | None, _Level], _Tally] = {}
        self._expanding: set[str] = set()
        #: Variables inside the arguments the estimate reads (sizes, spans, representations).
        self.reads: set[str] = set()

    def selection_set(
        self,
        node: SelectionSetNode,
        parent: GraphQLNamedType | None,
        page: int | None,
        runtime: GraphQLObjectType | None = None,
        level: _Level = None,
    ) -> _Tally:
        """``runtime``: the concrete type the items will have, so fragments on other types count nothing.
        ``level``: for a region, its level as far as the document tells (``scans.region_level``)."""

        tally = _Tally()
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                tally = tally.plus(self.field(selection, parent, page, level))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self.schema.get_type(condition.name.value) if condition else parent
                if self._applies(on, runtime):
                    tally = tally.plus(self.selection_set(selection.selection_set, on, page, runtime, level))
            elif isinstance(selection, FragmentSpreadNode):
                tally = tally.plus(self.fragment(selection.name.value, page, runtime, level))
        return tally

    def fragment(self, name: str, page: int | None, runtime: GraphQLObjectType | None, level: _Level = None) -> _Tally:
        key = (name, page, runtime.name if runtime is not None else None, level)
        if key in self._memo:
            return self._memo[key]
        definition = self.fragments.get(name)
        if definition is None or name in self._expanding:
            return _Tally()
        on = self.schema.get_type(definition.type_condition.name.value)
        if not self._applies(on, runtime):
            return _Tally()
        # Our own recursion must not be the thing a fragment cycle exhausts.
        self._expanding.add(name)
        try:
            tally = self.selection_set(definition.selection_set, on, page, runtime, level)
        finally:
            self._expanding.discard(name)
        self._memo[key] = tally
        return tally

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None, level: _Level = None) -> _Tally:
        aliases = 1 if node.alias is not None else 0
        definition = self._definition(parent, node.name.value)
        if node.selection_set is None:
            return _Tally(1, aliases, 1)
        child_type = get_named_type(definition.type) if definition is not None else None
        arguments = self._arguments(node, definition)
        self._note_reads(node, parent)
        if definition is not None and node.name.value == ENTITIES_FIELD and parent is self.schema.query_type:
            return self._entities(node, child_type, arguments, aliases)
        name = f"{parent.name if parent is not None else '?'}.{node.name.value}"
        is_region = child_type is not None and child_type.name == REGION
        child_level = self._region_level(node, name, arguments, level) if is_region else None
        scanned = self._scan(node, name, arguments, level)
        size = self._size_argument(arguments, definition)
        if definition is not None and isinstance(get_nullable_type(definition.type), GraphQLList):
            length = size if size is not None else page if page is not None else self._assumed(parent, node.name.value, arguments)
            inner = self.selection_set(node.selection_set, child_type, None, None, child_level)
            return _Tally(
                1 + inner.depth, aliases + inner.aliases, 1 + length * inner.cost, inner.representations,
                _merged(scanned, _times(inner.scans, length), add),
            )
        # An object with a size argument is a connection: its lists are as long as its page.
        inner = self.selection_set(node.selection_set, child_type, size, None, child_level)
        return _Tally(
            1 + inner.depth, aliases + inner.aliases, 1 + inner.cost, inner.representations,
            _merged(scanned, inner.scans, add),
        )

    def _scan(
        self, node: FieldNode, name: str, arguments: Mapping[str, Any], level: _Level
    ) -> tuple[tuple[str, float], ...]:
        """``((name, 1),)`` when this field is a list its source sorts whole if shuffled (``scans``)."""

        scan = SCANS.get(name)
        if scan is None:
            return ()
        parts, read = level if level is not None else (None, frozenset())
        # The estimate now depends on what decided the region's level and on the narrowing arguments.
        self.reads |= read
        for argument in node.arguments or ():
            if argument.name.value in scan.arguments:
                self.reads.update(_variables_in(argument.value))
        return () if scan.narrow(arguments, parts) else ((name, 1.0),)

    def _region_level(self, node: FieldNode, name: str, arguments: Mapping[str, Any], level: _Level) -> _Level:
        """The level of the region(s) the field gives, with the variables that decided it."""

        parts, read = level if level is not None else (None, frozenset())
        if name == REGION_BY_CODE[0]:
            read = frozenset(
                v for a in node.arguments or () if a.name.value == REGION_BY_CODE[1] for v in _variables_in(a.value)
            )
        return (region_level(name, arguments, parts), read)

    def _entities(
        self, node: FieldNode, union: GraphQLNamedType | None, arguments: Mapping[str, Any], aliases: int
    ) -> _Tally:
        """``_entities``: each representation is one item, costing what its ``__typename`` selects."""

        assert node.selection_set is not None
        everything = self.selection_set(node.selection_set, union, None)
        representations = arguments.get(REPRESENTATIONS_ARGUMENT)
        if not isinstance(representations, list):
            # Not coercible: the field is refused when it runs, and nothing under it is resolved.
            return _Tally(1 + everything.depth, aliases + everything.aliases, 1, everything.representations)
        # A representation is any JSON value: only a string __typename names a type (and hashes).
        typenames = Counter(representation_typename(r) for r in representations)
        cost: float = 1
        scans: tuple[tuple[str, float], ...] = ()
        for typename, count in typenames.items():
            runtime = self.schema.get_type(typename) if isinstance(typename, str) else None
            if isinstance(runtime, GraphQLObjectType) and self._applies(union, runtime):
                # A region's level is not read from its representation: its lists count as broad.
                one = self.selection_set(node.selection_set, union, None, runtime)
                cost += count * one.cost
                scans = _merged(scans, _times(one.scans, count), add)
            else:
                cost += count  # a null (and an error) in the list
        return _Tally(
            1 + everything.depth,
            aliases + everything.aliases,
            cost,
            everything.representations + len(representations),
            scans,
        )

    def _note_reads(self, node: FieldNode, parent: GraphQLNamedType | None) -> None:
        """Remember the variables in the arguments the estimate can read of this field."""

        if not node.arguments:
            return
        read = set(self.sizes.arguments) | {REPRESENTATIONS_ARGUMENT}
        configured = self.sizes.fields.get(f"{parent.name if parent is not None else '?'}.{node.name.value}")
        if isinstance(configured, ListSize) and configured.span is not None:
            read.update(configured.span)
        for argument in node.arguments:
            if argument.name.value in read:
                self.reads.update(_variables_in(argument.value))

    def _applies(self, condition: GraphQLNamedType | None, runtime: GraphQLObjectType | None) -> bool:
        if runtime is None or condition is None or condition is runtime:
            return True
        return is_abstract_type(condition) and self.schema.is_sub_type(condition, runtime)  # type: ignore[arg-type]

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

    def _arguments(self, node: FieldNode, definition: GraphQLField | None) -> Mapping[str, Any]:
        """The field's arguments as the executor will coerce them, schema defaults filled in."""

        if definition is None or not definition.args:
            return {}
        try:
            return get_argument_values(definition, node, self.variables)
        except (GraphQLError, TypeError, ValueError):
            # The executor fails on the same arguments and resolves nothing under the field, so
            # what follows from defaults can only overestimate.
            return {name: arg.default_value for name, arg in definition.args.items() if _has_value(arg.default_value)}

    def _size_argument(self, arguments: Mapping[str, Any], definition: GraphQLField | None) -> int | None:
        if definition is None:
            return None
        for name in self.sizes.arguments:
            if name not in definition.args:
                continue
            value = arguments.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, value)
            # Left out without a schema default, or null: the resolver's own default.
            return self.sizes.connection
        return None

    def _assumed(self, parent: GraphQLNamedType | None, name: str, arguments: Mapping[str, Any]) -> float:
        key = f"{parent.name if parent is not None else '?'}.{name}"
        configured = self.sizes.fields.get(key)
        if isinstance(configured, ListSize):
            length = configured.length(arguments)
            return self.sizes.default if length is None else length
        if configured is not None:
            return configured
        return self.introspection_sizes.get(key, self.sizes.default)


#: A region's level (code parts, ``None``: not known) and the variables that decided it; ``None``
#: for anything but a region.
_Level = tuple[int | None, frozenset[str]] | None


def _variables_in(value: Any) -> set[str]:
    """Names of the variables used in an argument's value (at any depth of lists and objects)."""

    if isinstance(value, VariableNode):
        return {value.name.value}
    found: set[str] = set()
    for inner in getattr(value, "values", None) or ():
        found |= _variables_in(inner)
    for inner in getattr(value, "fields", None) or ():
        found |= _variables_in(inner.value)
    return found


def _has_value(value: Any) -> bool:
    return value is not Undefined


def _root_type(schema: GraphQLSchema, operation: OperationType) -> GraphQLObjectType | None:
    return {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation]


def _coerced_variables(schema: GraphQLSchema, operation: OperationDefinitionNode, sent: Mapping[str, Any]) -> VariableValues | None:
    """The operation's variables as graphql-core coerces them for the executor (``100.0`` -> ``100``).

    When they do not coerce, the executor refuses the whole operation; the estimate then reads
    every argument at its schema default.
    """

    coerced = get_variable_values(schema, operation.variable_definitions or (), dict(sent))
    return coerced if isinstance(coerced, VariableValues) else None


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
