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
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update((path.name, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add((path.name, node.module))
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
