"""Issue 13: the JSON log lines, the access lines and the trace spans hold no NIK or KK either.

Mirrors ``test_no_personal_data_in_logs``: the real gateway over SQLite and the demo's REST APIs
on real sockets, every logger at DEBUG, here written as the production JSON lines, with
telemetry on (every span kept in memory). A run of many queries — lookups by NIK and KK through
SQL and REST, malformed and unknown NIKs, a NIK in an operation name, a request id, a URL path,
a GET query string and a broken body, a dead source — and then every line and every span (name,
attributes, status) is searched for a NIK- or KK-shaped number: there must be none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import GatewaySettings, create_app
from gateway.logs import JsonFormatter
from gateway.telemetry import Telemetry, TelemetrySettings

from .conftest import Backend
from .support.log_capture import on_the_root_logger
from .test_no_personal_data_in_logs import NIK_SHAPED, assert_no_nik, config, every_logger_at_debug, run_scenarios


class JsonLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    with on_the_root_logger(JsonLines()) as handler:
        yield handler


class Client:
    """``run_scenarios``' ``gateway.query``, over a client whose every request is counted."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.sent = 0

    async def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        self.sent += 1
        return await self.client.request(method, url, **options)

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.request("POST", "/graphql", json={"query": query, "variables": variables or {}})
        return response.json()


async def test_no_nik_in_any_json_line_access_line_or_span_after_many_queries(
    sqlite_backend: Backend, dataset: Any, dinkes_api: str, sepeda_keren_api: str, json_lines: JsonLines
) -> None:
    from demo.apis import create_sepeda_keren_app

    participants = list(create_sepeda_keren_app(dataset).state.data.participants)[:3]
    residents = [row[0] for row in dataset.penduduk[:30]]
    niks, kk = [*participants, *residents], dataset.penduduk[0][1]
    exporter = InMemorySpanExporter()
    telemetry = Telemetry.from_settings(TelemetrySettings(enabled=True), exporter=exporter)
    raw = config(sqlite_backend, dinkes_api, sepeda_keren_api)
    raw["sources"]["dapodik"]["url"] = "postgresql+asyncpg://nobody@127.0.0.1:9/dapodik"  # a dead source
    app = create_app(GatewaySettings.from_dict(raw), telemetry=telemetry)
    nik = niks[0]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            client = Client(http)
            every_logger_at_debug()
            await run_scenarios(client, niks, kk)
            for bad in ("3599999999999999", nik[:15], nik + "1", "35030101019OOOO1", "0000000000000000"):
                await client.query("query($n: NIK!) { person(nik: $n) { name } }", {"n": bad})
            await client.query(f"query Q{nik} {{ agencies {{ code }} }}")  # the client names its operation
            await client.request("POST", "/graphql", json={"query": "{ agencies { code } }"}, headers={"x-request-id": nik})
            await client.request("GET", f"/people/{nik}")
            await client.request("GET", "/graphql", params={"query": "query($n: NIK!) { person(nik: $n) { name } }",
                                                          "variables": json.dumps({"n": nik})})
            await client.request("POST", "/graphql", content=f'{{"query": "{nik}'.encode(),
                                 headers={"content-type": "application/json"})
            await client.query('{ school(npsn: "20512345") { name students { nik } } }')  # the dead source
    lines = json_lines.lines
    access = [line for line in lines if json.loads(line)["logger"] == "access"]
    assert len(access) == client.sent, (len(access), client.sent)
    assert any('"operation":"Q…"' in line for line in access), access
    assert_no_nik(lines)
    spans = exporter.get_finished_spans()
    assert len(spans) > client.sent
    for span in spans:
        text = f"{span.name} {dict(span.attributes or {})} {span.status.description} {[e.name for e in span.events]}"
        assert not NIK_SHAPED.search(text), text
