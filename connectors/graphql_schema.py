"""The remote GraphQL connector's start-up check: does the peer's schema have what the config names?

Run on the schema the peer declares (introspection or a subgraph's ``_service { sdl }``),
before any request is served, so that a typo in a root field, an argument or a mapped path
stops the gateway with a message naming it, as a wrong column does for SQL sources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema, get_named_type, is_leaf_type

from core import ConfigError

from .graphql_documents import ENTITIES_FIELD

if TYPE_CHECKING:
    from .graphql import GraphQLEntity


def check_schema(source: str, entities: Mapping[str, GraphQLEntity], schema: GraphQLSchema) -> dict[tuple[str, str], str]:
    """Check every configured root field, argument and mapped path against the peer's schema.

    Returns the GraphQL type of every argument the documents feed, keyed by (root field,
    argument); raises one ``ConfigError`` listing everything that is missing.
    """

    problems: list[str] = []
    types: dict[tuple[str, str], str] = {}
    roots = schema.query_type.fields if schema.query_type else {}

    def root_field(where: str, name: str, args: Sequence[str], type_name: str) -> None:
        found = roots.get(name)
        if found is None:
            problems.append(f"{where}: the peer's Query has no field {name!r}")
            return
        for arg in args:
            if arg not in found.args:
                problems.append(f"{where}: the peer's Query.{name} has no argument {arg!r}")
            else:
                types[(name, arg)] = str(found.args[arg].type)
        returned = get_named_type(found.type)
        if name != ENTITIES_FIELD and returned.name != type_name and not _leads_to(returned, type_name):
            problems.append(f"{where}: the peer's Query.{name} returns {returned.name}, not {type_name}")

    for entity_name, entity in entities.items():
        where = f"sources.{source}.entities.{entity_name}"
        type_ = schema.get_type(entity.type_name)
        if not isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType)):
            problems.append(f"{where}.type: the peer has no object type {entity.type_name!r}")
            continue
        for name, f in entity.mapping.fields.items():
            missing = _missing_path(type_, f.column)
            if missing:
                problems.append(f"{where}.fields.{name}: {missing}")
        if entity.list is not None:
            p = entity.list.pagination
            paging = {"relay": [p.first_arg, p.after_arg], "offset": [p.offset_arg, p.limit_arg]}.get(p.style, [])
            args = paging + [a.arg for specs in entity.list.args.values() for a in specs]
            root_field(f"{where}.list.field", entity.list.field, args, entity.type_name)
        for name, spec in entity.lookup.items():
            if spec.field == ENTITIES_FIELD and ENTITIES_FIELD not in roots:
                problems.append(f"{where}.lookup.{name}: the peer has no _entities field (it is not a federation subgraph)")
            elif spec.field != ENTITIES_FIELD:
                root_field(f"{where}.lookup.{name}.field", spec.field, [spec.arg], entity.type_name)
    if problems:
        raise ConfigError(f"source {source} does not match its peer's schema:\n  - " + "\n  - ".join(problems))
    return types


def _missing_path(type_: GraphQLObjectType | GraphQLInterfaceType, path: str) -> str | None:
    """What is wrong with a dotted path through the peer's types, or ``None``."""

    current: Any = type_
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(current, (GraphQLObjectType, GraphQLInterfaceType)):
            return f"the peer's {'.'.join(parts[:i])!r} is a {current.name}, which has no field {part!r}"
        found = current.fields.get(part)
        if found is None:
            return f"the peer's type {current.name} has no field {part!r} (mapped path {path!r})"
        current = get_named_type(found.type)
    if not is_leaf_type(current):
        return f"the peer's {path!r} is an object ({current.name}); map one of its fields"
    return None


def _leads_to(type_: Any, type_name: str) -> bool:
    """Whether a list field's type holds ``type_name`` records one or two levels down
    (a Relay connection's ``edges.node``, or a page object's ``items``)."""

    if not isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType)):
        return False
    for f in type_.fields.values():
        inner = get_named_type(f.type)
        if inner.name == type_name:
            return True
        if isinstance(inner, (GraphQLObjectType, GraphQLInterfaceType)) and any(
            get_named_type(g.type).name == type_name for g in inner.fields.values()
        ):
            return True
    return False
