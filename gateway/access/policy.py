"""The access policy: which role sees which field, for which purpose, over which rows.

Everything here comes from the ``[policy]`` tables of the gateway's config, not from code::

    [policy.fields]                 # sensitivity of vocabulary fields; unlisted ones are public
    "Person.*" = "personal"
    "Person.nik" = { class = "personal", mask = "nik" }
    "HealthRecord.*" = "health"
    "Query.report" = ["personal", "children"]   # any of: a report over several systems, its items decided one by one

    [policy.lookups]                # distinct persons looked up by key per window (RedisBudget if redis_url)
    window_s = 3600
    default_budget = 500

    [policy.roles.dinkes_officer]
    description = "Puskesmas officer: patients in their working area"
    grant = ["personal", "health"]  # classes seen in full
    mask = []                       # classes seen masked (fields without a mask are hidden)
    purposes = ["health-care", "surveillance"]
    may = ["operations"]            # capabilities: federation (_service), operations (/readyz detail)
    lookup_budget = 2000            # instead of [policy.lookups] default_budget
    [policy.roles.dinkes_officer.row_scope]
    Person = { field = "regionCode", within = "region" }   # pushed to the source; a principal attribute
    Patient = { subject = "nik" }                          # rows whose person is in the Person scope
    Feedback = { field = "regionCode", within = "region", fields = ["body"] }   # these fields only

A field whose class is neither granted nor masked for the role is refused (``FORBIDDEN``);
any non-public field also needs a declared purpose the role may use. A link (an object-valued
field) from an object about a person is classed like a leaf (``classify_links``) and, having no
masked form, is refused where its class is only masked. ``Decision`` is what the enforcement
layer (``gateway.access.enforcement``) applies to each field it resolves; the same layer holds every
argument to the field it tests (``resolvers.arguments``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from connectors import Filter
from core import ConfigError, SatudataError

from .auth import ANONYMOUS

PUBLIC = "public"
#: The sensitivity classes of UU 27/2022: general personal data, and the "specific" kinds.
CLASSES = (PUBLIC, "personal", "health", "disability", "children")
SPECIFIC = ("health", "disability", "children")


class Mask(Enum):
    """How a field is shown to a role that may see it only masked."""

    NIK = "nik"  # 3503**********12: region and last two digits, enough to tell records apart
    INITIALS = "initials"  # "Siti Aminah" -> "S. A."
    YEAR = "year"  # a year shows; a date is withheld (its year is a field of its own, e.g. birthYear)
    HIDE = "hide"  # withheld: null, with a WITHHELD error at its path


class Action(Enum):
    ALLOW = "allow"
    MASK = "mask"
    REFUSE = "refuse"


class AccessDenied(SatudataError):
    """A field the caller's role or purpose may not see (``FORBIDDEN``, ``PURPOSE_REQUIRED``)."""

    code = "FORBIDDEN"
    status = 403

    def __init__(self, message: str, *, code: str = "FORBIDDEN", argument: str | None = None) -> None:
        super().__init__(message, **({"argument": argument} if argument is not None else {}))
        self.code = code


class FieldWithheld(SatudataError):
    """A value a mask withholds from the role (``WITHHELD``): the field is null and says why.

    ``extensions``: ``field`` (``Type.field``) and ``mask`` (``hide``; ``year`` for a date whose
    year the role may see in a field of its own, such as ``Person.birthYear``).
    """

    code = "WITHHELD"
    status = 403

    def __init__(self, name: str, role: str, mask: Mask) -> None:
        why = "only as a year (see the year field beside it)" if mask is Mask.YEAR else "masked"
        super().__init__(f"{name} is withheld: the role {role!r} may see it {why}.", field=name, mask=mask.value)


@dataclass(frozen=True)
class FieldRule:
    sensitivity: str = PUBLIC
    mask: Mask = Mask.HIDE
    #: A list of classes (``"Query.discrepancies" = ["personal", "children"]``): the field is open to a
    #: role that may see any of them (the first it sees in full, else the first it sees masked),
    #: for an entry point to items of several classes that are decided one by one. ``sensitivity``
    #: is then the first of them.
    any_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """What to do with one field for one request."""

    action: Action
    sensitivity: str
    mask: Mask = Mask.HIDE
    reason: str = ""
    code: str = "FORBIDDEN"

    @property
    def discloses(self) -> bool:
        """Whether the value is personal data that reaches the client (allowed or masked)."""

        return self.sensitivity != PUBLIC and self.action is not Action.REFUSE


