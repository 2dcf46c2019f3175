"""OpenTelemetry (``gateway.telemetry``): a span per request, loader batch, source call and HTTP call
to a source; ``traceparent`` reaching real REST and GraphQL sources; spans exported over OTLP/HTTP
to a real receiver; nothing personal in any span; and nothing made at all when telemetry is off."""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import Receive, Scope, Send

from connectors import current_tracing, traced_batch
from core import ConfigError
from demo.gateway_config import render_config
from gateway import GatewaySettings, create_app
from gateway.telemetry import Telemetry, TelemetrySettings, TracingMiddleware

from ..conftest import Backend, serve_api

NIK_SHAPED = re.compile(r"(?<!\d)35\d{14}(?!\d)")
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
PERSON = """query PersonEverything($nik: NIK!) { person(nik: $nik) {
  name family { members { nik } } programmes { programme { code } } healthInsurance { cardNumber } } }"""


class Recording:
    """An OPD API that notes the ``traceparent`` of every request it is sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.traceparents: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            value = dict(scope["headers"]).get(b"traceparent")
            if value is not None:
                self.traceparents.append(value.decode())
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def sepeda_keren(dataset: Any) -> Iterator[tuple[Recording, str]]:
    from demo.apis import create_sepeda_keren_app

    recording = Recording(create_sepeda_keren_app(dataset))
    for url in serve_api(recording, "Sepeda Keren (traced)"):
        yield recording, url


@pytest.fixture(scope="module")
def jkn(dataset: Any) -> Iterator[tuple[Recording, str]]:
    from demo.apis import create_jkn_app

    recording = Recording(create_jkn_app(dataset))
    for url in serve_api(recording, "JKN (traced)"):
        yield recording, url


def config(backend: Backend, sepeda_keren_url: str, jkn_url: str, **telemetry: Any) -> dict[str, Any]:
    raw = tomllib.loads(
        render_config(
            registry_url=backend.registry_url,
            education_url=backend.education_url,
            sepeda_keren_url=sepeda_keren_url,
            jkn_url=jkn_url,
        )
    )
    if telemetry:
        raw["telemetry"] = telemetry
    return raw


async def ask(app: Any, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers or {})
    return response


def participant(recording: Recording) -> str:
    return str(next(iter(recording.app.state.data.participants)))


def assert_nothing_personal(spans: list[Any]) -> None:
    for span in spans:
        text = f"{span.name} {dict(span.attributes or {})} {span.status.description}"
        assert not NIK_SHAPED.search(text), text


async def test_a_request_is_one_trace_of_request_loader_source_and_http_spans_continuing_the_callers(
    sqlite_backend: Backend, sepeda_keren: tuple[Recording, str], jkn: tuple[Recording, str]
) -> None:
    (rest, rest_url), (graph, graph_url) = sepeda_keren, jkn
    exporter = InMemorySpanExporter()
    telemetry = Telemetry.from_settings(TelemetrySettings(enabled=True), exporter=exporter)
    app = create_app(GatewaySettings.from_dict(config(sqlite_backend, rest_url, graph_url)), telemetry=telemetry)
    exporter.clear()  # start-up (the JKN introspection) is no request
    rest.traceparents.clear()
    graph.traceparents.clear()
    nik = participant(rest)
    response = await ask(
        app, PERSON, {"nik": nik}, {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "x-request-id": "span-test"}
    )
    body = response.json()
    assert response.status_code == 200 and body["data"]["person"]["programmes"], body
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())

    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.name == "POST /graphql"
    assert format(server.context.trace_id, "032x") == CALLER_TRACE  # the caller's trace goes on
    assert server.parent is not None and format(server.parent.span_id, "016x") == CALLER_SPAN
    assert dict(server.attributes or {}) == {
        "http.request.method": "POST",
        "url.path": "/graphql",
        "graphql.operation.name": "PersonEverything",
        "satudata.role": "anonymous",
        "satudata.request_id": "span-test",
        "http.response.status_code": 200,
    }
    assert {s.context.trace_id for s in spans} == {server.context.trace_id}  # one trace
    by_id = {s.context.span_id: s for s in spans}

    def ancestors(span: ReadableSpan) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    loaders = [s for s in spans if s.name.startswith("loader ")]
    sources = [s for s in spans if s.name.startswith("source ")]
    http_calls = [s for s in spans if s.kind == SpanKind.CLIENT and not s.name.startswith("source ")]
    assert {s.name for s in sources} >= {"source siak", "source sepeda_keren", "source jkn_portal"}
    assert "loader Person.nik" in {s.name for s in loaders}
    for span in loaders + sources + http_calls:
        assert ancestors(span)[-1] == "POST /graphql", (span.name, ancestors(span))
    (family,) = [s for s in loaders if s.name == "loader Person.kk"]
    assert dict(family.attributes or {})["satudata.keys"] == 1
    assert all(s.status.status_code != StatusCode.ERROR for s in spans)
    assert {s.name for s in http_calls} >= {"GET sepeda_keren", "POST jkn_portal"}
    rest_calls = [s for s in http_calls if s.name == "GET sepeda_keren"]
    assert all("{" in s.attributes["url.template"] for s in rest_calls), [s.attributes for s in rest_calls]  # type: ignore[index]

    # Each source was sent the traceparent of the very span that made its call.
    for recording, name in ((rest, "GET sepeda_keren"), (graph, "POST jkn_portal")):
        sent = {(tp.split("-")[1], tp.split("-")[2]) for tp in recording.traceparents}
        made = {(format(s.context.trace_id, "032x"), format(s.context.span_id, "016x")) for s in http_calls if s.name == name}
        assert sent and sent == made, (name, sent, made)
    assert_nothing_personal(spans)


async def test_a_failing_source_marks_its_spans_and_says_only_the_code(
    sqlite_backend: Backend, sepeda_keren: tuple[Recording, str], jkn: tuple[Recording, str]
) -> None:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry.from_settings(TelemetrySettings(enabled=True), exporter=exporter)
    raw = config(sqlite_backend, "http://127.0.0.1:9", jkn[1])  # nothing listens for Sepeda Keren
    raw["sources"]["sepeda_keren"].update(retries=0)
    app = create_app(GatewaySettings.from_dict(raw), telemetry=telemetry)
    nik = participant(sepeda_keren[0])
    response = await ask(app, "query($nik: NIK!) { person(nik: $nik) { programmes { programme { code } } } }", {"nik": nik})
    assert response.json()["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    spans = list(exporter.get_finished_spans())
    (source,) = [s for s in spans if s.name == "source sepeda_keren"]
    assert source.status.status_code == StatusCode.ERROR
    assert dict(source.attributes or {})["satudata.outcome"] == "SOURCE_UNAVAILABLE"
    failed_calls = [s for s in spans if s.name == "GET sepeda_keren"]
    assert failed_calls and all(s.status.status_code == StatusCode.ERROR for s in failed_calls)
    assert all(s.attributes["error.type"] for s in failed_calls)  # type: ignore[index]
    assert_nothing_personal(spans)


class OtlpReceiver:
    """A small OTLP/HTTP traces receiver on 127.0.0.1: decodes each export's protobuf."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                assert self.headers["content-type"] == "application/x-protobuf"
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append(request)
                receiver.paths.append(self.path)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[tuple[str, Any]]:
        """(service.name, span) for every span received."""

        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
                for scope_spans in resource_spans.scope_spans:
                    found.extend((service, span) for span in scope_spans.spans)
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_spans_are_exported_over_otlp_http_to_the_configured_receiver(
    sqlite_backend: Backend, sepeda_keren: tuple[Recording, str], jkn: tuple[Recording, str]
) -> None:
    receiver = OtlpReceiver()
    try:
        raw = config(sqlite_backend, sepeda_keren[1], jkn[1], enabled=True, endpoint=receiver.url, service_name="satudata-test")
        app = create_app(GatewaySettings.from_dict(raw))  # [telemetry] in the config, as an operator writes it
        response = await ask(app, PERSON, {"nik": participant(sepeda_keren[0])}, {"x-request-id": "otlp-test"})
        assert response.status_code == 200
        # The batch exporter would send within 5 s; the app's shutdown (as at exit, or when a reload
        # retires it) has sent everything already.
        assert any(s.name == "POST /graphql" for _, s in receiver.spans()), "no request span reached the receiver"
    finally:
        receiver.close()
    assert set(receiver.paths) == {"/v1/traces"}
    received = receiver.spans()
    assert {service for service, _ in received} == {"satudata-test"}
    (server,) = [s for _, s in received if s.name == "POST /graphql"]
    attributes = {a.key: a.value for a in server.attributes}
    assert attributes["graphql.operation.name"].string_value == "PersonEverything"
    assert attributes["satudata.request_id"].string_value == "otlp-test"
    assert attributes["http.response.status_code"].int_value == 200
    names = {s.name for _, s in received if s.trace_id == server.trace_id}
    assert {"source siak", "GET sepeda_keren", "POST jkn_portal", "loader Person.nik"} <= names, names
    assert not NIK_SHAPED.search(str([s for _, s in received]))


