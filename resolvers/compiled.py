"""Compiled execution: a plan per operation, run one level of the answer at a time.

graphql-core executes depth-first: for every value of every row it builds a resolve info,
checks for awaitables at each of several nested completion steps and, for each list, wraps
each item in its own closure and task. For the gateway's typical answer (fifty schools, their
pupils, each pupil's person and family: ~50,000 values) that per-value machinery is most of the
time. Like graphql-jit does for graphql-js, this module does the document-dependent work once:

- ``compile_operation`` walks the operation against the schema and returns a tree of
  ``FieldPlan``s: fragments and type conditions resolved for each concrete type, fields merged,
  leaf serialisers and list/non-null wrappers looked up, arguments without variables coerced,
  and strawberry's plain attribute fields (no resolver, no guard) turned into ``getattr``.
  An interface or union is compiled once per object type it may be at runtime, and each value
  is given the one its ``resolve_type`` names, checked as graphql-core checks it.
  It returns ``None`` for what it does not handle (introspection, a type that tells its runtime
  type asynchronously, subscriptions, fragment variables), and the caller falls back to graphql-core.
- ``CompiledOperation.execute`` runs the plan breadth-first: each field of a selection is
  resolved for every row at that level, the awaitables of the whole level gathered at once (so
  the loaders see every key of a level in one batch, as before), then the objects found become
  the rows of the next level.

Resolvers are called as graphql-core calls them (``field.resolve(source, info, **args)``, with
a ``GraphQLResolveInfo`` whose path is the value's own), so every wrapper the gateway puts
around a field (its access policy) runs; a wrapper may offer ``prepare_rows`` to take its
row-independent decisions once per request (``_Run.prepared``), and a strawberry resolver with
no wrapper is called directly with its arguments converted once. Errors are located and nulls
propagate to the nearest nullable parent as the spec says; ``tests/resolvers/test_compiled.py``
runs every test query through both executors and compares answers and errors.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from types import CoroutineType
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    default_field_resolver,
    default_type_resolver,
    is_leaf_type,
    located_error,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path, inspect
from graphql.type.scalars import serialize_id, serialize_string
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo
from strawberry.types.arguments import convert_arguments
from strawberry.types.info import Info as StrawberryInfo

__all__ = ["CompiledOperation", "FieldPlan", "compile_operation"]


class _NotCompiled(Exception):
    """Raised while compiling: the operation uses something this executor leaves to graphql-core."""


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass(frozen=True, slots=True)
class Condition:
    """An ``@include``/``@skip`` whose ``if`` is a variable: decided per request."""

    variable: str
    include: bool  # True for @include(if: $v), False for @skip(if: $v)

    def holds(self, variables: Mapping[str, Any]) -> bool:
        return bool(variables.get(self.variable)) is self.include


@dataclass(frozen=True, slots=True)
class Leaf:
    """A scalar or enum: ``serialize`` turns the resolved value into its JSON form."""

    type: Any
    #: Whether a ``str`` is its own JSON form (``String``, ``ID``, the identifiers serialized by ``str``):
    #: most values of an answer, given without a call.
    str_as_is: bool = False

    def describe(self) -> str:
        return str(self.type)


@dataclass(frozen=True, slots=True)
class ListOf:
    item: Shape
    item_nullable: bool


@dataclass(slots=True)
class ObjectOf:
    """An object type and the fields selected of it (filled after construction: plans recurse)."""

    type: GraphQLObjectType
    fields: list[FieldPlan] = field(default_factory=list)


@dataclass(slots=True)
class AbstractOf:
    """An interface or union: the selection compiled for each object type a value may be at runtime."""

    type: GraphQLInterfaceType | GraphQLUnionType
    objects: dict[str, ObjectOf]


Shape = Leaf | ListOf | ObjectOf | AbstractOf


@dataclass(slots=True)
class FieldPlan:
    """One response key of a selection on one object type."""

    key: str
    name: str
    definition: GraphQLField
    parent: GraphQLObjectType
    nodes: list[FieldNode]
    shape: Shape
    nullable: bool
    #: Only when these hold (``@include``/``@skip`` with variables); empty: always.
    conditions: tuple[Condition, ...]
    #: The strawberry attribute behind a plain field: read with ``getattr``, no resolver call.
    attribute: str | None
    resolve: Callable[..., Any]
    #: Arguments coerced at compile time (none of them uses a variable); ``None``: per request.
    static_arguments: dict[str, Any] | None
    typename: bool = False
    #: ``resolve.prepare_rows`` when the resolver offers it (see ``_Run.prepared``).
    prepare_rows: Any = None
    #: The strawberry field whose own resolver is called directly (no field extensions):
    #: strawberry's per-call wrapper (argument conversion, extension chain, an extra coroutine)
    #: is done once per request instead.
    direct: Any = None
    #: The wrapper's ``call_around(source, info, arguments, inner)`` when a wrapper (the access
    #: guard) is around the ``direct`` resolver: it runs as it would around strawberry's.
    around: Any = None


def compile_operation(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> CompiledOperation | None:
    """The plan of ``operation``, or ``None`` when graphql-core should run it instead."""

    if operation.operation is not OperationType.QUERY or schema.query_type is None:
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if any(f.variable_definitions for f in fragments.values()):
        return None  # graphql-core's experimental fragment arguments
    try:
        root = _Compiler(schema, fragments).selection(schema.query_type, [operation.selection_set])
    except _NotCompiled:
        return None
    return CompiledOperation(schema, document, operation, fragments, root)


class _Compiler:
    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments

    def selection(self, parent: GraphQLObjectType, selection_sets: list[SelectionSetNode]) -> ObjectOf:
        grouped: dict[str, list[tuple[FieldNode, tuple[Condition, ...]]]] = {}
        for selection_set in selection_sets:
            self._collect(parent, selection_set, (), grouped, set())
        plan = ObjectOf(parent)
        for key, entries in grouped.items():
            conditions = {c for _, c in entries}
            if len(conditions) > 1:
                raise _NotCompiled("one response key under different @include/@skip conditions")
            plan.fields.append(self.field(parent, key, [n for n, _ in entries], entries[0][1]))
        return plan

    def _collect(
        self,
        parent: GraphQLObjectType,
        selection_set: SelectionSetNode,
        conditions: tuple[Condition, ...],
        into: dict[str, list[tuple[FieldNode, tuple[Condition, ...]]]],
        spread: set[str],
    ) -> None:
        for selection in selection_set.selections:
            here = self._conditions(selection, conditions)
            if here is None:
                continue  # @skip(if: true) or @include(if: false)
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                into.setdefault(key, []).append((selection, here))
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, parent):
                    self._collect(parent, selection.selection_set, here, into, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:
                    continue
                if self._applies(fragment.type_condition, parent):
                    self._collect(parent, fragment.selection_set, here, into, spread | {name})

    def _applies(self, condition: Any, parent: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        named = self.schema.get_type(condition.name.value)
        if named is parent:
            return True
        if named is None or not isinstance(named, GraphQLObjectType):
            # A fragment on an interface or union the object belongs to.
            if named is not None and self.schema.is_sub_type(named, parent):  # type: ignore[arg-type]
                return True
        return False

    @staticmethod
    def _conditions(selection: Any, outer: tuple[Condition, ...]) -> tuple[Condition, ...] | None:
        found = list(outer)
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            argument = next((a for a in directive.arguments if a.name.value == "if"), None)
            if argument is None:
                raise _NotCompiled("@skip/@include without if")
            value = argument.value
            if isinstance(value, BooleanValueNode):
                if value.value is (name == "skip"):
                    return None
            elif isinstance(value, VariableNode):
                found.append(Condition(value.name.value, include=name == "include"))
            else:
                raise _NotCompiled("@skip/@include with an unexpected value")
        return tuple(found)

    def field(
        self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode], conditions: tuple[Condition, ...]
    ) -> FieldPlan:
        name = nodes[0].name.value
        if name == "__typename":
            return FieldPlan(
                key, name, None, parent, nodes, Leaf(None), False, conditions,  # type: ignore[arg-type]
                None, default_field_resolver, {}, typename=True,
            )
        definition = parent.fields.get(name)
        if definition is None:
            raise _NotCompiled(f"{parent.name}.{name}")  # __schema, __type: introspection
        shape, nullable = self._shape(definition.type, nodes)
        resolve = definition.resolve or default_field_resolver
        attribute = None
        if getattr(resolve, "_is_default", False):
            # strawberry's resolver for a field without one of its own: the attribute itself.
            definition_of = (definition.extensions or {}).get("strawberry-definition")
            attribute = getattr(definition_of, "python_name", None)
        direct = around = None
        definition_of = (definition.extensions or {}).get("strawberry-definition")
        # A wrapper (the gateway's access guard) may offer ``call_around``: it then runs around
        # the strawberry resolver it wraps, which is called directly like an unwrapped one.
        inner = getattr(resolve, "wrapped", None) if hasattr(resolve, "call_around") else resolve
        if (
            attribute is None
            and _is_strawberry_resolver(inner)
            and getattr(definition_of, "base_resolver", None) is not None
            and not definition_of.extensions
        ):
            direct = definition_of
            if inner is not resolve:
                around = resolve.call_around
        static = None
        if not any(_uses_variables(a.value) for a in nodes[0].arguments or ()):
            try:
                static = get_argument_values(definition, nodes[0], None)
            except GraphQLError:
                static = None  # the same error again per request, located at each value
        return FieldPlan(
            key, name, definition, parent, nodes, shape, nullable, conditions, attribute, resolve, static,
            direct=direct, around=around, prepare_rows=getattr(resolve, "prepare_rows", None),
        )

    def _shape(self, gql_type: GraphQLOutputType, nodes: list[FieldNode]) -> tuple[Shape, bool]:
        nullable = True
        if isinstance(gql_type, GraphQLNonNull):
            nullable = False
            gql_type = gql_type.of_type
        if isinstance(gql_type, GraphQLList):
            item, item_nullable = self._shape(gql_type.of_type, nodes)
            return ListOf(item, item_nullable), nullable
        if is_leaf_type(gql_type):
            return Leaf(gql_type, getattr(gql_type, "serialize", None) in _STR_AS_IS), nullable
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if isinstance(gql_type, GraphQLObjectType):
            return self.selection(gql_type, sets), nullable
        if isinstance(gql_type, (GraphQLInterfaceType, GraphQLUnionType)):
            possible = self.schema.get_possible_types(gql_type)
            if _may_await(gql_type.resolve_type) or any(_may_await(t.is_type_of) for t in possible):
                raise _NotCompiled(f"{gql_type} tells its runtime type asynchronously")
            return AbstractOf(gql_type, {t.name: self.selection(t, sets) for t in possible}), nullable
        raise _NotCompiled(f"output type {gql_type}")


_UNPREPARED = object()
#: Serializers that give a ``str`` back unchanged (graphql-core's String and ID; ``str`` itself).
_STR_AS_IS = (str, serialize_string, serialize_id)


def _null_in_non_null(plan: FieldPlan) -> TypeError:
    """graphql-core's error for a null where the schema promises a value."""

    return TypeError(f"Cannot return null for non-nullable field {plan.parent.name}.{plan.name}.")