@dataclass(frozen=True)
class RowScope:
    """Rows of ``entity`` a role sees, in one of three forms (``[policy.roles.R.row_scope]``).

    ``Person = { field = "regionCode", within = "region" }``
        pushed to the source: every query for the source entity ``Person`` gets
        ``regionCode`` within (or ``equals``) the principal's attribute ``region``.
    ``Patient = { subject = "nik" }``
        for sources that cannot filter by the attribute: a row of ``Patient`` is kept only when
        the person named by its ``nik`` is one of the role's ``Person`` rows.
    ``Feedback = { field = "regionCode", within = "region", fields = ["body", "reporter"] }``
        the vocabulary type's rows stay visible, but the listed fields of an object outside the
        scope are refused (its other fields are public data).

    Out of scope looks exactly like unknown: the row is absent, as if the source had none.
    """

    entity: str
    field: str = ""
    attribute: str = ""
    within: bool = False
    #: ``subject`` form: the record field that holds the data subject's NIK.
    subject: str = ""
    #: ``fields`` form: the vocabulary fields refused outside the scope.
    fields: frozenset[str] = frozenset()

    @property
    def pushed(self) -> bool:
        """Whether the scope is a filter the source applies (the first form)."""

        return not self.subject and not self.fields

    def filter(self, attributes: Mapping[str, Any]) -> Filter:
        value = attributes.get(self.attribute)
        if value in (None, ""):
            return Filter(self.field, "in", ())  # no attribute, no rows: fail closed
        return Filter(self.field, "prefix", (str(value),)) if self.within else Filter(self.field, "eq", value)

    def admits(self, value: Any, attributes: Mapping[str, Any]) -> bool:
        """Whether a row whose scoped field holds ``value`` is in scope (fails closed without the attribute)."""

        wanted = attributes.get(self.attribute)
        if wanted in (None, "") or not isinstance(value, str):
            return False
        if self.within:
            return value == wanted or value.startswith(f"{wanted}.")
        return value == wanted


#: What a role may do beyond reading fields: ``federation`` (read ``_service``, the subgraph's
#: SDL, as a router composing graphs does) and ``operations`` (see ``/readyz`` in detail).
CAPABILITIES = ("federation", "operations")


@dataclass(frozen=True)
class Role:
    name: str
    description: str = ""
    grant: frozenset[str] = frozenset()
    mask: frozenset[str] = frozenset()
    purposes: frozenset[str] = frozenset()
    row_scope: tuple[RowScope, ...] = ()
    capabilities: frozenset[str] = frozenset()
    #: Distinct persons (NIK, KK or NISN keys) the role may look up per ``[policy.lookups] window_s``.
    lookup_budget: int | None = None

    @cached_property
    def field_scopes(self) -> Mapping[str, tuple[RowScope, ...]]:
        """``Type.field`` -> the field-level row scopes that hold it (worked out once per role)."""

        out: dict[str, tuple[RowScope, ...]] = {}
        for scope in self.row_scope:
            for name in scope.fields:
                key = f"{scope.entity}.{name}"
                out[key] = (*out.get(key, ()), scope)
        return out

    @cached_property
    def scope_reads(self) -> frozenset[tuple[str, str]]:
        """(entity, field) pairs the role's row scopes read of a record or object beyond what a query
        selects: a field scope's field, a subject scope's NIK field (``resolvers.projection``)."""

        return frozenset((scope.entity, scope.field or scope.subject) for scope in self.row_scope)

    def may(self, capability: str) -> bool:
        """Whether the role has ``capability`` (one of ``CAPABILITIES``)."""

        return capability in self.capabilities


