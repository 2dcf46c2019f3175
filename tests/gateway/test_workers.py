"""`satudata serve --workers N`: N processes on one socket, one /metrics for all of them, and the
configs refused because some state would live in each process (Redis at 127.0.0.1:6379, required
when CI=true)."""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.exceptions
from prometheus_client.parser import text_string_to_metric_families

from connectors import SourceHealth
from core import ConfigError
from gateway import GatewaySettings
from gateway.access.auth import key_sha256
from gateway.cli import main
from gateway.metrics import GatewayMetrics
from gateway.workers import WORKER_READY_S, check_shared_state

from ..conftest import Backend, _free_port, service_missing
from .test_door_server import read_until_closed, status_of

REDIS_URL = "redis://127.0.0.1:6379/0"
CURSOR_KEY = "nL0dW1yM4bJ7q2v9Xc3t6Hk8Zp5Rs0Ue1Ga4Yf7Jw2I"
SUBJECT_KEY = "test-only-audit-subject-key-for-workers-0123456789"
PURPOSE = "tugas"
#: Starting two workers on a busy two-core machine: each imports the gateway and builds its schema.
START_S = 90
#: A killed worker's replacement answering: uvicorn's supervisor pings each worker in turn and
#: waits up to WORKER_READY_S for the answer, so a worker killed while its ping is out is seen
#: dead only then (the pipe stays open in the parent); then the new worker starts.
REPLACE_S = WORKER_READY_S + START_S


# --- which configs may run with N > 1 ----------------------------------------------------------


def shared_config(tmp_path: Path) -> dict[str, Any]:
    """A config whose every piece of state is shared between processes: accepted with workers."""

    return {
        "gateway": {"cursor_key": CURSOR_KEY},
        "sources": {"registry": {"kind": "sql", "agency": "A", "url": "sqlite+aiosqlite://"}},
        "policy": {"lookups": {"redis_url": REDIS_URL}, "roles": {"officer": {"grant": ["personal"]}}},
        "audit": {"path": str(tmp_path / "audit.sqlite"), "subject_key": SUBJECT_KEY},
        "ratelimit": {"redis_url": REDIS_URL},
    }


@dataclass(frozen=True)
class Shape:
    """Which of the five shared-state settings a config has."""

    cursor_key: bool
    ratelimit_redis: bool
    lookups_redis: bool
    subject_key: bool
    audit_on_disk: bool

    def config(self, tmp_path: Path) -> dict[str, Any]:
        config = shared_config(tmp_path)
        if not self.cursor_key:
            del config["gateway"]["cursor_key"]
        if not self.ratelimit_redis:
            config["ratelimit"] = {"requests_per_minute": 120}
        if not self.lookups_redis:
            del config["policy"]["lookups"]
        if not self.subject_key:
            del config["audit"]["subject_key"]
        if not self.audit_on_disk:
            config["audit"] = {k: v for k, v in config["audit"].items() if k != "path"} | {"url": "sqlite+aiosqlite://"}
        return config

    def expected_refusals(self) -> set[str]:
        """Written from the rules, independently of the code: what must be named in the refusal."""

        expected = set()
        if not self.cursor_key:
            expected.add("[gateway] cursor_key")
        if not self.ratelimit_redis:
            expected.add("[ratelimit] has no redis_url")
        if not self.lookups_redis:
            expected.add("[policy.lookups] has no redis_url")
        elif not self.subject_key:  # only a shared count needs keys digested alike
            expected.add("[audit] subject_key")
        if not self.audit_on_disk:
            expected.add("[audit] keeps the log in memory")
        return expected


ALL_REFUSALS = {
    "[gateway] cursor_key",
    "[ratelimit] has no redis_url",
    "[policy.lookups] has no redis_url",
    "[audit] subject_key",
    "[audit] keeps the log in memory",
}
SHAPES = [Shape(*flags) for flags in itertools.product((True, False), repeat=5)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "".join("1" if f else "0" for f in vars(s).values()))
def test_every_unshared_setting_is_named_at_once_and_only_then(shape: Shape, tmp_path: Path) -> None:
    settings = GatewaySettings.from_dict(shape.config(tmp_path), base_dir=tmp_path)
    check_shared_state(settings, 1)  # one process shares with nobody: anything goes
    expected = shape.expected_refusals()
    if not expected:
        check_shared_state(settings, 2)
        return
    with pytest.raises(ConfigError) as refused:
        check_shared_state(settings, 2)
    message = refused.value.message
    assert {r for r in ALL_REFUSALS if r in message} == expected, message
    assert message.startswith("--workers 2 runs 2 processes")


