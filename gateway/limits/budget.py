"""Per-role budgets, read from the ``[limits]`` table at start-up.

```toml
[limits]                      # every role, unless overridden
max_depth = 20                # nesting of fields; GraphiQL's introspection query is 17 deep
max_aliases = 30              # aliased fields, fragments expanded
max_tokens = 3000             # lexical tokens (comments included); checked before parsing
max_cost = 100000             # estimated values in the answer; full introspection is about 50000
heavy_cost = 2000             # from this estimated cost a query is heavy: it waits for one of
heavy_concurrency = 2         #   this many slots before it runs (0: no slots, no waiting); see gate.py
default_list_size = 10        # assumed length of a list field without a size argument
connection_default = 20       # assumed page size when `first`/`limit` is left out and has no schema default

[limits.list_sizes]           # assumed lengths of particular list fields
"School.students" = 300

[limits.roles.anonymous]      # a role's overrides of the four budgets
max_cost = 5000
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from connectors import ConfigError

from .analysis import ListSizes


@dataclass(frozen=True)
class Budget:
    """What one role's query may measure at most. Defaults fit GraphiQL's introspection query."""

    max_depth: int = 20
    max_aliases: int = 30
    max_tokens: int = 3000
    max_cost: int = 100_000


_BUDGET_KEYS = tuple(f.name for f in fields(Budget))


@dataclass(frozen=True)
class QueryLimits:
    """The budgets of every role, and how the cost estimate sizes lists."""

    default: Budget = Budget()
    roles: Mapping[str, Budget] = field(default_factory=dict)
    sizes: ListSizes = ListSizes()
    #: Estimated cost from which a query must wait for a heavy-query slot (``gate.HeavyQueryGate``).
    heavy_cost: int = 2000
    #: Heavy queries executing at once in one gateway process; 0 turns the gate off.
    heavy_concurrency: int = 2

    def budget(self, role: str | None) -> Budget:
        """The role's budget; a role without ``[limits.roles.ROLE]`` (or no role) gets the defaults."""

        return self.roles.get(role, self.default) if role is not None else self.default

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> QueryLimits:
        """Read ``[limits]``; a wrong key or value raises ``ConfigError`` naming it."""

        table = dict(table or {})
        known = {*_BUDGET_KEYS, "default_list_size", "connection_default", "list_sizes", "roles", "heavy_cost", "heavy_concurrency"}
        _refuse_unknown(table, known, "limits")
        default = replace(Budget(), **{k: _count(table[k], f"limits.{k}") for k in _BUDGET_KEYS if k in table})
        roles: dict[str, Budget] = {}
        for role, overrides in _table(table.get("roles", {}), "limits.roles").items():
            where = f"limits.roles.{role}"
            overrides = _table(overrides, where)
            _refuse_unknown(overrides, set(_BUDGET_KEYS), where)
            roles[role] = replace(default, **{k: _count(v, f"{where}.{k}") for k, v in overrides.items()})
        list_sizes = {
            name: _count(size, f'limits.list_sizes."{name}"')
            for name, size in _table(table.get("list_sizes", {}), "limits.list_sizes").items()
        }
        for name in list_sizes:
            if name.count(".") != 1:
                raise ConfigError(f'limits.list_sizes."{name}": name a list field as "Type.field", e.g. "School.students"')
        sizes = ListSizes(
            default=_count(table.get("default_list_size", ListSizes.default), "limits.default_list_size"),
            connection=_count(table.get("connection_default", ListSizes.connection), "limits.connection_default"),
            fields=list_sizes,
        )
        return cls(
            default=default,
            roles=roles,
            sizes=sizes,
            heavy_cost=_count(table.get("heavy_cost", cls.heavy_cost), "limits.heavy_cost"),
            heavy_concurrency=_count(table.get("heavy_concurrency", cls.heavy_concurrency), "limits.heavy_concurrency"),
        )


def _refuse_unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"unknown keys {sorted(unknown)} in [{where}]; expected some of {sorted(known)}")


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{where}] must be a table")
    return value


def _count(value: Any, where: str) -> int:
    # bool is an int in Python; `max_depth = true` is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where} must be a whole number of at least 0, not {value!r}")
    return value
