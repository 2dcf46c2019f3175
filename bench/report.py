"""``bench/out/results.json`` and the committed markdown summary ``bench/RESULTS.md``."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

#: The floors the issue sets.
PERSON_FLOOR_MS = 5.0
PERSON_FLOOR_SCALE = 1.0
RSS_RATIO_FLOOR = 1.2


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, memory, Python and OS versions."""

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def floors(scales: list[dict[str, Any]]) -> dict[str, Any]:
    """Evaluate the two floors on the per-scale results (``holds`` is None when the run cannot tell)."""

    by_scale = {s["scale"]: s for s in scales}
    person: dict[str, Any] = {
        "limit_ms": PERSON_FLOOR_MS,
        "scale": PERSON_FLOOR_SCALE,
        "median_ms": None,
        "holds": None,
    }
    at = by_scale.get(PERSON_FLOOR_SCALE)
    q = next((q for q in at["queries"] if q["name"] == "person"), None) if at is not None else None
    if q is not None:
        person["median_ms"] = q["median_ms"]
        person["holds"] = q["median_ms"] < PERSON_FLOOR_MS
    rss: dict[str, Any] = {"limit": RSS_RATIO_FLOOR, "ratio": None, "holds": None}
    if len(by_scale) >= 2:
        small, large = by_scale[min(by_scale)], by_scale[max(by_scale)]
        ratio = large["gateway"]["rss_after_mix_kb"] / small["gateway"]["rss_after_mix_kb"]
        rss.update(small_scale=small["scale"], large_scale=large["scale"], ratio=ratio, holds=ratio <= RSS_RATIO_FLOOR)
        seq_small = small["gateway"].get("rss_after_sequential_kb")
        seq_large = large["gateway"].get("rss_after_sequential_kb")
        if seq_small and seq_large:
            rss["sequential_ratio"] = seq_large / seq_small
    return {"person_median": person, "rss_ratio": rss}


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write the full results."""

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


def _sc(scale: float) -> str:
    """A scale as written in the tables: 0.1, 1.0."""

    return f"{scale:.1f}" if float(scale).is_integer() else f"{scale:g}"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _yes(holds: bool | None) -> str:
    return "n/a" if holds is None else ("**holds**" if holds else "**missed**")


def _mib(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"


def _size(n: float) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n:.0f} B"


def _trips(q: dict[str, Any]) -> str:
    lo, hi = q["round_trips_min"], q["round_trips_max"]
    if lo is None:
        got = "?"
    else:
        got = str(lo) if lo == hi else f"{lo}–{hi}"
    elo, ehi = q["expected_round_trips"]
    expected = str(elo) if elo == ehi else f"{elo}–{ehi}"
    return got if got == expected else f"{got} (expected {expected})"


def markdown(results: dict[str, Any]) -> str:
    """The RESULTS.md text."""

    m = results["machine"]
    a = results["args"]
    scales = results["scales"]
    f = results["floors"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench` (see `bench/README.md`). One run on a shared, noisy machine: read medians",
        "and ratios, not single figures.",
        "",
        f"- Date: {results['date']}" + (f"; gateway at commit `{results['commit']}`" if results.get("commit") else ""),
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model'] or 'unknown CPU'}), {m['mem_gib']} GiB RAM, "
        f"Python {m['python']}, {m['platform']}",
        f"- Sources: registry on {results['servers'].get('postgresql', '?')}; "
        f"education on {results['servers'].get('mariadb', '?')}",
        f"- Scales: {', '.join(f'{_sc(s)}' for s in a['scales'])}; seed {a['seed']}; "
        f"N = {a['requests']} sequential requests per query (concurrency 1, one keep-alive connection) "
        f"after {a['warmup']} warm-up requests; concurrency-{a['concurrency']} mix of {a['mix_requests']} requests",
        "",
        "## Floors",
        "",
        "| floor | measured | result |",
        "|---|---|---|",
    ]
    p = f["person_median"]
    measured = "not run" if p["median_ms"] is None else f"{p['median_ms']:.2f} ms"
    floor = f"(a) `person(nik)` median < {p['limit_ms']:g} ms at concurrency 1, scale {_sc(p['scale'])}"
    lines.append(_row(floor, measured, _yes(p["holds"])))
    r = f["rss_ratio"]
    if r["ratio"] is None:
        lines.append(
            _row(f"gateway RSS after the mix, largest / smallest scale ≤ {r['limit']:g}×", "needs two scales", "n/a")
        )
    else:
        scales_ = f"scale {_sc(r['large_scale'])} / scale {_sc(r['small_scale'])}"
        floor = f"gateway RSS after the mix, {scales_} ≤ {r['limit']:g}×"
        lines.append(_row(floor, f"{r['ratio']:.3f}×", _yes(r["holds"])))
    lines += [
        "",
        "## Latency at concurrency 1",
        "",
        "Latency is end to end at the client (ms). *Sources ms* is the median sum of `extensions.sources.*.ms`",
        "(in brackets: each source's median);",
        "*round-trips* is the sum of `calls` (min–max over the run when it varies); *rows read* the median sum of",
        "`rows`; *N* the measured requests (fewer than asked when a query ran past its time budget).",
        "",
        "| query | scale | N | median ms | p99 ms | sources ms | round-trips | rows read | response | errors |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    names = [q["name"] for q in scales[0]["queries"]] if scales else []
    for name in names:
        for s in scales:
            q = next(q for q in s["queries"] if q["name"] == name)
            src = "?" if q["median_source_ms"] is None else f"{q['median_source_ms']:.1f}"
            per = q.get("per_source") or {}
            if per:
                src += " (" + ", ".join(f"{n} {v['ms']:.1f}" for n, v in per.items()) + ")"
            rows = "?" if q["median_rows"] is None else f"{q['median_rows']:.0f}"
            errs = str(q["errors"]) + (f" (+{q['empty_answers']} empty)" if q["empty_answers"] else "")
            lines.append(
                _row(
                    q["title"], _sc(s["scale"]), q["requests"], f"{q['median_ms']:.2f}", f"{q['p99_ms']:.2f}",
                    src, _trips(q), rows, _size(q["median_bytes"]), errs,
                )
            )  # fmt: skip
    lines += [
        "",
        f"## Concurrency {a['concurrency']}: the five queries mixed",
        "",
        "| scale | requests | seconds | requests/s | errors | median ms per query |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for s in scales:
        mix = s["mix"]
        medians = mix["per_query_median_ms"]
        per = ", ".join(f"{k} {medians[k]:.0f}" for k in names if k in medians)
        by = mix.get("errors_by_query_and_code") or {}
        detail = ", ".join(f"{key} × {n}" for key, n in by.items()) if by else "; ".join(mix["error_examples"])
        errs = str(mix["errors"]) + (f" ({detail})" if mix["errors"] else "")
        rate = f"{mix['requests_per_s']:.1f}"
        lines.append(_row(_sc(s["scale"]), mix["requests"], f"{mix['seconds']:.1f}", rate, errs, per))
    lines += [
        "",
        "## Gateway memory (VmRSS of the `satudata serve` process)",
        "",
        "| scale | after start | after the sequential runs | after the whole mix | peak (VmHWM) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for s in scales:
        g = s["gateway"]
        lines.append(
            _row(
                _sc(s["scale"]),
                _mib(g["rss_start_kb"]),
                _mib(g["rss_after_sequential_kb"]) if g.get("rss_after_sequential_kb") else "?",
                _mib(g["rss_after_mix_kb"]),
                _mib(g["hwm_after_mix_kb"]),
            )
        )
    if r["ratio"] is not None:
        lines += [
            "",
            f"After-mix RSS ratio, scale {_sc(r['large_scale'])} / {_sc(r['small_scale'])}: **{r['ratio']:.3f}×**"
            + (f" (after the sequential runs: {r['sequential_ratio']:.3f}×)." if "sequential_ratio" in r else "."),
            "The gateway keeps the memory of its busiest moment (the allocator does not return it to the OS), and",
            "that is set mostly by how many deep queries (c) ran together (each holds ~50 MiB while it runs). At most",
            "`[limits] heavy_concurrency` (default 2) heavy queries execute at once; the others wait for a slot, or",
            "are refused with `GATEWAY_BUSY` when none frees up in time (the mix's errors above).",
        ]
    lines += [
        "",
        "## Data",
        "",
        "| scale | residents in families of 3+ | schools (with pupils) | data | load avg (start → end) |",
        "|---:|---:|---:|---|---|",
    ]
    for s in scales:
        pools, load = s["pools"], s["load"]
        how = (
            f"reused (loaded {load['loaded_at']} in {load['load_seconds']:.0f} s)"
            if load["reused"]
            else f"built and loaded this run in {load['load_seconds']:.0f} s"
        )
        schools = f"{pools['npsns']:,} ({pools['npsns_with_pupils']:,})"
        la = s.get("loadavg_1min")
        busy = f"{la[0]:.2f} → {la[1]:.2f}" if la else "?"
        lines.append(_row(_sc(s["scale"]), f"{pools['family_niks']:,}", schools, how, busy))
    return "\n".join(lines) + "\n"


def keeping_other_sections(text: str, old: str) -> str:
    """``text`` (what this run writes of RESULTS.md) followed by the sections of ``old`` it does not
    write: the floor's, the signals', the instruction counts' (``bench.floor``, ``bench.alerts``,
    ``bench.instructions``), as they were. A section is a ``## `` heading and what follows up to the
    next one; sections are told apart by their heading up to its first colon (after it, a commit)."""

    def sections(lines: list[str]) -> list[list[str]]:
        found: list[list[str]] = []
        for line in lines:
            if line.startswith("## "):
                found.append([])
            if found:
                found[-1].append(line)
        return found

    def name(section: list[str]) -> str:
        return section[0].split(":", 1)[0].strip()

    written = {name(s) for s in sections(text.splitlines())}
    kept = ["\n".join(s).rstrip("\n") for s in sections(old.splitlines()) if name(s) not in written]
    return "\n\n".join([text.rstrip("\n"), *kept]) + "\n"
