"""``RemoteGraphQLConnector``: another portal's GraphQL API as a source, mapped by config.

```toml
[sources.dapodik_portal]
kind = "graphql"
agency = "DISDIK"
url = "env:DAPODIK_GRAPHQL_URL"          # the peer's GraphQL endpoint (POST application/json)
headers = { Authorization = "env:DAPODIK_GRAPHQL_TOKEN" }
schema = "introspection"                 # check the mapping at start-up: "introspection", "sdl" (_service) or "off"
max_concurrency = 8                      # parallel requests to this peer, across all requests

[sources.dapodik_portal.entities.School]
type = "Sekolah"                         # the peer's object type
key = "npsn"
lookup = { npsn = { field = "sekolahByNpsn", arg = "npsn", max = 50 } }   # or { field = "_entities", max = 100 }
[sources.dapodik_portal.entities.School.list]
field = "sekolah"                        # the root field that lists them
pagination = { style = "relay", size = 100 }
args = { npsn = { arg = "npsnIn", op = "in" }, regionCode = { arg = "kodeWilayah", op = "prefix" } }
[sources.dapodik_portal.entities.School.fields]
npsn = "npsn"                            # vocabulary field = the peer's field, dotted through objects
regionCode = { column = "alamat.desa.kode", transform = "region_code_digits" }
```

How a ``SourceQuery`` is answered:

- a key filter (``in``/``eq``) on a field with a ``lookup`` is one document per ``max`` keys:
  aliased root fields (``k0: sekolahByNpsn(npsn: $k0) { ... } k1: ...``) or, with
  ``field = "_entities"``, one Apollo Federation ``_entities(representations:)`` call;
- anything else walks the ``list`` field page by page (``relay``: ``first``/``after`` and
  ``edges { node }``/``pageInfo``; ``offset``: ``offset``/``limit``, a short page is the last;
  ``none``), passing the filters declared in ``args`` as arguments. Declare only arguments
  that mean what the vocabulary filter means: their results are narrowed again here;
- whatever the peer does not filter, sort, page or count is done on what it returned
  (``connectors.memory.evaluate``), so a query means the same on every kind of source.

Documents select exactly the peer fields the mapping uses, and every value travels as a
variable, typed as the peer's schema declares the argument (or as ``type = "..."`` in
config says; with ``schema = "off"`` lookups and ``args`` must say it).

Errors: a refused, reset or cut connection, and HTTP 502/503/504 (a proxy saying the peer is
not there), are ``SourceUnavailable``; httpx timeouts ``SourceTimeout``; any other HTTP error,
a body that is not JSON, has no ``data`` or lacks the root field, is ``SourceBadResponse``.
A GraphQL ``errors`` array next to usable data is logged and the data kept: a key whose
lookup failed at the peer while others were answered counts as absent, as a null answer
(unknown key) does. Only when nothing usable came back does the call fail. Messages name the
source, never its URL, and quote at most a short, URL-scrubbed excerpt of the peer's error.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from graphql import GraphQLError, GraphQLSchema, build_ast_schema, build_client_schema, get_introspection_query, parse, parse_type

from core import ConfigError

from .base import Filter, Record, SourceInfo, SourceQuery
from .errors import SourceBadResponse, SourceError, SourceUnavailable
from .graphql_documents import (
    ALIAS_PREFIX,
    ENTITIES_FIELD,
    alias_document,
    entities_document,
    is_name,
    list_document,
    selection_tree,
)
from .graphql_schema import check_schema
from .http_errors import mapped_http_errors
from .mapping import NO_MATCH, EntityMapping, parse_entity_mapping
from .memory import evaluate
from .redaction import quiet_client_loggers, redact_numbers
from .tracing import current_tracing
from .settings import resolve_env, source_info

log = logging.getLogger("satudata.connectors.graphql")

#: A list walk that needs more pages than this is refused rather than left to run for minutes.
DEFAULT_MAX_PAGES = 200
#: Lookups per document unless ``max`` says otherwise; peers commonly cap aliases near 100.
DEFAULT_LOOKUP_MAX = 50
SCHEMA_MODES = ("introspection", "sdl", "off")
#: What the connector asks the peer's ``_service`` for, in ``schema = "sdl"`` mode.
_SDL_QUERY = "query SatudataSdl { _service { sdl } }"
_EXCERPT_CHARS = 80
_URL = re.compile(r"\b\w+://\S+")


@dataclass(frozen=True)
class Pagination:
    style: str = "none"  # "none" | "relay" | "offset"
    size: int = 100
    first_arg: str = "first"
    after_arg: str = "after"
    offset_arg: str = "offset"
    limit_arg: str = "limit"


@dataclass(frozen=True)
class ArgFilter:
    """A list-field argument that applies a vocabulary filter at the peer."""

    arg: str
    op: str = "eq"  # "eq" | "in" | "prefix" | "contains" | "gte" | "lte"
    type: str | None = None  # the argument's GraphQL type, if not read from the peer's schema


@dataclass(frozen=True)
class ListField:
    field: str
    pagination: Pagination = field(default_factory=Pagination)
    records: str | None = None  # for non-Relay pages: where the list is inside the field's value
    args: Mapping[str, tuple[ArgFilter, ...]] = field(default_factory=dict)

    def arg(self, field_name: str, op: str) -> ArgFilter | None:
        return next((a for a in self.args.get(field_name, ()) if a.op == op), None)


@dataclass(frozen=True)
class Lookup:
    """A root field that answers one key (aliased many times per document), or ``_entities``."""

    field: str
    arg: str = ""
    max: int = DEFAULT_LOOKUP_MAX
    type: str | None = None


@dataclass(frozen=True)
class GraphQLEntity:
    mapping: EntityMapping
    list: ListField | None = None
    lookup: Mapping[str, Lookup] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        return self.mapping.location


_ENTITY_KEYS = frozenset({"list", "lookup"})
_OPS = ("eq", "in", "prefix", "contains", "gte", "lte")


def _name(where: str, value: Any) -> str:
    if not is_name(value):
        raise ConfigError(f"{where} must be a GraphQL name (letters, digits, _), got {value!r}")
    return str(value)


def _type(where: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        parse_type(str(value))
    except GraphQLError:
        raise ConfigError(f"{where} must be a GraphQL type such as \"String!\" or \"[ID!]\", got {value!r}") from None
    return str(value)


def _parse_entity(source: str, entity: str, raw: Mapping[str, Any]) -> GraphQLEntity:
    where = f"sources.{source}.entities.{entity}"
    _name(where, entity)  # it names the documents' operations
    mapping = parse_entity_mapping(source, entity, raw, location_key="type", extra_keys=_ENTITY_KEYS)
    _name(f"{where}.type", mapping.location)
    for name, f in mapping.fields.items():
        for part in f.column.split("."):
            _name(f"{where}.fields.{name}", part)
    list_field = _parse_list(where, mapping, raw["list"]) if "list" in raw else None
    lookup = {}
    for name, spec in (raw.get("lookup") or {}).items():
        mapping.field(name)
        _name(f"{where}.lookup", name)
        try:
            item = Lookup(**spec)
        except TypeError as exc:
            raise ConfigError(f"{where}.lookup.{name}: {exc}") from exc
        _name(f"{where}.lookup.{name}.field", item.field)
        if item.field == ENTITIES_FIELD:
            if "." in mapping.fields[name].column:
                raise ConfigError(f"{where}.lookup.{name}: an _entities key must be a top-level field of {mapping.location}")
        else:
            _name(f"{where}.lookup.{name}.arg", item.arg)
        if int(item.max) < 1:
            raise ConfigError(f"{where}.lookup.{name}.max must be at least 1")
        lookup[name] = Lookup(item.field, item.arg, int(item.max), _type(f"{where}.lookup.{name}.type", item.type))
    if list_field is None and not lookup:
        raise ConfigError(f"{where} needs a list field, a lookup, or both: say how the peer serves {entity}")
    return GraphQLEntity(mapping, list_field, lookup)


def _parse_list(where: str, mapping: EntityMapping, raw: Mapping[str, Any]) -> ListField:
    where = f"{where}.list"
    unknown = set(raw) - {"field", "pagination", "records", "args"}
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
    try:
        pagination = Pagination(**raw.get("pagination", {}))
    except TypeError as exc:
        raise ConfigError(f"{where}.pagination: {exc}") from exc
    if pagination.style not in ("none", "relay", "offset"):
        raise ConfigError(f"{where}.pagination.style must be none, relay or offset")
    if pagination.size < 1:
        raise ConfigError(f"{where}.pagination.size must be at least 1")
    for arg in (pagination.first_arg, pagination.after_arg, pagination.offset_arg, pagination.limit_arg):
        _name(f"{where}.pagination", arg)
    records = raw.get("records")
    if records is not None:
        if pagination.style == "relay":
            raise ConfigError(f"{where}.records does not apply to Relay connections (records are edges.node)")
        for part in str(records).split("."):
            _name(f"{where}.records", part)
    args = {}
    for name, spec in (raw.get("args") or {}).items():
        mapping.field(name)
        specs = spec if isinstance(spec, list) else [spec]
        try:
            parsed = tuple(ArgFilter(**s) if isinstance(s, Mapping) else ArgFilter(str(s)) for s in specs)
        except TypeError as exc:
            raise ConfigError(f"{where}.args.{name}: {exc}") from exc
        for a in parsed:
            _name(f"{where}.args.{name}.arg", a.arg)
            if a.op not in _OPS:
                raise ConfigError(f"{where}.args.{name}.op must be one of {list(_OPS)}, got {a.op!r}")
            _type(f"{where}.args.{name}.type", a.type)
        args[name] = parsed
    return ListField(_name(f"{where}.field", raw.get("field")), pagination, records, args)


class RemoteGraphQLConnector:
    """Reads vocabulary entities from a peer's GraphQL endpoint, with one pooled ``httpx.AsyncClient``."""

    kind = "graphql"

    def __init__(
        self,
        info: SourceInfo,
        client: httpx.AsyncClient,
        url: str,
        entities: Mapping[str, GraphQLEntity],
        *,
        schema: str = "introspection",
        max_concurrency: int = 8,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self.info = info
        self.client = client
        self.url = url
        self.entities = dict(entities)
        self.schema_mode = schema
        self.max_pages = max_pages
        self._slots = asyncio.Semaphore(max_concurrency)
        self._schema_lock = asyncio.Lock()
        self._schema_checked = False
        # (root field, argument) -> GraphQL type of the variable that feeds it.
        self._arg_types: dict[tuple[str, str], str] = {}
        for entity in self.entities.values():
            if entity.list is not None:
                for specs in entity.list.args.values():
                    self._arg_types.update({(entity.list.field, a.arg): a.type for a in specs if a.type})
            for spec in entity.lookup.values():
                if spec.type:
                    self._arg_types[(spec.field, spec.arg)] = spec.type
        if schema == "off":
            missing = [f"{f}({a})" for f, a in self._needed_types() if (f, a) not in self._arg_types]
            if missing:
                raise ConfigError(
                    f"sources.{info.name}: with schema = \"off\" the argument types of {missing} must be given "
                    "as type = \"...\" in their lookup or args entry"
                )

    @classmethod
    def from_settings(
        cls, name: str, raw: Mapping[str, Any], *, base_dir: Path | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> RemoteGraphQLConnector:
        """Build from a ``[sources.NAME]`` table with ``kind = "graphql"``."""

        url = resolve_env(f"sources.{name}.url", raw.get("url"))
        headers = {k: resolve_env(f"sources.{name}.headers.{k}", v) for k, v in (raw.get("headers") or {}).items()}
        schema = raw.get("schema", "introspection")
        if schema not in SCHEMA_MODES:
            raise ConfigError(f"sources.{name}.schema must be one of {list(SCHEMA_MODES)}, got {schema!r}")
        entities = {entity: _parse_entity(name, entity, spec) for entity, spec in (raw.get("entities") or {}).items()}
        concurrency = int(raw.get("max_concurrency", 8))
        quiet_client_loggers()  # keys travel as variables, but the peer's URL may still be logged
        client = httpx.AsyncClient(
            headers={
                # GraphQL over HTTP: the media type that lets a 4xx carry a GraphQL error body.
                "accept": "application/graphql-response+json, application/json;q=0.9",
                "content-type": "application/json",
                **headers,
            },
            timeout=httpx.Timeout(float(raw.get("timeout_s", 5.0))),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
        )
        return cls(
            source_info(name, "graphql", raw, tuple(entities)),
            client,
            url,
            entities,
            schema=schema,
            max_concurrency=concurrency,
            max_pages=int(raw.get("max_pages", DEFAULT_MAX_PAGES)),
        )

    async def start(self) -> None:
        """Read the peer's schema and check every root field, argument and mapped path now.

        A peer that is down at start-up is not a configuration error: its schema is read
        on first use and meanwhile it answers ``SOURCE_UNAVAILABLE``.
        """

        if self.schema_mode == "off":
            return
        try:
            await self._ensure_schema()
        except SourceBadResponse as exc:
            # The peer is there but will not describe itself (introspection disabled, no _service).
            other = "sdl" if self.schema_mode == "introspection" else "introspection"
            raise ConfigError(
                f"sources.{self.info.name}: the peer did not answer its schema ({exc.message}); "
                f'set schema = "{other}" or schema = "off" (then give argument types in config)'
            ) from exc
        except SourceError as exc:
            log.warning("source %s not reachable at start-up: %s", self.info.name, exc.message)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        entity = self.entities.get(query.entity)
        if entity is None:
            raise ConfigError(f"source {self.info.name} does not serve {query.entity}")
        if self.schema_mode != "off" and not self._schema_checked:
            await self._ensure_schema()
        raw = await self._collect(entity, query)
        key = entity.mapping.key
        records = {}
        for item in raw:
            record = self._to_record(entity, item)
            records[record.get(key)] = record  # overlapping pages or prefixes: once per key
        return evaluate(list(records.values()), query, key=key)

    # -- choosing the calls ------------------------------------------------------------------

    async def _collect(self, entity: GraphQLEntity, query: SourceQuery) -> list[Any]:
        """The fewest documents whose answers are a superset of what ``query`` asks for."""

        for f in query.where:
            if f.op in ("in", "eq") and f.field in entity.lookup:
                keys = self._source_values(entity, f.field, f.value if f.op == "in" else (f.value,))
                return await self._lookup(entity, entity.lookup[f.field], f.field, keys)
        if entity.list is None:
            raise ConfigError(
                f"source {self.info.name} can only look {query.entity} up by {sorted(entity.lookup)}; "
                "declare a list field to answer other queries"
            )
        return await self._list(entity, entity.list, query.where)

    def _source_values(self, entity: GraphQLEntity, field_name: str, values: Sequence[Any]) -> list[Any]:
        mapped = (entity.mapping.field(field_name).to_source(v) for v in dict.fromkeys(values))
        return [v for v in mapped if v is not NO_MATCH and v is not None]

    async def _list(self, entity: GraphQLEntity, spec: ListField, where: Sequence[Filter]) -> list[Any]:
        args: dict[str, Any] = {}
        fan_out: tuple[str, list[Any]] | None = None  # one argument, one walk per value
        for f in where:
            values = f.value if f.op in ("in", "prefix") else (f.value,)
            pushed = spec.arg(f.field, f.op) or (spec.arg(f.field, "eq") if f.op == "in" else None)
            if pushed is None or any(v is None for v in values):
                continue  # left to evaluate(), like a null to match
            source_values = self._source_values(entity, f.field, values)
            if not source_values:
                return []  # a value no peer record can have: nothing to ask
            if pushed.op == "in":
                args[pushed.arg] = source_values
            elif len(source_values) == 1:
                args[pushed.arg] = source_values[0]
            elif fan_out is None:
                fan_out = (pushed.arg, source_values)
        if fan_out is None:
            return await self._walk(entity, spec, args)
        arg, values = fan_out
        pages = await asyncio.gather(*(self._walk(entity, spec, {**args, arg: v}) for v in values))
        return [r for page in pages for r in page]

    async def _walk(self, entity: GraphQLEntity, spec: ListField, args: Mapping[str, Any]) -> list[Any]:
        """Every record of the list field for these arguments, following its pagination."""

        p = spec.pagination
        variables = dict(args)
        if p.style == "relay":
            variables.update({p.first_arg: p.size, p.after_arg: None})
        elif p.style == "offset":
            variables.update({p.offset_arg: 0, p.limit_arg: p.size})
        # Without the peer's schema, paging arguments are assumed to be the usual Int! and String.
        defaults = {p.first_arg: "Int!", p.after_arg: "String", p.offset_arg: "Int!", p.limit_arg: "Int!"}
        types = {arg: self._arg_type(spec.field, arg, defaults.get(arg)) for arg in variables}
        document = list_document(
            f"Satudata{entity.mapping.entity}List",
            spec.field,
            types,
            selection_tree(f.column for f in entity.mapping.fields.values()),
            relay=p.style == "relay",
            records=spec.records,
        )
        records: list[Any] = []
        for _ in range(self.max_pages):
            data, errors = await self._post(document, variables)
            value = data.get(spec.field)
            if value is None:
                raise self._bad(f"answered no {spec.field}", errors)
            if p.style == "relay":
                edges = value.get("edges") if isinstance(value, Mapping) else None
                if not isinstance(edges, list):
                    raise self._bad(f"answered {spec.field} without edges", errors)
                page = [e.get("node") for e in edges if isinstance(e, Mapping)]
            else:
                page = _at(value, spec.records) if spec.records else value
                if not isinstance(page, list):
                    raise self._bad(f"answered {spec.field} without a list of records", errors)
            if errors:
                self._log_errors(errors)
            # A null node is a record the peer failed to resolve (see the errors logged above).
            records.extend(r for r in page if r is not None)
            if p.style == "none" or not page:
                return records
            if p.style == "relay":
                info = value.get("pageInfo") or {}
                if not info.get("hasNextPage") or not info.get("endCursor"):
                    return records
                variables[p.after_arg] = info["endCursor"]
            else:
                if len(page) < p.size:
                    return records
                variables[p.offset_arg] += len(page)
        raise SourceBadResponse(
            f"Source '{self.info.name}' needs more than {self.max_pages} pages for one list; narrow the query.",
            source=self.info.name,
        )

    async def _lookup(self, entity: GraphQLEntity, spec: Lookup, field_name: str, keys: Sequence[Any]) -> list[Any]:
        """Each key looked up, ``spec.max`` keys per document, the documents sent concurrently."""

        chunks = [keys[i : i + spec.max] for i in range(0, len(keys), spec.max)]
        tree = selection_tree(f.column for f in entity.mapping.fields.values())
        operation = f"Satudata{entity.mapping.entity}By{field_name[:1].upper()}{field_name[1:]}"
        if spec.field == ENTITIES_FIELD:
            document = entities_document(operation, entity.type_name, tree)
            column = entity.mapping.fields[field_name].column
            calls = [
                self._answers(document, {"representations": [{"__typename": entity.type_name, column: k} for k in chunk]}, ENTITIES_FIELD)
                for chunk in chunks
            ]
        else:
            arg_type = self._arg_type(spec.field, spec.arg)
            calls = [
                self._answers(
                    alias_document(operation, spec.field, spec.arg, arg_type, len(chunk), tree),
                    {f"{ALIAS_PREFIX}{i}": k for i, k in enumerate(chunk)},
                    None,
                )
                for chunk in chunks
            ]
        answers = await asyncio.gather(*calls)
        return [r for found in answers for r in found]

    async def _answers(self, document: str, variables: Mapping[str, Any], root: str | None) -> list[Any]:
        """The non-null answers of one lookup document: under ``root`` (a list) or per alias."""

        data, errors = await self._post(document, variables)
        if root is not None:
            found = data.get(root)
            if not isinstance(found, list):
                raise self._bad(f"answered no {root}", errors)
        else:
            found = [data.get(alias) for alias in variables]
        found = [r for r in found if r is not None]
        if errors:
            if not found:
                raise self._bad("answered only errors", errors)
            self._log_errors(errors)
        return found

    # -- the peer's schema -------------------------------------------------------------------

    def _needed_types(self) -> list[tuple[str, str]]:
        """Every (root field, argument) whose variable type a document may declare."""

        needed = []
        for entity in self.entities.values():
            if entity.list is not None:
                needed += [(entity.list.field, a.arg) for specs in entity.list.args.values() for a in specs]
            needed += [(s.field, s.arg) for s in entity.lookup.values() if s.field != ENTITIES_FIELD]
        return needed

    def _arg_type(self, root: str, arg: str, default: str | None = None) -> str:
        found = self._arg_types.get((root, arg))
        if found is None and self.schema_mode == "off":
            found = default  # every other argument's type was required when the config was read
        if found is None:
            raise ConfigError(f"source {self.info.name}: no type is known for the argument {arg!r} of the peer's {root}")
        return found

    async def _ensure_schema(self) -> None:
        async with self._schema_lock:
            if self._schema_checked:
                return
            schema = await self._read_schema()
            self._arg_types = {**check_schema(self.info.name, self.entities, schema), **self._arg_types}
            self._schema_checked = True

    async def _read_schema(self) -> GraphQLSchema:
        if self.schema_mode == "sdl":
            data, _ = await self._post(_SDL_QUERY, {})
            sdl = (data.get("_service") or {}).get("sdl")
            if not isinstance(sdl, str):
                raise SourceBadResponse(f"Source '{self.info.name}' answered no _service.sdl.", source=self.info.name)
            try:
                # A subgraph's SDL uses federation directives it does not define; do not validate them.
                return build_ast_schema(parse(sdl), assume_valid_sdl=True)
            except (GraphQLError, TypeError) as exc:
                raise SourceBadResponse(f"Source '{self.info.name}' answered an SDL that does not parse.", source=self.info.name) from exc
        data, _ = await self._post(get_introspection_query(descriptions=False), {})
        try:
            return build_client_schema(data)  # type: ignore[arg-type]
        except (GraphQLError, TypeError, KeyError) as exc:
            raise SourceBadResponse(f"Source '{self.info.name}' answered an unreadable introspection.", source=self.info.name) from exc

    # -- the wire ----------------------------------------------------------------------------

    async def _post(self, document: str, variables: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Any]]:
        """POST one document; its ``data`` object and ``errors`` list, or a ``SourceError``."""

        name = self.info.name
        body = orjson.dumps({"query": document, "variables": variables})
        async with self._slots:
            with self._map_errors():
                tracing = current_tracing.get()
                if tracing is None:
                    response = await self.client.post(self.url, content=body)
                else:
                    with tracing.http_call(name, "POST", httpx.URL(self.url).path) as trace_headers:  # traceparent out
                        response = await self.client.post(self.url, content=body, headers=trace_headers)
        status = response.status_code
        if status in (502, 503, 504):
            log.warning("source %s answered HTTP %s", name, status)
            raise SourceUnavailable(f"Source '{name}' answered HTTP {status}.", source=name)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            excerpt = redact_numbers(response.content[:200].decode("utf-8", "replace"))
            log.warning("source %s answered HTTP %s with malformed JSON: %r", name, status, excerpt)
            raise SourceBadResponse(f"Source '{name}' answered HTTP {status} with malformed JSON.", source=name) from exc
        if not isinstance(answer, dict):
            raise SourceBadResponse(f"Source '{name}' answered JSON that is not a GraphQL response.", source=name)
        errors = answer.get("errors") if isinstance(answer.get("errors"), list) else []
        data = answer.get("data")
        if status >= 400 or not isinstance(data, dict):
            raise self._bad(f"refused the query (HTTP {status})" if status >= 400 else "answered without data", errors)
        return data, errors

    def _map_errors(self) -> AbstractContextManager[None]:
        """Translate httpx's errors into ``SourceError``s, once, here."""

        return mapped_http_errors(self.info.name, log)

    def _bad(self, what: str, errors: Sequence[Any]) -> SourceBadResponse:
        self._log_errors(errors)
        excerpt = _excerpt(errors)
        message = f"Source '{self.info.name}' {what}" + (f": {excerpt}" if excerpt else ".")
        return SourceBadResponse(message, source=self.info.name)

    def _log_errors(self, errors: Sequence[Any]) -> None:
        if errors:
            # A peer's error may echo the variables it was sent (a NIK): long numbers are blanked.
            first = redact_numbers(str(errors[0]), limit=300)
            log.warning("source %s answered %d GraphQL error(s), first: %s", self.info.name, len(errors), first)

    def _to_record(self, entity: GraphQLEntity, raw: Any) -> Record:
        if not isinstance(raw, Mapping):
            raise SourceBadResponse(f"Source '{self.info.name}' answered a record that is not an object.", source=self.info.name)
        return {name: f.to_vocabulary(_at(raw, f.column)) for name, f in entity.mapping.fields.items()}


def _at(value: Any, path: str | None) -> Any:
    """The value at a dotted path; through a list, the list of values below each element."""

    for i, part in enumerate((path or "").split(".")):
        if not part:
            continue
        if isinstance(value, list):
            rest = ".".join((path or "").split(".")[i:])
            return [_at(v, rest) for v in value]
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _excerpt(errors: Sequence[Any]) -> str:
    """A short, single-line, URL-free quote of the peer's first error message, for clients."""

    first = errors[0] if errors else None
    message = first.get("message") if isinstance(first, Mapping) else None
    if not isinstance(message, str) or not message.strip():
        return ""
    text = redact_numbers(_URL.sub("<url>", " ".join(message.split())))
    return f'"{text[:_EXCERPT_CHARS]}..."' if len(text) > _EXCERPT_CHARS else f'"{text}"'
