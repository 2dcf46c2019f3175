"""``ConnectorRegistry``: which source answers for which entity, decided by config at start-up.

Code never branches on source names: resolvers ask for an entity and the registry routes.
``session(trace)`` gives the request-scoped reader that loaders use; it also records each
round-trip for ``extensions.sources``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core import ConfigError

from .base import Connector, Filter, Record, SourceInfo, SourceQuery, SourceTrace
from .errors import SourceError, SourceTimeout
from .graphql import RemoteGraphQLConnector
from .memory import InMemoryConnector
from .resilience import HealthObserver, ResiliencePolicy, ResilientConnector, SourceHealth, request_deadline, within
from .rest import RestConnector
from .settings import resolve_env
from .sql import SqlConnector

#: Called after every source round-trip with (source name, seconds, outcome code or "ok").
CallObserver = Callable[[str, float, str], None]

ConnectorFactory = Callable[..., Connector]

#: ``kind`` in a ``[sources.NAME]`` table -> factory taking (name, raw table, base_dir=...).
CONNECTOR_KINDS: dict[str, ConnectorFactory] = {
    "sql": SqlConnector.from_settings,
    "rest": RestConnector.from_settings,
    "graphql": RemoteGraphQLConnector.from_settings,
}

#: Entities the gateway serves from its own configuration rather than from an OPD.
CATALOG_SOURCE = "catalog"


class ConnectorRegistry:
    """Owns every connector for the gateway's lifetime and routes entities to them."""

    def __init__(self, connectors: Sequence[Connector], *, catalog: Connector | None = None) -> None:
        self.connectors = list(connectors)
        self.routes: dict[str, Connector] = {}
        for connector in self.connectors:
            for entity in connector.info.entities:
                other = self.routes.get(entity)
                if other is not None:
                    raise ConfigError(
                        f"{entity} is served by both sources {other.info.name!r} and {connector.info.name!r}; "
                        "map it in one of them"
                    )
                self.routes[entity] = connector
        self.catalog = catalog
        self.observers: list[CallObserver] = []
        if catalog is not None:
            for entity in catalog.info.entities:
                self.routes.setdefault(entity, catalog)

    @classmethod
    def from_config(
        cls,
        sources: Mapping[str, Mapping[str, Any]],
        agencies: Sequence[Mapping[str, Any]] = (),
        *,
        base_dir: Path | None = None,
        authority: Mapping[str, str] | None = None,
    ) -> ConnectorRegistry:
        """Build every connector from the config's ``[sources.*]`` and ``[[agencies]]`` tables.

        ``authority`` (``[discrepancies.authority]``: fact -> source name) joins the catalogue as the
        ``Authority`` entity, which the discrepancy report reads.
        """

        for fact, source in (authority or {}).items():
            if source not in sources:
                raise ConfigError(
                    f"discrepancies.authority.{fact} is {source!r}, which no [sources.*] table defines "
                    f"(known: {sorted(sources)})"
                )
        connectors: list[Connector] = []
        for name, raw in sources.items():
            kind = raw.get("kind")
            factory = CONNECTOR_KINDS.get(kind) if isinstance(kind, str) else None
            if factory is None:
                raise ConfigError(f"sources.{name}.kind is {kind!r}; choose one of {sorted(CONNECTOR_KINDS)}")
            if kind == "sql":
                _check_sqlite_file(name, raw, base_dir)
            inner = factory(name, raw, base_dir=base_dir)
            connectors.append(ResilientConnector(inner, ResiliencePolicy.from_settings(name, raw)))
        known = {str(a.get("code")) for a in agencies}
        for connector in connectors:
            if agencies and connector.info.agency not in known:
                raise ConfigError(
                    f"sources.{connector.info.name}.agency is {connector.info.agency!r}, "
                    f"which no [[agencies]] entry defines (known: {sorted(known)})"
                )
        return cls(connectors, catalog=_catalog(agencies, [c.info for c in connectors], authority or {}))

    async def start(self) -> None:
        for connector in self.connectors:
            await connector.start()

    async def aclose(self) -> None:
        """Close every source at once, so that shutdown costs the slowest close, not their sum."""

        await asyncio.gather(*(connector.aclose() for connector in self.connectors))

    def sources(self) -> list[SourceInfo]:
        return [c.info for c in self.connectors]

    def health(self) -> list[SourceHealth]:
        """Each source's state as its breaker and last calls saw it (no source is called)."""

        return [c.health() for c in self.connectors if isinstance(c, ResilientConnector)]

    def observe_health(self, observer: HealthObserver) -> None:
        """Call ``observer`` with a source's health whenever its state or breaker changes."""

        for connector in self.connectors:
            if isinstance(connector, ResilientConnector):
                connector.health_observers.append(observer)

    def session(
        self,
        trace: SourceTrace | None = None,
        *,
        deadline: float | None = None,
        row_filters: Mapping[str, tuple[Filter, ...]] | None = None,
    ) -> RegistrySession:
        """A reader for one request.

        Every round-trip to an OPD source is added to ``trace``; ``deadline`` (in
        ``loop.time()`` terms) bounds every call, so a slow source cannot hold the
        request past it. ``row_filters`` (entity -> filters) are added to every query for
        that entity, so they reach the source's own WHERE clause or API parameters: the
        caller's row scope is enforced by the source, on every path to it.
        """

        return RegistrySession(self, trace if trace is not None else SourceTrace(), deadline, row_filters or {})