@dataclass(frozen=True)
class Policy:
    """Field sensitivity, roles and row scopes, read from config."""

    fields: Mapping[str, FieldRule] = field(default_factory=dict)
    roles: Mapping[str, Role] = field(default_factory=dict)
    lookups: LookupSettings = field(default_factory=lambda: LookupSettings())
    #: Classes of links (object-valued fields) without an entry of their own, derived from the
    #: schema by ``classify_links``: a link discloses what it leads to.
    links: dict[str, FieldRule] = field(default_factory=dict)
    #: Every object-valued field (``Type.field``), and the types whose objects are about one
    #: person (they carry a data subject); both filled by ``classify_links``.
    link_names: set[str] = field(default_factory=set)
    subject_types: set[str] = field(default_factory=set)
    #: (role name, purpose) -> the decisions taken for that pair so far (``decisions``).
    _decided: dict[tuple[str, str | None], dict[tuple[str, str], Decision]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> Policy:
        """Read ``[policy]``; with none, every field is public and only ``anonymous`` exists."""

        raw = raw or {}
        unknown = set(raw) - {"fields", "roles", "lookups"}
        if unknown:
            raise ConfigError(f"[policy] has unknown key(s) {sorted(unknown)}; expected fields, roles, lookups")
        fields: dict[str, FieldRule] = {}
        for name, spec in (raw.get("fields") or {}).items():
            if not isinstance(name, str) or "." not in name:
                raise ConfigError(f"policy.fields key {name!r} must be Type.field or Type.*")
            if isinstance(spec, str | list):
                spec = {"class": spec}
            sensitivity = spec.get("class")
            any_of: tuple[str, ...] = ()
            if isinstance(sensitivity, list):
                any_of = tuple(sensitivity)
                if not any_of or any(c not in CLASSES or c == PUBLIC for c in any_of):
                    raise ConfigError(
                        f"policy.fields.{name!r}: a list of classes must name one or more of {list(CLASSES[1:])}, not {sensitivity!r}"
                    )
                sensitivity = any_of[0]
            if sensitivity not in CLASSES:
                raise ConfigError(f"policy.fields.{name!r}: class {sensitivity!r} is not one of {list(CLASSES)}")
            try:
                mask = Mask(spec.get("mask", "hide"))
            except ValueError:
                raise ConfigError(
                    f"policy.fields.{name!r}: mask {spec.get('mask')!r} is not one of {[m.value for m in Mask]}"
                ) from None
            fields[name] = FieldRule(sensitivity, mask, any_of)
        roles = {ANONYMOUS.role: Role(ANONYMOUS.role, "Clients without credentials: public data only.")}
        for name, spec in (raw.get("roles") or {}).items():
            roles[name] = _role(name, spec)
        if roles[ANONYMOUS.role].grant or roles[ANONYMOUS.role].mask or roles[ANONYMOUS.role].capabilities:
            raise ConfigError("policy.roles.anonymous may not be granted any personal data class")
        return cls(fields, roles, LookupSettings.from_config(raw.get("lookups")))

    def rule(self, type_name: str, field_name: str) -> FieldRule:
        """The field's own entry, else its derived link class, else its type's ``Type.*``, else public."""

        name = f"{type_name}.{field_name}"
        return self.fields.get(name) or self.links.get(name) or self.fields.get(f"{type_name}.*") or FieldRule()

    def classify_links(self, links: Mapping[str, tuple[str, frozenset[str]]], subject_types: Iterable[str] = ()) -> None:
        """Class every link that has no entry of its own, once at start-up.

        ``links`` maps ``Type.field`` of each object-valued field to (its parent type, the types
        it leads to, connections and edges looked through); ``subject_types`` are the types whose
        objects are about one person. A link from such an object discloses the relation between
        that person and what it leads to, so its class is the strictest of the parent's
        ``Type.*`` class and every class on the values (leaf fields) of the types it leads to. Where
        that mixes specific classes, the later one in ``CLASSES`` wins: class such links
        explicitly in ``[policy.fields]``.
        """

        subject_types = set(subject_types)
        for taken in self._decided.values():
            taken.clear()  # decided on the classes before these: taken again on next use
        derived: dict[str, FieldRule] = {}
        for name, (parent, targets) in links.items():
            # Only a link from an object about a person discloses a relation of that person; other
            # object fields (root fields, a region's schools, an agency's reports) are lists and
            # lookups whose items are decided field by field, as their own entries say.
            if name in self.fields or parent not in subject_types:
                continue
            classes = {self.fields.get(f"{parent}.*", FieldRule()).sensitivity}
            for target in targets:  # the target's values (its links are decided when followed)
                classes.update(r.sensitivity for n, r in self.fields.items() if n.split(".", 1)[0] == target and n not in links)
            strictest = max(classes, key=CLASSES.index)
            if strictest != PUBLIC:
                derived[name] = FieldRule(strictest)
        self.links.clear()
        self.links.update(derived)
        self.link_names.clear()
        self.link_names.update(links)
        self.subject_types.clear()
        self.subject_types.update(subject_types)

    def is_person_link(self, type_name: str, field_name: str) -> bool:
        """Whether ``Type.field`` leads from an object about a person to something else about them."""

        return type_name in self.subject_types and f"{type_name}.{field_name}" in self.link_names

    def role(self, name: str) -> Role:
        role = self.roles.get(name)
        if role is None:
            raise AccessDenied(f"The role {name!r} is not defined by this gateway's policy.")
        return role

    def decisions(self, role: Role, purpose: str | None) -> dict[tuple[str, str], Decision]:
        """``(type, field) -> Decision`` for ``role`` and ``purpose``, filled as requests decide
        (``AccessContext.decide``) and shared by every request of that pair: a decision depends on
        nothing else, so each is taken once per process rather than per field of every request.

        A role that is not this policy's own, or a purpose the role may not use, gets a table of
        its own: no value a client chooses adds to what the policy keeps.
        """

        if self.roles.get(role.name) is not role or (purpose is not None and purpose not in role.purposes):
            return {}
        taken = self._decided.get((role.name, purpose))
        if taken is None:
            taken = self._decided[(role.name, purpose)] = {}
        return taken

    def decide(self, role: Role, purpose: str | None, type_name: str, field_name: str) -> Decision:
        rule = self.rule(type_name, field_name)
        if rule.sensitivity == PUBLIC:
            return Decision(Action.ALLOW, PUBLIC)
        where = f"{type_name}.{field_name}"
        classes = rule.any_of or (rule.sensitivity,)
        granted = next((c for c in classes if c in role.grant), None)
        masked = next((c for c in classes if c in role.mask), None)
        if granted is not None:
            action, sensitivity = Action.ALLOW, granted
        elif masked is not None:
            action, sensitivity = Action.MASK, masked
        else:
            what = " or ".join(classes)
            return Decision(
                Action.REFUSE,
                rule.sensitivity,
                reason=f"{where} is {what} data, which the role {role.name!r} may not see.",
            )
        if purpose is None:
            return Decision(
                Action.REFUSE,
                sensitivity,
                reason=f"{where} is {sensitivity} data: declare a purpose in the X-Satudata-Purpose header.",
                code="PURPOSE_REQUIRED",
            )
        if action is Action.MASK and self.is_person_link(type_name, field_name):
            # A link (a child's school, that a health record exists) has no masked form: what it
            # discloses is that it leads somewhere at all.
            return Decision(
                Action.REFUSE,
                sensitivity,
                reason=f"{where} links to {sensitivity} data, which the role {role.name!r} may see only masked; "
                "a link cannot be masked.",
            )
        return Decision(action, sensitivity, rule.mask)

    def budget(self, role: Role) -> int:
        """Distinct persons ``role`` may look up by key per ``[policy.lookups] window_s``."""

        return role.lookup_budget if role.lookup_budget is not None else self.lookups.default_budget

    def check_purpose(self, role: Role, purpose: str | None) -> None:
        """Refuse, before execution, a declared purpose the role may not use."""

        if purpose is not None and purpose not in role.purposes:
            # The role's other purposes are not listed: they would tell a caller what else to claim.
            raise AccessDenied(
                f"The purpose {purpose!r} is not allowed for the role {role.name!r}.",
                code="PURPOSE_NOT_ALLOWED",
            )

    def row_filters(self, role: Role, attributes: Mapping[str, Any]) -> dict[str, tuple[Filter, ...]]:
        """Entity -> filters every source query for that entity gets, for this caller (pushed scopes only)."""

        out: dict[str, tuple[Filter, ...]] = {}
        for scope in role.row_scope:
            if scope.pushed:
                out[scope.entity] = (*out.get(scope.entity, ()), scope.filter(attributes))
        return out


@dataclass(frozen=True)
class LookupSettings:
    """``[policy.lookups]``: the window of the per-role lookup budget, and where it is counted."""

    #: Length of the window in which ``lookup_budget`` distinct persons may be looked up.
    window_s: float = 3600.0
    #: Roles without a ``lookup_budget`` of their own get this one.
    default_budget: int = 1000
    #: Count in Redis (shared by replicas); absent: in this process's memory.
    redis_url: str | None = None

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> LookupSettings:
        raw = raw or {}
        unknown = set(raw) - {"window_s", "default_budget", "redis_url"}
        if unknown:
            raise ConfigError(f"[policy.lookups] has unknown key(s) {sorted(unknown)}; expected window_s, default_budget, redis_url")
        window = raw.get("window_s", cls.window_s)
        budget = raw.get("default_budget", cls.default_budget)
        if not isinstance(window, (int, float)) or isinstance(window, bool) or window <= 0:
            raise ConfigError("[policy.lookups] window_s must be a positive number of seconds")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
            raise ConfigError("[policy.lookups] default_budget must be a whole number (0 or more)")
        url = raw.get("redis_url")
        if url is not None and not isinstance(url, str):
            raise ConfigError("[policy.lookups] redis_url must be a URL or \"env:VAR\"")
        return cls(float(window), budget, url)


def _role(name: str, spec: Mapping[str, Any]) -> Role:
    where = f"policy.roles.{name}"
    unknown = set(spec) - {"description", "grant", "mask", "purposes", "row_scope", "may", "lookup_budget"}
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {sorted(unknown)}")

    def classes(key: str) -> frozenset[str]:
        values = spec.get(key) or []
        bad = [v for v in values if v not in CLASSES or v == PUBLIC]
        if bad:
            raise ConfigError(f"{where}.{key}: {bad} not among {list(CLASSES[1:])}")
        return frozenset(values)

    scopes = [_row_scope(f"{where}.row_scope.{entity}", entity, rule) for entity, rule in (spec.get("row_scope") or {}).items()]
    if any(not scope.pushed and scope.subject for scope in scopes) and not any(
        scope.entity == "Person" and scope.pushed for scope in scopes
    ):
        raise ConfigError(f"{where}.row_scope: a `subject` scope needs a Person scope to compare with")
    purposes = spec.get("purposes") or []
    if not all(isinstance(p, str) and p for p in purposes):
        raise ConfigError(f"{where}.purposes must be a list of names")
    budget = spec.get("lookup_budget")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 0):
        raise ConfigError(f"{where}.lookup_budget must be a whole number of persons (0 or more)")
    may = spec.get("may") or []
    bad = [c for c in may if c not in CAPABILITIES]
    if bad:
        raise ConfigError(f"{where}.may: {bad} not among {list(CAPABILITIES)}")
    return Role(
        name,
        str(spec.get("description", "")),
        classes("grant"),
        classes("mask"),
        frozenset(purposes),
        tuple(scopes),
        frozenset(may),
        budget,
    )