@pytest.mark.parametrize(
    ("change", "fix"),
    [
        (lambda c: c["gateway"].pop("cursor_key"), "satudata keygen-secret"),
        (lambda c: c["ratelimit"].pop("redis_url"), 'redis_url = "env:REDIS_URL"'),
        (lambda c: c["policy"].pop("lookups"), 'redis_url = "env:REDIS_URL"'),
        (lambda c: c["audit"].pop("subject_key"), 'subject_key = "env:SATUDATA_AUDIT_SUBJECT_KEY"'),
        (lambda c: c["audit"].update(path="file:audit?mode=memory&uri=true"), 'path = "audit.sqlite"'),
    ],
    ids=["cursor-key", "ratelimit", "lookups", "subject-key", "audit-memory-uri"],
)
def test_each_refusal_says_how_to_fix_it(change: Any, fix: str, tmp_path: Path) -> None:
    config = shared_config(tmp_path)
    change(config)
    with pytest.raises(ConfigError, match="--workers 3") as refused:
        check_shared_state(GatewaySettings.from_dict(config, base_dir=tmp_path), 3)
    assert fix in refused.value.message


@pytest.mark.parametrize(
    "config",
    [
        # Development: no policy, so nothing is counted or audited; only cursors cross workers.
        {"gateway": {"cursor_key": CURSOR_KEY}, "sources": {"x": {"kind": "sql", "agency": "A", "url": "sqlite+aiosqlite://"}}},
        # The audit log in PostgreSQL, shared by the workers (and by other machines).
        {
            "gateway": {"cursor_key": CURSOR_KEY},
            "sources": {"x": {"kind": "sql", "agency": "A", "url": "sqlite+aiosqlite://"}},
            "policy": {"lookups": {"redis_url": "env:REDIS_URL"}},
            "audit": {"url": "postgresql+asyncpg://gateway@audit-db/audit", "subject_key": SUBJECT_KEY},
        },
    ],
    ids=["no-policy", "postgresql-audit"],
)
def test_configs_whose_state_is_shared_are_accepted(config: dict[str, Any]) -> None:
    check_shared_state(GatewaySettings.from_dict(config), 8)


def write_config(path: Path, text: str) -> Path:
    path.touch(mode=0o600)  # it holds keys
    path.write_text(text, encoding="utf-8")
    return path


