"""Which record fields a document's answer reads, per entity: what the sources are asked to select.

A person in the civil registry has some twenty columns; ``persons(first: 50) { family { members
{ nik name } } }`` shows two of them, yet every column of every member was selected, decoded,
mapped through its code list and built into the object, which was a quarter of such a query's
work. A type whose objects are built from one entity's records declares here, per GraphQL field,
which record fields that field reads (``TypeReads``); ``projection(schema, document)`` walks a
document once (the gateway keeps the result with the prepared document) and names, for each such
entity, the fields its answer can read. Loaders then ask the source for those only
(``SourceQuery.fields``).

It errs towards reading more, never less: a field a type does not declare, or one whose resolver
reads whole records (a person's discrepancies compare every fact of the registry's record with
the school's), makes the document read every field of every entity; fields selected through an
interface or union count for each of its members; every fragment of the document counts, whether
or not the operation run spreads it.
What the gateway's access layer reads of an object beyond the selection (a row scope's field)
it adds itself (``Projection.widened``). ``tests/gateway/test_compiled_differential.py`` runs
every test document with and without projection and compares the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLObjectType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    is_abstract_type,
    visit,
)

__all__ = ["EVERY_FIELD", "Projection", "TypeReads", "own_names", "projection"]

#: Marks a GraphQL field whose resolver may read any field of its record, and of the records of
#: other entities it compares it with.
EVERY_FIELD = None


@dataclass(frozen=True)
class TypeReads:
    """What the fields of one GraphQL type read of the records its objects are built from: those of
    the source entity of the type's own name (``Person`` objects from ``Person`` records), which is
    also the name a role's row scope gives, so ``Projection.widened`` adds the scope's field to it.

    ``always`` is read whatever is selected (the key: the audit names the data subject by it);
    ``fields`` maps a GraphQL field name to the record fields it reads, or to ``EVERY_FIELD``;
    ``via`` maps a field of another type that reads this entity's records itself, before any object
    is built, to the record fields it reads: ``"School.students(grade)"``, where that argument is
    given, filters the pupils by grade (``"Type.field"`` alone: whatever its arguments).
    """

    type_name: str
    always: tuple[str, ...]
    fields: Mapping[str, tuple[str, ...] | None]
    via: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def entity(self) -> str:
        return self.type_name

    def reads(self, field_name: str) -> tuple[str, ...] | None:
        if field_name == "__typename":
            return ()
        return self.fields.get(field_name, EVERY_FIELD)


def own_names(*names: str) -> dict[str, tuple[str, ...]]:
    """``TypeReads.fields`` for GraphQL fields that each read the record field of their own name."""

    return {name: (name,) for name in names}


class Projection:
    """Entity -> the record fields a document reads of it. An entity not named: every field."""

    __slots__ = ("_fields", "_widened")

    def __init__(self, fields: Mapping[str, frozenset[str]]) -> None:
        self._fields = dict(fields)
        self._widened: dict[frozenset[tuple[str, str]], Projection] = {}

    def of(self, entity: str) -> frozenset[str] | None:
        """The fields to ask ``entity``'s source for (``None``: all of them)."""

        return self._fields.get(entity)

    def widened(self, extra: frozenset[tuple[str, str]]) -> Projection:
        """This projection with the (entity, field) pairs of ``extra`` read too, for the entities it
        narrows; the same object when that adds nothing. Remembered per ``extra`` (a role's)."""

        found = self._widened.get(extra)
        if found is None:
            fields = dict(self._fields)
            for entity, name in extra:
                if entity in fields:
                    fields[entity] = fields[entity] | {name}
            found = self if fields == self._fields else Projection(fields)
            self._widened[extra] = found
        return found

    def __repr__(self) -> str:
        return f"Projection({ {e: sorted(f) for e, f in sorted(self._fields.items())} })"


#: Reads every field of every entity: what a request without a prepared document runs with.
READ_ALL = Projection({})


def projection(schema: GraphQLSchema, document: DocumentNode, declared: Iterable[TypeReads]) -> Projection:
    """The record fields ``document`` reads of each entity that a type in ``declared`` is built from.

    Every field node of the document counts (all operations and fragments): a superset of what
    any one operation of it reads, which is all the loaders need.
    """

    by_type = {reads.type_name: reads for reads in declared}
    wanted: dict[str, set[str]] = {}
    via: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for reads in by_type.values():
        wanted.setdefault(reads.entity, set()).update(reads.always)
        for name, fields in reads.via.items():
            via.setdefault(name, []).append((reads.entity, fields))
    whole = False

    def note(reads: TypeReads, field_name: str) -> None:
        nonlocal whole
        needed = reads.reads(field_name)
        if needed is EVERY_FIELD:
            whole = True
        else:
            wanted[reads.entity].update(needed)

    type_info = TypeInfo(schema)

    class Fields(Visitor):
        def enter_field(self, node: FieldNode, *_: object) -> None:
            parent = type_info.get_parent_type()
            if parent is None:
                return
            if is_abstract_type(parent):
                members: Iterable[GraphQLObjectType] = schema.get_possible_types(parent)  # type: ignore[arg-type]
            else:
                members = (parent,)  # type: ignore[assignment]
            for member in members:
                reads = by_type.get(member.name)
                if reads is not None:
                    note(reads, node.name.value)
                name = f"{member.name}.{node.name.value}"
                for key in (name, *(f"{name}({a.name.value})" for a in node.arguments or ())):
                    for entity, fields in via.get(key, ()):
                        wanted[entity].update(fields)

    visit(document, TypeInfoVisitor(type_info, Fields()))
    if whole:
        return READ_ALL
    return Projection({entity: frozenset(fields) for entity, fields in wanted.items()})
