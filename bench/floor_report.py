"""The floor's report: one markdown section, ``## The floor beside us``, printed and kept in ``bench/RESULTS.md``.

``python -m bench`` writes RESULTS.md whole; ``python -m bench.floor --markdown`` replaces only its own
section there (or appends it), so the two reports live in one file. Figures per query are the median
over rounds; errors are summed over rounds, so that a single failed answer shows.
"""

from __future__ import annotations

import statistics
from typing import Any

HEADING = "## The floor beside us"


def section(results: dict[str, Any]) -> str:
    """The markdown section of one ``python -m bench.floor`` run (``results`` as ``bench.floor`` collects them)."""

    queries: dict[str, dict[str, Any]] = results["queries"]
    servers: list[dict[str, Any]] = results["servers"]
    commits = results["commits"]
    heading = f"{HEADING}: `{commits['this']}`" + (f" against `{commits['compare']}`" if commits.get("compare") else "")
    load = results["load_avg"]
    lines = [
        heading,
        "",
        f"Written by `python -m bench.floor` (see `bench/README.md`) on {results['date']}; scale {results['scale']:g}, "
        f"{results['rounds']} round(s), servers interleaved within each round, median of rounds (errors: sum); "
        f"load average {load[0]:.2f} → {load[1]:.2f} on {results['cpus']} CPUs.",
        "",
    ]
    lines += [f"- **{name}** {q['title']}: concurrency {q['concurrency']}, {q['seconds']:g} s per round "
              f"after {q['warmup']:g} s warm-up" + (f" ({q['client']})" if q.get("client") else "") + f"; {q['keys']}."
              for name, q in queries.items()]
    lines.append("")
    header = ["server"]
    for name, q in queries.items():
        header += [f"{name} req/s (c={q['concurrency']})", f"{name} p50 ms", f"{name} p99 ms", f"{name} errors",
                   f"{name} share of bare"]
    header.append("RSS after the run")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|" + "---:|" * (len(header) - 1))
    bare = next((s for s in servers if s["kind"] == "bare"), None)
    for server in servers:
        cells = [server["label"]]
        for name in queries:
            runs = server["runs"].get(name) or []
            floor = _median(bare["runs"].get(name) or [], "rps") if bare else None
            cells += _cells(runs, floor)
        rss = server.get("rss_kb")
        procs = server.get("processes", 1)
        cells.append("–" if rss is None else f"{rss / 1024:.0f} MiB" + (f" ({procs} processes)" if procs > 1 else ""))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *[f"- {note}" for note in results["notes"]], ""]
    return "\n".join(lines)


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    return statistics.median(r[key] for r in runs) if runs else None


def _cells(runs: list[dict[str, Any]], floor: float | None) -> list[str]:
    if not runs:
        return ["–"] * 5
    rps = _median(runs, "rps")
    assert rps is not None
    errors = sum(int(r["bad_answers"]) + int(r["socket_errors"]) for r in runs)
    requests = sum(int(r["requests"]) for r in runs)
    if not requests:  # nothing came back within the run: no latency to report, and no rate
        return ["0", "–", "–", "**no answer**" + (f" ({_kinds(runs)})" if errors else ""), "0.0%"]
    share = f"{rps / floor:.1%}" if floor else "–"
    return [
        f"{rps:.1f}" if rps < 100 else f"{rps:.0f}",
        f"{_median(runs, 'p50_ms'):.1f}",
        f"{_median(runs, 'p99_ms'):.1f}",
        f"**{errors}** of {requests} ({_kinds(runs)})" if errors else "0",
        share,
    ]


def _kinds(runs: list[dict[str, Any]]) -> str:
    """What the errors were: answers by code, then socket errors, most frequent first."""

    counts: dict[str, int] = {}
    for run in runs:
        for code, n in (run.get("codes") or {}).items():
            counts[code] = counts.get(code, 0) + int(n)
        if run.get("socket_errors"):
            counts["socket/timeout"] = counts.get("socket/timeout", 0) + int(run["socket_errors"])
    return ", ".join(f"{code} {n}" for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def replace_section(text: str, new_section: str, heading: str = HEADING) -> str:
    """``text`` (RESULTS.md) with its section under ``heading`` (the floor's) replaced by
    ``new_section``, or with it appended.

    The section runs from its heading to the next ``## `` heading or the end; everything else is kept.
    """

    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    body = new_section.rstrip("\n").splitlines()
    if start is None:
        kept = "\n".join(lines).rstrip("\n")
        return (kept + "\n\n" if kept else "") + "\n".join(body) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    after = lines[end:]
    merged = lines[:start] + body + ([""] + after if after else [])
    return "\n".join(merged).rstrip("\n") + "\n"