def test_serve_refuses_unshared_state_once_with_exit_2_before_starting_a_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[[agencies]]\ncode = "A"\n\n[sources.x]\nkind = "sql"\nagency = "A"\nurl = "sqlite+aiosqlite://"\n'
    config = write_config(tmp_path / "gateway.toml", text)
    started = time.monotonic()
    assert main(["serve", "--config", str(config), "--workers", "2", "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("configuration error: --workers 2") == 1 and "[gateway] cursor_key" in err
    assert "Started parent process" not in err and time.monotonic() - started < 20


def test_serve_reports_a_config_error_once_with_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "gateway.toml", '[sources.x]\nkind = "ftp"\nagency = "A"\n')
    assert main(["serve", "--config", str(config), "--workers", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count('sources.x.kind must be one of "sql", "rest", "graphql"') == 1 and "Traceback" not in err


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_a_worker_count_below_one_is_a_usage_error(workers: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--config", "gateway.toml", "--workers", workers])
    assert exited.value.code == 2 and "at least 1" in capsys.readouterr().err


# --- what /metrics shows of each worker ------------------------------------------------------------


class FakeSources:
    """What ``GatewayMetrics`` reads of the connector registry: its observers and its health."""

    def __init__(self) -> None:
        self.observers: list[Any] = []
        self.breakers = {"siak": "closed", "dapodik": "closed"}

    def health(self) -> list[SourceHealth]:
        return [SourceHealth(name, "up", state, 0, None, None, None, None) for name, state in self.breakers.items()]


def test_a_worker_shows_its_breaker_when_a_call_moves_it_not_only_when_it_answers_a_scrape() -> None:
    # With workers, another process may answer every scrape: the gauge must already hold the state.
    sources = FakeSources()
    metrics = GatewayMetrics(sources)  # type: ignore[arg-type]
    (observe,) = sources.observers

    def shown(source: str) -> float | None:
        return metrics.registry.get_sample_value("satudata_source_breaker_state", {"source": source})

    sources.breakers["dapodik"] = "open"
    observe("dapodik", 0.01, "SOURCE_UNAVAILABLE")
    assert (shown("dapodik"), shown("siak")) == (2.0, 0.0)
    sources.breakers["dapodik"] = "closed"
    observe("dapodik", 0.01, "ok")  # the first success after failures closes it
    assert shown("dapodik") == 0.0


# --- two workers, for real ------------------------------------------------------------------------


@pytest.fixture
def redis_reachable() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        service_missing("Redis", exc)


@dataclass
class Cluster:
    """``satudata serve --workers 2`` as a subprocess, and what was asked of it."""

    process: subprocess.Popen[bytes]
    url: str
    config: Path
    log: Path
    key: str
    niks: list[str]
    sent: int = 0
    disclosed: int = 0
    seen: set[int] = field(default_factory=set)

    def ask(self) -> None:
        """One lookup of a person, on a connection of its own (so any worker may take it)."""

        nik = self.niks[self.sent % len(self.niks)]
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": "query($n: NIK!) { person(nik: $n) { nik name } }", "variables": {"n": nik}},
            headers={"X-API-Key": self.key, "X-Satudata-Purpose": PURPOSE},
            timeout=10,
        )
        self.sent += 1
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        self.disclosed += body["data"]["person"] is not None

    def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        """Each sample of ``/metrics`` by name, then by its labels."""

        grouped: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(httpx.get(f"{self.url}/metrics", timeout=10).text):
            for sample in family.samples:
                grouped.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
        return grouped

    def worker_requests(self) -> dict[int, float]:
        """Requests answered per live worker, from ``satudata_worker_requests{pid=...}``."""

        series = self.metrics().get("satudata_worker_requests", {})
        return {int(dict(labels)["pid"]): value for labels, value in series.items()}

    def ask_until(self, done: Any, *, within_s: float, what: str) -> None:
        deadline = time.monotonic() + within_s
        while not done():
            assert time.monotonic() < deadline, f"{what}: not within {within_s} s; log:\n{self.log.read_text()}"
            for _ in range(5):
                self.ask()


def cluster_config(backend: Backend, client_id: str, key: str) -> str:
    from demo.gateway_config import render_config

    text = render_config(registry_url=backend.registry_url, education_url=backend.education_url, cursor_key=CURSOR_KEY)
    # A head deadline short enough to watch each worker enforce it.
    text = text.replace("[gateway]\n", "[gateway]\nheader_read_timeout_s = 1\n", 1)
    return text + f"""
[policy.fields]
"Query.person" = "personal"
"Person.*" = "personal"

[policy.lookups]
redis_url = "{REDIS_URL}"

[policy.roles.officer]
grant = ["personal"]
purposes = ["{PURPOSE}"]

[[clients]]
id = "{client_id}"
role = "officer"
key_sha256 = "{key_sha256(key)}"

[audit]
path = "audit.sqlite"
subject_key = "{SUBJECT_KEY}"

[ratelimit]
requests_per_minute = 60000
burst = 5000
redis_url = "{REDIS_URL}"
"""


@pytest.fixture
def cluster(sqlite_backend: Backend, dataset: Any, redis_reachable: None, tmp_path: Path, repo_root: Path) -> Iterator[Cluster]:
    key = "sdk_workers-" + secrets.token_urlsafe(32)
    client_id = f"workers-test-{secrets.token_hex(4)}"  # its own rate and lookup counts in the shared Redis
    config = write_config(tmp_path / "gateway.toml", cluster_config(sqlite_backend, client_id, key))
    (tmp_path / "tmp").mkdir()
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port), "--workers", "2"],
            cwd=repo_root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},  # where the metrics directory goes
            start_new_session=True,  # its workers in a process group of their own, to stop with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"did not start:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        niks = [row[0] for row in dataset.penduduk[:40]]
        yield Cluster(process, url, config, log, key, niks)
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop ``satudata serve --workers`` as an operator does (SIGTERM: the supervisor stops its workers),
    then kill whatever of its process group is left. Killing the supervisor alone left its workers
    running, orphaned, for as long as the machine ran (seen after CI runs)."""

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_share_the_socket_the_metrics_and_the_audit_chain(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both workers answer, and /metrics, from whichever of them, counts both.
    cluster.ask_until(lambda: len([p for p, n in cluster.worker_requests().items() if n]) == 2, within_s=30,
                      what="both workers answering")
    first, second = sorted(cluster.worker_requests())
    per_worker = cluster.worker_requests()
    assert sum(per_worker.values()) == cluster.sent
    assert cluster.metrics()["satudata_requests_total"] == {(("status", "200"),): cluster.sent}

    # Each worker keeps the door's protections: the strict parser and the head deadline.
    for _ in range(4):  # connections land on either worker
        with socket.create_connection(("127.0.0.1", int(cluster.url.rsplit(":", 1)[1]))) as sock:
            sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: g\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            received, _ = read_until_closed(sock, 5)
            assert status_of(received) == 400
    with socket.create_connection(("127.0.0.1", int(cluster.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: g\r\nX-Slow: ")
        received, closed_after = read_until_closed(sock, 4)
    assert closed_after is not None and status_of(received) == 408

    # A worker killed outright is replaced, and nothing sent meanwhile fails.
    os.kill(first, signal.SIGKILL)
    cluster.ask_until(lambda: first not in (w := cluster.worker_requests()) and len([p for p, n in w.items() if n]) == 2,
                      within_s=REPLACE_S, what="the killed worker replaced")
    (replacement,) = set(cluster.worker_requests()) - {second}
    assert replacement not in (first, second) and alive(replacement)
    # The dead worker's requests still count in the totals: they never go back.
    assert cluster.metrics()["satudata_requests_total"] == {(("status", "200"),): cluster.sent}
    assert sum(cluster.metrics()["satudata_request_seconds_count"].values()) == cluster.sent

    # SIGTERM: every worker finishes and stops, the parent exits 0, the metrics directory goes.
    cluster.process.send_signal(signal.SIGTERM)
    assert cluster.process.wait(timeout=30) == 0, cluster.log.read_text()
    assert not alive(second) and not alive(replacement)
    assert list((tmp_path / "tmp").iterdir()) == []
    log = cluster.log.read_text()
    assert "Traceback" not in log, log

    # The two workers appended to one audit chain in turn: intact, one entry per disclosure.
    assert main(["audit", "verify", "--config", str(cluster.config)]) == 0
    assert f"audit log intact: {cluster.disclosed} entries" in capsys.readouterr().out
    assert cluster.disclosed > 0


def test_change_capture_across_workers_needs_nats(tmp_path: Path) -> None:
    """Each worker would poll the source over one stored position and tell only its own subscribers."""

    changes = {"kind": "poll", "entity": "Person", "table": "penduduk", "key": "nik", "change": "tgl_update", "region": "kode_wilayah"}
    config: dict[str, Any] = {
        "gateway": {"cursor_key": CURSOR_KEY},
        "sources": {"siak": {"kind": "sql", "agency": "A", "url": "sqlite+aiosqlite://", "changes": changes}},
    }
    check_shared_state(GatewaySettings.from_dict(config), 1)
    with pytest.raises(ConfigError, match="--workers 2") as refused:
        check_shared_state(GatewaySettings.from_dict(config), 2)
    assert "siak" in refused.value.message and 'nats_url = "env:NATS_URL"' in refused.value.message
    config["events"] = {"nats_url": "nats://127.0.0.1:4222"}
    check_shared_state(GatewaySettings.from_dict(config), 2)
