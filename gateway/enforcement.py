"""Field-level enforcement of the access policy, and the ledger of what an answer disclosed.

``guard_fields(schema, policy)`` wraps, once at start-up, the resolver of every field the
policy classes as non-public, in every object type of the schema: whatever the entry point
(root fields, nested joins, connections, federation ``_entities``), the executor can only
reach such a field through its guard, so there is no path around it. Public fields keep
their resolvers untouched and cost nothing extra.

- A refused field raises ``AccessDenied`` *before* its resolver runs: no source is asked
  for data the caller may not see.
- A masked leaf is resolved, then masked (``policy.apply_mask``).
- Every personal leaf that reaches the answer is noted in the request's ``AccessContext``
  with its response path and data subject (the NIK of the person it is about, from the
  vocabulary object's ``data_subject``). After execution, ``disclosed(data)`` keeps only
  the notes whose path is non-null in the final answer, so the audit record names
  exactly what the client received.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, default_field_resolver, get_named_type, is_leaf_type
from strawberry.extensions import SchemaExtension

from .policy import PUBLIC, AccessDenied, Action, Decision, Policy, Role, apply_mask

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Disclosure:
    path: Path
    subject: str | None
    field: str
    masked: bool


@dataclass
class AccessContext:
    """One request's access: its role and purpose, and the personal data resolved so far."""

    policy: Policy
    role: Role
    purpose: str | None
    notes: list[Disclosure] = field(default_factory=list)
    #: The operation that ran (named by the client, or the document's only operation).
    operation: str | None = None
    #: When set, every non-public field is refused with this reason, whatever the role may
    #: see (e.g. personal data asked over GET, whose URL ends up in proxy logs).
    public_only: str | None = None
    _decisions: dict[tuple[str, str], Decision] = field(default_factory=dict)

    def decide(self, type_name: str, field_name: str) -> Decision:
        key = (type_name, field_name)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = self.policy.decide(self.role, self.purpose, type_name, field_name)
        return decision

    def disclosed(self, data: Any) -> tuple[set[str], set[str]]:
        """(subjects, ``Type.field`` names) of the notes whose value is in ``data``."""

        subjects: set[str] = set()
        fields: set[str] = set()
        for note in self.notes:
            if _present(data, note.path):
                fields.add(note.field)
                if note.subject:
                    subjects.add(note.subject)
        return subjects, fields


class PolicyExtension(SchemaExtension):
    """Notes which operation ran (named by the client, or the document's only one) for the audit."""

    def on_execute(self) -> Iterator[None]:
        access: AccessContext | None = getattr(self.execution_context.context, "access", None)
        if access is not None:
            access.operation = self.execution_context.operation_name
        yield


def guard_fields(schema: GraphQLSchema, policy: Policy) -> int:
    """Wrap every non-public field's resolver with the policy check; returns how many.

    Call once per schema instance (each ``build_schema()`` has its own field objects).
    """

    guarded = 0
    for type_name, gql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(gql_type, GraphQLObjectType):
            continue
        for field_name, field_def in gql_type.fields.items():
            if field_name.startswith("__") or policy.rule(type_name, field_name).sensitivity == PUBLIC:
                continue
            leaf = is_leaf_type(get_named_type(field_def.type))  # objects, unions: decided field by field
            field_def.resolve = _guard(field_def.resolve or default_field_resolver, leaf)
            guarded += 1
    return guarded


def _guard(resolve: Callable[..., Any], leaf: bool) -> Callable[..., Any]:
    def guarded(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        access: AccessContext | None = getattr(info.context, "access", None)
        if access is None:  # the schema used without the gateway (tests of the vocabulary)
            return resolve(root, info, **args)
        decision = access.decide(info.parent_type.name, info.field_name)
        if access.public_only is not None and decision.sensitivity != PUBLIC:
            raise AccessDenied(access.public_only)
        if decision.action is Action.REFUSE:
            raise AccessDenied(decision.reason, code=decision.code)  # before the resolver: no source call
        result = resolve(root, info, **args)
        if not leaf:
            return result  # an object: its own fields are decided one by one
        if inspect.isawaitable(result):
            return _finish_later(result, access, decision, root, info)
        return _finish(result, access, decision, root, info)

    return guarded


async def _finish_later(result: Any, access: AccessContext, decision: Decision, root: Any, info: GraphQLResolveInfo) -> Any:
    return _finish(await result, access, decision, root, info)


def _finish(value: Any, access: AccessContext, decision: Decision, root: Any, info: GraphQLResolveInfo) -> Any:
    masked = decision.action is Action.MASK
    if masked:
        value = apply_mask(decision.mask, value)
    if value is not None and value != []:
        access.notes.append(
            Disclosure(tuple(info.path.as_list()), _subject(root), f"{info.parent_type.name}.{info.field_name}", masked)
        )
    return value


def _subject(root: Any) -> str | None:
    subject = getattr(root, "data_subject", None)
    return subject if isinstance(subject, str) else None


def _present(data: Any, path: Iterable[str | int]) -> bool:
    node = data
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return False
        elif not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
        if node is None:
            return False
    return node != []
