"""``python -m bench.floor``'s own parts: the report section in RESULTS.md, wrk's error count, the configs."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench import floor_wrk
from bench.floor_client import closed_loop, error_code
from bench.floor_servers import cpu_seconds, process_tree
from bench.floor_configs import BENCH_ROLE, LOOKUP_BUDGET, drop_tables, gateway_config
from bench.floor_report import HEADING, replace_section, section
from gateway.access.policy import Policy
from gateway.settings import GatewaySettings
from gateway.workers import check_shared_state
from resolvers.cursors import new_cursor_key

from .conftest import serve_api

BENCH_WRITES = """# Benchmark results

Written by `python -m bench`.

## Floors

| floor | measured | result |
|---|---|---|

## Data

| scale | residents |
"""


def _results(runs: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    run = {"seconds": 10.0, "p50_ms": 5.0, "p99_ms": 9.0, "requests": 1000, "bad_answers": 0, "socket_errors": 0,
           "codes": {}, "rps": 100.0}
    return {
        "date": "2026-12-07T00:00:00+00:00", "scale": 0.1, "rounds": 1, "cpus": 2, "load_avg": [1.0, 1.2],
        "commits": {"this": "abc123", "compare": "def456"},
        "queries": {"A": {"title": "person", "concurrency": 20, "seconds": 10.0, "warmup": 3.0, "keys": "900"}},
        "servers": [
            {"label": "bare endpoint", "kind": "bare", "runs": {"A": [run]}, "rss_kb": 102400, "processes": 1},
            {"label": "gateway", "kind": "gateway", "runs": runs, "rss_kb": 512000, "processes": 4},
        ],
        "notes": ["a note"],
    }


def test_the_section_replaces_only_its_own_part_of_results_md() -> None:
    first = section(_results({"A": [{"seconds": 10.0, "p50_ms": 40.0, "p99_ms": 90.0, "requests": 250,
                                     "bad_answers": 0, "socket_errors": 0, "codes": {}, "rps": 25.0}]}))
    appended = replace_section(BENCH_WRITES, first)
    assert appended.startswith(BENCH_WRITES.rstrip("\n") + "\n\n" + HEADING)
    second = first.replace("25.0", "26.0")
    # In the middle of the file (a later `python -m bench` section after it) as at its end.
    for text in (appended, appended + "\n## Later\n\nkept\n"):
        replaced = replace_section(text, second)
        assert replaced.count(HEADING) == 1
        assert "26.0" in replaced and "| gateway | 25.0 |" not in replaced
        assert replaced.replace(second.rstrip("\n"), "").replace("\n", "") == text.replace(first.rstrip("\n"), "").replace("\n", "")
        assert replace_section(replaced, second) == replaced


def test_the_table_shows_each_error_and_the_share_of_the_bare_endpoint() -> None:
    refused = {"seconds": 10.0, "p50_ms": 1.0, "p99_ms": 2.0, "requests": 400, "bad_answers": 300, "socket_errors": 2,
               "codes": {"LOOKUP_BUDGET_EXCEEDED": 300}, "rps": 10.0}
    text = section(_results({"A": [refused]}))
    row = next(line for line in text.splitlines() if line.startswith("| gateway |"))
    assert "**302** of 400 (LOOKUP_BUDGET_EXCEEDED 300, socket/timeout 2)" in row
    assert "10.0%" in row and "500 MiB (4 processes)" in row
    assert "`abc123` against `def456`" in text.splitlines()[0]
    assert "A req/s (c=20)" in text
    silent = section(_results({"A": [{**refused, "requests": 0, "bad_answers": 0, "socket_errors": 0, "codes": {}, "rps": 0.0}]}))
    assert "**no answer**" in next(line for line in silent.splitlines() if line.startswith("| gateway |"))


@pytest.fixture(scope="module")
def erring_api() -> Iterator[tuple[str, dict[str, int]]]:
    """Every third answer holds a GraphQL error, every fifth is a 503; the counts of what was sent."""

    sent = {"answers": 0, "errors": 0, "unavailable": 0}

    async def answer(request: Request) -> JSONResponse:
        sent["answers"] += 1
        if sent["answers"] % 5 == 0:
            sent["unavailable"] += 1
            return JSONResponse({"errors": [{"message": "busy", "extensions": {"code": "GATEWAY_BUSY"}}]}, status_code=503)
        if sent["answers"] % 3 == 0:
            sent["errors"] += 1
            return JSONResponse({"data": None, "errors": [{"message": "no", "extensions": {"code": "LOOKUP_BUDGET_EXCEEDED"}}]})
        return JSONResponse({"data": {"person": {"nik": "3503"}}})

    app = Starlette(routes=[Route("/graphql", answer, methods=["POST"])])
    yield from ((url, sent) for url in serve_api(app, "erring"))


@pytest.mark.skipif(shutil.which(floor_wrk.WRK) is None, reason="wrk is not installed (Debian package wrk)")
def test_wrk_counts_every_answer_that_is_not_a_clean_200(erring_api: tuple[str, dict[str, int]], tmp_path: Path) -> None:
    url, sent = erring_api
    bodies = tmp_path / "bodies"
    bodies.write_text('{"query":"{ a }"}\n{"query":"{ b }"}\n', encoding="utf-8")
    script = tmp_path / "floor.lua"
    script.write_text(floor_wrk.script_text(bodies, "/graphql", {"X-API-Key": "k"}), encoding="utf-8")
    result = floor_wrk.run(url, script, concurrency=4, seconds=1)
    # Answers still in flight when wrk stops were sent but not counted: at most one per connection.
    assert sent["answers"] - 4 <= result.requests <= sent["answers"]
    assert sent["errors"] + sent["unavailable"] - 4 <= result.bad_answers <= sent["errors"] + sent["unavailable"]
    assert result.bad_answers > 0 and result.socket_errors == 0
    assert sum(result.codes.values()) == result.bad_answers
    assert set(result.codes) == {"GATEWAY_BUSY", "LOOKUP_BUDGET_EXCEEDED"}
    assert result.rps == pytest.approx((result.requests - result.bad_answers) / result.seconds)


def test_wrk_scripts_quote_only_what_lua_reads_back() -> None:
    with pytest.raises(ValueError):
        floor_wrk.script_text(Path("/tmp/b"), "/graphql", {"X-Satudata-Purpose": "pelayanan-kesehatan\u00e9"})


@pytest.mark.parametrize("access", [False, True])
@pytest.mark.parametrize("workers", [1, 2])
def test_the_floor_configs_are_valid_and_answer_instead_of_refusing(access: bool, workers: int, tmp_path: Path) -> None:
    text = gateway_config(
        registry_url="postgresql+asyncpg://postgres@127.0.0.1:5432/r", education_url="mysql+aiomysql://root@127.0.0.1/e",
        access=access, workers=workers, cursor_key=new_cursor_key(), audit_url="postgresql+asyncpg://postgres@127.0.0.1:5432/a",
        redis_url="redis://127.0.0.1:6379/0", checkpoint=tmp_path / "checkpoint.json",
    )
    raw = tomllib.loads(text)
    settings = GatewaySettings.from_dict(raw, base_dir=tmp_path)
    check_shared_state(settings, workers)  # what `satudata serve --workers N` requires
    assert "ratelimit" not in raw
    if access:
        policy = Policy.from_config(raw["policy"])
        role = policy.role(BENCH_ROLE)
        assert {"personal", "children"} <= role.grant
        assert policy.budget(role) == LOOKUP_BUDGET
        assert any(c["role"] == BENCH_ROLE for c in raw["clients"])
    else:
        assert "policy" not in raw and "audit" not in raw


def test_drop_tables_drops_whole_tables_and_keeps_arrays_of_tables() -> None:
    text = '[a]\nx = 1\n# about b\n[b]\ny = 2\n[[c]]\nz = 3\n[b.sub]\nw = 4\n'
    assert tomllib.loads(drop_tables(text, {"b", "c"})) == {"a": {"x": 1}, "c": [{"z": 3}], "b": {"sub": {"w": 4}}}


@pytest.fixture(scope="module")
def slow_api() -> Iterator[str]:
    """Answers after 0.2 s; every fourth answer is a refusal."""

    count = {"n": 0}

    async def answer(request: Request) -> JSONResponse:
        count["n"] += 1
        n = count["n"]
        await asyncio.sleep(0.2)
        if n % 4 == 0:
            return JSONResponse({"errors": [{"message": "busy", "extensions": {"code": "GATEWAY_BUSY"}}]}, status_code=503)
        return JSONResponse({"data": {"schools": None}})

    yield from serve_api(Starlette(routes=[Route("/graphql", answer, methods=["POST"])]), "slow")


async def test_the_closed_loop_counts_the_steady_state_inside_its_window(slow_api: str) -> None:
    result = await closed_loop(slow_api, "/graphql", [{"query": "{ a }"}], {"X-API-Key": "k"},
                               concurrency=2, warmup=0.5, seconds=2.0)
    # Two connections at 0.2 s each: ~10 answers a second in the 2 s window, a quarter refused; the
    # warm-up's answers (~5) are not counted.
    assert 16 <= result.requests <= 21
    assert result.codes == {"GATEWAY_BUSY": result.bad_answers} and 3 <= result.bad_answers <= 6
    assert result.rps == pytest.approx((result.requests - result.bad_answers) / 2.0)
    assert 195 <= result.p50_ms <= 400


def test_error_codes_of_answers() -> None:
    assert error_code(200, b'{"data": {"a": 1}}') is None
    assert error_code(200, b'{"data": null, "errors": [{"message": "x", "extensions": {"code": "AUDIT_UNAVAILABLE"}}]}') == "AUDIT_UNAVAILABLE"
    assert error_code(502, b"<html>bad gateway</html>") == "HTTP_502"
    assert error_code(200, b'{"errors": [{"message": "no code"}]}') == "HTTP_200"


def test_a_servers_processes_and_their_cpu_time_are_found() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\ntime.sleep(30)"])
    try:
        assert child.pid in process_tree(os.getpid())
        deadline = time.monotonic() + 10
        while cpu_seconds([child.pid]) < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cpu_seconds([child.pid]) >= 0.25
    finally:
        child.kill()
        child.wait()
