"""Log lines (``gateway.logs``): JSON objects with the request id, one access line per request,
``--log-level`` and ``[logging]``, and ``satudata --version``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import ConfigError
from gateway.access.auth import key_sha256
from gateway.cli import main
from gateway.logs import FORMAT_ENV, LEVEL_ENV, JsonFormatter, LoggingSettings, configure_logging_from

from ..conftest import Backend, _free_port, gateway_config, open_gateway

PURPOSE = "tugas"
KEY = "sdk_logs-" + "k" * 40
PERSON = "query PersonName($n: NIK!) { person(nik: $n) { name } }"


class JsonLines(logging.Handler):
    """Every record as the gateway writes it in production: a JSON line, parsed back."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        assert "\n" not in text, text  # one object per line, tracebacks included
        self.lines.append(json.loads(text))

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["logger"] == "access"]


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    handler = JsonLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def with_officer(raw: dict[str, Any], audit: Path) -> dict[str, Any]:
    """``raw`` with a policy that lets one API-key client (role ``officer``) look people up, audited
    at ``audit`` (without an ``[audit]`` table the log would be ``audit.sqlite`` in the working
    directory, the repository's root under pytest)."""

    return {
        **raw,
        "policy": {
            "fields": {"Query.person": "personal", "Person.*": "personal"},
            "roles": {"officer": {"grant": ["personal"], "purposes": [PURPOSE]}},
        },
        "clients": [{"id": "logs-test", "role": "officer", "key_sha256": key_sha256(KEY)}],
        "audit": {"path": str(audit)},
    }


async def test_one_json_access_line_per_request_with_operation_role_status_and_request_id(
    sqlite_backend: Backend, dataset: Any, json_lines: JsonLines, tmp_path: Path
) -> None:
    nik = dataset.penduduk[0][0]
    officer = {"X-API-Key": KEY, "X-Satudata-Purpose": PURPOSE}
    async for gateway in open_gateway(with_officer(gateway_config(sqlite_backend), tmp_path / "audit.sqlite")):
        client = gateway.client
        ok = await client.post(
            "/graphql", json={"query": PERSON, "variables": {"n": nik}}, headers={**officer, "X-Request-Id": "trace-me.1"}
        )
        bad = await client.post("/graphql", json={"query": PERSON, "variables": {"n": nik[:15] + "x"}}, headers=officer)
        anonymous = await client.post("/graphql", json={"query": "query Agencies { agencies { code } }"})
        junk = await client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
        health = await client.get("/healthz")
    assert ok.status_code == 200 and ok.headers["x-request-id"] == "trace-me.1"
    assert bad.status_code == 400 and anonymous.status_code == 200 and junk.status_code == 400
    assert health.status_code == 200

    access = json_lines.access()
    assert len(access) == 5, access  # one per request, the health check included (at DEBUG)
    first, second, third, fourth, fifth = access
    assert {k: first[k] for k in ("method", "path", "status", "operation", "role", "request_id")} == {
        "method": "POST", "path": "/graphql", "status": 200, "operation": "PersonName", "role": "officer",
        "request_id": "trace-me.1",
    }
    assert first["level"] == "INFO" and isinstance(first["ms"], float) and first["ms"] > 0
    assert first["time"].endswith("Z") and first["message"].startswith("POST /graphql 200 PersonName role=officer")
    # A request id the client did not send is made, and it is the one the response names.
    assert second["request_id"] == bad.headers["x-request-id"] and len(second["request_id"]) == 32
    assert (second["status"], second["operation"], second["role"]) == (400, "PersonName", "officer")
    assert (third["status"], third["operation"], third["role"]) == (200, "Agencies", "anonymous")
    assert fourth["request_id"] == junk.headers["x-request-id"] and fourth["status"] == 400
    assert fourth["operation"] is None  # refused before a document was read
    assert (fifth["path"], fifth["level"], fifth["operation"]) == ("/healthz", "DEBUG", None)
    # The NIK asked about is nowhere in what was written.
    assert nik not in json.dumps(json_lines.lines) and nik[:15] not in json.dumps(json_lines.lines)


