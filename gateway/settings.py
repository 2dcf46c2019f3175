"""Gateway configuration: one TOML file, read and checked once, at start-up.

Every table and key is declared once in ``gateway.config_schema`` (its reference is
``docs/config.md``; editors can use ``docs/config.schema.json``). ``GatewaySettings.from_file``
checks the whole file against that tree first, so an unknown key (with the closest known one
suggested), a wrong type or a missing required key is a ``ConfigError`` naming ``table.key``
before any component reads its table. ``satudata config check FILE`` runs the same checks and
builds the app without serving it.

```toml
[gateway]
title = "Satu Data Trenggalek"     # shown in GraphiQL
cursor_key = "env:SATUDATA_CURSOR_KEY"  # seals paging cursors; the same on every replica

[[agencies]]                        # the OPDs whose systems feed the graph
code = "DISDUKCAPIL"
name = "Dinas Kependudukan dan Pencatatan Sipil"

[sources.siak]                      # one table per source; see connectors.mapping
kind = "sql"
agency = "DISDUKCAPIL"
url = "env:SIAK_DB_URL"
```
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from connectors import resolve_env
from core import ConfigError
from resolvers import CursorSeal

from .config_schema import CONFIG, GATEWAY
from .config_schema import TABLES as CONFIG_TABLES
from .config_types import Problem, describe
from .cors import cors_origins
from .private_files import check_secret_file, inline_secrets

#: Who is served the GraphiQL page: everyone, nobody, or only requests with a valid credential.
GraphiQLAccess = bool | Literal["authenticated"]

#: The config file's top-level tables (declared, with all their keys, in ``gateway.config_schema``).
TOP_LEVEL_TABLES = frozenset(CONFIG_TABLES)


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
    #: Ask sources only for the fields a document reads (``resolvers.projection``); ``false`` asks
    #: for every mapped field of every record (same answers, more work; a switch for operators).
    projection: bool = True
    #: ``Type.key`` of lists every caller gets shuffled (``[gateway] shuffled_lists``), besides
    #: those of keys a role does not read in full, which it always gets shuffled.
    shuffled_lists: tuple[str, ...] = ()
    #: Who gets the source trace: ``"operators"`` (roles that may ``operations``; everyone without a
    #: ``[policy]``) or ``"everyone"`` (development and tests; refused in production mode).
    source_trace: str = "operators"
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
        problems = check_config(raw)
        if problems:
            raise ConfigError(describe(problems))
        gateway = raw.get("gateway", {})
        sources = raw["sources"]
        if not sources:
            raise ConfigError("the config defines no [sources.*]: the gateway would have nothing to serve")
        graphiql = raw.get("graphiql", {})

        def get(key: str) -> Any:
            return gateway.get(key, GATEWAY.default(key))

        production = get("production")
        if production and get("source_trace") == "everyone":
            raise ConfigError(
                '[gateway] source_trace = "everyone" is refused in production mode: the trace counts what a source '
                "read before row scopes and masks, so it tells a caller what the policy keeps from it"
            )
        examples = tuple(
            Example(title=e["title"], query=e["query"], variables=e.get("variables"), headers=e.get("headers"))
            for e in graphiql.get("examples", [])
        )
        return cls(
            sources=sources,
            agencies=tuple(raw.get("agencies", ())),
            title=get("title"),
            max_body_bytes=get("max_body_bytes"),
            request_timeout_s=float(get("request_timeout_s")),
            graphiql=graphiql.get("enabled", "authenticated" if production else True),
            examples=examples,
            base_dir=base_dir,
            production=production,
            cors_origins=cors_origins(gateway.get("cors_origins")),
            cursor_key=_cursor_key(gateway.get("cursor_key")),
            header_read_timeout_s=float(get("header_read_timeout_s")),
            body_read_timeout_s=float(get("body_read_timeout_s")),
            keep_alive_timeout_s=float(get("keep_alive_timeout_s")),
            max_concurrency=get("max_concurrency"),
            trusted_proxies=_trusted_proxies(get("trusted_proxies")),
            compiled_execution=get("compiled_execution"),
            projection=get("projection"),
            shuffled_lists=tuple(get("shuffled_lists")),
            source_trace=get("source_trace"),
            raw=raw,
        )


def check_config(raw: Mapping[str, Any]) -> list[Problem]:
    """Every key of ``raw`` against the config tree (``gateway.config_schema``): unknown keys,
    wrong types, missing required keys. Empty when the file's shape is right."""

    return CONFIG.problems(raw, "")


def _cursor_key(value: Any) -> str | None:
    if value is None:
        return None
    text = resolve_env("[gateway] cursor_key", value)
    try:
        CursorSeal.from_text(text)
    except ValueError as exc:
        raise ConfigError(f"[gateway] cursor_key: {exc}; make one with `satudata keygen-secret`") from None
    return text


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
