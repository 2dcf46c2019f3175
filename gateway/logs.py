"""Log lines: one JSON object per line (or text for a terminal), the level, one access line per request.

```toml
[logging]
format = "json"    # "json" (default): one object per line; "text": for a person at a terminal
level = "info"     # debug, info, warning or error; `satudata serve --log-level` wins over it
```

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and, while a
request is being answered, its ``request_id`` (the client's ``X-Request-Id`` when well-formed,
else a new one; the same id the response and the GraphQL errors carry) and, when the request is
traced (``gateway.telemetry``), its ``trace_id``. ``exception`` holds a traceback when there is one.

``AccessLog`` wraps the app and writes one line per request to the ``access`` logger: method,
path, status, GraphQL operation name, role, milliseconds, request id. Never the document, its
variables or the query string, which can hold NIKs; a path the gateway does not serve has its
long numbers blanked. Health checks and scrapes (``/healthz``, ``/readyz``, ``/metrics``) are
written at DEBUG, so that a probe every few seconds does not drown the requests.

The endpoint tells the access line (and the request span, ``gateway.telemetry``) what only it
knows, the operation and the role, with ``note_request``: a dict store in the ASGI scope.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors import quiet_client_loggers, redact_numbers
from core import ConfigError

#: The levels ``--log-level`` and ``[logging] level`` take.
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("json", "text")
#: The environment carries the chosen level and format to worker processes (they are spawned).
LEVEL_ENV = "SATUDATA_LOG_LEVEL"
FORMAT_ENV = "SATUDATA_LOG_FORMAT"
#: The scope key ``note_request`` writes: (operation name, role).
REQUEST_NOTE = "satudata.request"

access_log = logging.getLogger("access")
#: The id of the request being answered, for every line written meanwhile.
request_id_var: ContextVar[str | None] = ContextVar("satudata_request_id", default=None)
#: The trace id of the request being answered, when it is traced (``gateway.telemetry`` sets it).
trace_id_var: ContextVar[str | None] = ContextVar("satudata_trace_id", default=None)

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
#: A NIK or KK is 16 digits: a client's request id or operation name of that shape is not written as is.
_NIK_SHAPED_ID = re.compile(rb"\d{16}")
_LONG_NUMBER = re.compile(r"\d{8}")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_SERVED_PATHS = frozenset({"/graphql", *_QUIET_PATHS})
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: uvicorn sets up handlers of its own on these; they should write what every other logger writes.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


@dataclass(frozen=True)
class LoggingSettings:
    """``[logging]``: the format of log lines and the level below which nothing is written."""

    #: ``"json"`` (default) or ``"text"``.
    format: str = "json"
    #: ``"info"`` (default), ``"debug"``, ``"warning"`` or ``"error"``.
    level: str = "info"

    @classmethod
    def from_config(cls, raw: Any) -> LoggingSettings:
        table = {} if raw is None else raw
        if not isinstance(table, dict):
            raise ConfigError("[logging] must be a table")
        unknown = sorted(set(table) - {"format", "level"})
        if unknown:
            raise ConfigError(f"[logging] has unknown keys {unknown}; it takes format and level")
        fmt = table.get("format", cls.format)
        if fmt not in FORMATS:
            raise ConfigError(f"[logging] format must be one of {list(FORMATS)}, not {fmt!r}")
        level = table.get("level", cls.level)
        if not isinstance(level, str) or level.lower() not in LEVELS:
            raise ConfigError(f"[logging] level must be one of {list(LEVELS)}, not {level!r}")
        return cls(format=fmt, level=level.lower())


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    _second: int = -1
    _second_text: str = ""

    def timestamp(self, created: float) -> str:
        """``2026-12-07T03:39:19.123Z``; the part up to the second is made once a second."""

        second = int(created)
        if second != self._second:
            text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._second_text = second, text
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def entry(self, created: float, level: str, logger: str, message: str, fields: Any) -> dict[str, Any]:
        """A record's JSON object before its exception: time, level, logger, message, the current
        request's id (and its trace's, when traced), and the record's ``fields`` (a dict)."""

        entry: dict[str, Any] = {
            "time": self.timestamp(created),
            "level": level,
            "logger": logger,
            "message": message,
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
            trace_id = trace_id_var.get()
            if trace_id is not None:
                entry["trace_id"] = trace_id
        if isinstance(fields, dict):
            entry.update(fields)
        return entry

    def format(self, record: logging.LogRecord) -> str:
        entry = self.entry(
            record.created, record.levelname, record.name, record.getMessage(), getattr(record, "fields", None)
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class _TextFormatter(logging.Formatter):
    """The classic line, with ``[request id]`` after the logger name while a request is answered."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_id_var.get()
        if request_id is None:
            return line
        head, sep, rest = line.partition(": ")
        return f"{head} [{request_id}]{sep}{rest}"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler ``configure_logging`` installs (recognised so that a second call replaces it)."""


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Log to standard error in ``fmt`` at ``level``; each defaults to the environment
    (``SATUDATA_LOG_LEVEL``, ``SATUDATA_LOG_FORMAT``), then to info and json. Idempotent: a
    second call replaces the first one's handler."""

    if level is not None and level.lower() not in LEVELS:
        raise ConfigError(f"log level must be one of {list(LEVELS)}, not {level!r}")
    if fmt is not None and fmt.lower() not in FORMATS:
        raise ConfigError(f"log format must be one of {list(FORMATS)}, not {fmt!r}")
    ignored = []
    if level is None:
        level = os.environ.get(LEVEL_ENV) or "info"
        if level.lower() not in LEVELS:
            ignored.append(f"{LEVEL_ENV}={level!r} (not one of {', '.join(LEVELS)})")
            level = "info"
    if fmt is None:
        fmt = os.environ.get(FORMAT_ENV) or "json"
        if fmt.lower() not in FORMATS:
            ignored.append(f"{FORMAT_ENV}={fmt!r} (not one of {', '.join(FORMATS)})")
            fmt = "json"
    level, fmt = level.lower(), fmt.lower()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else _TextFormatter(_TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # No format here writes them, and each costs every record a system call or a lookup
    # (the logging HOWTO's "Optimization"); the access line is written for every request.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for name in _SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    quiet_client_loggers()  # HTTP clients log every URL at INFO, and a URL can hold a NIK
    for what in ignored:
        logging.getLogger("satudata.logs").warning("ignored %s", what)


def configure_logging_from(raw: Any) -> str:
    """Apply a config's ``[logging]`` table (``--log-level`` and the environment win over it), and
    leave the choice in the environment for worker processes; the level chosen."""

    settings = LoggingSettings.from_config(raw)
    level = os.environ.get(LEVEL_ENV, "").lower()
    fmt = os.environ.get(FORMAT_ENV, "").lower()
    level = level if level in LEVELS else settings.level
    fmt = fmt if fmt in FORMATS else settings.format
    configure_logging(level, fmt)
    os.environ[LEVEL_ENV], os.environ[FORMAT_ENV] = level, fmt
    return level


def note_request(scope: Scope, operation: str | None, role: str | None) -> None:
    """What the endpoint alone knows of a request, for its access line and span (no personal data)."""

    if operation is not None and _LONG_NUMBER.search(operation):  # the client names its operations
        operation = redact_numbers(operation)
    scope[REQUEST_NOTE] = (operation, role)


class AccessLog:
    """ASGI middleware: the request id for every line written while a request is answered, and
    one access line when it is done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ensure_request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500  # an app that raised before it answered: the server answers 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = scope["path"]
            level = logging.DEBUG if path in _QUIET_PATHS else logging.INFO
            if access_log.isEnabledFor(level):
                write_access_line(level, scope, status, (time.perf_counter() - started) * 1000)
            request_id_var.reset(token)
            if trace_id_var.get() is not None:  # left for this line by the tracing middleware inside
                trace_id_var.set(None)


def write_access_line(level: int, scope: Scope, status: int, ms: float) -> None:
    path = scope["path"]
    if path not in _SERVED_PATHS:
        path = redact_numbers(path, limit=200)
    operation, role = scope.get(REQUEST_NOTE, (None, None))
    fields = {
        "method": scope["method"],
        "path": path,
        "status": status,
        "operation": operation,
        "role": role,
        "ms": round(ms, 2),
    }
    args = (scope["method"], path, status, operation or "-", role or "-", ms)
    handler = _json_access_handler(level)
    if handler is not None and _write_json_line(handler, level, _ACCESS_FORMAT % args, fields):
        return
    # A record made here and handed on: Logger.log would also walk the stack for the caller's file and line.
    access_log.handle(access_log.makeRecord(access_log.name, level, __file__, 0, _ACCESS_FORMAT, args, None, extra={"fields": fields}))


_ACCESS_FORMAT = "%s %s %d %s role=%s %.1f ms"


def _json_access_handler(level: int) -> _Handler | None:
    """The handler an access line may be written to directly, or ``None`` (then it goes through
    ``logging``): what ``configure_logging`` set up in JSON, alone, with no filter anywhere on the
    way and nothing else listening (a test's capturing handler, an extra handler on ``access``).

    A ``LogRecord`` and the logging module's dispatch cost about two thirds of an access line's
    30 us; the line written is the one ``JsonFormatter`` writes for that record.
    """

    root = logging.root
    handlers = root.handlers
    if len(handlers) != 1 or access_log.handlers or access_log.filters or root.filters or not access_log.propagate:
        return None
    handler = handlers[0]
    if type(handler) is not _Handler or handler.filters or level < handler.level or type(handler.formatter) is not JsonFormatter:
        return None
    return handler


def _write_json_line(handler: _Handler, level: int, message: str, fields: dict[str, Any]) -> bool:
    """Write ``JsonFormatter``'s line for an ``access`` record of ``message`` and ``fields`` as
    ``StreamHandler`` would (under its lock, flushed); ``False`` if the stream failed (the caller
    then hands the record to ``logging``, whose handler reports the failure)."""

    formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]
    entry = formatter.entry(time.time(), logging.getLevelName(level), access_log.name, message, fields)
    line = orjson.dumps(entry, default=str).decode() + handler.terminator
    with handler.lock:  # type: ignore[union-attr]
        try:
            handler.stream.write(line)
            handler.flush()
        except Exception:
            return False
    return True


def new_request_id() -> str:
    """32 hex digits, unique: a random prefix per process and a counter (``uuid4`` reads the
    system's random source on every call, which cost more than the rest of the access line)."""

    return f"{_id_prefix}{next(_id_counter):012x}"


def _new_id_prefix() -> None:
    global _id_prefix, _id_counter
    _id_prefix, _id_counter = os.urandom(10).hex(), itertools.count(1)


_id_prefix, _id_counter = "", itertools.count(1)
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)  # a forked worker must not repeat its parent's ids


def ensure_request_id(scope: Scope) -> str:
    """The request's ``X-Request-Id`` if it is well-formed (and holds no 16-digit run, the shape of
    a NIK, which would then be in every line); else a new id, written into the request's headers
    so that the endpoint answers with the same one."""

    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-request-id":
            if _REQUEST_ID.match(value) and not _NIK_SHAPED_ID.search(value):
                return value.decode("ascii")
            break
    request_id = new_request_id()
    scope["headers"] = [(n, v) for n, v in headers if n != b"x-request-id"] + [(b"x-request-id", request_id.encode())]
    return request_id


__all__ = [
    "AccessLog",
    "JsonFormatter",
    "LoggingSettings",
    "configure_logging",
    "configure_logging_from",
    "ensure_request_id",
    "note_request",
    "request_id_var",
]