def _serialized(leaf: Leaf, value: Any) -> Any:
    """``value`` in its JSON form, or graphql-core's error when the scalar cannot give one."""

    serialized = leaf.type.serialize(value)
    if serialized is None or serialized is Undefined:
        raise TypeError(f"Expected `{leaf.describe()}.serialize({value!r})` to return non-nullable value, returned: {serialized!r}")
    return serialized


def _is_strawberry_resolver(resolve: Any) -> bool:
    """Whether ``resolve`` is strawberry's own wrapper of a field resolver (not one the gateway
    put around it, e.g. an access guard, which must keep running as it is)."""

    return getattr(resolve, "__qualname__", "").startswith("GraphQLCoreConverter.from_resolver.<locals>.")


def _uses_variables(value: Any) -> bool:
    if isinstance(value, VariableNode):
        return True
    for attribute in ("values", "fields"):
        for inner in getattr(value, attribute, None) or ():
            if _uses_variables(getattr(inner, "value", inner)):
                return True
    return False


# ---------------------------------------------------------------------------------------------
# Running a plan


class _Path(Path):
    """graphql-core's ``Path`` that also carries its keys from the root, so that ``as_list``
    copies a tuple instead of walking the links: with the access layer on, every personal value
    and object in an answer is noted with its path (~120,000 on the 50-school answer), and the
    walk of ten links each was a twentieth of its CPU. ``prev``, ``key`` and ``typename`` are
    graphql-core's; the keys are a hidden fourth item."""

    __slots__ = ()

    def __new__(cls, prev: Path | None, key: str | int, typename: str | None) -> _Path:  # type: ignore[misc]
        if prev is None:
            keys: tuple[str | int, ...] = (key,)
        elif type(prev) is _Path:
            keys = prev[3] + (key,)  # type: ignore[misc]
        else:
            keys = (*prev.as_list(), key)
        return tuple.__new__(cls, (prev, key, typename, keys))  # type: ignore[type-var]

    def as_list(self) -> list[str | int]:
        return list(self[3])  # type: ignore[misc]

    def add_key(self, key: str | int, typename: str | None = None) -> _Path:
        return _Path(self, key, typename)

    def __repr__(self) -> str:
        return f"Path(prev={self.prev!r}, key={self.key!r}, typename={self.typename!r})"


