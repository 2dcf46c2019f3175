"""``RestConnector``: an OPD's JSON-over-HTTP API as a source, mapped by config.

```toml
[sources.dinkes]
kind = "rest"
agency = "DINKES"
base_url = "http://127.0.0.1:8101"
max_concurrency = 8              # bound on parallel calls to this API, across all requests
headers = { Authorization = "env:DINKES_TOKEN" }

[sources.dinkes.entities.Patient]
path = "/api/v1/pasien"          # the list endpoint
key = "nik"
records = "data"                 # where the records are in a page (dotted path; omit if the body is the list)
batch = { nik = { param = "nik", max = 100 } }                 # ?nik=a,b,c answers many keys at once
lookup = { code = "/api/v1/faskes/{value}" }                   # else one call per key (404 = absent)
list_lookup = { facility = "/api/v1/faskes/{value}/pasien" }   # a list per key, paged like `path`
through = { programme = { entity = "ProgrammeSession", link = "programme", key = "code", field = "session" } }
params = { regionCode = { param = "kode_wilayah", op = "prefix" },
           week = [{ param = "minggu_mulai", op = "gte" }, { param = "minggu_akhir", op = "lte" }] }
pagination = { style = "page", page_param = "page", size_param = "per_page", size = 100, total_pages = "meta.total_pages" }
[sources.dinkes.entities.Patient.fields]
nik = "nik"                      # vocabulary field = dotted path in the record
```

``through`` answers a field the API cannot look up by itself through another entity of the same
API that links to it: above, a class's (``programme``) attendance is the attendance of its
sessions, the ``ProgrammeSession`` records whose ``link`` field is the class, looked up by
``field`` = each session's ``key``, each record then given its class. An API that lists a class's
attendance itself takes ``list_lookup = { programme = ... }`` instead, and the resolvers ask the
same question of both.

Pagination styles: ``page`` (page numbers, ``total_pages`` path), ``offset`` (``offset_param``,
``limit_param``, ``next`` path that is null on the last page) and ``cursor`` (``cursor_param``,
``limit_param``, ``next_cursor`` path). A dotted path that meets a list reads each item's value
(``cohorts.cohortId`` -> one id per enrolment). Whatever the API cannot filter, sort or count is done
here on what it returned (``connectors.memory.evaluate``), so every ``SourceQuery`` has the
same meaning on every kind of source.

Calls. ``max_concurrency`` calls at most are in flight to one API, across all requests, each on
one of as many kept-alive connections (``connectors.http1.Http1Transport``; ``transport =
"httpcore"`` in the source's table takes httpx's own instead). Each call may take ``timeout_s``
from the moment it is sent; a call waiting for a free slot waits no longer than the request's
deadline, and a call the deadline cuts short fails as ``DeadlineExceeded`` (``SOURCE_TIMEOUT``,
not held against the source). A page-numbered list whose first page says how many pages there
are is read with the other pages asked at once.

A client's mistake never reaches the API as a request, nor counts against it: a key that
cannot stand in a path (empty, ``.``, ``..``, or holding ``/ \\ ? # %`` or a control character;
httpx would resolve dot segments and walk up the configured path) or in a batch parameter
(holding the separator) is refused first, as ``UnusableKey``; an HTTP 400 or 422 is the
caller's argument refused, as ``SourceRejectedInput`` with the API's reason (redacted); a 404
for a key is an unknown key. Only 5xx, other 4xx (our credentials, our mapping), timeouts,
refused connections and unreadable answers are the source's failures. No key is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from core import ConfigError

from .api_client import ApiClient, transport_for
from .base import Filter, Record, SourceInfo, SourceQuery
from .errors import SourceBadResponse, SourceRejectedInput, SourceTimeout, SourceUnavailable, UnusableKey
from .http_errors import mapped_http_errors
from .mapping import EntityMapping, parse_entity_mapping
from .memory import evaluate
from .redaction import quiet_client_loggers, redact_numbers
from .resilience import DeadlineExceeded, request_deadline
from .settings import resolve_env, source_info

log = logging.getLogger("satudata.connectors.rest")

#: A list walk that needs more pages than this is refused rather than left to run for minutes.
DEFAULT_MAX_PAGES = 200

#: Statuses that mean "the request's arguments are wrong", i.e. the caller's, not the source's, fault.
CALLER_ERRORS = frozenset({400, 422})
#: Characters that would change which resource a filled-in path names, even after quoting.
_PATH_UNSAFE = frozenset("/\\?#%")
#: ``transport = ...`` in a source's table: which HTTP transport its calls go over.
TRANSPORTS = ("http1", "httpcore")


@dataclass(frozen=True)
class Pagination:
    style: str = "none"
    size: int = 100
    page_param: str = "page"
    size_param: str = "per_page"
    total_pages: str | None = None
    offset_param: str = "offset"
    limit_param: str = "limit"
    next: str = "next"
    cursor_param: str = "cursor"
    next_cursor: str = "nextCursor"


@dataclass(frozen=True)
class ParamFilter:
    param: str
    op: str = "eq"  # what the API's parameter does: "eq", "prefix", "gte" (from) or "lte" (until)


@dataclass(frozen=True)
class Through:
    """``field`` of this entity = ``key`` of the ``entity`` records whose ``link`` is the value asked for."""

    entity: str
    link: str
    key: str
    field: str


@dataclass(frozen=True)
class RestEntity:
    mapping: EntityMapping
    records: str | None = None
    record: str | None = None
    pagination: Pagination = field(default_factory=Pagination)
    batch: Mapping[str, tuple[str, int, str]] = field(default_factory=dict)
    lookup: Mapping[str, str] = field(default_factory=dict)
    list_lookup: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, tuple[ParamFilter, ...]] = field(default_factory=dict)
    through: Mapping[str, Through] = field(default_factory=dict)
    #: (vocabulary field, path in the record, conversion or None), worked out once from ``mapping``.
    columns: tuple[tuple[str, tuple[str, ...], Callable[[Any], Any] | None], ...] = field(init=False)

    def __post_init__(self) -> None:
        columns = []
        for name, f in self.mapping.fields.items():
            plain = f.values is None and f.transform is None and f.type is None
            columns.append((name, tuple(p for p in f.column.split(".") if p), None if plain else f.to_vocabulary))
        object.__setattr__(self, "columns", tuple(columns))

    def param(self, field_name: str, op: str) -> ParamFilter | None:
        return next((p for p in self.params.get(field_name, ()) if p.op == op), None)

    def field_of_param(self, param: str) -> str | None:
        """The vocabulary field an API parameter carries (to name the caller's argument it refused)."""

        for name, specs in self.params.items():
            if any(p.param == param for p in specs):
                return name
        return next((name for name, (batch_param, _, _) in self.batch.items() if batch_param == param), None)


_ENTITY_KEYS = frozenset({"records", "record", "pagination", "batch", "lookup", "list_lookup", "params", "through"})


def _parse_entity(source: str, entity: str, raw: Mapping[str, Any]) -> RestEntity:
    where = f"sources.{source}.entities.{entity}"
    mapping = parse_entity_mapping(source, entity, raw, location_key="path", extra_keys=_ENTITY_KEYS)
    try:
        pagination = Pagination(**raw.get("pagination", {}))
    except TypeError as exc:
        raise ConfigError(f"{where}.pagination: {exc}") from exc
    if pagination.style not in ("none", "page", "offset", "cursor"):
        raise ConfigError(f"{where}.pagination.style must be none, page, offset or cursor")
    batch = {}
    for name, spec in raw.get("batch", {}).items():
        mapping.field(name)
        batch[name] = (str(spec["param"]), int(spec.get("max", 50)), str(spec.get("separator", ",")))
    lookup = _path_templates(where, "lookup", mapping, raw)
    list_lookup = _path_templates(where, "list_lookup", mapping, raw)
    params = {}
    for name, spec in raw.get("params", {}).items():
        mapping.field(name)
        specs = spec if isinstance(spec, list) else [spec]
        try:
            params[name] = tuple(ParamFilter(**s) if isinstance(s, Mapping) else ParamFilter(str(s)) for s in specs)
        except TypeError as exc:
            raise ConfigError(f"{where}.params.{name}: {exc}") from exc
    through = {}
    for name, spec in raw.get("through", {}).items():
        mapping.field(name)
        try:
            through[name] = Through(**spec)
        except TypeError as exc:
            raise ConfigError(f"{where}.through.{name} needs entity, link, key and field: {exc}") from exc
        mapping.field(through[name].field)
        if not any(through[name].field in table for table in (batch, lookup, list_lookup)):
            raise ConfigError(f"{where}.through.{name}.field must be a field this entity is looked up by (batch, lookup or list_lookup)")
    return RestEntity(mapping, raw.get("records"), raw.get("record"), pagination, batch, lookup, list_lookup, params, through)


def _path_templates(where: str, table: str, mapping: EntityMapping, raw: Mapping[str, Any]) -> dict[str, str]:
    templates = {}
    for name, template in raw.get(table, {}).items():
        mapping.field(name)
        if "{value}" not in template:
            raise ConfigError(f"{where}.{table}.{name} must contain {{value}}")
        templates[name] = str(template)
    return templates


class RestConnector:
    """Reads vocabulary entities from one OPD's HTTP API, over one pool of kept-alive connections."""

    kind = "rest"
    #: One fetch can be hundreds of calls (one per key), each given ``timeout_s`` here: the
    #: ``ResilientConnector`` around it bounds the fetch by the request's deadline only.
    times_each_call = True

    def __init__(
        self,
        info: SourceInfo,
        api: ApiClient,
        entities: Mapping[str, RestEntity],
        *,
        max_concurrency: int = 8,
        max_pages: int = DEFAULT_MAX_PAGES,
        timeout_s: float = 5.0,
    ) -> None:
        self.info = info
        self.api = api
        self.entities = dict(entities)
        self.max_pages = max_pages
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_concurrency)

    @classmethod
    def from_settings(
        cls, name: str, raw: Mapping[str, Any], *, base_dir: Path | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> RestConnector:
        base_url = resolve_env(f"sources.{name}.base_url", raw.get("base_url"))
        headers = {k: resolve_env(f"sources.{name}.headers.{k}", v) for k, v in raw.get("headers", {}).items()}
        entities = {entity: _parse_entity(name, entity, spec) for entity, spec in (raw.get("entities") or {}).items()}
        for entity_name, entity in entities.items():
            for field_name, t in entity.through.items():
                linked = entities.get(t.entity)
                if linked is None:
                    raise ConfigError(f"sources.{name}.entities.{entity_name}.through.{field_name}.entity {t.entity!r} is not an entity of this source")
                linked.mapping.field(t.link)
                linked.mapping.field(t.key)
        concurrency = int(raw.get("max_concurrency", 8))
        if concurrency < 1:
            raise ConfigError(f"sources.{name}.max_concurrency must be at least 1, got {concurrency}")
        timeout_s = float(raw.get("timeout_s", 5.0))
        choice = raw.get("transport", "http1")
        if choice not in TRANSPORTS:
            raise ConfigError(f"sources.{name}.transport is {choice!r}; choose one of {list(TRANSPORTS)}")
        quiet_client_loggers()  # httpx would log every URL, and a lookup's URL holds its key
        # As many kept-alive connections as calls may be in flight: none waits for a connection,
        # none is opened and closed per call.
        try:
            api = ApiClient(
                base_url,
                transport or transport_for(base_url, choice, concurrency),
                headers={"accept": "application/json", **headers},
                timeout_s=timeout_s,
                source=name,
            )
        except (ValueError, httpx.InvalidURL) as exc:
            raise ConfigError(f"sources.{name}.base_url: {exc}") from exc
        return cls(
            source_info(name, "rest", raw, tuple(entities)),
            api,
            entities,
            max_concurrency=concurrency,
            max_pages=int(raw.get("max_pages", DEFAULT_MAX_PAGES)),
            timeout_s=timeout_s,
        )

    async def start(self) -> None:
        return None  # an API has no schema to check up front; a bad mapping shows as null fields

    async def aclose(self) -> None:
        await self.api.aclose()

    async def fetch(self, query: SourceQuery) -> Sequence[Record]:
        entity = self.entities.get(query.entity)
        if entity is None:
            raise ConfigError(f"source {self.info.name} does not serve {query.entity}")
        raw = _distinct(await self._collect(entity, query.where))
        records = [self._to_record(entity, r) for r in raw]
        return evaluate(records, _with_key_sets(query), key=entity.mapping.key)

    async def _collect(self, entity: RestEntity, where: Sequence[Filter]) -> list[Any]:
        """The fewest calls that return a superset of what ``where`` asks for."""

        params = self._pushed_params(entity, where)
        for f in where:
            if f.op not in ("in", "eq"):
                continue
            keys = list(dict.fromkeys(f.value if f.op == "in" else (f.value,)))
            source_keys = [entity.mapping.field(f.field).to_source(k) for k in keys]
            if f.field in entity.batch:
                param, size, separator = entity.batch[f.field]
                self._refuse_unusable(f.field, keys, source_keys, lambda k: k == "" or separator in k)
                chunks = [source_keys[i : i + size] for i in range(0, len(source_keys), size)]
                pages = await _gather(
                    *(self._walk(entity, entity.mapping.location, {**params, param: separator.join(map(str, c))}) for c in chunks)
                )
                return [r for page in pages for r in page]
            if f.field in entity.lookup:
                template = entity.lookup[f.field]
                self._refuse_unusable(f.field, keys, source_keys, _unusable_in_path)
                found = await _gather(*(self._lookup(entity, _fill(template, k), template) for k in source_keys))
                return [r for r in found if r is not None]
            if f.field in entity.list_lookup:
                template = entity.list_lookup[f.field]
                column = entity.mapping.field(f.field).column
                self._refuse_unusable(f.field, keys, source_keys, _unusable_in_path)
                # A 404 for one key's list is an unknown key: no records, not a broken source.
                lists = await _gather(
                    *(self._walk(entity, _fill(template, k), params, route=template, missing_ok=True) for k in source_keys)
                )
                # The path names the key, so the items need not repeat it (a session's attendance rows).
                return [_with_default(r, column, k) for k, page in zip(source_keys, lists, strict=True) for r in page]
            if f.field in entity.through:
                return await self._through(entity, where, f, keys)
            eq = entity.param(f.field, "eq")
            if eq is not None:
                param = eq.param
                pages = await _gather(*(self._walk(entity, entity.mapping.location, {**params, param: k}) for k in source_keys))
                return [r for page in pages for r in page]
        prefix = next((f for f in where if f.op == "prefix" and entity.param(f.field, "prefix")), None)
        if prefix is not None:
            param = entity.param(prefix.field, "prefix").param  # type: ignore[union-attr]
            field_map = entity.mapping.field(prefix.field)
            pages = await _gather(
                *(self._walk(entity, entity.mapping.location, {**params, param: field_map.to_source(p)}) for p in prefix.value)
            )
            return [r for page in pages for r in page]
        return await self._walk(entity, entity.mapping.location, params)

    async def _through(self, entity: RestEntity, where: Sequence[Filter], asked: Filter, keys: Sequence[Any]) -> list[Any]:
        """The records whose ``asked.field`` is one of ``keys``, found through the linked entity."""

        t = entity.through[asked.field]
        links = await self.fetch(SourceQuery(t.entity, where=(Filter(t.link, "in", tuple(keys)),)))
        owner = {r[t.key]: r[t.link] for r in links if r.get(t.key) is not None}
        if not owner:
            return []
        by = entity.mapping.field(t.field)
        target = entity.mapping.field(asked.field)
        rest = tuple(f for f in where if f is not asked)
        raw = await self._collect(entity, (Filter(t.field, "in", tuple(owner)), *rest))
        # Each record names its session (in the API's terms): give it that session's class.
        of = {by.to_source(k): target.to_source(v) for k, v in owner.items()}
        return [_with_default(r, target.column, of.get(_at(r, by.column))) for r in raw]

    def _pushed_params(self, entity: RestEntity, where: Sequence[Filter]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for f in where:
            spec = entity.param(f.field, f.op) if f.op in ("eq", "gte", "lte") else None
            if spec is not None:
                params[spec.param] = entity.mapping.field(f.field).to_source(f.value)
            # One prefix travels with the other filters (a region's reports of one status); several
            # need a walk each, which _collect makes when nothing narrower is asked.
            spec = entity.param(f.field, "prefix") if f.op == "prefix" and len(f.value) == 1 else None
            if spec is not None:
                params[spec.param] = entity.mapping.field(f.field).to_source(f.value[0])
        return params

    def _refuse_unusable(self, field_name: str, keys: Sequence[Any], source_keys: Sequence[Any], unusable: Any) -> None:
        """Raise ``UnusableKey`` naming every key (as the caller gave it) whose source form ``unusable`` refuses."""

        refused = tuple(k for k, s in zip(keys, source_keys, strict=True) if unusable(str(s)))
        if refused:
            raise UnusableKey(
                f"A {field_name} must not be empty, '.' or '..', nor contain '/', '\\', '?', '#', '%' "
                "or control characters.",
                source=self.info.name,
                argument=field_name,
                keys=refused,
            )

    async def _walk(
        self, entity: RestEntity, path: str, params: Mapping[str, Any], *, route: str | None = None, missing_ok: bool = False
    ) -> list[Any]:
        """Every record of a list endpoint, following its pagination.

        ``route`` is what the logs may name (the path template, never a filled-in key);
        with ``missing_ok``, a 404 is an empty list.
        """

        p = entity.pagination
        records: list[Any] = []
        query = dict(params)
        if p.style == "page":
            query.update({p.page_param: 1, p.size_param: p.size})
        elif p.style == "offset":
            query.update({p.offset_param: 0, p.limit_param: p.size})
        elif p.style == "cursor":
            query[p.limit_param] = p.size
        for page_number in range(1, self.max_pages + 1):
            body = await self._get(entity, path, query, route=route or path, missing_ok=missing_ok)
            if body is None:
                return records
            page = self._records_of(entity, body)
            records.extend(page)
            if p.style == "none" or not page:
                return records
            if p.style == "page":
                total = _at(body, p.total_pages) if p.total_pages else None
                if isinstance(total, int) and not isinstance(total, bool) and page_number == 1 and total > 1:
                    # The first page says how many there are: ask for the others at once.
                    rest = await self._other_pages(entity, path, query, total, route=route or path, missing_ok=missing_ok)
                    return records + rest
                if (isinstance(total, int) and page_number >= total) or (total is None and len(page) < p.size):
                    return records
                query[p.page_param] = page_number + 1
            elif p.style == "offset":
                if _at(body, p.next) is None:
                    return records
                query[p.offset_param] = query[p.offset_param] + len(page)
            else:
                cursor = _at(body, p.next_cursor)
                if not cursor:
                    return records
                query[p.cursor_param] = cursor
        raise SourceBadResponse(
            f"Source '{self.info.name}' needs more than {self.max_pages} pages for one list; narrow the query.",
            source=self.info.name,
        )

    async def _other_pages(
        self, entity: RestEntity, path: str, query: Mapping[str, Any], total: int, *, route: str, missing_ok: bool
    ) -> list[Any]:
        """Pages 2 to ``total`` of a page-numbered list, asked concurrently, their records in page order."""

        if total > self.max_pages:
            raise SourceBadResponse(
                f"Source '{self.info.name}' needs more than {self.max_pages} pages for one list; narrow the query.",
                source=self.info.name,
            )
        page_param = entity.pagination.page_param

        async def page(number: int) -> list[Any]:
            body = await self._get(entity, path, {**query, page_param: number}, route=route, missing_ok=missing_ok)
            return [] if body is None else self._records_of(entity, body)

        pages = await _gather(*(page(n) for n in range(2, total + 1)))
        return [r for records in pages for r in records]

    def _records_of(self, entity: RestEntity, body: Any) -> list[Any]:
        page = _at(body, entity.records) if entity.records else body
        if not isinstance(page, list):
            raise SourceBadResponse(f"Source '{self.info.name}' answered without a list of records.", source=self.info.name)
        return page

    async def _lookup(self, entity: RestEntity, path: str, route: str) -> Any:
        body = await self._get(entity, path, {}, route=route, missing_ok=True)
        if body is None:
            return None
        return _at(body, entity.record) if entity.record else body

    async def _get(
        self, entity: RestEntity, path: str, params: Mapping[str, Any], *, route: str, missing_ok: bool = False
    ) -> Any:
        """The JSON body of ``GET path``; ``route`` (no keys in it) is all that may be logged of the request."""

        name = self.info.name
        async with self._slot():
            # The call's own time starts now, not while it queued for a slot; the request's
            # deadline still comes first.
            loop = asyncio.get_running_loop()
            deadline = request_deadline.get()
            own = loop.time() + self.timeout_s
            cut_by_request = deadline is not None and deadline <= own
            if cut_by_request and deadline <= loop.time():  # type: ignore[operator]
                raise DeadlineExceeded(name)  # queued past the deadline: not sent at all
            try:
                async with asyncio.timeout_at(deadline if cut_by_request else own):
                    with self._map_errors():
                        response = await self.api.get(path, params, route=route)
            except TimeoutError:
                if cut_by_request:
                    raise DeadlineExceeded(name) from None
                raise SourceTimeout(f"Source '{name}' did not answer within {self.timeout_s:g} s.", source=name) from None
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        if status >= 500:
            log.warning("source %s answered HTTP %s for %s", name, status, route)
            raise SourceUnavailable(f"Source '{name}' answered HTTP {status}.", source=name)
        if status in CALLER_ERRORS:
            reason, param = _refusal(response)
            argument = entity.field_of_param(param) if param else None
            log.info("source %s refused the arguments for %s (HTTP %s, %s): %s", name, route, status, argument or "?", reason)
            raise SourceRejectedInput(f"Source '{name}' refused the argument: {reason}", source=name, argument=argument)
        if status >= 400:
            # Our credentials or our mapping, not the caller: a failure of the source link.
            log.error("source %s refused %s (HTTP %s, parameters %s): %s", name, route, status, sorted(params), _refusal(response)[0])
            raise SourceBadResponse(f"Source '{name}' refused the request (HTTP {status}).", source=name)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise SourceBadResponse(f"Source '{name}' answered with malformed JSON.", source=name) from exc

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One of the ``max_concurrency`` call slots, waited for until the request's deadline at most.

        A fan-out of hundreds of calls queues here; when the request's time is up the calls
        still queued fail at once, without reaching the API.
        """

        deadline = request_deadline.get()
        if deadline is None or not self._slots.locked():
            if deadline is not None and deadline <= asyncio.get_running_loop().time():
                raise DeadlineExceeded(self.info.name)
            await self._slots.acquire()  # no deadline, or a free slot: returns at once
        else:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._slots.acquire()
            except TimeoutError:
                raise DeadlineExceeded(self.info.name) from None
        try:
            yield
        finally:
            self._slots.release()

    def _map_errors(self) -> AbstractContextManager[None]:
        """Translate httpx's errors into ``SourceError``s, once, here."""

        return mapped_http_errors(self.info.name, log)

    def _to_record(self, entity: RestEntity, raw: Any) -> Record:
        if type(raw) is not dict and not isinstance(raw, Mapping):  # JSON objects are dicts: skip the ABC check
            raise SourceBadResponse(f"Source '{self.info.name}' answered with a record that is not an object.", source=self.info.name)
        record = {}
        for name, parts, convert in entity.columns:
            value = raw.get(parts[0]) if len(parts) == 1 else _at_parts(raw, parts)
            record[name] = value if convert is None or value is None else convert(value)
        return record


async def _gather(*calls: Any) -> list[Any]:
    """``asyncio.gather`` that, when one call fails, cancels the others still queued or running.

    A failed page or lookup fails the whole fetch; the rest of a fan-out would only hold
    slots (and the API's time) for an answer nobody reads.
    """

    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _with_key_sets(query: SourceQuery) -> SourceQuery:
    """``query`` with each ``in`` list as a set: evaluated per record, a tuple of hundreds of keys
    costs a scan per record."""

    if not any(f.op == "in" for f in query.where):
        return query
    where = []
    for f in query.where:
        if f.op == "in":
            try:
                f = Filter(f.field, "in", frozenset(f.value))
            except TypeError:
                pass  # an unhashable key: compared one by one, as before
        where.append(f)
    return replace(query, where=tuple(where))


def _fill(template: str, key: Any) -> str:
    return template.format(value=quote(str(key), safe=""))


def _unusable_in_path(key: str) -> bool:
    """Whether ``key``, put into a path, could name another resource than the one it keys.

    Quoting is not enough: httpx (as RFC 3986 says) removes ``.`` and ``..`` segments after
    quoting, so ``/faskes/{value}`` with ``..`` becomes ``/api/v1``; an empty key names the
    list endpoint. ``%`` is refused too: an API or proxy that decodes twice would see ``%2F`` as ``/``.
    """

    return key in ("", ".", "..") or any(c in _PATH_UNSAFE or unicodedata.category(c) == "Cc" for c in key)


#: Where APIs put the reason for a refusal (``{"error": {"message"}}``, problem+json, FastAPI ...).
_REASON_PATHS = ("error.message", "error", "message", "detail.0.msg", "detail", "title", "errors.0.message")
_PARAM_PATHS = ("error.details.parameter", "error.parameter", "parameter", "param", "detail.0.loc.1", "errors.0.field")


def _refusal(response: httpx.Response) -> tuple[str, str | None]:
    """The API's reason for refusing (short, redacted) and the parameter it names, if any."""

    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    reason = next((v for v in (_at_index(body, p) for p in _REASON_PATHS) if isinstance(v, str) and v.strip()), None)
    param = next((v for v in (_at_index(body, p) for p in _PARAM_PATHS) if isinstance(v, str)), None)
    return redact_numbers(reason or f"HTTP {response.status_code}", limit=200), param


def _at_index(body: Any, path: str) -> Any:
    """The value at a dotted path whose numeric parts index lists (``detail.0.msg``)."""

    value = body
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _distinct(raw: list[Any]) -> list[Any]:
    """Each record once, though overlapping walks (region prefixes) may answer it twice.

    Compared whole, not by key: an entity's key need not be unique at an API (one weekly
    report line per disease and desa shares its week with the others).
    """

    seen: set[bytes] = set()
    distinct = []
    for record in raw:
        fingerprint = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        if fingerprint not in seen:
            seen.add(fingerprint)
            distinct.append(record)
    return distinct


def _with_default(raw: Any, path: str, value: Any) -> Any:
    """``raw`` with ``value`` at the dotted ``path`` where it has nothing there."""

    if type(raw) is dict and "." not in path:  # the common case, without the general walk
        return raw if raw.get(path) is not None else {**raw, path: value}
    if not isinstance(raw, Mapping) or _at(raw, path) is not None:
        return raw
    head, _, rest = path.partition(".")
    inner = raw.get(head)
    return {**raw, head: _with_default(inner if isinstance(inner, Mapping) else {}, rest, value) if rest else value}


def _at_parts(body: Any, parts: tuple[str, ...]) -> Any:
    """``_at`` with the path already split (a record's dotted column)."""

    value = body
    for i, part in enumerate(parts):
        if type(value) is dict:
            value = value.get(part)
        elif isinstance(value, list):
            return [_at_parts(item, parts[i:]) for item in value]
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _at(body: Any, path: str | None) -> Any:
    """The value at a dotted path (``meta.total_pages``), or ``None``.

    Through a list, the list of each item's value: ``cohorts.cohortId`` on a participant is
    the id of each of their enrolments, in order, so parallel paths stay aligned.
    """

    value = body
    parts = [p for p in (path or "").split(".") if p]
    for i, part in enumerate(parts):
        if isinstance(value, list):
            rest = ".".join(parts[i:])
            return [_at(item, rest) for item in value]
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
