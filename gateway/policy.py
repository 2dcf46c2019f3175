"""The access policy: which role sees which field, for which purpose, over which rows.

Everything here comes from the ``[policy]`` tables of the gateway's config, not from code::

    [policy.fields]                 # sensitivity of vocabulary fields; unlisted ones are public
    "Person.*" = "personal"
    "Person.nik" = { class = "personal", mask = "nik" }
    "HealthRecord.*" = "health"

    [policy.roles.dinkes_officer]
    description = "Puskesmas officer: patients in their working area"
    grant = ["personal", "health"]  # classes seen in full
    mask = []                       # classes seen masked (fields without a mask are hidden)
    purposes = ["health-care", "surveillance"]
    [policy.roles.dinkes_officer.row_scope]
    Person = { field = "regionCode", within = "region" }   # a principal attribute

A field whose class is neither granted nor masked for the role is refused (``FORBIDDEN``);
any non-public field also needs a declared purpose the role may use. ``Decision`` is what
the enforcement layer (``gateway.enforcement``) applies to each field it resolves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from connectors import ConfigError, Filter, SatudataError

PUBLIC = "public"
#: The sensitivity classes of UU 27/2022: general personal data, and the "specific" kinds.
CLASSES = (PUBLIC, "personal", "health", "disability", "children")
SPECIFIC = ("health", "disability", "children")
ANONYMOUS = "anonymous"


class Mask(Enum):
    """How a field is shown to a role that may see it only masked."""

    NIK = "nik"  # 3503**********12: region and last two digits, enough to tell records apart
    INITIALS = "initials"  # "Siti Aminah" -> "S. A."
    YEAR = "year"  # a date -> its year only
    HIDE = "hide"  # null


class Action(Enum):
    ALLOW = "allow"
    MASK = "mask"
    REFUSE = "refuse"


class AccessDenied(SatudataError):
    """A field the caller's role or purpose may not see (``FORBIDDEN``, ``PURPOSE_REQUIRED``)."""

    code = "FORBIDDEN"

    def __init__(self, message: str, *, code: str = "FORBIDDEN") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FieldRule:
    sensitivity: str = PUBLIC
    mask: Mask = Mask.HIDE


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
    """Rows of ``entity`` the role sees: ``field`` equal to, or within (region codes), an attribute."""

    entity: str
    field: str
    attribute: str
    within: bool

    def filter(self, attributes: Mapping[str, Any]) -> Filter:
        value = attributes.get(self.attribute)
        if value in (None, ""):
            return Filter(self.field, "in", ())  # no attribute, no rows: fail closed
        return Filter(self.field, "prefix", (str(value),)) if self.within else Filter(self.field, "eq", value)


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

    def may(self, capability: str) -> bool:
        """Whether the role has ``capability`` (one of ``CAPABILITIES``)."""

        return capability in self.capabilities


