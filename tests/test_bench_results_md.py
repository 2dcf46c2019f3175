"""``python -m bench`` rewrites its own sections of bench/RESULTS.md and keeps the ones other bench
commands wrote (the floor, the signals, the instruction counts), which it once dropped."""

from __future__ import annotations

from bench.report import keeping_other_sections

OLD = """# Benchmark results

Intro of an older run.

## Floors

| floor | old |

## Gateway memory (VmRSS of the `satudata serve` process)

old memory

## The floor beside us: `aaa` against `bbb`

floor table

## Signals at scale 1.0: `ccc`

signals table

## Instructions per request: `ddd`

instructions table
"""

NEW = """# Benchmark results

Intro of this run.

## Floors

| floor | new |

## Gateway memory (VmRSS of the `satudata serve` process)

new memory
"""


def test_the_sections_this_run_writes_are_new_and_the_others_are_kept_once() -> None:
    merged = keeping_other_sections(NEW, OLD)
    assert merged.startswith(NEW.rstrip("\n"))
    assert "old memory" not in merged and "| floor | old |" not in merged and "older run" not in merged
    for kept in ("## The floor beside us: `aaa` against `bbb`\n\nfloor table", "## Signals at scale 1.0: `ccc`\n\nsignals table",
                 "## Instructions per request: `ddd`\n\ninstructions table"):
        assert merged.count(kept) == 1
    assert merged.index("floor table") < merged.index("signals table") < merged.index("instructions table")
    assert keeping_other_sections(NEW, merged) == merged  # a second run changes nothing more
    assert keeping_other_sections(NEW, "") == NEW


def test_a_section_of_the_same_name_under_another_commit_is_replaced_not_kept() -> None:
    old = NEW + "\n## Instructions per request: `old`\n\nold counts\n"
    new = NEW + "\n## Instructions per request: `new`\n\nnew counts\n"
    merged = keeping_other_sections(new, old)
    assert "new counts" in merged and "old counts" not in merged
