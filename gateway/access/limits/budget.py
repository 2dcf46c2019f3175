"""Per-role budgets, read from the ``[limits]`` table at start-up.

```toml
[limits]                      # every role, unless overridden
max_depth = 20                # nesting of fields; GraphiQL's introspection query is 17 deep
max_aliases = 30              # aliased fields, fragments expanded
max_tokens = 3000             # lexical tokens (comments included); checked before parsing
max_cost = 100000             # estimated values in the answer; full introspection is about 50000
max_representations = 100     # entities one query may ask of `_entities` (federation); more: TOO_MANY_REPRESENTATIONS
heavy_cost = 2000             # from this estimated cost a query is heavy: it waits for one of
heavy_concurrency = 2         #   this many slots before it runs (0: no slots, no waiting); see gate.py
default_list_size = 10        # assumed length of a list field without a size argument
connection_default = 20       # assumed page size when `first`/`limit` is left out and has no schema default

[limits.list_sizes]           # assumed lengths of particular list fields: what the data holds
"School.students" = 300       # a number: a fixed length (a mean may have a fraction: 3.3)
"Query.persons" = 750000      # a connection: the whole list, the cost of reading it shuffled with no
                              #   narrowing filter (a scan of its source, see scans.py; else heavy_cost)
# a table: `each` items per step between two of the field's arguments (days between two Dates,
# the difference of two Ints, inclusive), at most `most`: one attendance row per day asked
"School.attendance" = { each = 1, from = "from", to = "to", most = 98 }

[limits.roles.anonymous]      # a role's overrides of the five budgets
max_cost = 5000
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from core import ConfigError

from ...config_types import AnyOf, Int, Key, MapOf, Number, Str, Table, describe
from .analysis import ListSize, ListSizes


@dataclass(frozen=True)
class Budget:
    """What one role's query may measure at most. Defaults fit GraphiQL's introspection query."""

    max_depth: int = 20
    max_aliases: int = 30
    max_tokens: int = 3000
    max_cost: int = 100_000
    #: Entity representations one operation may send to ``_entities``: each is a lookup at a source.
    max_representations: int = 100


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
        problems = LIMITS.problems(table, "limits")
        if problems:
            raise ConfigError(describe(problems))
        default = replace(Budget(), **{k: _count(table[k], f"limits.{k}") for k in _BUDGET_KEYS if k in table})
        roles: dict[str, Budget] = {}
        for role, overrides in _table(table.get("roles", {}), "limits.roles").items():
            where = f"limits.roles.{role}"
            overrides = _table(overrides, where)
            roles[role] = replace(default, **{k: _count(v, f"{where}.{k}") for k, v in overrides.items()})
        list_sizes = {
            name: _list_size(size, f'limits.list_sizes."{name}"')
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


#: The ``[limits]`` table's keys (in the config tree, ``gateway.config_schema``).
_BUDGET_KEY_DOCS = {
    "max_depth": "Deepest field nesting.",
    "max_aliases": "Aliases in one document.",
    "max_tokens": "Tokens in one document.",
    "max_cost": "Estimated cost (rows read) of one query.",
    "max_representations": "Entity representations one operation may send to `_entities`.",
}
_BUDGET_TABLE_KEYS = tuple(
    Key(name, Int(minimum=0), _BUDGET_KEY_DOCS[name], getattr(Budget, name)) for name in _BUDGET_KEY_DOCS
)
LIMITS = Table(
    description="Query budgets (depth, aliases, tokens, cost) and how the cost estimate sizes lists.",
    keys=(
        *_BUDGET_TABLE_KEYS,
        Key("roles", MapOf(Table(description="A role's own budget.", keys=_BUDGET_TABLE_KEYS), name="ROLE"),
            "Role -> budget overrides.", {}),
        Key("default_list_size", Int(minimum=0), "Assumed length of a list without a size argument.",
            ListSizes.default),
        Key("connection_default", Int(minimum=0), "Assumed size when a size argument is left out.",
            ListSizes.connection),
        Key("list_sizes", MapOf(AnyOf((Number(minimum=0), Table(
            description="A length per step between two arguments.",
            keys=(
                Key("each", Number(minimum=0), "Length per step.", 1),
                Key("from", Str(), "Argument where the span starts.", required=True),
                Key("to", Str(), "Argument where it ends.", required=True),
                Key("most", Number(minimum=0), "Longest the list can be."),
            ),
        ))), name='"Type.field"', key_pattern=r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*",
            key_doc='"Type.field", e.g. "School.students"'), "List field -> its assumed length; for a connection "
            "(`Query.persons`), the whole list's, which a read in a shuffled order without a narrowing filter costs "
            "(a scan of its source).", {}),
        Key("heavy_cost", Int(minimum=0), "Estimated cost from which a query waits for a heavy-query slot.",
            QueryLimits.heavy_cost),
        Key("heavy_concurrency", Int(minimum=0), "Heavy queries executing at once per process; 0 turns the gate "
            "off.", QueryLimits.heavy_concurrency),
    ),
)


def _list_size(value: Any, where: str) -> float | ListSize:
    """A number (a fixed length), or a table ``{ each, from, to, most }`` spanning two arguments."""

    if not isinstance(value, Mapping):
        return _amount(value, where)
    span = value.get("from"), value.get("to")
    if not all(isinstance(name, str) and name for name in span):
        raise ConfigError(f'{where} needs `from` and `to`: the names of the arguments the list spans, e.g. from = "from", to = "to"')
    most = value.get("most")
    return ListSize(
        each=_amount(value.get("each", 1), f"{where}.each"),
        span=(span[0], span[1]),
        most=None if most is None else _amount(most, f"{where}.most"),
    )


def _amount(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
        raise ConfigError(f"{where} must be a number of at least 0, not {value!r}")
    return value


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{where}] must be a table")
    return value


def _count(value: Any, where: str) -> int:
    # bool is an int in Python; `max_depth = true` is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where} must be a whole number of at least 0, not {value!r}")
    return value