@dataclass(frozen=True)
class Policy:
    """Field sensitivity, roles and row scopes, read from config."""

    fields: Mapping[str, FieldRule] = field(default_factory=dict)
    roles: Mapping[str, Role] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> Policy:
        """Read ``[policy]``; with none, every field is public and only ``anonymous`` exists."""

        raw = raw or {}
        unknown = set(raw) - {"fields", "roles"}
        if unknown:
            raise ConfigError(f"[policy] has unknown key(s) {sorted(unknown)}; expected fields, roles")
        fields: dict[str, FieldRule] = {}
        for name, spec in (raw.get("fields") or {}).items():
            if not isinstance(name, str) or "." not in name:
                raise ConfigError(f"policy.fields key {name!r} must be Type.field or Type.*")
            if isinstance(spec, str):
                spec = {"class": spec}
            sensitivity = spec.get("class")
            if sensitivity not in CLASSES:
                raise ConfigError(f"policy.fields.{name!r}: class {sensitivity!r} is not one of {list(CLASSES)}")
            try:
                mask = Mask(spec.get("mask", "hide"))
            except ValueError:
                raise ConfigError(
                    f"policy.fields.{name!r}: mask {spec.get('mask')!r} is not one of {[m.value for m in Mask]}"
                ) from None
            fields[name] = FieldRule(sensitivity, mask)
        roles = {ANONYMOUS: Role(ANONYMOUS, "Clients without credentials: public data only.")}
        for name, spec in (raw.get("roles") or {}).items():
            roles[name] = _role(name, spec)
        if roles[ANONYMOUS].grant or roles[ANONYMOUS].mask or roles[ANONYMOUS].capabilities:
            raise ConfigError("policy.roles.anonymous may not be granted any personal data class")
        return cls(fields, roles)

    def rule(self, type_name: str, field_name: str) -> FieldRule:
        return self.fields.get(f"{type_name}.{field_name}") or self.fields.get(f"{type_name}.*") or FieldRule()

    def role(self, name: str) -> Role:
        role = self.roles.get(name)
        if role is None:
            raise AccessDenied(f"The role {name!r} is not defined by this gateway's policy.")
        return role

    def decide(self, role: Role, purpose: str | None, type_name: str, field_name: str) -> Decision:
        rule = self.rule(type_name, field_name)
        if rule.sensitivity == PUBLIC:
            return Decision(Action.ALLOW, PUBLIC)
        where = f"{type_name}.{field_name}"
        if rule.sensitivity in role.grant:
            action = Action.ALLOW
        elif rule.sensitivity in role.mask:
            action = Action.MASK
        else:
            return Decision(
                Action.REFUSE,
                rule.sensitivity,
                reason=f"{where} is {rule.sensitivity} data, which the role {role.name!r} may not see.",
            )
        if purpose is None:
            return Decision(
                Action.REFUSE,
                rule.sensitivity,
                reason=f"{where} is {rule.sensitivity} data: declare a purpose in the X-Satudata-Purpose header.",
                code="PURPOSE_REQUIRED",
            )
        return Decision(action, rule.sensitivity, rule.mask)

    def check_purpose(self, role: Role, purpose: str | None) -> None:
        """Refuse, before execution, a declared purpose the role may not use."""

        if purpose is not None and purpose not in role.purposes:
            allowed = ", ".join(sorted(role.purposes)) or "none"
            raise AccessDenied(
                f"The purpose {purpose!r} is not allowed for the role {role.name!r} (allowed: {allowed}).",
                code="PURPOSE_NOT_ALLOWED",
            )

    def row_filters(self, role: Role, attributes: Mapping[str, Any]) -> dict[str, tuple[Filter, ...]]:
        """Entity -> filters every source query for that entity gets, for this caller."""

        out: dict[str, tuple[Filter, ...]] = {}
        for scope in role.row_scope:
            out[scope.entity] = (*out.get(scope.entity, ()), scope.filter(attributes))
        return out


def _role(name: str, spec: Mapping[str, Any]) -> Role:
    where = f"policy.roles.{name}"
    unknown = set(spec) - {"description", "grant", "mask", "purposes", "row_scope", "may"}
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {sorted(unknown)}")

    def classes(key: str) -> frozenset[str]:
        values = spec.get(key) or []
        bad = [v for v in values if v not in CLASSES or v == PUBLIC]
        if bad:
            raise ConfigError(f"{where}.{key}: {bad} not among {list(CLASSES[1:])}")
        return frozenset(values)

    scopes: list[RowScope] = []
    for entity, rule in (spec.get("row_scope") or {}).items():
        kinds = [k for k in ("equals", "within") if k in rule]
        if "field" not in rule or len(kinds) != 1:
            raise ConfigError(f"{where}.row_scope.{entity} needs field and one of equals/within (a principal attribute)")
        scopes.append(RowScope(entity, str(rule["field"]), str(rule[kinds[0]]), kinds[0] == "within"))
    purposes = spec.get("purposes") or []
    if not all(isinstance(p, str) and p for p in purposes):
        raise ConfigError(f"{where}.purposes must be a list of names")
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
    )


# -- masks ------------------------------------------------------------------------------------


class MaskedDate(str):
    """A date shown as its year only: serialises (``isoformat``) to ``"1985"``."""

    def isoformat(self) -> str:
        return str(self)


def apply_mask(mask: Mask, value: Any) -> Any:
    """``value`` as a role with masked access sees it (lists element by element)."""

    if value is None:
        return None
    if isinstance(value, list):
        return [apply_mask(mask, v) for v in value]
    if mask is Mask.NIK and isinstance(value, str):
        return value[:4] + "*" * max(0, len(value) - 6) + value[-2:] if len(value) > 6 else "*" * len(value)
    if mask is Mask.INITIALS and isinstance(value, str):
        return " ".join(part[0].upper() + "." for part in value.replace("'", " ").split() if part[0].isalpha())
    if mask is Mask.YEAR and isinstance(value, (date, datetime)):
        return MaskedDate(str(value.year))
    return None
