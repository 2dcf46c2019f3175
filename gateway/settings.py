"""Gateway configuration: one TOML file, read and checked at start-up.

```toml
[gateway]
title = "Satu Data Trenggalek"     # shown in GraphiQL
max_body_bytes = 1048576           # larger request bodies are refused with 413
request_timeout_s = 10             # a request's source calls must finish within this
cursor_key = "env:SATUDATA_CURSOR_KEY"  # seals paging cursors; the same on every replica

[[agencies]]                        # the OPDs whose systems feed the graph
code = "DISDUKCAPIL"
name = "Dinas Kependudukan dan Pencatatan Sipil"

[sources.siak]                      # one table per source; see connectors.mapping
kind = "sql"
agency = "DISDUKCAPIL"
url = "env:SIAK_DB_URL"

[[graphiql.examples]]               # queries preloaded in GraphiQL
title = "A resident and their family"
query = "..."
variables = '{"nik": "..."}'
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors import ConfigError, resolve_env
from resolvers import CursorSeal

from .cors import cors_origins

TOP_LEVEL_TABLES = {"gateway", "agencies", "sources", "graphiql", "policy", "clients", "auth", "audit", "limits", "ratelimit"}


@dataclass(frozen=True)
class Example:
    """A query preloaded in GraphiQL."""

    title: str
    query: str
    variables: str | None = None
    #: JSON text for the tab's headers editor (e.g. a demo credential and purpose).
    headers: str | None = None


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway needs to start.

    ``sources`` and ``agencies`` are handed to ``ConnectorRegistry.from_config`` as they are;
    ``base_dir`` is the config file's folder (relative SQLite paths resolve against it).
    """

    sources: Mapping[str, Mapping[str, Any]]
    agencies: Sequence[Mapping[str, Any]] = ()
    title: str = "Satu Data Trenggalek"
    max_body_bytes: int = 1_048_576
    #: Every source call of a request must finish within this many seconds of its arrival.
    request_timeout_s: float = 10.0
    graphiql: bool = True
    examples: Sequence[Example] = field(default_factory=tuple)
    base_dir: Path | None = None
    #: Production mode: a ``[policy]`` is required and anonymous clients may not introspect.
    production: bool = False
    #: Browser origins allowed to call the gateway (CORS); none by default.
    cors_origins: Sequence[str] = ()
    #: The key that seals paging cursors (base64url, from ``satudata keygen-secret``); without
    #: one, a random key per process, so cursors do not outlive the process or cross replicas.
    cursor_key: str | None = None
    #: The whole parsed file: ``[policy]``, ``[[clients]]``, ``[auth]``, ``[audit]``, ``[limits]``
    #: and ``[ratelimit]`` are read by the components they configure.
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path | str) -> GatewaySettings:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        return cls.from_dict(raw, base_dir=path.parent.resolve())

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, base_dir: Path | None = None) -> GatewaySettings:
        unknown = set(raw) - TOP_LEVEL_TABLES
        if unknown:
            raise ConfigError(f"unknown top-level config tables {sorted(unknown)}; expected {', '.join(sorted(TOP_LEVEL_TABLES))}")
        gateway = raw.get("gateway", {})
        sources = raw.get("sources", {})
        if not sources:
            raise ConfigError("the config defines no [sources.*]: the gateway would have nothing to serve")
        graphiql = raw.get("graphiql", {})
        examples = tuple(
            Example(title=str(e["title"]), query=str(e["query"]), variables=e.get("variables"), headers=e.get("headers"))
            for e in graphiql.get("examples", [])
        )
        return cls(
            sources=sources,
            agencies=tuple(raw.get("agencies", ())),
            title=str(gateway.get("title", cls.title)),
            max_body_bytes=int(gateway.get("max_body_bytes", cls.max_body_bytes)),
            request_timeout_s=float(gateway.get("request_timeout_s", cls.request_timeout_s)),
            graphiql=bool(graphiql.get("enabled", True)),
            examples=examples,
            base_dir=base_dir,
            production=bool(gateway.get("production", False)),
            cors_origins=cors_origins(gateway.get("cors_origins")),
            cursor_key=_cursor_key(gateway.get("cursor_key")),
            raw=raw,
        )


def _cursor_key(value: Any) -> str | None:
    if value is None:
        return None
    text = resolve_env("[gateway] cursor_key", value)
    try:
        CursorSeal.from_text(text)
    except ValueError as exc:
        raise ConfigError(f"[gateway] cursor_key: {exc}; make one with `satudata keygen-secret`") from None
    return text