class RegistrySession:
    """Request-scoped routing: ``fetch(query)`` goes to the source that serves ``query.entity``."""

    def __init__(
        self,
        registry: ConnectorRegistry,
        trace: SourceTrace,
        deadline: float | None = None,
        row_filters: Mapping[str, tuple[Filter, ...]] | None = None,
    ) -> None:
        self.registry = registry
        self.trace = trace
        self.deadline = deadline
        self.row_filters = dict(row_filters or {})

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        connector = self.registry.routes.get(query.entity)
        if connector is None:
            raise ConfigError(f"no source serves {query.entity}; map it in one source's entities")
        scope = self.row_filters.get(query.entity)
        if scope:
            query = replace(query, where=query.where + scope)
        if connector is self.registry.catalog:
            return await connector.fetch(query)
        name = connector.info.name
        started = time.perf_counter()
        try:
            token = request_deadline.set(self.deadline)
            try:
                if isinstance(connector, ResilientConnector):
                    records = await connector.fetch(query)  # enforces the deadline itself, with one timer
                else:
                    remaining = None if self.deadline is None else self.deadline - asyncio.get_running_loop().time()
                    records = await within(connector.fetch(query), remaining)
            finally:
                request_deadline.reset(token)
        except TimeoutError as exc:
            error = SourceTimeout(f"Source '{name}' did not answer before the request's deadline.", source=name)
            self._observe(name, started, error.code)
            raise error from exc
        except SourceError as exc:
            self._observe(name, started, exc.code)
            raise
        self._observe(name, started, "ok", rows=len(records))
        return records

    def _observe(self, name: str, started: float, outcome: str, *, rows: int = 0) -> None:
        seconds = time.perf_counter() - started
        self.trace.record(name, rows=rows, ms=seconds * 1000, error=outcome != "ok")
        for observer in self.registry.observers:
            observer(name, seconds, outcome)


def _check_sqlite_file(name: str, raw: Mapping[str, Any], base_dir: Path | None) -> None:
    """A SQLite URL must name a file that exists: SQLite would otherwise create an empty one, and
    the gateway would serve nothing from it, with no error until the first query's missing table."""

    url = resolve_env(f"sources.{name}.url", raw.get("url"))
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # the connector says what is wrong with the URL
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database or ""
    if database.startswith("file:"):  # a URI filename (uri=true): file:path?mode=ro
        database, _, options = database[5:].partition("?")
        if "mode=memory" in options:
            return
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        return
    path = Path(database)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path  # as the connector reads it: beside the config file
    if not path.is_file():
        raise ConfigError(
            f"sources.{name}.url names the SQLite file {path}, which does not exist (SQLite would create an empty "
            "database there); check the path, which is relative to the config file's folder, or create the database first"
        )


def _catalog(
    agencies: Sequence[Mapping[str, Any]], sources: Sequence[SourceInfo], authority: Mapping[str, str] | None = None
) -> InMemoryConnector:
    agency_records = [
        {
            "code": str(a["code"]),
            "name": str(a.get("name", a["code"])),
            "shortName": a.get("short_name"),
            "description": a.get("description"),
        }
        for a in agencies
    ]
    source_records = [
        {
            "name": s.name,
            "kind": s.kind,
            "agency": s.agency,
            "description": s.description,
            "system": s.system or None,
            "entities": tuple(s.entities),
        }
        for s in sources
    ]
    info = SourceInfo(
        name=CATALOG_SOURCE,
        kind="memory",
        agency="",
        description="The gateway's own configuration: agencies and their sources.",
        entities=("Agency", "Source", "Authority"),
    )
    authority_records = [{"fact": fact, "source": source} for fact, source in sorted((authority or {}).items())]
    return InMemoryConnector(
        info,
        {"Agency": agency_records, "Source": source_records, "Authority": authority_records},
        {"Agency": "code", "Source": "name", "Authority": "fact"},
    )
