"""The config tree: every table and key of the gateway's TOML file, declared once.

``CONFIG`` is the whole file. ``GatewaySettings.from_file`` checks a file against it before any
part reads its table, so a typo or a wrong type anywhere is a ``ConfigError`` naming the key;
``satudata config check FILE`` prints the same; ``docs/config.md`` and
``docs/config.schema.json`` are written from it (``python -m gateway.config_docs``), and
``tests/gateway/test_config_docs.py`` fails when they are out of date.

Adding a table is one declaration: write its ``Table`` (here, or beside the dataclass it fills, as
``gateway.access.audit.settings.AUDIT``, ``gateway.access.auth.settings.CLIENT``/``AUTH`` and
``gateway.documents.settings.DOCUMENTS`` are, which check their table with it when called on
their own) and add it to ``TABLES``. The
component that uses the table still reads it (``Policy.from_config``, ``AuditSettings.from_dict``
...) and checks what a type cannot say (a role that does not exist, two keys that exclude each
other); defaults that a component's dataclass also holds are read from that dataclass, so the
two cannot disagree.
"""

from __future__ import annotations

from connectors import SOURCE_OPTIONS, ResiliencePolicy

from resolvers.signals import STATUSES, Parameters
from resolvers.truth.types import FACT_NAMES

from .access.audit.settings import AUDIT
from .access.auth.principal import ATTRIBUTES
from .access.auth.settings import AUTH, CLIENT
from .access.limits.budget import LIMITS
from .access.policy import CAPABILITIES, CLASSES, LookupSettings, Mask
from .access.ratelimit import RATELIMIT
from .documents.settings import DOCUMENTS
from .events import CHANGES, EVENTS
from .status.settings import STATUS
from .subscriptions.settings import SUBSCRIPTIONS
from .logs import FORMATS as LOG_FORMATS
from .logs import LEVELS as LOG_LEVELS
from .logs import LoggingSettings
from .telemetry import TelemetrySettings
from .config_types import (
    ENV,
    SECONDS,
    AnyOf,
    ArrayOf,
    Bool,
    Choice,
    Int,
    Key,
    ListOf,
    MapOf,
    Number,
    Scalar,
    Str,
    Table,
    Tagged,
)

NAME = Str()

# -- [gateway] ---------------------------------------------------------------------------------

#: Who gets the source trace (``[gateway] source_trace``).
SOURCE_TRACE = ("operators", "everyone")

#: The lists whose order a masked key would decide, by ``Type.key`` (``GraphContext.list_order_salt``).
SHUFFLEABLE_LISTS = ("Person.nik", "Student.nisn")

GATEWAY = Table(
    description="The gateway itself: its name, request limits, the door's deadlines and proxies.",
    example='[gateway]\ntitle = "Satu Data Trenggalek"\ncursor_key = "env:SATUDATA_CURSOR_KEY"',
    keys=(
        Key("title", NAME, "Shown in GraphiQL.", "Satu Data Trenggalek"),
        Key("production", Bool(), "Production mode: a [policy] is required, anonymous clients may not introspect, "
            "GraphiQL defaults to \"authenticated\".", False),
        Key("max_body_bytes", Int(minimum=1), "Larger request bodies are refused with 413.", 1_048_576),
        Key("request_timeout_s", SECONDS, "Every source call of a request must finish within this many seconds of "
            "its arrival.", 10.0),
        Key("cursor_key", ENV, "Seals paging cursors (base64url, from `satudata keygen-secret`); the same on every "
            "replica. Unset: a random key per process, so cursors do not outlive it.", default_doc="random per process"),
        Key("cors_origins", ListOf(Str()), "Browser origins allowed to call the gateway (CORS), each "
            '"scheme://host[:port]", or ["*"].', []),
        Key("header_read_timeout_s", SECONDS, "Seconds a client has to send its request line and headers; then "
            "408 and the connection is closed. Needs a restart.", 10.0),
        Key("body_read_timeout_s", SECONDS, "Seconds a client has to send its body once the request is admitted.", 10.0),
        Key("keep_alive_timeout_s", SECONDS, "An idle keep-alive connection is closed after this. Needs a restart.", 5.0),
        Key("max_concurrency", Int(minimum=1), "Open connections plus running requests; beyond it, 503. Needs a "
            "restart.", 256),
        Key("trusted_proxies", ListOf(Str()), "Peers (IP addresses or CIDR networks) whose X-Forwarded-For is "
            "believed. Needs a restart.", []),
        Key("compiled_execution", Bool(), "false: run every query on graphql-core's executor (same answers, "
            "slower).", True),
        Key("projection", Bool(), "false: ask each source for every field it maps of every record, not only "
            "those the query reads (same answers, slower; to rule a mapping out when an answer looks wrong).", True),
        Key("source_trace", Choice(SOURCE_TRACE), "Who gets the source trace an `X-Satudata-Trace: sources` header "
            "asks for (calls, rows and time per source): `\"operators\"`, roles with `may = [\"operations\"]` (and "
            "every caller without a [policy]); `\"everyone\"`, every caller, for development and tests: the trace "
            "counts what a source read before row scopes and masks, so it tells a caller what the policy keeps from "
            "it. Production mode refuses `\"everyone\"`.", "operators"),
        Key("shuffled_lists", ListOf(Choice(SHUFFLEABLE_LISTS)), "Lists every caller gets in a shuffled order (a keyed "
            "digest of the key), not only the roles that see their key masked or refused, who always do (a NIK's "
            "order tells its owner's sex and birth date): `\"Person.nik\"` (persons, residents, family members, "
            "programme participants), `\"Student.nisn\"` (pupils).", []),
    ),
)