async def test_with_telemetry_off_no_span_and_no_tracer_exist(
    sqlite_backend: Backend, sepeda_keren: tuple[Recording, str], jkn: tuple[Recording, str]
) -> None:
    app = create_app(GatewaySettings.from_dict(config(sqlite_backend, sepeda_keren[1], jkn[1])))
    stack = app.build_middleware_stack()
    layers = []
    while stack is not None:
        layers.append(type(stack))
        stack = getattr(stack, "app", None)
    assert TracingMiddleware not in layers
    seen: list[object] = []

    async def batch(keys: list[Any]) -> list[Any]:
        seen.append(current_tracing.get())
        return keys

    assert traced_batch(("one", "Person", "nik"), batch) is batch  # not even a wrapper
    sepeda_keren[0].traceparents.clear()
    response = await ask(app, PERSON, {"nik": participant(sepeda_keren[0])})
    assert response.status_code == 200 and sepeda_keren[0].traceparents == []  # nothing sent to the sources


def test_the_telemetry_table_refuses_what_it_does_not_know() -> None:
    assert TelemetrySettings.from_config(None) == TelemetrySettings()
    assert Telemetry.from_settings(TelemetrySettings()) is None
    with pytest.raises(ConfigError, match="unknown keys \\['enable'\\]"):
        TelemetrySettings.from_config({"enable": True})
    with pytest.raises(ConfigError, match="sample_ratio must be a number from 0 to 1"):
        TelemetrySettings.from_config({"sample_ratio": 2})
    with pytest.raises(ConfigError, match="endpoint must be an http"):
        TelemetrySettings.from_config({"enabled": True, "endpoint": "collector:4318"})


async def test_log_lines_of_a_traced_request_carry_its_trace_id(
    sqlite_backend: Backend, sepeda_keren: tuple[Recording, str], jkn: tuple[Recording, str]
) -> None:
    import json
    import logging

    from gateway.logs import JsonFormatter

    lines: list[dict[str, Any]] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Lines(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        exporter = InMemorySpanExporter()
        telemetry = Telemetry.from_settings(TelemetrySettings(enabled=True), exporter=exporter)
        app = create_app(GatewaySettings.from_dict(config(sqlite_backend, sepeda_keren[1], jkn[1])), telemetry=telemetry)
        await ask(app, "{ agencies { code } }", {}, {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
        untraced = create_app(GatewaySettings.from_dict(config(sqlite_backend, sepeda_keren[1], jkn[1])))
        await ask(untraced, "{ agencies { code } }", {})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    access = [line for line in lines if line["logger"] == "access"]
    assert [line.get("trace_id") for line in access] == [CALLER_TRACE, None], access
    assert not [line for line in lines if "trace_id" in line and "request_id" not in line]
