"""Gateway configuration: one TOML file, read and checked at start-up.

```toml
[gateway]
title = "Satu Data Trenggalek"     # shown in GraphiQL
max_body_bytes = 1048576           # larger request bodies are refused with 413
request_timeout_s = 10             # a request's source calls must finish within this
cursor_key = "env:SATUDATA_CURSOR_KEY"  # seals paging cursors; the same on every replica
header_read_timeout_s = 10         # a request line and headers not complete by then: 408, connection closed
body_read_timeout_s = 10           # a body not complete this long after its headers: 408, connection closed
keep_alive_timeout_s = 5           # an idle keep-alive connection is closed after this
max_concurrency = 256              # open connections plus running requests; beyond it, 503
trusted_proxies = ["10.0.0.5", "10.1.0.0/24"]  # X-Forwarded-For is honoured from these peers only (default: none)
compiled_execution = true          # false: run every query on graphql-core's executor (same answers, slower)

[[agencies]]                        # the OPDs whose systems feed the graph
code = "DISDUKCAPIL"
name = "Dinas Kependudukan dan Pencatatan Sipil"

[sources.siak]                      # one table per source; see connectors.mapping
kind = "sql"
agency = "DISDUKCAPIL"
url = "env:SIAK_DB_URL"

[graphiql]
enabled = "authenticated"           # true: for everyone; false: never; "authenticated": only to a request
                                    # carrying a valid credential (e.g. added by an SSO proxy). Default:
                                    # true, "authenticated" in production mode.
[[graphiql.examples]]               # queries preloaded in GraphiQL (credentials in headers become a placeholder)
title = "A resident and their family"
query = "..."
variables = '{"nik": "..."}'

[documents]                         # persisted queries (APQ) and trusted documents; see gateway.documents
manifest = "persisted-query-manifest.json"  # from generate-persisted-query-manifest
trusted = "require"                 # serve only the manifest's documents (default "allow": also any other)
```
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from connectors import ConfigError, resolve_env
from resolvers import CursorSeal

from .cors import cors_origins
from .private_files import check_secret_file, inline_secrets

#: Who is served the GraphiQL page: everyone, nobody, or only requests with a valid credential.
GraphiQLAccess = bool | Literal["authenticated"]

TOP_LEVEL_TABLES = {
    "gateway", "agencies", "sources", "graphiql", "policy", "clients", "auth", "audit", "limits", "ratelimit", "documents",
}


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
    #: ``True``, ``False`` or ``"authenticated"`` (see ``GraphiQLAccess``).
    graphiql: GraphiQLAccess = True
    examples: Sequence[Example] = field(default_factory=tuple)
    base_dir: Path | None = None
    #: Production mode: a ``[policy]`` is required and anonymous clients may not introspect.
    production: bool = False
    #: Browser origins allowed to call the gateway (CORS); none by default.
    cors_origins: Sequence[str] = ()
    #: The key that seals paging cursors (base64url, from ``satudata keygen-secret``); without
    #: one, a random key per process, so cursors do not outlive the process or cross replicas.
    cursor_key: str | None = None
    #: Seconds a client has to send its request line and headers (enforced by ``gateway.server``).
    header_read_timeout_s: float = 10.0
    #: Seconds a client has to send its body once the request is admitted.
    body_read_timeout_s: float = 10.0
    #: Seconds an idle keep-alive connection stays open.
    keep_alive_timeout_s: float = 5.0
    #: Open connections plus running requests the server takes before answering 503.
    max_concurrency: int = 256
    #: Peers (IPs or CIDRs) whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed; none
    #: by default, so the client address the rate limits use is the socket's peer.
    trusted_proxies: tuple[str, ...] = ()
    #: Run queries with the compiled executor (``resolvers.compiled``) where they compile; ``false``
    #: runs everything on graphql-core's executor (same answers, slower; a switch for operators).
    compiled_execution: bool = True
    #: The whole parsed file: ``[policy]``, ``[[clients]]``, ``[auth]``, ``[audit]``, ``[limits]``,
    #: ``[ratelimit]`` and ``[documents]`` are read by the components they configure.
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
        settings = cls.from_dict(raw, base_dir=path.parent.resolve())
        if inline_secrets(raw):
            # A file that holds keys itself must be readable by the gateway's user alone (refused
            # in production mode, a warning otherwise).
            check_secret_file(path, production=settings.production)
        return settings

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
        production = bool(gateway.get("production", False))
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
            graphiql=_graphiql_access(graphiql.get("enabled", "authenticated" if production else True)),
            examples=examples,
            base_dir=base_dir,
            production=production,
            cors_origins=cors_origins(gateway.get("cors_origins")),
            cursor_key=_cursor_key(gateway.get("cursor_key")),
            header_read_timeout_s=_positive(gateway, "header_read_timeout_s", cls.header_read_timeout_s),
            body_read_timeout_s=_positive(gateway, "body_read_timeout_s", cls.body_read_timeout_s),
            keep_alive_timeout_s=_positive(gateway, "keep_alive_timeout_s", cls.keep_alive_timeout_s),
            max_concurrency=int(_positive(gateway, "max_concurrency", cls.max_concurrency, whole=True)),
            trusted_proxies=_trusted_proxies(gateway.get("trusted_proxies", ())),
            compiled_execution=_flag(gateway, "compiled_execution", cls.compiled_execution),
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


def _graphiql_access(value: Any) -> GraphiQLAccess:
    if isinstance(value, bool) or value == "authenticated":
        return value  # type: ignore[no-any-return]
    raise ConfigError(f'[graphiql] enabled must be true, false or "authenticated", not {value!r}')


def _flag(table: Mapping[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"[gateway] {key} must be true or false, not {value!r}")
    return value


def _positive(table: Mapping[str, Any], key: str, default: float, *, whole: bool = False) -> float:
    value = table.get(key, default)
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        what = "a whole number" if whole else "a number of seconds"
        raise ConfigError(f"[gateway] {key} must be {what} above 0, not {value!r}")
    return float(value)


def _trusted_proxies(value: Any) -> tuple[str, ...]:
    # Explicit addresses only: uvicorn's "*" (trust everyone) would let any client pick the
    # address its rate limit is kept under.
    if not isinstance(value, list | tuple):
        raise ConfigError("[gateway] trusted_proxies must be a list of IP addresses or CIDR networks")
    proxies: list[str] = []
    for entry in value:
        try:
            network = ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            raise ConfigError(
                f"[gateway] trusted_proxies: {entry!r} is not an IP address or CIDR network "
                '(e.g. "10.0.0.5", "10.1.0.0/24")'
            ) from None
        proxies.append(str(network.network_address) if network.num_addresses == 1 else str(network))
    return tuple(proxies)