#: ``[gateway]`` keys the server (uvicorn) reads when it starts: a reload cannot change them.
RESTART_KEYS = ("header_read_timeout_s", "keep_alive_timeout_s", "max_concurrency", "trusted_proxies")

# -- [[agencies]] ------------------------------------------------------------------------------

AGENCY = Table(
    description="An OPD whose systems feed the graph (answered by the root field `agencies`).",
    keys=(
        Key("code", NAME, "The agency's code, named by each source's `agency`.", required=True),
        Key("name", NAME, "Its full name.", default_doc="the code"),
        Key("short_name", NAME, "A short name."),
        Key("description", NAME, "What it does, for integrators."),
    ),
)

# -- [discrepancies] (resolvers.truth) ---------------------------------------------------------

DISCREPANCIES = Table(
    description="Where OPDs' records of one person disagree (`discrepancies`): which system is the authority "
    "for each fact.",
    keys=(
        Key("authority", Table(
            description="Fact -> the source (a [sources.NAME]) that is its authority; the other side of a "
            "discrepancy is the one to correct.",
            keys=tuple(Key(fact, NAME, f"The authority for {fact}.", default_doc="the source answering Person")
                       for fact in FACT_NAMES),
        ), "Fact -> its authority.", {}),
    ),
)

# -- [sources.NAME] ----------------------------------------------------------------------------

#: The vocabulary entities a source may serve: those the resolvers ask the registry for (and the
#: catalog's Agency and Source). A name outside it would be mapped and never asked for, silently;
#: tests/gateway/test_config_tree.py keeps it equal to what resolvers/ and the demo config name.
VOCABULARY_ENTITIES = (
    "Agency", "Attendance", "Authority", "CaseReport", "Family", "Feedback", "HealthFacility", "HealthInsurance", "Patient",
    "Person", "Programme", "ProgrammeAttendance", "ProgrammeParticipant", "ProgrammeSession", "Region", "School",
    "Source", "Student",
)  # fmt: skip


def _entities(table: Table) -> MapOf:
    return MapOf(table, name="Entity", key_choices=VOCABULARY_ENTITIES,
                 key_doc="an entity of the vocabulary (gateway.config_schema.VOCABULARY_ENTITIES)")


_FIELD = AnyOf((
    Str(),
    Table(
        description="A mapped field with conversions.",
        keys=(
            Key("column", Str(), "The source's column or JSON field (dotted path for nested JSON).", required=True),
            Key("values", MapOf(Scalar(), name="CODE"), "Source codes -> vocabulary enum values (and back for "
                "filters)."),
            Key("transform", Choice(SOURCE_OPTIONS.transforms), "A reversible format conversion."),
            Key("type", Choice(SOURCE_OPTIONS.types), "Parse values whose wire format lacks the type (JSON has no dates)."),
        ),
    ),
))
_FIELDS = Key("fields", MapOf(_FIELD, name="field"), "Vocabulary field = source column, or "
              "{ column, values, transform, type }.", required=True)
