"""The layers only talk downwards: gateway -> resolvers -> connectors, all three on core (which imports nothing of ours)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(package: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update((name, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add((name, node.module))
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("core", ("connectors", "resolvers", "gateway", "demo", "strawberry", "starlette", "sqlalchemy", "httpx")),
        ("connectors", ("resolvers", "gateway", "strawberry", "starlette", "demo")),
        ("resolvers", ("gateway", "starlette", "sqlalchemy", "httpx", "demo")),
    ],
)
def test_lower_layers_do_not_know_the_upper(package: str, forbidden: tuple[str, ...]) -> None:
    offending = {(f, m) for f, m in imported_modules(package) if m.split(".")[0] in forbidden}
    assert not offending, f"{package} imports {sorted(offending)}"


def test_resolvers_use_only_the_connectors_package_api() -> None:
    offending = {(f, m) for f, m in imported_modules("resolvers") if m.startswith("connectors.")}
    assert not offending, f"resolvers reach into connector internals: {sorted(offending)}"


def test_gateway_does_not_reach_into_connector_kinds() -> None:
    offending = {(f, m) for f, m in imported_modules("gateway") if m.startswith("connectors.")}
    assert not offending, f"gateway reaches into connector internals: {sorted(offending)}"


def test_only_the_cli_knows_the_demo() -> None:
    """The gateway serves any deployment's config; only ``satudata demo`` (gateway/cli.py) builds the demo's."""

    found = imported_modules("gateway")
    assert ("gateway/cli.py", "demo") in found  # the walk sees the CLI's imports inside functions
    offending = {(f, m) for f, m in found if m.split(".")[0] == "demo" and f != "gateway/cli.py"}
    assert not offending, f"gateway imports the demo outside the CLI: {sorted(offending)}"