class _Slot:
    """Where a value sits in the answer, and where a null goes when a non-null value fails."""

    __slots__ = ("container", "key", "nullable", "parent")

    def __init__(self, container: Any, key: str | int, nullable: bool, parent: _Slot | None) -> None:
        self.container = container
        self.key = key
        self.nullable = nullable
        self.parent = parent


class _Row:
    """An object being answered: its source value, its answer dict, its path and its slot."""

    __slots__ = ("source", "out", "path", "slot")

    def __init__(self, source: Any, out: dict[str, Any], path: Path | None, slot: _Slot) -> None:
        self.source = source
        self.out = out
        self.path = path
        self.slot = slot


class CompiledOperation:
    """A compiled query, run per request with that request's variables and context."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        root: ObjectOf,
    ) -> None:
        self.schema = schema
        self.document = document
        self.operation = operation
        self.fragments = dict(fragments)
        self.root = root

    async def execute(self, *, variables: Mapping[str, Any], context: Any) -> ExecutionResult:
        coerced = get_variable_values(self.schema, self.operation.variable_definitions or (), dict(variables), max_errors=50)
        if not isinstance(coerced, VariableValues):
            return ExecutionResult(data=None, errors=coerced)
        run = _Run(self, coerced, context)
        data: dict[str, Any] = {}
        top = _Slot(None, "data", False, None)
        await run.level(self.root, [_Row(None, data, None, top)])
        return ExecutionResult(data=None if run.root_nulled else data, errors=run.errors or None)


class _Run:
    """One execution of a plan."""

    __slots__ = (
        "plan", "variables", "coerced", "context", "errors", "root_nulled", "_arguments", "_converted", "_prepared", "_dead",
    )

    def __init__(self, plan: CompiledOperation, variables: VariableValues, context: Any) -> None:
        self.plan = plan
        self.variables = variables
        self.coerced = variables.coerced
        self.context = context
        self.errors: list[GraphQLError] = []
        self.root_nulled = False
        self._arguments: dict[int, dict[str, Any] | Exception] = {}
        #: Arguments as the strawberry resolvers take them (input types, enums), per field plan.
        self._converted: dict[int, dict[str, Any]] = {}
        #: What each prepared resolver leaves to do per value (``None``: call it per value).
        self._prepared: dict[int, Any] = {}
        #: Dicts and lists a failure nulled, by id (held, so no id is reused while we run).
        self._dead: dict[int, Any] = {}

    def arguments(self, plan: FieldPlan) -> dict[str, Any]:
        if plan.static_arguments is not None:
            return plan.static_arguments
        found = self._arguments.get(id(plan))
        if found is None:
            try:
                found = get_argument_values(plan.definition, plan.nodes[0], self.variables)
            except Exception as exc:  # noqa: BLE001 - reported per value, as graphql-core does
                found = exc
            self._arguments[id(plan)] = found
        if isinstance(found, Exception):
            raise found
        return found

    def call_direct(self, plan: FieldPlan, source: Any, path: Path, raw_info: GraphQLResolveInfo | None = None) -> Any:
        """Call a strawberry field's own resolver as strawberry's wrapper would, with its
        arguments converted once per request (inside the wrapper's guard, if it has one)."""

        if raw_info is None:
            raw_info = self.info(plan, path)
            if plan.around is not None:
                inner = lambda root, info, **_: self.call_direct(plan, root, path, info)  # noqa: E731
                return plan.around(source, raw_info, self.arguments(plan), inner)
        field = plan.direct
        resolver = field.base_resolver
        info = StrawberryInfo(_raw_info=raw_info, _field=field)
        converted = self._converted.get(id(plan))
        if converted is None:
            strawberry_schema = self.plan.schema._strawberry_schema  # type: ignore[attr-defined]
            converted = self._converted[id(plan)] = convert_arguments(
                self.arguments(plan),
                field.arguments,
                scalar_registry=strawberry_schema.schema_converter.scalar_registry,
                config=strawberry_schema.config,
                info=info,
            )
        kwargs = dict(converted)
        if resolver.parent_parameter is not None:
            kwargs[resolver.parent_parameter.name] = source
        if resolver.root_parameter is not None:
            kwargs[resolver.root_parameter.name] = source
        if resolver.info_parameter is not None:
            kwargs[resolver.info_parameter.name] = info
        if resolver.self_parameter is not None:
            return resolver.wrapped_func(source, **kwargs)
        return resolver.wrapped_func(**kwargs)

    def info(self, plan: FieldPlan, path: Path) -> GraphQLResolveInfo:
        return _OperationContextAwareGraphQLResolveInfo(  # type: ignore[call-arg]
            plan.name,
            plan.nodes,
            plan.definition.type,
            plan.parent,
            path,
            self.plan.schema,
            self.plan.fragments,
            None,
            self.plan.operation,
            self.coerced,
            self.context,
            _is_awaitable,
            None,
            None,
            None,
        )

    async def level(self, selection: ObjectOf, rows: list[_Row]) -> None:
        """Answer ``selection`` for every row, each field for all rows at once.

        Sibling fields run side by side and each goes on to its own sub-selection as soon as
        it has its values: a slow source holds up only the fields below it, as with
        graphql-core, while the rows of one field still reach its loader in one batch.
        """

        if self._dead or self.root_nulled:
            # Objects a failure already nulled: like graphql-core, which cancels the rest of a
            # value once one of its non-null fields failed, resolve nothing more under them.
            rows = [row for row in rows if id(row.out) not in self._dead and not self.buried(row.slot)]
            if not rows:
                return
        fields = [f for f in selection.fields if all(c.holds(self.coerced) for c in f.conditions)]
        for row in rows:
            out = row.out
            for plan in fields:
                out[plan.key] = None  # the answer's keys in the selection's order
        waiting = [work for work in (self.field(plan, rows) for plan in fields) if work is not None]
        if len(waiting) == 1:
            await waiting[0]
        elif waiting:
            await asyncio.gather(*waiting)

    def field(self, plan: FieldPlan, rows: list[_Row]) -> Coroutine[Any, Any, None] | None:
        """Resolve ``plan`` for every row; what must wait (resolvers, objects below) is returned."""

        if plan.typename:
            for row in rows:
                row.out[plan.key] = plan.parent.name
            return None
        attribute = plan.attribute
        if attribute is not None and isinstance(plan.shape, Leaf):
            self.attributes(plan, attribute, rows)
            return None
        if plan.prepare_rows is not None and isinstance(plan.shape, Leaf):
            per_value = self.prepared(plan)
            if per_value is not None:
                self.values(plan, per_value, rows)
                return None
        below: dict[int, tuple[ObjectOf, list[_Row]]] = {}
        pending: list[Any] = []
        waiting: list[tuple[_Row, Path]] = []
        lists = isinstance(plan.shape, ListOf)
        for row in rows:
            path = _Path(row.path, plan.key, plan.parent.name)
            if attribute is not None:
                try:
                    value = getattr(row.source, attribute)
                except Exception as exc:  # noqa: BLE001 - a failing attribute is its field's error
                    value = exc
            else:
                try:
                    if plan.direct is not None:
                        value = self.call_direct(plan, row.source, path)
                    else:
                        value = plan.resolve(row.source, self.info(plan, path), **self.arguments(plan))
                except Exception as exc:  # noqa: BLE001 - a resolver's error is its field's
                    value = exc
                if lists and _holds_awaitables(value):
                    value = _each_settled(value)  # a list of awaitables (_entities): each item awaited
                if _is_awaitable(value):
                    pending.append(value)
                    waiting.append((row, path))
                    continue
            self.complete(plan, plan.shape, value, path, _Slot(row.out, plan.key, plan.nullable, row.slot), below)
        if not pending and not below:
            return None
        return self._finish(plan, pending, waiting, below)

    def attributes(self, plan: FieldPlan, attribute: str, rows: list[_Row]) -> None:
        """A plain scalar attribute for every row: the bulk of an answer, so no path, slot or
        call per value unless one fails."""

        key = plan.key
        leaf: Leaf = plan.shape  # type: ignore[assignment]
        nullable = plan.nullable
        as_is = leaf.str_as_is
        for row in rows:
            try:
                value = getattr(row.source, attribute)
                if value is None:
                    if nullable:
                        continue  # the key is there already, as null
                    raise _null_in_non_null(plan)
                row.out[key] = value if as_is and type(value) is str else _serialized(leaf, value)
            except Exception as exc:  # noqa: BLE001 - located at this value, as graphql-core does
                self.fail(plan, exc, _Path(row.path, key, plan.parent.name), _Slot(row.out, key, nullable, row.slot))

    def prepared(self, plan: FieldPlan) -> Callable[[Any, Path], Any] | None:
        """What ``plan.resolve.prepare_rows`` leaves to do per value in this request, worked out once.

        A resolver wrapper (the gateway's access guard) may offer ``prepare_rows(context,
        arguments)``: it does what does not depend on the row once and returns a function of
        ``(source, the row's path, the field's key)`` for each value, or ``None`` to be called per
        value as usual.
        """

        found = self._prepared.get(id(plan), _UNPREPARED)
        if found is _UNPREPARED:
            try:
                found = plan.prepare_rows(self.context, self.arguments(plan))
            except Exception:  # noqa: BLE001 - called per value instead, which reports it there
                found = None
            self._prepared[id(plan)] = found
        return found  # type: ignore[no-any-return]

    def values(self, plan: FieldPlan, per_value: Callable[[Any, Path | None, str], Any], rows: list[_Row]) -> None:
        """A scalar field for every row through a prepared resolver (see ``prepared``): called with
        the row's source, the row's path and the field's key (the value's own path is made only
        if it fails)."""

        key = plan.key
        leaf: Leaf = plan.shape  # type: ignore[assignment]
        nullable = plan.nullable
        parent = plan.parent.name
        as_is = leaf.str_as_is
        for row in rows:
            try:
                value = per_value(row.source, row.path, key)
                if value is None:
                    if nullable:
                        continue
                    raise _null_in_non_null(plan)
                row.out[key] = value if as_is and type(value) is str else _serialized(leaf, value)
            except Exception as exc:  # noqa: BLE001 - located at this value, as graphql-core does
                self.fail(plan, exc, _Path(row.path, key, parent), _Slot(row.out, key, nullable, row.slot))

    async def _finish(
        self,
        plan: FieldPlan,
        pending: list[Any],
        waiting: list[tuple[_Row, Path]],
        below: dict[int, tuple[ObjectOf, list[_Row]]],
    ) -> None:
        if len(pending) == 1:
            # One value (a root field, one person's family): awaited here, not in a task of its own.
            try:
                values = [await pending[0]]
            except Exception as exc:  # noqa: BLE001 - the field's error, as gather(return_exceptions) gives it
                values = [exc]
        else:
            values = await _settle(pending) if pending else []
        if isinstance(plan.shape, ListOf):
            for index, value in enumerate(values):
                if _holds_awaitables(value):
                    values[index] = await _each_settled(value)
        for (row, path), value in zip(waiting, values, strict=True):
            if isinstance(value, BaseException) and not isinstance(value, Exception):
                raise value  # cancellation and exits are not field errors
            self.complete(plan, plan.shape, value, path, _Slot(row.out, plan.key, plan.nullable, row.slot), below)
        if len(below) == 1:
            (sub, sub_rows), = below.values()
            await self.level(sub, sub_rows)
        elif below:
            await asyncio.gather(*(self.level(sub, sub_rows) for sub, sub_rows in below.values()))

    def complete(
        self,
        plan: FieldPlan,
        shape: Shape,
        value: Any,
        path: Path,
        slot: _Slot,
        below: dict[int, tuple[ObjectOf, list[_Row]]],
    ) -> None:
        """Put ``value`` into ``slot`` as ``shape`` says; objects are queued for the next level."""

        try:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                if not slot.nullable:
                    raise _null_in_non_null(plan)
                slot.container[slot.key] = None
                return
            if isinstance(shape, AbstractOf):
                shape = self.runtime_shape(plan, shape, value, path)
            if isinstance(shape, Leaf):
                slot.container[slot.key] = value if shape.str_as_is and type(value) is str else _serialized(shape, value)
            elif isinstance(shape, ObjectOf):
                out: dict[str, Any] = {}
                slot.container[slot.key] = out
                entry = below.get(id(shape))
                if entry is None:
                    entry = below[id(shape)] = (shape, [])
                entry[1].append(_Row(value, out, path, slot))
            else:
                if type(value) is not list and (isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable)):
                    raise GraphQLError(
                        f"Expected Iterable, but did not find one for field '{plan.parent.name}.{plan.name}'."
                    )
                items: list[Any] = []
                slot.container[slot.key] = items
                item_shape = shape.item
                if isinstance(item_shape, ObjectOf):
                    # A list of objects (a family's members, a school's pupils): each becomes a row
                    # of the next level straight away.
                    entry = below.get(id(item_shape))
                    if entry is None:
                        entry = below[id(item_shape)] = (item_shape, [])
                    queued = entry[1]
                    for index, item in enumerate(value):
                        item_slot = _Slot(items, index, shape.item_nullable, slot)
                        if item is None or isinstance(item, Exception):
                            items.append(None)
                            self.complete(plan, item_shape, item, _Path(path, index, None), item_slot, below)
                            continue
                        out = {}
                        items.append(out)
                        queued.append(_Row(item, out, _Path(path, index, None), item_slot))
                    return
                for index, item in enumerate(value):
                    items.append(None)
                    self.complete(
                        plan, item_shape, item, _Path(path, index, None), _Slot(items, index, shape.item_nullable, slot), below
                    )
        except Exception as exc:  # noqa: BLE001 - located at this value, as graphql-core does
            self.fail(plan, exc, path, slot)

    def runtime_shape(self, plan: FieldPlan, shape: AbstractOf, value: Any, path: Path) -> ObjectOf:
        """The compiled selection of the object type ``value`` is, as graphql-core finds and checks it
        (``complete_abstract_value``, ``ensure_valid_runtime_type``, ``complete_object_value``), with
        its error messages."""

        abstract = shape.type
        info = self.info(plan, path)
        name = (abstract.resolve_type or default_type_resolver)(value, info, abstract)
        where = f"for field '{plan.parent.name}.{plan.name}'"
        if name is None:
            raise GraphQLError(
                f"Abstract type '{abstract}' must resolve to an Object type at runtime {where}. Either the "
                f"'{abstract}' type should provide a 'resolve_type' function or each possible type should provide "
                "an 'is_type_of' function.",
                plan.nodes,
            )
        if not isinstance(name, str):
            raise GraphQLError(
                f"Abstract type '{abstract}' must resolve to an Object type at runtime {where} with value "
                f"{inspect(value)}, received '{inspect(name)}', which is not a valid Object type name.",
                plan.nodes,
            )
        runtime = self.plan.schema.get_type(name)
        if runtime is None:
            raise GraphQLError(
                f"Abstract type '{abstract}' was resolved to a type '{name}' that does not exist inside the schema.",
                plan.nodes,
            )
        if not isinstance(runtime, GraphQLObjectType):
            raise GraphQLError(f"Abstract type '{abstract}' was resolved to a non-object type '{name}'.", plan.nodes)
        selection = shape.objects.get(name)
        if selection is None:
            raise GraphQLError(f"Runtime Object type '{runtime}' is not a possible type for '{abstract}'.", plan.nodes)
        if runtime.is_type_of is not None and not runtime.is_type_of(value, info):
            raise GraphQLError(f"Expected value of type '{runtime}' but got: {inspect(value)}.", plan.nodes)
        return selection

    def fail(self, plan: FieldPlan, error: Exception, path: Path, slot: _Slot) -> None:
        """Report ``error`` at ``path`` and null the value (or the nearest nullable one above)."""

        if self.buried(slot):
            return  # under a value an earlier failure nulled: graphql-core stops there too
        self.errors.append(located_error(error, plan.nodes, path.as_list()))
        self.null(slot)

    def buried(self, slot: _Slot | None) -> bool:
        """Whether a failure nulled the value ``slot`` sits in (or one above it)."""

        if self.root_nulled:
            return True
        dead = self._dead
        while slot is not None:
            if id(slot.container) in dead:
                return True
            slot = slot.parent
        return False

    def null(self, slot: _Slot) -> None:
        """A value failed at ``slot``: null it, or the nearest nullable slot above it."""

        while not slot.nullable:
            if slot.parent is None:
                self.root_nulled = True
                return
            slot = slot.parent
        value = slot.container[slot.key]
        if isinstance(value, (dict, list)):
            self._dead[id(value)] = value
        # What was below stays in a dict that is no longer in the answer: its rows may still
        # resolve (their loads are already batched) but nothing of them reaches the client.
        slot.container[slot.key] = None