_KEY = Key("key", Str(), "The vocabulary field that identifies a record (one of `fields`).", required=True)

_COMMON_SOURCE_KEYS = (
    Key("kind", Choice(("sql", "rest", "graphql")), "What the source is: a SQL database, a REST API or a GraphQL "
        "endpoint.", required=True),
    Key("agency", NAME, "Code of the agency (OPD) that runs it, from [[agencies]].", required=True),
    Key("system", NAME, "The system's name (e.g. SIAK, Dapodik).", ""),
    Key("description", NAME, "What the source holds, for integrators.", ""),
    Key("timeout_s", Number(minimum=0), "Longest one call may take, in seconds.", ResiliencePolicy.timeout_s),
    Key("retries", Int(minimum=0), "Extra attempts after a dropped or refused connection (reads only).",
        ResiliencePolicy.retries),
    Key("backoff_s", Number(minimum=0), "The first retry waits up to this long (full jitter); each further retry "
        "doubles it.", ResiliencePolicy.backoff_s),
    Key("breaker_failures", Int(minimum=1), "Failed calls in a row that open the source's circuit breaker.",
        ResiliencePolicy.breaker_failures),
    Key("breaker_reset_s", Number(minimum=0), "How long an open breaker refuses calls before letting one probe "
        "through.", ResiliencePolicy.breaker_reset_s),
    Key("close_timeout_s", Number(minimum=0), "Longest the source's pool may take to close at shutdown (or after "
        "a reload) before it is abandoned.", ResiliencePolicy.close_timeout_s),
)

_POOL_DOCS = {
    "pool_size": "Connections held open for the gateway's life.",
    "max_overflow": "Extra connections opened in a burst and closed again on return.",
    "pool_recycle_s": "Replace a held connection after this many seconds.",
    "pool_timeout_s": "Longest a fetch waits for a held connection.",
}

_SQL_JOIN = Key("join", Table(
    description="A table LEFT JOINed to the entity's own on columns that identify one of its rows; fields map its "
    'columns as "table.column" (a pupil\'s class beside an attendance row, so counts can be grouped by it).',
    example='join = { table = "peserta_didik", on = { nisn = "nisn" } }',
    keys=(
        Key("table", Str(), "The joined table.", required=True),
        Key("on", MapOf(Str(), name="column"), "Column of the entity's table = column of the joined table (its key).",
            required=True),
    ),
), "A table joined to this one, for fields (and groupings) that live beside it.")

SQL_SOURCE = Table(
    description='`kind = "sql"`: SQLite, PostgreSQL or MariaDB/MySQL through SQLAlchemy async. A SQLite file '
    "must exist (a relative path is beside the config file).",
    example='[sources.siak]\nkind = "sql"\nagency = "DISDUKCAPIL"\nurl = "env:SIAK_DB_URL"',
    keys=(
        *_COMMON_SOURCE_KEYS,
        Key("url", ENV, "SQLAlchemy async URL (sqlite+aiosqlite:///file.sqlite, postgresql+asyncpg://..., "
            "mysql+aiomysql://...).", required=True),
        *(
            Key(name, Int(minimum=int(least)) if argument in ("pool_size", "max_overflow") else Number(minimum=least),
                _POOL_DOCS.get(name, "") + " Not for SQLite.", default)
            for name, (argument, default, least) in SOURCE_OPTIONS.sql_pool_keys.items()
        ),
        Key("changes", CHANGES, "How the gateway notices changed records (subscriptions); see docs/change-capture.md."),
        Key("entities", _entities(Table(
            description="Where one vocabulary entity lives in the database.",
            keys=(Key("table", Str(), "The table (or view).", required=True), _KEY, _FIELDS, _SQL_JOIN),
        )), "Vocabulary entity -> its table and columns.", {}),
    ),
)

