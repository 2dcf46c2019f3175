"""``python -m bench.instructions``: the in-process driver, callgrind's count, and the report section."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.instructions import DRIVER, HEADING, Count, collected, count, section
from bench.floor_report import replace_section

ROOT = Path(__file__).resolve().parents[1]

#: A stand-in for the bare endpoint: echoes the body, or answers with an error for "bad".
APP = '''
import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def a(request):
    body = orjson.loads(await request.body())
    answer = {"errors": [{"message": "bad"}]} if body.get("nik") == "bad" else {"data": {"echo": body}}
    return Response(orjson.dumps(answer), media_type="application/json")

app = Starlette(routes=[Route("/a", a, methods=["POST"])])
'''


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    (tmp_path / "floor_bare.py").write_text(APP, encoding="utf-8")
    return tmp_path


def _drive(folder: Path, bodies: list[dict[str, str]], *extra: str) -> dict[str, object]:
    (folder / "bodies").write_text("".join(json.dumps(b) + "\n" for b in bodies), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(DRIVER), "--bare", str(folder / "floor_bare.py"), "--bodies", str(folder / "bodies"),
         "--path", "/a", "--requests", "30", "--warmup", "5", "--concurrency", "4", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_driver_sends_every_request_and_counts_the_answers_with_errors(tiny: Path) -> None:
    clean = _drive(tiny, [{"nik": "1"}, {"nik": "2"}], "--no-callgrind")
    assert (clean["requests"], clean["errors"], clean["warmup_errors"]) == (30, 0, 0)
    mixed = _drive(tiny, [{"nik": "1"}, {"nik": "bad"}, {"nik": "3"}], "--no-callgrind")
    # Bodies are sent in turn: 5 warm-up requests take 0..4 (2 bad), the measured 30 take 5..34 (10 bad).
    assert (mixed["errors"], mixed["warmup_errors"]) == (10, 2)


@pytest.mark.skipif(shutil.which("valgrind") is None and os.environ.get("CI") != "true", reason="valgrind not installed")
def test_callgrinds_count_is_the_same_for_the_same_work_and_grows_with_it(tiny: Path) -> None:
    (tiny / "bodies").write_text('{"nik": "1"}\n', encoding="utf-8")
    counts = [
        count(root=ROOT, server="tiny", query="A", config=None, bodies=tiny / "bodies", headers={}, requests=n,
              concurrency=4, out=tiny, env={}, bare=tiny / "floor_bare.py")
        for n in (40, 40, 120)
    ]
    first, again, more = (c.instructions for c in counts)
    assert first > 0 and counts[0].errors == 0
    assert abs(again - first) / first < 0.03, (first, again)  # the same work, the same count
    assert 2.5 < more / first < 3.5, (first, more)  # three times the requests, about three times the count


def test_collected_reads_callgrinds_count_and_refuses_a_log_without_one() -> None:
    log = "==1== Events    : Ir\n==1== Collected : 466,137,812\n==1==\n==1== I   refs:      466,137,812\n"
    assert collected(log) == 466_137_812
    with pytest.raises(RuntimeError, match="no count"):
        collected("==1== Command: python\n")


def test_the_section_gives_each_server_as_a_multiple_of_the_bare_endpoint() -> None:
    counts = [Count("bare", "A", 100, 40_000_000, 0), Count("open", "A", 100, 220_000_000, 0),
              Count("access", "A", 100, 300_000_000, 2)]
    text = section(counts, commit="abc123", compare=None, requests=100, concurrency=20)
    assert text.startswith(f"{HEADING}: `abc123`")
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert rows == ["| bare | 400,000 | 1.00× | 0 |", "| open | 2,200,000 | 5.50× | 0 |", "| access | 3,000,000 | 7.50× | 2 |"]
    merged = replace_section("# Benchmark results\n\n## Floors\n\nx\n", text, HEADING)
    assert merged.count(HEADING) == 1 and "## Floors\n\nx\n" in merged
    assert replace_section(merged, text.replace("abc123", "def456"), HEADING).count("def456") == 1