def _holds_awaitables(value: Any) -> bool:
    """A list some of whose items are still to be awaited (graphql-core awaits each one)."""

    return type(value) is list and any(_is_awaitable(item) for item in value)


async def _each_settled(items: list[Any]) -> list[Any]:
    """The list with each awaitable item awaited; an item that failed is its exception, so that the
    item (not the list) is the error, at its own index, as graphql-core reports it."""

    async def settled(item: Any) -> Any:
        return await item if _is_awaitable(item) else item

    results = await asyncio.gather(*(settled(item) for item in items), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancellation and exits are not field errors
    return results


async def _settle(awaitables: list[Any]) -> list[Any]:
    """Each awaitable's result, or the exception it raised, in order: what
    ``asyncio.gather(*awaitables, return_exceptions=True)`` gives, without a task per awaitable.

    A level of fifty schools' pupils awaits a coroutine per pupil (its person, then its family,
    then the family's members): some 15,000 each, and gather wrapped every one in a task of its
    own (created, scheduled, stepped, its result collected by a callback). Here each coroutine
    is stepped in place, as a task steps it: until it waits on a future (a loader's), then again
    once that future is done; one callback per distinct future, however many coroutines wait on
    it. Every coroutine takes its first step at once, so a level's loads still reach their
    loaders in the same loop turn and go out as one batch.

    The coroutines run in this coroutine's context (a task would run each in a copy of it; our
    resolvers set no context variables). Cancelling this throws ``CancelledError`` into every
    coroutine still waiting, as cancelling gather cancels its tasks.
    """

    results: list[Any] = [None] * len(awaitables)
    #: Future -> the coroutines waiting on it (index, coroutine or ``__await__`` iterator).
    waiting: dict[Any, list[tuple[int, Any]]] = {}
    #: Coroutines that yielded bare (``asyncio.sleep(0)``): stepped again after a loop turn.
    again: list[tuple[int, Any]] = []
    done: deque[Any] = deque()
    wake: asyncio.Future[None] | None = None

    def on_done(future: Any) -> None:
        done.append(future)
        if wake is not None and not wake.done():
            wake.set_result(None)

    def step(index: int, it: Any) -> None:
        # Not recursive: a nested function that calls itself is a reference cycle, which would
        # keep the level's results alive until the cyclic collector found them.
        error: BaseException | None = None
        while True:
            try:
                yielded = it.send(None) if error is None else it.throw(error)
            except StopIteration as stop:
                results[index] = stop.value
                return
            except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - gather(return_exceptions) keeps it
                results[index] = exc
                return
            if getattr(yielded, "_asyncio_future_blocking", False):
                yielded._asyncio_future_blocking = False  # what a task does with a future it waits on
                entry = waiting.get(yielded)
                if entry is None:
                    waiting[yielded] = [(index, it)]
                    yielded.add_done_callback(on_done)
                else:
                    entry.append((index, it))
            elif yielded is None:
                again.append((index, it))
            else:
                error = RuntimeError(f"Task got bad yield: {yielded!r}")  # as asyncio.Task says it
                continue
            return

    for index, awaitable in enumerate(awaitables):
        step(index, awaitable if type(awaitable) is CoroutineType else awaitable.__await__())
    try:
        while waiting or again:
            if again:
                await asyncio.sleep(0)
                stepping, again[:] = list(again), []
                for index, it in stepping:
                    step(index, it)
            elif not done:
                wake = asyncio.get_running_loop().create_future()
                await wake
                wake = None
            while done:
                for index, it in waiting.pop(done.popleft()):
                    step(index, it)
    except BaseException:
        for entries in [*waiting.values(), again]:
            for _, it in entries:
                try:
                    it.throw(asyncio.CancelledError())
                except BaseException:  # noqa: BLE001, S110 - it ended, as a cancelled task does
                    continue
                it.close()  # it went on waiting: a cancelled task would have been cancelled again
        raise
    return results


def _may_await(function: Any) -> bool:
    """Whether ``function`` (a ``resolve_type`` or ``is_type_of``) is a coroutine function."""

    return function is not None and asyncio.iscoroutinefunction(function)


def _is_awaitable(value: Any) -> bool:
    # Coroutines and futures: what our resolvers and loaders return. Cheaper than
    # inspect.isawaitable for the common case of a plain value.
    return hasattr(value, "__await__") and not isinstance(value, type)