_PAGINATION_REST = Table(
    description="How the API pages a list.",
    keys=(
        Key("style", Choice(("none", "page", "offset", "cursor")), "The API's paging scheme.", "none"),
        Key("size", Int(minimum=1), "Records asked per page.", 100),
        Key("page_param", Str(), "Parameter of the page number (style page).", "page"),
        Key("size_param", Str(), "Parameter of the page size.", "per_page"),
        Key("total_pages", Str(), "Path of the page count in the answer (style page)."),
        Key("offset_param", Str(), "Parameter of the offset (style offset).", "offset"),
        Key("limit_param", Str(), "Parameter of the limit (style offset).", "limit"),
        Key("next", Str(), "Path of the next page's URL.", "next"),
        Key("cursor_param", Str(), "Parameter of the cursor (style cursor).", "cursor"),
        Key("next_cursor", Str(), "Path of the next cursor in the answer.", "nextCursor"),
    ),
)
_PARAM = AnyOf((Str(), Table(
    description="An API parameter that filters a field.",
    keys=(
        Key("param", Str(), "The parameter's name.", required=True),
        Key("op", Choice(("eq", "prefix", "gte", "lte")), "What the parameter does.", "eq"),
    ),
)))
_TEMPLATES = MapOf(Str(pattern=r".*\{value\}.*", pattern_doc="a path containing {value}"), name="field")

REST_SOURCE = Table(
    description='`kind = "rest"`: an OPD\'s HTTP API; JSON fields are mapped like columns (dotted paths).',
    keys=(
        *_COMMON_SOURCE_KEYS,
        Key("base_url", ENV, "The API's base URL.", required=True),
        Key("headers", MapOf(ENV, name="header"), "Headers sent with every call (e.g. an API key from the "
            "environment).", {}),
        Key("max_concurrency", Int(minimum=1), "Calls in flight at once (and kept-alive connections).", 8),
        Key("max_pages", Int(minimum=1), "Pages one list may take before the answer is refused.", SOURCE_OPTIONS.rest_max_pages),
        Key("transport", Choice(SOURCE_OPTIONS.rest_transports), "The HTTP client underneath.", "http1"),
        Key("changes", CHANGES, "How the gateway notices changed records (subscriptions); see docs/change-capture.md."),
        Key("entities", _entities(Table(
            description="Where one vocabulary entity lives in the API.",
            keys=(
                Key("path", Str(), "The list's path.", required=True),
                _KEY,
                _FIELDS,
                Key("records", Str(), "Path of the list inside the answer."),
                Key("record", Str(), "Path of the record inside a lookup's answer."),
                Key("pagination", _PAGINATION_REST, "How the list is paged.", {}),
                Key("batch", MapOf(Table(
                    description="A parameter taking many keys at once.",
                    keys=(
                        Key("param", Str(), "The parameter's name.", required=True),
                        Key("max", Int(minimum=1), "Keys per call.", 50),
                        Key("separator", Str(), "Between keys.", ","),
                    ),
                ), name="field"), "Field -> a parameter that takes a batch of keys.", {}),
                Key("lookup", _TEMPLATES, "Field -> path of one record by that field ({value}).", {}),
                Key("list_lookup", _TEMPLATES, "Field -> path of the records having that value ({value}).", {}),
                Key("params", MapOf(AnyOf((_PARAM, ListOf(_PARAM))), name="field"),
                    "Field -> API parameter(s) that filter it.", {}),
                Key("through", MapOf(Table(
                    description="A field answered through another entity of this source.",
                    keys=(
                        Key("entity", Str(), "The linking entity.", required=True),
                        Key("link", Str(), "Its field holding this entity's key.", required=True),
                        Key("key", Str(), "Its field holding the looked-for value.", required=True),
                        Key("field", Str(), "This entity's field it is looked up by.", required=True),
                    ),
                ), name="field"), "Field -> how it is reached through another entity.", {}),
            ),
        )), "Vocabulary entity -> its path and JSON fields.", {}),
    ),
)

_ARG = AnyOf((Str(), Table(
    description="A root field argument that filters a vocabulary field.",
    keys=(
        Key("arg", Str(), "The argument's name.", required=True),
        Key("op", Choice(("eq", "in", "prefix", "contains", "gte", "lte")), "What the argument does.", "eq"),
        Key("type", Str(), "Its GraphQL type, when not read from the peer's schema."),
    ),
)))

