"""Field-level enforcement of the access policy, and the ledger of what an answer disclosed.

``PolicyExtension`` runs on every field the executor resolves, whatever the entry point
(root fields, nested joins, connections, federation ``_entities``): there is no resolver
it does not see, so there is no path around it.

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

from graphql import GraphQLObjectType, GraphQLResolveInfo, get_named_type
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
    """Applies ``info.context.access`` to every resolved field (see module docstring)."""

    def on_execute(self) -> Iterator[None]:
        access: AccessContext | None = getattr(self.execution_context.context, "access", None)
        if access is not None:
            access.operation = self.execution_context.operation_name
        yield

    def resolve(self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo, *args: Any, **kwargs: Any) -> Any:
        access: AccessContext | None = getattr(info.context, "access", None)
        parent = info.parent_type.name
        if access is None or parent.startswith("__") or info.field_name.startswith("__"):
            return _next(root, info, *args, **kwargs)
        decision = access.decide(parent, info.field_name)
        if decision.sensitivity == PUBLIC:
            return _next(root, info, *args, **kwargs)
        leaf = not isinstance(get_named_type(info.return_type), GraphQLObjectType)
        if decision.action is Action.REFUSE:
            raise AccessDenied(decision.reason, code=decision.code)
        result = _next(root, info, *args, **kwargs)
        if not leaf:
            return result  # an object: its own fields are decided one by one
        if inspect.isawaitable(result):
            return _finish_later(result, access, decision, root, info)
        return _finish(result, access, decision, root, info)


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
