"""``satudata schema check``: the schema the code builds against the published one.

graphql-core's ``find_breaking_changes`` and ``find_dangerous_changes`` compare the two. A
dangerous change is reported; a breaking change fails the check (exit 1) unless the changelog
acknowledges it. The published schema is ``schema.graphql`` (``--against``), or that file at
a git revision (``--against-ref origin/main``: what integrators have today, as CI runs it).

A breaking change is acknowledged by a list item under a ``### Breaking`` heading of
``CHANGELOG.md`` that names its schema coordinate in backticks::

    ### Breaking
    - `Region.caseReports`: nullable, so a dead health office costs only this field.
    - `Region.caseReports(disease)`: a `DiseaseCode`, checked, instead of a `String`.

A coordinate is ``Type``, ``Type.field`` or ``Type.field(argument)`` (for an enum value,
``Enum.VALUE``); one item may name several.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from graphql import (
    BreakingChange,
    DangerousChange,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
)

_FIELD = re.compile(r"\b([A-Z_]\w*)\.(\w+)\b")
_ARG = re.compile(r"\b([A-Z_]\w*)\.(\w+)(?:\((\w+):\)| arg (\w+)\b)")
_MEMBER = re.compile(r"\b(\w+) was (?:removed from|added to) (?:enum|union) type (\w+)\b")
_TYPE = re.compile(r"\b([A-Z_]\w*) (?:was removed|changed from)")
_ITEM = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Change:
    """One change found: its kind (graphql-core's), its coordinate and graphql-core's words."""

    kind: str
    coordinate: str
    description: str


@dataclass(frozen=True)
class CheckResult:
    breaking: tuple[Change, ...]
    dangerous: tuple[Change, ...]
    unacknowledged: tuple[Change, ...]

    @property
    def ok(self) -> bool:
        return not self.unacknowledged


def coordinate(description: str) -> str:
    """The schema coordinate a graphql-core change description is about."""

    member = _MEMBER.search(description)
    if member:
        return f"{member[2]}.{member[1]}"
    for pattern in (_ARG, _FIELD):
        found = pattern.search(description)
        if found:
            return f"{found[1]}.{found[2]}({found[3] or found[4]})" if pattern is _ARG else f"{found[1]}.{found[2]}"
    found = _TYPE.search(description)
    return found[1] if found else description


def acknowledged(changelog: str) -> set[str]:
    """Coordinates named in backticks by the items under every ``### Breaking`` heading."""

    names: set[str] = set()
    in_breaking = False
    for line in changelog.splitlines():
        if line.startswith("#"):
            in_breaking = line.strip().lower() == "### breaking"
            continue
        if in_breaking and line.lstrip().startswith(("-", "*")):
            names.update(_ITEM.findall(line))
    return names


def compare(published: GraphQLSchema, built: GraphQLSchema, changelog: str) -> CheckResult:
    def changes(found: list[BreakingChange] | list[DangerousChange]) -> tuple[Change, ...]:
        return tuple(Change(c.type.name, coordinate(c.description), c.description) for c in found)

    breaking = changes(find_breaking_changes(published, built))
    dangerous = changes(find_dangerous_changes(published, built))
    known = acknowledged(changelog)
    return CheckResult(breaking, dangerous, tuple(c for c in breaking if c.coordinate not in known))


def published_schema(against: Path, ref: str | None) -> str:
    """The published SDL: the file, or the file as it is at git revision ``ref``."""

    if ref is None:
        return against.read_text(encoding="utf-8")
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False, cwd=against.resolve().parent)
    root = Path(top.stdout.strip()) if top.returncode == 0 else Path.cwd()
    path = against.resolve().relative_to(root.resolve()).as_posix()
    shown = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True, check=False, cwd=root)
    if shown.returncode != 0:
        raise SystemExit(f"satudata schema check: cannot read {against} at {ref}: {shown.stderr.strip()}")
    return shown.stdout


def built_sdl() -> str:
    from resolvers import schema

    return schema.as_str()


def run_check(against: Path, changelog: Path, ref: str | None = None) -> int:
    """Print the changes; 0 when every breaking change is acknowledged in ``changelog``, else 1."""

    # The SDL links Apollo Federation's directives without defining them: read it as given.
    published = build_schema(published_schema(against, ref), assume_valid_sdl=True)
    built = build_schema(built_sdl(), assume_valid_sdl=True)
    text = changelog.read_text(encoding="utf-8") if changelog.exists() else ""
    result = compare(published, built, text)
    where = f"{against} at {ref}" if ref else str(against)
    for change in result.dangerous:
        print(f"dangerous  {change.coordinate}: {change.description}")
    for change in result.breaking:
        state = "acknowledged" if change not in result.unacknowledged else "NOT IN CHANGELOG"
        print(f"breaking   {change.coordinate}: {change.description} [{state}]")
    if result.ok:
        print(f"schema check: {len(result.breaking)} breaking (all in {changelog.name}), {len(result.dangerous)} dangerous, against {where}")
        return 0
    print(
        f"schema check: {len(result.unacknowledged)} breaking change(s) against {where} not acknowledged in {changelog}: "
        "add an item naming each coordinate in backticks under a `### Breaking` heading."
    )
    return 1