GRAPHQL_SOURCE = Table(
    description='`kind = "graphql"`: a peer\'s GraphQL endpoint (a neighbouring portal, a subgraph).',
    keys=(
        *_COMMON_SOURCE_KEYS,
        Key("url", ENV, "The peer's GraphQL endpoint.", required=True),
        Key("headers", MapOf(ENV, name="header"), "Headers sent with every call.", {}),
        Key("schema", Choice(SOURCE_OPTIONS.graphql_schema_modes), "How the peer's schema is read to check the mapping at start-up.",
            "introspection"),
        Key("max_concurrency", Int(minimum=1), "Calls in flight at once.", 8),
        Key("max_pages", Int(minimum=1), "Pages one list may take.", SOURCE_OPTIONS.graphql_max_pages),
        Key("entities", _entities(Table(
            description="How one vocabulary entity is read from the peer.",
            keys=(
                Key("type", Str(), "The peer's type.", required=True),
                _KEY,
                _FIELDS,
                Key("list", Table(
                    description="A root field listing the entity.",
                    keys=(
                        Key("field", Str(), "The root field.", required=True),
                        Key("records", Str(), "Where the list is inside the field's value (not for Relay)."),
                        Key("pagination", Table(
                            description="How the root field pages.",
                            keys=(
                                Key("style", Choice(("none", "relay", "offset")), "Paging scheme.", "none"),
                                Key("size", Int(minimum=1), "Records asked per page.", 100),
                                Key("first_arg", Str(), "Relay: the page size argument.", "first"),
                                Key("after_arg", Str(), "Relay: the cursor argument.", "after"),
                                Key("offset_arg", Str(), "Offset: the offset argument.", "offset"),
                                Key("limit_arg", Str(), "Offset: the limit argument.", "limit"),
                            ),
                        ), "How it pages.", {}),
                        Key("args", MapOf(AnyOf((_ARG, ListOf(_ARG))), name="field"),
                            "Field -> argument(s) that filter it.", {}),
                    ),
                ), "A root field that lists the entity."),
                Key("lookup", MapOf(Table(
                    description="A root field that finds records by one field.",
                    keys=(
                        Key("field", Str(), "The root field (or `_entities`).", required=True),
                        Key("arg", Str(), "Its argument taking the keys.", ""),
                        Key("max", Int(minimum=1), "Keys per call.", SOURCE_OPTIONS.graphql_lookup_max),
                        Key("type", Str(), "The argument's GraphQL type, when not read from the peer's schema."),
                    ),
                ), name="field"), "Field -> the root field that looks records up by it.", {}),
            ),
        )), "Vocabulary entity -> the peer's type and fields.", {}),
    ),
)

SOURCE = Tagged("kind", {"sql": SQL_SOURCE, "rest": REST_SOURCE, "graphql": GRAPHQL_SOURCE})

# -- [graphiql] --------------------------------------------------------------------------------

GRAPHIQL = Table(
    description="The GraphiQL page served at /graphql to browsers, and its preloaded examples.",
    keys=(
        Key("enabled", AnyOf((Bool(), Choice(("authenticated",)))), 'true: for everyone; false: never; '
            '"authenticated": only to a request carrying a valid credential.',
            default_doc='`true`; `"authenticated"` in production mode'),
        Key("examples", ArrayOf(Table(
            description="A query preloaded in GraphiQL.",
            keys=(
                Key("title", Str(), "The tab's title.", required=True),
                Key("query", Str(), "The GraphQL document.", required=True),
                Key("variables", Str(), "JSON text for the variables editor."),
                Key("headers", Str(), "JSON text for the headers editor (credentials become a placeholder)."),
            ),
        )), "Queries preloaded in GraphiQL, as [[graphiql.examples]].", default_doc="two examples"),
    ),
)

# -- [policy] ----------------------------------------------------------------------------------

