"""Progress of long work, on standard error: a line when it starts, one every few seconds while it
runs (what each lane is doing, rows so far, seconds), and one when it is done.

Generating the demo at scale 1.0 (about 750,000 residents) or loading it for the benchmark takes
minutes; without this the terminal stays silent the whole time. The lines come from a daemon
thread, so they keep coming while the work holds the interpreter in a long loop (the thread gets
its turn at the interpreter's switch interval) or waits on a database.

```python
with Progress("generating the demo data (scale 1.0)"):
    step("registry", "generating residents and families")      # a lane: what it is doing now
    step("siak", "penduduk", total=len(rows)); advance("siak", 5000)
```

``step`` and ``advance`` do nothing when no ``Progress`` is running, so the generator and the
loader call them unconditionally; a count is a plain integer add.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TypeVar

#: Seconds between two progress lines while work runs.
EVERY_S = 5.0

T = TypeVar("T")


class _Lane:
    __slots__ = ("text", "done", "total")

    def __init__(self, text: str, total: int | None) -> None:
        self.text = text
        self.done = 0
        self.total = total

    def __str__(self) -> str:
        if self.total:
            return f"{self.text} {self.done:,}/{self.total:,} ({100 * self.done // self.total}%)"
        if self.done:
            return f"{self.text} {self.done:,}"
        return self.text


class Progress:
    """Reports ``what`` is being done until the ``with`` block ends."""

    def __init__(self, what: str, *, write: Callable[[str], None] | None = None, every_s: float | None = None) -> None:
        self.what = what
        self.write = write or _stderr
        self.every_s = EVERY_S if every_s is None else every_s
        self.lanes: dict[str, _Lane] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="progress", daemon=True)
        self._started = 0.0
        self._outer: Progress | None = None

    def __enter__(self) -> Progress:
        global _current
        self._outer, _current = _current, self
        self._started = time.monotonic()
        self.write(f"{self.what} ...")
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        global _current
        self._stop.set()
        self._thread.join()
        _current = self._outer
        outcome = "done" if kind is None else "stopped"
        self.write(f"{self.what}: {outcome} in {time.monotonic() - self._started:.0f} s")

    def step(self, lane: str, text: str, total: int | None = None) -> None:
        self.lanes[lane] = _Lane(text, total)

    def advance(self, lane: str, count: int) -> None:
        current = self.lanes.get(lane)
        if current is not None:
            current.done += count

    def line(self) -> str:
        doing = "; ".join(f"{name}: {lane}" for name, lane in list(self.lanes.items()))
        return f"{self.what}: {doing or 'working'} ({time.monotonic() - self._started:.0f} s)"

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            self.write(self.line())


_current: Progress | None = None


def step(lane: str, text: str, total: int | None = None) -> None:
    """``lane`` is now doing ``text`` (of ``total`` rows, if known), in the running ``Progress``."""

    if _current is not None:
        _current.step(lane, text, total)


def advance(lane: str, count: int) -> None:
    """``count`` more rows done in ``lane``."""

    if _current is not None:
        _current.advance(lane, count)


def end(lane: str) -> None:
    """``lane`` has finished: it leaves the progress lines."""

    if _current is not None:
        _current.lanes.pop(lane, None)


def counted(lane: str, rows: Iterable[T], every: int = 10_000) -> Iterator[T]:
    """``rows``, advancing ``lane`` as they are consumed (in steps of ``every``)."""

    if _current is None:
        yield from rows
        return
    n = 0
    for row in rows:
        yield row
        n += 1
        if n == every:
            advance(lane, n)
            n = 0
    advance(lane, n)


def _stderr(line: str) -> None:
    print(f"satudata: {line}", file=sys.stderr, flush=True)
