"""Field-level enforcement of the access policy, and the ledger of what an answer disclosed.

``guard_fields(schema, policy)`` first completes the policy against the schema (each link's
class, which types are about a person), then wraps, once at start-up, the resolver of every
field that needs a decision: non-public fields, fields whose arguments read a field
(``resolvers.arguments``), fields that return objects about a person, and fields under a
field-level row scope. Whatever the entry point (root fields, nested joins, connections,
federation ``_entities``), the executor can only reach such a field through its guard. Public
fields keep their resolvers untouched and cost nothing extra.

Before a guarded resolver runs (so before any source is asked; for a subscription field also
before its event stream starts):

- a refused field raises ``AccessDenied``; so does a link that the role could see only masked
  (``Policy.decide``), and a field under a field-level row scope on an object outside it;
- every argument is a read (``resolvers.arguments``): a key, filter or search term is allowed
  only where the role may read the field it tests in full, a list narrowed like a link only
  where the role may follow that link — else ``FORBIDDEN`` with ``extensions.argument``; a list
  or link chosen by a field of what it leads to (an alert's pupils, by their class; a change's
  resident, by their status) is such a read too (``resolvers.arguments.CHOSEN_BY``);
- lookups by a person's key (NIK, KK, NISN, also as ``_entities`` representations) spend the
  principal's lookup budget (``gateway.access.lookup_budget``).

After it runs, a masked leaf is masked (``policy.apply_mask``), and every personal value and
every object about a person that reaches the answer is noted in the request's
``AccessContext`` with its response path, its data subject and whether it went out masked;
refusals on personal data are noted too. ``disclosed(data)`` then keeps the notes whose path
is non-null in the final answer, so the audit record names exactly what the client received.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from graphql import (
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    default_field_resolver,
    get_named_type,
    is_leaf_type,
)

from resolvers.arguments import REPRESENTATIONS, argument_reads, chosen_by, fields_with_reads, representation_key

from .lookup_budget import LookupBudget
from .policy import PUBLIC, AccessDenied, Action, Decision, FieldWithheld, Mask, Policy, Role, RowScope, apply_mask


#: Key fields whose lookups are lookups of a person, counted by the lookup budget.
PERSON_KEYS = frozenset({"Person.nik", "Family.kk", "Student.nisn"})
#: Key arguments of root lookups, by ``Type.field``.
_KEY_ARGUMENTS = {"Query.person": "nik", "Query.family": "kk", "Query.student": "nisn"}


class Disclosure(NamedTuple):
    """A personal value or object in the answer: where, whose, which field, whether masked.

    ``path`` is a tuple of keys or a GraphQL ``Path`` (anything with ``as_list``); a leaf of a
    prepared field is noted by its object's path and its own ``key``, an item of a list by the
    list's path and its index. The keys are spelled out (``steps``) only when an answer with
    errors must be checked for what was nulled: most answers have none, and a page of persons
    notes hundreds of values. (A named tuple: one is made per value.)
    """

    path: Any
    subject: str | None
    field: str
    masked: bool
    key: str | int | None = None

    def steps(self) -> list[str | int]:
        path = self.path
        steps: list[str | int] = [] if path is None else path.as_list() if hasattr(path, "as_list") else list(path)
        if self.key is not None:
            steps.append(self.key)
        return steps


@dataclass(frozen=True)
class Disclosed:
    """What an answer held about persons: whose data, which fields, which of them masked."""

    subjects: frozenset[str] = frozenset()
    fields: frozenset[str] = frozenset()
    #: Fields that went out masked wherever they appeared.
    masked: frozenset[str] = frozenset()


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
    #: The principal's attributes that row scopes compare with (``region``, ``school``).
    attributes: Mapping[str, Any] = field(default_factory=dict)
    #: Who spends the lookup budget (the principal's typed identity), and the budget itself.
    principal_key: str = ""
    budget: LookupBudget | None = None
    #: ``Type.field`` names refused on personal data in this request.
    refused: list[str] = field(default_factory=list)
    #: Set when a lookup was refused because the principal's budget ran out.
    budget_exceeded: bool = False
    #: The decisions of this role and purpose, shared with every request of theirs (``Policy.decisions``).
    _decisions: dict[tuple[str, str], Decision] = field(init=False, repr=False)
    #: ``Type.field`` names whose checks, asked without arguments, passed in this request (``_check``).
    passed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._decisions = self.policy.decisions(self.role, self.purpose)

    def decide(self, type_name: str, field_name: str) -> Decision:
        key = (type_name, field_name)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = self.policy.decide(self.role, self.purpose, type_name, field_name)
        return decision

    def may_read_in_full(self, name: str) -> bool:
        type_name, field_name = name.split(".", 1)
        return self.decide(type_name, field_name).action is Action.ALLOW

    def may_follow(self, name: str) -> bool:
        type_name, field_name = name.split(".", 1)
        return self.decide(type_name, field_name).action is not Action.REFUSE

    def refuse(self, name: str, sensitivity: str, error: AccessDenied) -> AccessDenied:
        """Note a refusal (on personal data: it is audited) and return the error to raise."""

        if sensitivity != PUBLIC:
            self.refused.append(name)
        return error

    def disclosed(self, data: Any, *, nulled: bool = True) -> Disclosed:
        """Subjects and ``Type.field`` names of the notes whose value is in ``data``.

        ``nulled=False`` says that nothing was nulled after it was noted (an answer without errors:
        only an error nulls a value, or its parents, once resolved), so every note's value is in
        ``data`` and its path need not be walked."""

        subjects: set[str] = set()
        fields: set[str] = set()
        full: set[str] = set()
        every = not nulled and data is not None
        for note in self.notes:
            if every or _present(data, note.steps()):
                fields.add(note.field)
                if not note.masked:
                    full.add(note.field)
                if note.subject:
                    subjects.add(note.subject)
        return Disclosed(frozenset(subjects), frozenset(fields), frozenset(fields - full))


def subject_types(schema: GraphQLSchema) -> set[str]:
    """Object types whose objects are about one person: their resolver class has ``data_subject``."""

    found: set[str] = set()
    for name, gql_type in schema.type_map.items():
        definition = (getattr(gql_type, "extensions", None) or {}).get("strawberry-definition")
        if isinstance(gql_type, GraphQLObjectType) and hasattr(getattr(definition, "origin", None), "data_subject"):
            found.add(name)
    return found


def schema_links(schema: GraphQLSchema) -> dict[str, tuple[str, frozenset[str]]]:
    """``Type.field`` of every object-valued field -> (parent type, the types it leads to).

    Relay connections and edges are looked through: a page of residents leads to ``Person``.
    """

    def targets(type_name: str, seen: frozenset[str]) -> frozenset[str]:
        if not (type_name.endswith("Connection") or type_name.endswith("Edge")) or type_name in seen:
            return frozenset({type_name})
        gql_type = schema.type_map[type_name]
        out: set[str] = set()
        for f in gql_type.fields.values():  # type: ignore[union-attr]
            inner = get_named_type(f.type)
            if not is_leaf_type(inner) and inner.name != "PageInfo":
                out |= targets(inner.name, seen | {type_name})
        return frozenset(out)

    links: dict[str, tuple[str, frozenset[str]]] = {}
    for type_name, gql_type in _object_types(schema):
        for field_name, field_def in gql_type.fields.items():
            named = get_named_type(field_def.type)
            if field_name.startswith("__") or is_leaf_type(named):
                continue
            members = [t.name for t in getattr(named, "types", ())] or [named.name]  # unions: every member
            leads_to: set[str] = set()
            for member in members:
                leads_to |= targets(member, frozenset())
            links[f"{type_name}.{field_name}"] = (type_name, frozenset(leads_to))
    return links


def guard_fields(schema: GraphQLSchema, policy: Policy) -> int:
    """Complete ``policy`` against ``schema`` and wrap every field that needs a decision; returns how many.

    Call once per schema instance (each ``build_schema()`` has its own field objects).
    """

    subjects = subject_types(schema)
    policy.classify_links(schema_links(schema), subjects)
    # Objects about a person are noted for the audit when their type as a whole is personal data.
    noted_types = {t for t in subjects if policy.rule(t, "*").sensitivity != PUBLIC}
    scoped_fields = {
        f"{scope.entity}.{name}" for role in policy.roles.values() for scope in role.row_scope for name in scope.fields
    }
    with_reads = fields_with_reads()
    guarded = 0
    for type_name, gql_type in _object_types(schema):
        for field_name, field_def in gql_type.fields.items():
            if field_name.startswith("__"):
                continue
            name = f"{type_name}.{field_name}"
            named = get_named_type(field_def.type)
            members = {t.name for t in getattr(named, "types", ())} or {named.name}
            returns_persons = bool(members & noted_types)
            non_public = policy.rule(type_name, field_name).sensitivity != PUBLIC
            if not (non_public or returns_persons or name in with_reads or name in scoped_fields):
                continue
            resolve = field_def.resolve or default_field_resolver
            # A field without a resolver of its own is strawberry's attribute read: a prepared
            # value reads the attribute itself, past strawberry's three calls that do the same.
            definition = (field_def.extensions or {}).get("strawberry-definition")
            attribute = getattr(definition, "python_name", None) if getattr(resolve, "_is_default", False) else None
            field_def.resolve = _guard(
                resolve,
                attribute=attribute,
                type_name=type_name,
                field_name=field_name,
                leaf=is_leaf_type(named),
                year_typed=named.name == "Int",
                returns_persons=returns_persons,
            )
            if field_def.subscribe is not None:
                # A subscription is refused when it is made, not event by event after it was accepted.
                field_def.subscribe = _guard_subscribe(field_def.subscribe, type_name=type_name, field_name=field_name)
            guarded += 1
    return guarded


def _guard_subscribe(subscribe: Callable[..., Any], *, type_name: str, field_name: str) -> Callable[..., Any]:
    """The checks of ``_guard`` (field, row scope, arguments) before a subscription's event stream starts."""

    name = f"{type_name}.{field_name}"

    def guarded(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        access: AccessContext | None = getattr(info.context, "access", None)
        if access is not None:
            _check(access, access.decide(type_name, field_name), name, root, args, False)
        return subscribe(root, info, **args)

    return guarded


def _object_types(schema: GraphQLSchema) -> Iterable[tuple[str, GraphQLObjectType]]:
    for type_name, gql_type in schema.type_map.items():
        if not type_name.startswith("__") and isinstance(gql_type, GraphQLObjectType):
            yield type_name, gql_type


def _guard(
    resolve: Callable[..., Any], *, type_name: str, field_name: str, leaf: bool, returns_persons: bool,
    year_typed: bool = False, attribute: str | None = None,
) -> Callable[..., Any]:
    name = f"{type_name}.{field_name}"
    key_argument = _KEY_ARGUMENTS.get(name)
    is_entities = f"{name}(representations)" == REPRESENTATIONS

    def guarded(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        return call_around(root, info, args, resolve)

    def call_around(root: Any, info: GraphQLResolveInfo, args: dict[str, Any], inner: Callable[..., Any]) -> Any:
        """The guard around ``inner(root, info, **args)``: ``resolve`` itself, or what an executor
        calls in its place with the same answer (``resolvers.compiled`` calls strawberry's field
        resolver directly, its arguments converted once per request)."""

        access: AccessContext | None = getattr(info.context, "access", None)
        if access is None:  # the schema used without the gateway (tests of the vocabulary)
            return inner(root, info, **args)
        decision = access.decide(type_name, field_name)
        _check(access, decision, name, root, args, is_entities)
        person_keys = _person_keys(args, key_argument, is_entities)
        if person_keys and access.budget is not None:
            then = lambda: _resolve(access, decision, inner, root, info, args, leaf, returns_persons)  # noqa: E731
            return _after_budget(access, name, person_keys, then)
        return _resolve(access, decision, inner, root, info, args, leaf, returns_persons)

    reads_attribute = bool(getattr(resolve, "_is_default", False))

    def prepare_rows(context: Any, args: dict[str, Any]) -> Callable[[Any, Any], Any] | None:
        """For an executor that resolves a field for many rows at once (``resolvers.compiled``):
        take the decision and every check that does not depend on the row once per request,
        and return what is left to do per value, or ``None`` to be called per value as usual.

        Only a plain attribute (a leaf without a resolver of its own) whose checks all pass is
        prepared: a refusal is still raised value by value by ``guarded`` (and noted each time,
        as before), and a root lookup still spends the lookup budget per call.
        """

        access: AccessContext | None = getattr(context, "access", None)
        if access is None or not leaf or not reads_attribute or is_entities or key_argument is not None:
            return None
        decision = access.decide(type_name, field_name)
        if (access.public_only is not None and decision.sensitivity != PUBLIC) or decision.action is Action.REFUSE:
            return None
        if next(iter(argument_reads(type_name, field_name, args)), None) is not None:
            return None
        scopes = access.role.field_scopes.get(name, ())
        if decision.action is Action.MASK:

            def per_value(root: Any, parent: Any, key: str) -> Any:
                if scopes:
                    _check_row_scopes(access, decision, name, root, scopes)
                value = resolve(root, None) if attribute is None else getattr(root, attribute)
                return _finish_leaf(value, access, decision, name, root, parent, key, year_typed=year_typed)

            return per_value
        # Shown in full: ``_finish_leaf``'s work without its mask, on the path every personal value
        # of a list takes (a page of persons is hundreds of them).
        notes = access.notes if decision.sensitivity != PUBLIC else None

        def per_value_in_full(root: Any, parent: Any, key: str) -> Any:
            if scopes:
                _check_row_scopes(access, decision, name, root, scopes)
            value = resolve(root, None) if attribute is None else getattr(root, attribute)
            if notes is not None and value is not None and value != []:
                notes.append(Disclosure(parent, _subject(root), name, False, key))
            return value

        return per_value_in_full

    guarded.prepare_rows = prepare_rows  # type: ignore[attr-defined]
    guarded.call_around = call_around  # type: ignore[attr-defined]
    guarded.wrapped = resolve  # type: ignore[attr-defined]
    return guarded


def _check(access: AccessContext, decision: Decision, name: str, root: Any, args: dict[str, Any], is_entities: bool) -> None:
    """Raise ``AccessDenied`` if the field, its row scope or any of its arguments is refused.

    Without arguments, all but the row scope is the same for every row: once it passed, the rest
    of the request asks only the row scope (``access.passed``). A refusal is not remembered, so it
    is raised, and recorded, row by row."""

    if not args and name in access.passed:
        _check_row_scopes(access, decision, name, root, access.role.field_scopes.get(name, ()))
        return
    if access.public_only is not None and decision.sensitivity != PUBLIC:
        raise access.refuse(name, decision.sensitivity, AccessDenied(access.public_only))
    if decision.action is Action.REFUSE:
        raise access.refuse(name, decision.sensitivity, AccessDenied(decision.reason, code=decision.code))
    type_name, field_name = name.split(".", 1)
    _check_row_scopes(access, decision, name, root, access.role.field_scopes.get(name, ()))
    for read in argument_reads(type_name, field_name, args):
        allowed = access.may_read_in_full(read.reads) if read.matches else access.may_follow(read.reads)
        if not allowed:
            how = "read in full" if read.matches else "follow"
            raise access.refuse(
                name,
                "personal",
                AccessDenied(
                    f"The argument `{read.argument}` of {name} tests {read.reads}, which the role "
                    f"{access.role.name!r} may not {how}; an argument can only test what the role may read.",
                    argument=read.argument,
                ),
            )
    chosen = chosen_by(type_name, field_name)
    if chosen is not None and not access.may_read_in_full(chosen.reads):
        raise access.refuse(
            name,
            # The read refused is of the field it is chosen by: on the record when that one is personal,
            # whatever the link's own class (a public event's link to a person refused is still a look).
            decision.sensitivity
            if decision.sensitivity != PUBLIC
            else access.decide(*chosen.reads.split(".", 1)).sensitivity,
            AccessDenied(
                f"{name} leads to what its {chosen.reads} chose (the `{chosen.argument}` beside it), so it tells "
                f"{chosen.reads}, which the role {access.role.name!r} may not read in full.",
            ),
        )
    if is_entities:
        for representation in args.get("representations") or ():
            keyed = representation_key(representation)
            if keyed is not None and not access.may_read_in_full(keyed[0]):
                key_field = keyed[0]
                raise access.refuse(
                    name,
                    "personal",
                    AccessDenied(
                        f"A representation of {key_field.split('.')[0]} is looked up by {key_field}, which the role "
                        f"{access.role.name!r} may not read in full.",
                        argument="representations",
                    ),
                )
    if not args:
        access.passed.add(name)


def _in_scope(scope: RowScope, root: Any, access: AccessContext) -> bool:
    attribute = "".join("_" + c.lower() if c.isupper() else c for c in scope.field)  # regionCode -> region_code
    return scope.admits(getattr(root, attribute, None), access.attributes)


def _person_keys(args: dict[str, Any], key_argument: str | None, is_entities: bool) -> list[str]:
    """The persons' keys a root lookup or ``_entities`` asks for, as ``Type.field:value``."""

    if key_argument is not None:
        value = args.get(key_argument)
        return [f"{key_argument}:{value}"] if isinstance(value, str) else []
    if not is_entities:
        return []
    keys: list[str] = []
    for representation in args.get("representations") or ():
        keyed = representation_key(representation)
        if keyed is not None and keyed[0] in PERSON_KEYS and keyed[1]:
            keys.append(f"{keyed[0].split('.', 1)[1]}:{keyed[1]}")
    return keys


async def _after_budget(access: AccessContext, name: str, keys: list[str], then: Callable[[], Any]) -> Any:
    """``then()`` once the principal's lookup budget has room for ``keys``; else a refusal on the record."""

    assert access.budget is not None
    if not await access.budget.spend(access.principal_key, keys, access.policy.budget(access.role)):
        access.budget_exceeded = True
        raise access.refuse(
            name,
            "personal",
            AccessDenied(
                "This client has looked up as many persons by key as its role allows for now; "
                "lookups resume in the next window.",
                code="LOOKUP_BUDGET_EXCEEDED",
            ),
        )
    result = then()
    return await result if inspect.isawaitable(result) else result


def _resolve(
    access: AccessContext,
    decision: Decision,
    resolve: Callable[..., Any],
    root: Any,
    info: GraphQLResolveInfo,
    args: dict[str, Any],
    leaf: bool,
    returns_persons: bool,
) -> Any:
    result = resolve(root, info, **args)
    if not leaf and not returns_persons:
        return result  # an object: its own fields are decided one by one
    if inspect.isawaitable(result):
        return _finish_later(result, access, decision, root, info, leaf)
    return _finish(result, access, decision, root, info, leaf)


async def _finish_later(
    result: Any, access: AccessContext, decision: Decision, root: Any, info: GraphQLResolveInfo, leaf: bool
) -> Any:
    return _finish(await result, access, decision, root, info, leaf)


def _finish(value: Any, access: AccessContext, decision: Decision, root: Any, info: GraphQLResolveInfo, leaf: bool) -> Any:
    masked = decision.action is Action.MASK
    name = f"{info.parent_type.name}.{info.field_name}"
    if not leaf:
        # Objects about a person: each one in the answer is a disclosure, whatever is selected of it.
        path = info.path
        if isinstance(value, list):
            for index, item in enumerate(value):
                if item is not None:
                    access.notes.append(Disclosure(path, _subject(item), name, masked, index))
        elif value is not None:
            access.notes.append(Disclosure(path, _subject(value), name, masked))
        return value
    year_typed = get_named_type(info.return_type).name == "Int"
    return _finish_leaf(value, access, decision, name, root, info.path, year_typed=year_typed)


def _finish_leaf(
    value: Any, access: AccessContext, decision: Decision, name: str, root: Any, path: Any, key: str | int | None = None,
    *, year_typed: bool = False,
) -> Any:
    """A leaf's value as the role may see it (masked if so decided), noted for the audit when personal.

    ``path`` is the leaf's path, or its object's with the leaf's ``key``. ``year_typed``: the
    field holds a year (an ``Int``), which the ``year`` mask shows.
    """

    masked = decision.action is Action.MASK
    if masked:
        shown = apply_mask(decision.mask, value)
        if shown is None and (value is not None and value != [] or _withholds_every_value(decision.mask, year_typed)):
            # A masked null says so (issue 13). Where the mask shows nothing of any value, a null or
            # an empty list is withheld too: an error only where there is a value would tell which.
            raise FieldWithheld(name, access.role.name, decision.mask)
        value = shown
    if value is not None and value != [] and decision.sensitivity != PUBLIC:
        access.notes.append(Disclosure(path, _subject(root), name, masked, key))
    return value


def _withholds_every_value(mask: Mask, year_typed: bool) -> bool:
    """Whether ``mask`` shows nothing of any value of a field (``hide``; ``year`` on a date)."""

    return mask is Mask.HIDE or (mask is Mask.YEAR and not year_typed)


def _check_row_scopes(
    access: AccessContext, decision: Decision, name: str, root: Any, scopes: Iterable[RowScope]
) -> None:
    """Refuse ``name`` of ``root`` when ``root`` lies outside one of the role's field-level scopes."""

    for scope in scopes:
        if not _in_scope(scope, root, access):
            type_name = name.split(".", 1)[0]
            raise access.refuse(
                name,
                decision.sensitivity,
                AccessDenied(f"{name} of a {type_name} outside the role {access.role.name!r}'s area is not shown."),
            )


def _subject(obj: Any) -> str | None:
    subject = getattr(obj, "data_subject", None)
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
