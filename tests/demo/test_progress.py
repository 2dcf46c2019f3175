"""Long work shows progress (issue 13): generating the demo data and loading it print a line every
few seconds on standard error, from the first second to the last."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from demo import progress
from demo.progress import Progress


def test_a_line_at_the_start_every_interval_and_at_the_end_with_each_lanes_rows() -> None:
    lines: list[str] = []
    with Progress("loading", write=lines.append, every_s=0.05):
        progress.step("siak", "penduduk", total=1000)
        progress.step("dapodik", "sekolah")
        for _ in range(4):
            progress.advance("siak", 100)
            time.sleep(0.06)
        progress.end("dapodik")
        time.sleep(0.12)
    assert lines[0] == "loading ..."
    assert lines[-1] == "loading: done in 0 s"
    beats = lines[1:-1]
    assert len(beats) >= 4, lines
    assert any("siak: penduduk" in b and "dapodik: sekolah" in b for b in beats), beats
    assert beats[-1].startswith("loading: siak: penduduk 400/1,000 (40%)") and "dapodik" not in beats[-1], beats
    # Outside a Progress the calls do nothing (the generator calls them unconditionally).
    progress.step("siak", "penduduk")
    progress.advance("siak", 5)
    assert list(progress.counted("siak", range(3))) == [0, 1, 2]


def test_work_that_fails_says_it_stopped_and_the_reporter_is_gone() -> None:
    lines: list[str] = []
    with pytest.raises(RuntimeError), Progress("loading", write=lines.append, every_s=10):
        raise RuntimeError("disk full")
    assert lines[-1].startswith("loading: stopped in ")
    assert progress._current is None
    assert not [t for t in threading.enumerate() if t.name == "progress"]


def test_generating_the_sqlite_demo_reports_each_stage_and_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from demo import ensure_sqlite_demo

    monkeypatch.setattr(progress, "EVERY_S", 0.02)
    ensure_sqlite_demo(tmp_path / "demo", scale=0.01, seed=7)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("satudata: generating the demo data in ") and err[0].endswith("(scale 0.01, seed 7) ...")
    assert err[-1].startswith("satudata: generating the demo data") and " done in " in err[-1]
    text = "\n".join(err)
    assert "dataset: generating residents and families (registry)" in text
    assert "dispendukcapil: penduduk" in text and "dinas-pendidikan: " in text, text
    # Already there: nothing generated, nothing said.
    ensure_sqlite_demo(tmp_path / "demo", scale=0.01, seed=7)
    assert capsys.readouterr().err == ""


def test_generating_scale_1_speaks_within_seconds_and_keeps_speaking(tmp_path: Path, repo_root: Path) -> None:
    """The real thing, as ``satudata demo --scale 1.0`` starts it: the first lines of a run that takes
    minutes (it is stopped after three progress lines)."""

    code = f"from demo import ensure_sqlite_demo; ensure_sqlite_demo({str(tmp_path / 'demo')!r}, scale=1.0)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=repo_root, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    arrivals: list[tuple[float, str]] = []
    try:
        assert process.stderr is not None
        for raw in process.stderr:
            arrivals.append((time.monotonic(), raw.decode().rstrip()))
            if len(arrivals) == 4:
                break
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
    lines = [line for _, line in arrivals]
    assert len(lines) == 4, lines
    assert lines[0].endswith("(scale 1, seed 3503) ...")
    assert "dataset: generating residents and families (registry)" in lines[1], lines
    assert all(line.startswith("satudata: generating the demo data") and line.endswith(" s)") for line in lines[1:]), lines
    gaps = [later - earlier for (earlier, _), (later, _) in zip(arrivals, arrivals[1:])]
    assert all(gap < progress.EVERY_S + 3 for gap in gaps), gaps
