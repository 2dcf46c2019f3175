"""Every module of the installed packages imports, on whichever Python runs the suite.

`make test-compat` runs this on Python 3.12 and 3.13 (`make test` on 3.11), so a module that no
other test of the fast tier reaches still shows a syntax, removed-API or deprecation problem there
(warnings are errors in this suite).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "resolvers", "connectors", "demo")


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_every_package_is_walked() -> None:
    assert {m for m in modules() if "." not in m} == set(PACKAGES)
    assert len(modules()) > 100


@pytest.mark.parametrize("module", modules())
def test_module_imports(module: str) -> None:
    importlib.import_module(module)