def _row_scope(where: str, entity: str, rule: Mapping[str, Any]) -> RowScope:
    if not isinstance(rule, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = set(rule) - {"field", "equals", "within", "subject", "fields"}
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {sorted(unknown)}")
    if "subject" in rule:
        if set(rule) != {"subject"}:
            raise ConfigError(f"{where}: `subject` stands alone (the record field holding the person's NIK)")
        return RowScope(entity, subject=str(rule["subject"]))
    kinds = [k for k in ("equals", "within") if k in rule]
    if "field" not in rule or len(kinds) != 1:
        raise ConfigError(f"{where} needs field and one of equals/within (a principal attribute), or subject")
    fields = rule.get("fields") or []
    if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
        raise ConfigError(f"{where}.fields must be a list of field names")
    return RowScope(entity, str(rule["field"]), str(rule[kinds[0]]), kinds[0] == "within", fields=frozenset(fields))


# -- masks ------------------------------------------------------------------------------------


def apply_mask(mask: Mask, value: Any) -> Any:
    """``value`` as a role with masked access sees it (lists element by element); ``None`` when
    the mask withholds it. A scalar keeps its type: a ``Date`` is never shown as ``"1985"``; the
    ``year`` mask shows a year (an ``Int``, e.g. ``Person.birthYear``) and withholds a date."""

    if value is None:
        return None
    if isinstance(value, list):
        return [apply_mask(mask, v) for v in value]
    if mask is Mask.NIK and isinstance(value, str):
        return value[:4] + "*" * max(0, len(value) - 6) + value[-2:] if len(value) > 6 else "*" * len(value)
    if mask is Mask.INITIALS and isinstance(value, str):
        return " ".join(part[0].upper() + "." for part in value.replace("'", " ").split() if part[0].isalpha())
    if mask is Mask.YEAR and isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
