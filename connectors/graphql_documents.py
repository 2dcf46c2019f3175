"""The GraphQL documents ``RemoteGraphQLConnector`` sends, built as graphql-core AST and printed.

Pure functions, no I/O: a document depends only on the entity's config (which root field,
which remote paths) and on how many keys a batch carries, never on a value, since values
travel as variables. Names that do end up in a document (fields, arguments, types) come
from config and are checked to be GraphQL names when it is read (``is_name``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from graphql import parse_type, print_ast
from graphql.language import ast

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")

#: Aliases of a batched lookup: ``k0: person(nik: $k0) { ... } k1: ...``.
ALIAS_PREFIX = "k"
#: The Apollo Federation root field that resolves entities from key representations.
ENTITIES_FIELD = "_entities"
#: The Apollo Federation variable type of ``_entities(representations:)``.
REPRESENTATIONS_TYPE = "[_Any!]!"

#: A selection as a tree of remote field names (``{"alamat": {"desa": {"kode": {}}}}``).
SelectionTree = dict[str, "SelectionTree"]


def is_name(value: object) -> bool:
    return isinstance(value, str) and bool(_NAME.match(value))


def selection_tree(paths: Iterable[str]) -> SelectionTree:
    """Merge dotted remote paths (``nik``, ``alamat.desa.kode``) into one tree."""

    tree: SelectionTree = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    return tree


def _name(value: str) -> ast.NameNode:
    return ast.NameNode(value=value)


def _selection_set(tree: Mapping[str, SelectionTree]) -> ast.SelectionSetNode:
    return ast.SelectionSetNode(selections=tuple(_field(name, selections=sub or None) for name, sub in tree.items()))


def _field(
    name: str,
    *,
    alias: str | None = None,
    arguments: Mapping[str, str] | None = None,
    selections: Mapping[str, SelectionTree] | ast.SelectionSetNode | None = None,
) -> ast.FieldNode:
    """A field node; ``arguments`` maps argument names to the variables that feed them."""

    if isinstance(selections, Mapping):
        selections = _selection_set(selections)
    return ast.FieldNode(
        alias=_name(alias) if alias else None,
        name=_name(name),
        arguments=tuple(
            ast.ArgumentNode(name=_name(arg), value=ast.VariableNode(name=_name(var))) for arg, var in (arguments or {}).items()
        ),
        directives=(),
        selection_set=selections,
    )


def _operation(name: str, variables: Mapping[str, str], fields: Sequence[ast.SelectionNode]) -> str:
    """Print ``query name($var: Type, ...) { fields }``; ``variables`` maps names to GraphQL types."""

    definition = ast.OperationDefinitionNode(
        operation=ast.OperationType.QUERY,
        name=_name(name),
        variable_definitions=tuple(
            ast.VariableDefinitionNode(variable=ast.VariableNode(name=_name(var)), type=parse_type(type_), directives=())
            for var, type_ in variables.items()
        ),
        directives=(),
        selection_set=ast.SelectionSetNode(selections=tuple(fields)),
    )
    return print_ast(ast.DocumentNode(definitions=(definition,)))


def _wrap(path: str | None, tree: SelectionTree) -> SelectionTree:
    """``tree`` selected below the dotted ``path`` (where a page keeps its records)."""

    for part in reversed((path or "").split(".")):
        if part:
            tree = {part: tree}
    return tree


def list_document(
    operation: str, root: str, arguments: Mapping[str, str], tree: SelectionTree, *, relay: bool, records: str | None = None
) -> str:
    """One page of a root list field; ``arguments`` maps each argument to its variable's type.

    Each argument is fed by the variable of the same name. A Relay connection is read
    through ``edges { node }`` and ``pageInfo``; other lists at ``records`` (or the field itself).
    """

    if relay:
        selection: SelectionTree = {
            "edges": {"node": tree},
            "pageInfo": {"hasNextPage": {}, "endCursor": {}},
        }
    else:
        selection = _wrap(records, tree)
    return _operation(operation, arguments, [_field(root, arguments={a: a for a in arguments}, selections=selection)])


def alias_document(operation: str, root: str, arg: str, arg_type: str, count: int, tree: SelectionTree) -> str:
    """``count`` lookups of ``root(arg: ...)`` in one document, aliased and fed ``$k0``, ``$k1`` ..."""

    aliases = [f"{ALIAS_PREFIX}{i}" for i in range(count)]
    fields = [_field(root, alias=a, arguments={arg: a}, selections=tree) for a in aliases]
    return _operation(operation, {a: arg_type for a in aliases}, fields)


def entities_document(operation: str, type_name: str, tree: SelectionTree) -> str:
    """``_entities(representations: $representations) { ... on Type { ... } }`` (Apollo Federation)."""

    fragment = ast.InlineFragmentNode(
        type_condition=ast.NamedTypeNode(name=_name(type_name)), directives=(), selection_set=_selection_set(tree)
    )
    root = _field(
        ENTITIES_FIELD,
        arguments={"representations": "representations"},
        selections=ast.SelectionSetNode(selections=(fragment,)),
    )
    return _operation(operation, {"representations": REPRESENTATIONS_TYPE}, [root])