async def test_lines_written_while_a_request_is_answered_carry_its_request_id(
    sqlite_backend: Backend, json_lines: JsonLines
) -> None:
    raw = gateway_config(sqlite_backend)
    raw["sources"]["dapodik"]["url"] = "postgresql+asyncpg://nobody@127.0.0.1:9/dapodik"  # nothing listens there
    raw["sources"]["dapodik"]["retries"] = 0
    async for gateway in open_gateway(raw):
        answer = await gateway.client.post(
            "/graphql", json={"query": '{ school(npsn: "20512345") { name } }'}, headers={"X-Request-Id": "dead-source"}
        )
    assert answer.json()["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    during = [line for line in json_lines.lines if line["logger"] != "access" and line.get("request_id") == "dead-source"]
    assert any("dapodik" in line["message"] for line in during), json_lines.lines
    # Lines written outside any request (start-up) carry none.
    assert any(line["message"].startswith("gateway ready") and "request_id" not in line for line in json_lines.lines)


async def test_a_unknown_path_with_a_long_number_is_blanked_in_the_access_line(
    sqlite_backend: Backend, json_lines: JsonLines
) -> None:
    async for gateway in open_gateway(gateway_config(sqlite_backend)):
        assert (await gateway.client.get("/people/3503010101900001")).status_code == 404
    (line,) = json_lines.access()
    assert line["status"] == 404 and "3503010101900001" not in json.dumps(line) and line["path"] == "/people/…"


def test_logging_settings_refuse_what_they_do_not_know() -> None:
    assert LoggingSettings.from_config(None) == LoggingSettings("json", "info")
    assert LoggingSettings.from_config({"format": "text", "level": "WARNING"}) == LoggingSettings("text", "warning")
    with pytest.raises(ConfigError, match="unknown keys \\['levle'\\]"):
        LoggingSettings.from_config({"levle": "debug"})
    with pytest.raises(ConfigError, match="level must be one of"):
        LoggingSettings.from_config({"level": "loud"})
    with pytest.raises(ConfigError, match="format must be one of"):
        LoggingSettings.from_config({"format": "xml"})


def test_the_command_line_level_wins_over_the_config_and_reaches_workers_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for name in (LEVEL_ENV, FORMAT_ENV):  # recorded, so that what configure_logging_from sets is undone
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    try:
        assert configure_logging_from({"level": "warning", "format": "text"}) == "warning"
        assert root.level == logging.WARNING and os.environ[FORMAT_ENV] == "text"
        monkeypatch.setenv(LEVEL_ENV, "debug")  # what `--log-level debug` does
        assert configure_logging_from({"level": "warning"}) == "debug" and root.level == logging.DEBUG
        assert len([h for h in root.handlers if h not in handlers]) == 1  # a second call replaces the first
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


def test_satudata_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"satudata {version('satudata-gateway')}"


def serve_and_ask(repo_root: Path, config: Path, *extra: str) -> list[str]:
    """``satudata serve`` as a user runs it, one request, SIGTERM; its standard error, line by line."""

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port), *extra],
        cwd=repo_root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k not in (LEVEL_ENV, FORMAT_ENV)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "did not start"
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "query Agencies { agencies { code } }"})
        assert answer.status_code == 200
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    return err.decode().splitlines()


def test_satudata_serve_writes_json_lines_and_log_level_warning_silences_the_access_lines(
    sqlite_backend: Backend, tmp_path: Path, repo_root: Path
) -> None:
    from demo.gateway_config import render_config

    config = tmp_path / "gateway.toml"
    config.write_text(
        render_config(registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url),
        encoding="utf-8",
    )
    lines = serve_and_ask(repo_root, config)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    others = [line for line in lines if not line.startswith("{")]
    assert others == [line for line in others if line.startswith("satudata: ")], others  # only the banner is not JSON
    access = [r for r in records if r["logger"] == "access"]
    assert [(r["path"], r["status"], r["operation"]) for r in access] == [("/graphql", 200, "Agencies")], records
    assert any(r["logger"].startswith("uvicorn") for r in records)  # the server's own lines are JSON too

    quiet = serve_and_ask(repo_root, config, "--log-level", "warning")
    assert not [line for line in quiet if '"logger":"access"' in line or '"level":"INFO"' in line], quiet


def test_a_bad_level_in_the_environment_is_ignored_with_a_warning_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LEVEL_ENV, "loud")
    monkeypatch.delenv(FORMAT_ENV, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert main(["keygen-secret"]) == 0
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert line["level"] == "WARNING" and "SATUDATA_LOG_LEVEL='loud'" in line["message"]
