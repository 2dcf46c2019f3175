"""Every module of the installed packages imports, on whichever Python runs the suite.

`make test-compat` runs this on Python 3.12 and 3.13 (`make test` on 3.11), so a module that no
other test of the fast tier reaches still shows a syntax, removed-API or deprecation problem there
(warnings are errors in this suite).
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The packages pyproject.toml installs ("core*" and the like in [tool.setuptools.packages.find]).
_SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
PACKAGES = tuple(pattern.removesuffix("*") for pattern in _SETUPTOOLS["packages"]["find"]["include"])


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