_CLASS = Choice(CLASSES[1:])
_ROW_SCOPE = Table(
    description="Which rows of an entity a role sees: a record field equal to (or within) a principal attribute, "
    "or the person's own records (`subject`).",
    keys=(
        Key("field", Str(), "The record field compared."),
        Key("equals", Choice(ATTRIBUTES), "The principal attribute it must equal."),
        Key("within", Choice(ATTRIBUTES), "The principal attribute (a region) it must lie within."),
        Key("subject", Str(), "Alone: the record field holding the person's NIK."),
        Key("fields", ListOf(Str()), "Only these fields are scoped (field-level scope).", []),
    ),
)
ROLE = Table(
    description="A role: what personal data it may see, masked or whole, why, and where.",
    keys=(
        Key("description", Str(), "What the role is for.", ""),
        Key("grant", ListOf(_CLASS), "Data classes shown whole.", []),
        Key("mask", ListOf(_CLASS), "Data classes shown masked.", []),
        Key("purposes", ListOf(Str()), "Purposes the role must state (X-Satudata-Purpose) for personal data.", []),
        Key("row_scope", MapOf(_ROW_SCOPE, name="Entity"), "Entity -> which of its rows the role sees.", {}),
        Key("may", ListOf(Choice(CAPABILITIES)), "Capabilities beyond reading fields.", []),
        Key("lookup_budget", Int(minimum=0), "Distinct persons the role may look up per [policy.lookups] window_s.",
            default_doc="[policy.lookups] default_budget"),
    ),
)
POLICY = Table(
    description="Field sensitivity, roles, row scopes and lookup budgets. Without it (development only) every "
    "field is public.",
    keys=(
        Key("fields", MapOf(AnyOf((Choice(CLASSES), ListOf(Choice(CLASSES[1:])), Table(
            description="A field's data class and how it is masked.",
            keys=(
                Key("class", AnyOf((Choice(CLASSES), ListOf(Choice(CLASSES[1:])))),
                    "The data class; a list: the field is open to a role that may see any of them (a report "
                    "whose items, of several classes, are decided one by one).", required=True),
                Key("mask", Choice(tuple(m.value for m in Mask)), "How a masked value is shown.", "hide"),
            ),
        ))), name='"Type.field"', key_pattern=r"[A-Za-z_][A-Za-z0-9_]*\.([A-Za-z_][A-Za-z0-9_]*|\*)",
            key_doc='"Type.field" or "Type.*"'), 'Field ("Type.field" or "Type.*") -> its data class.', {}),
        Key("roles", MapOf(ROLE, name="ROLE"), "Role name -> what it may see.", {}),
        Key("lookups", Table(
            description="How many distinct persons a role may look up by key in a window.",
            keys=(
                Key("window_s", SECONDS, "The window's length.", LookupSettings.window_s),
                Key("default_budget", Int(minimum=0), "For roles without a lookup_budget.",
                    LookupSettings.default_budget),
                Key("redis_url", ENV, "Count in Redis (shared by replicas); unset: in memory.",
                    default_doc="in memory"),
            ),
        ), "Lookup budgets.", {}),
    ),
)

# -- [[clients]], [auth] -----------------------------------------------------------------------


# -- [audit] -----------------------------------------------------------------------------------


# -- [limits], [ratelimit] ---------------------------------------------------------------------

# -- [documents] -------------------------------------------------------------------------------


# -- [logging] and [telemetry] (gateway.logs, gateway.telemetry) ------------------------------

LOGGING = Table(
    description="Log lines: their format and level (`satudata serve --log-level` wins over `level`).",
    keys=(
        Key("format", Choice(LOG_FORMATS), '"json": one object per line (time, level, logger, message, '
            'request_id, ...); "text": for a person at a terminal.', LoggingSettings.format),
        Key("level", Choice(LOG_LEVELS), "Nothing below this level is written.", LoggingSettings.level),
    ),
)

TELEMETRY = Table(
    description="OpenTelemetry traces (the `otel` extra): a span per request, loader batch and source call.",
    keys=(
        Key("enabled", Bool(), "Make spans and export them over OTLP/HTTP.", TelemetrySettings.enabled),
        Key("endpoint", Str(), "OTLP/HTTP traces URL.", default_doc="from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or "
            "OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318/v1/traces"),
        Key("service_name", Str(), "The spans' service.name.", TelemetrySettings.service_name),
        Key("sample_ratio", Number(minimum=0), "Share of new traces kept, 0 to 1; a caller's traceparent decides "
            "for its own.", TelemetrySettings.sample_ratio),
    ),
)

# -- [signals] (resolvers.signals) ------------------------------------------------------------

