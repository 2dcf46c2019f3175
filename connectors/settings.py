"""Helpers shared by every connector kind to read its ``[sources.NAME]`` table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core import ConfigError

from .base import SourceInfo


def resolve_env(key: str, value: Any) -> str:
    """Return ``value``, or the environment variable it names as ``"env:VAR"``."""

    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} is missing")
    if value.startswith("env:"):
        var = value[4:]
        resolved = os.environ.get(var)
        if not resolved:
            raise ConfigError(f"{key} refers to environment variable {var}, which is not set")
        return resolved
    return value


def source_info(name: str, kind: str, raw: Mapping[str, Any], entities: tuple[str, ...]) -> SourceInfo:
    """The descriptive part of a source's config: which agency runs it and what it is."""

    agency = raw.get("agency")
    if not isinstance(agency, str) or not agency:
        raise ConfigError(f"sources.{name}.agency is missing: name the code of the agency (OPD) that runs it")
    return SourceInfo(
        name=name,
        kind=kind,
        agency=agency,
        description=str(raw.get("description", "")),
        entities=entities,
        system=str(raw.get("system", "")),
    )


def absolute_sqlite_url(url: str, base_dir: Path | None) -> str:
    """A relative SQLite path made absolute against ``base_dir`` (the config file's folder).

    A config file that says sqlite+aiosqlite:///dispendukcapil.sqlite means the file beside the
    config, not beside wherever the gateway happened to be started; every reader of a source's
    URL (its connector, its change capture) resolves it alike.
    """

    prefix = "sqlite+aiosqlite:///"
    if base_dir is None or not url.startswith(prefix):
        return url
    path = url[len(prefix) :]
    if not path or path.startswith("/") or path.startswith(":memory:"):
        return url
    return prefix + str((base_dir / path).resolve())
