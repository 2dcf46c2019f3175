"""OpenTelemetry traces (the optional ``otel`` extra): a span per request, loader batch and source call.

```toml
[telemetry]
enabled = true                                   # default false: no span is made, nothing is exported
endpoint = "http://collector:4318/v1/traces"     # OTLP/HTTP; default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
                                                 # OTEL_EXPORTER_OTLP_ENDPOINT, or http://localhost:4318/v1/traces
service_name = "satudata-gateway"                # the resource's service.name
sample_ratio = 1.0                               # share of traces started here that are kept (a caller's
                                                 # traceparent decides for its own traces)
```

Install it with ``pip install 'satudata-gateway[otel]'``; ``enabled = true`` without it is a
``ConfigError`` at start-up.

The spans of one request:

- ``POST /graphql`` (server): continues the caller's W3C ``traceparent`` if it sent one;
  ``graphql.operation.name``, ``satudata.role``, ``http.response.status_code``,
  ``satudata.request_id`` (the id in the access line and the errors);
- ``loader Person.nik`` per batch of a loader: the kind, entity, field and number of keys;
- ``source siak`` per round-trip to a source (every kind: the registry's call observer),
  with its outcome (``ok`` or the error code);
- ``GET dinkes`` / ``POST jkn`` per HTTP call to a REST or GraphQL source, whose
  ``traceparent`` goes out with the call, so the OPD's own tracing joins the trace;
  ``url.template`` is the route without its keys (``/v1/participants/{nik}``).

Never personal data: no variables, keys, URLs with keys in them, or exception messages
(a client library's may quote a URL); an exception is recorded by its type alone.

With telemetry off, ``create_app`` adds neither the middleware nor the observer, and
connectors find ``connectors.tracing.current_tracing`` empty: no span objects are made.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors import redact_numbers
from core import ConfigError
from connectors import current_tracing

from .logs import REQUEST_NOTE, request_id_var, trace_id_var

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

_KEYS = {"enabled", "endpoint", "service_name", "sample_ratio"}
_SERVED_PATHS = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True)
class TelemetrySettings:
    """``[telemetry]``: whether traces are made and where they are sent."""

    #: Make spans and export them (default ``false``).
    enabled: bool = False
    #: OTLP/HTTP traces URL; default the exporter's own (from the ``OTEL_EXPORTER_OTLP_*`` environment).
    endpoint: str | None = None
    #: ``service.name`` of the spans (default ``"satudata-gateway"``).
    service_name: str = "satudata-gateway"
    #: Share of new traces kept, 0 to 1 (default 1); a caller's sampled flag decides for its own.
    sample_ratio: float = 1.0

    @classmethod
    def from_config(cls, raw: Any) -> TelemetrySettings:
        table = {} if raw is None else raw
        if not isinstance(table, dict):
            raise ConfigError("[telemetry] must be a table")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigError(f"[telemetry] has unknown keys {unknown}; it takes {', '.join(sorted(_KEYS))}")
        enabled = table.get("enabled", cls.enabled)
        if not isinstance(enabled, bool):
            raise ConfigError(f"[telemetry] enabled must be true or false, not {enabled!r}")
        endpoint = table.get("endpoint")
        if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))):
            raise ConfigError(
                f"[telemetry] endpoint must be an http(s) URL of an OTLP/HTTP traces receiver, not {endpoint!r}"
            )
        service_name = table.get("service_name", cls.service_name)
        if not isinstance(service_name, str) or not service_name:
            raise ConfigError(f"[telemetry] service_name must be a non-empty string, not {service_name!r}")
        ratio = table.get("sample_ratio", cls.sample_ratio)
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
            raise ConfigError(f"[telemetry] sample_ratio must be a number from 0 to 1, not {ratio!r}")
        return cls(enabled=enabled, endpoint=endpoint, service_name=service_name, sample_ratio=float(ratio))


class Telemetry:
    """The tracer of one gateway: its spans (``connectors.Tracing``) and its request middleware."""

    def __init__(self, tracer: Tracer, provider: TracerProvider | None = None) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.tracer = tracer
        self.provider = provider
        self.propagator = TraceContextTextMapPropagator()
        self._kinds = trace.SpanKind
        self._status = trace.Status
        self._error = trace.StatusCode.ERROR

    @classmethod
    def from_settings(cls, settings: TelemetrySettings, *, exporter: SpanExporter | None = None) -> Telemetry | None:
        """``None`` when disabled; otherwise a tracer exporting over OTLP/HTTP (or to ``exporter``)."""

        if not settings.enabled:
            return None
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        except ImportError:
            raise ConfigError(
                "[telemetry] enabled = true needs OpenTelemetry: pip install 'satudata-gateway[otel]'"
            ) from None
        from .version import package_version

        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name, "service.version": package_version()}),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.endpoint)))
        return cls(provider.get_tracer("satudata.gateway"), provider)

    @classmethod
    def from_config(cls, raw: Any) -> Telemetry | None:
        return cls.from_settings(TelemetrySettings.from_config(raw))

    def flush(self) -> None:
        """Export every finished span now (a batch exporter otherwise waits a few seconds)."""

        if self.provider is not None:
            self.provider.force_flush()

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()

    # -- connectors.Tracing --------------------------------------------------------------

    @contextlib.contextmanager
    def http_call(self, source: str, method: str, route: str) -> Iterator[Mapping[str, str]]:
        attributes = {"http.request.method": method, "satudata.source": source, "url.template": route}
        with self.tracer.start_as_current_span(
            f"{method} {source}", kind=self._kinds.CLIENT, attributes=attributes,
            record_exception=False, set_status_on_exception=False,
        ) as span:
            headers: dict[str, str] = {}
            self.propagator.inject(headers)
            try:
                yield headers
            except BaseException as exc:
                self._failed(span, exc)
                raise

    @contextlib.contextmanager
    def loader_batch(self, key: Hashable, size: int) -> Iterator[None]:
        kind, entity, field = _loader_names(key)
        attributes = {
            "satudata.loader": kind, "satudata.entity": entity, "satudata.field": field, "satudata.keys": size
        }
        with self.tracer.start_as_current_span(
            f"loader {entity}.{field}", attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield
            except BaseException as exc:
                self._failed(span, exc)
                raise

    # -- the registry's call observer ----------------------------------------------------

    def observe_call(self, source: str, seconds: float, outcome: str) -> None:
        """A source round-trip that just ended, as a span that started ``seconds`` ago."""

        end = time.time_ns()
        span = self.tracer.start_span(
            f"source {source}",
            kind=self._kinds.CLIENT,
            start_time=end - int(seconds * 1e9),
            attributes={"satudata.source": source, "satudata.outcome": outcome},
        )
        if outcome != "ok":
            span.set_status(self._status(self._error, outcome))
        span.end(end_time=end)

    def _failed(self, span: Any, exc: BaseException) -> None:
        name = type(exc).__name__
        code = getattr(exc, "code", None)
        span.set_attribute("error.type", code if isinstance(code, str) else name)
        span.set_status(self._status(self._error, name))


class TracingMiddleware:
    """ASGI middleware: the request's server span, current while the app answers it."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        telemetry = self.telemetry
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name == b"traceparent" or name == b"tracestate"
        }
        parent = telemetry.propagator.extract(carrier) if carrier else None
        path = scope["path"] if scope["path"] in _SERVED_PATHS else redact_numbers(scope["path"], limit=200)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        attributes = {"http.request.method": scope["method"], "url.path": path}
        with telemetry.tracer.start_as_current_span(
            f"{scope['method']} {path}", context=parent, kind=telemetry._kinds.SERVER, attributes=attributes,
            record_exception=False, set_status_on_exception=False,
        ) as span:
            token = current_tracing.set(telemetry)
            context = span.get_span_context()
            if context.is_valid and context.trace_flags.sampled:  # an unsampled trace is nowhere to be found
                # Not reset here: the access line, written outside this middleware, names it too
                # (``AccessLog`` clears it after that line).
                trace_id_var.set(format(context.trace_id, "032x"))
            try:
                await self.app(scope, receive, send_status)
            except BaseException as exc:
                telemetry._failed(span, exc)
                raise
            finally:
                current_tracing.reset(token)
                operation, role = scope.get(REQUEST_NOTE, (None, None))
                if operation:
                    span.set_attribute("graphql.operation.name", operation)
                if role:
                    span.set_attribute("satudata.role", role)
                request_id = request_id_var.get()
                if request_id:
                    span.set_attribute("satudata.request_id", request_id)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(telemetry._status(telemetry._error, f"HTTP {status}"))


def _loader_names(key: Hashable) -> tuple[str, str, str]:
    if isinstance(key, tuple) and len(key) >= 3:
        return str(key[0]), str(key[1]), str(key[2])
    return "loader", str(key), ""


__all__ = ["Telemetry", "TelemetrySettings", "TracingMiddleware"]