_ABSENCE = Parameters()
SIGNALS = Table(
    description="The Smart Center's early warnings (`absenceAlerts`).",
    keys=(
        Key("absence", Table(
            description="The absence-alert method: a Poisson limit on each class's moving baseline scaled by the "
            "day factor, held `persistence` school days.",
            example="[signals.absence]\nbaseline_days = 15\nalpha = 0.002\ncluster_min = 5",
            keys=(
                Key("baseline_days", Int(minimum=2), "School days whose mean is the class's baseline.",
                    _ABSENCE.baseline_days),
                Key("guard_days", Int(minimum=0), "School days between the baseline window and the day tested "
                    "(the guard band: a rise's first days stay out of its own baseline).", _ABSENCE.guard_days),
                Key("alpha", Number(above=0), "The limit is the smallest count whose Poisson tail is at most this "
                    "(below 1).", _ABSENCE.alpha),
                Key("day_effect", Bool(), "Scale the baseline mean by the day factor: the rest of the regency's "
                    "schools' rate of counted pupils that day over their rate on the baseline days, so a rise every "
                    "school shares (the rainy season) does not alert. false: the baseline mean alone.",
                    _ABSENCE.day_effect),
                Key("min_mean", Number(above=0), "The expected count (the baseline mean times the day factor) is "
                    "raised to this, so a class that is never ill does not alert on two pupils.", _ABSENCE.min_mean),
                Key("min_count", Int(minimum=1), "The lowest limit: fewer pupils never alert.", _ABSENCE.min_count),
                Key("persistence", Int(minimum=1), "Consecutive school days at or above the limit that make an "
                    "alert (on the last of them).", _ABSENCE.persistence),
                Key("statuses", ListOf(Choice(STATUSES)), "Attendance statuses counted.", list(_ABSENCE.statuses)),
                Key("cluster_days", Int(minimum=1), "School days, up to an alert's day, on each of which the same "
                    "pupils must have been counted (the cluster test).", _ABSENCE.cluster_days),
                Key("cluster_min", Int(minimum=0), "Pupils counted on each of the last cluster_days school days that "
                    "confirm an alert: a run of ordinary bad days at the limit brings different pupils, an outbreak "
                    "keeps the same ones at home. 0: no cluster test (the counts alone).", _ABSENCE.cluster_min),
            ),
        ), "The absence-alert method's parameters.", {}),
    ),
)

# -- the file ----------------------------------------------------------------------------------

#: Top-level tables, in the order the reference shows them. A new table is one entry here.
TABLES: dict[str, Key] = {
    k.name: k
    for k in (
        Key("gateway", GATEWAY, GATEWAY.description, {}),
        Key("agencies", ArrayOf(AGENCY), "The OPDs whose systems feed the graph, as [[agencies]].", []),
        Key("sources", MapOf(SOURCE, name="NAME"), "One table per source system, [sources.NAME].", required=True),
        Key("graphiql", GRAPHIQL, GRAPHIQL.description, {}),
        Key("policy", POLICY, POLICY.description, default_doc="none: every field public"),
        Key("discrepancies", DISCREPANCIES, DISCREPANCIES.description, {}),
        Key("signals", SIGNALS, SIGNALS.description, {}),
        Key("clients", ArrayOf(CLIENT), "API-key clients, as [[clients]].", []),
        Key("auth", AUTH, AUTH.description, {}),
        Key("audit", AUDIT, AUDIT.description, default_doc="audit.sqlite beside the config file"),
        Key("limits", LIMITS, LIMITS.description, {}),
        Key("ratelimit", RATELIMIT, RATELIMIT.description, default_doc="none"),
        Key("documents", DOCUMENTS, DOCUMENTS.description, {}),
        Key("events", EVENTS, EVENTS.description, default_doc="none: one process, the embedded feed"),
        Key("subscriptions", SUBSCRIPTIONS, SUBSCRIPTIONS.description, {}),
        Key("status", STATUS, STATUS.description, {}),
        Key("logging", LOGGING, LOGGING.description, {}),
        Key("telemetry", TELEMETRY, TELEMETRY.description, {}),
    )
}

CONFIG = Table(
    description="The Satu Data gateway's configuration file (TOML).",
    keys=tuple(TABLES.values()),
)

__all__ = ["CONFIG", "GATEWAY", "RESTART_KEYS", "SOURCE", "TABLES"]
