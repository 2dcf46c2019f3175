"""One ``wrk`` run of the floor: POST bodies in turn, count what did not answer in full.

wrk (a C load generator) is used because a Python client on the same two cores would itself be the
limit at these rates. The script sends the lines of a bodies file (one JSON body per line) in turn,
with the given headers, and counts per thread, in ``response()``, every answer that is not a 200 or
whose body holds ``"errors"`` (a GraphQL error, e.g. a refusal answered fast); ``done()`` sums the
threads' counts and prints them in one ``FLOOR`` line with wrk's socket errors (connect, read, write,
timeout). The rate counts answers without errors only, so that a run whose answers are refusals is
never mistaken for a fast one; the latency percentiles are wrk's, over every answer.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

WRK = "wrk"
#: A deep query (C) takes 1–2 s, longer under load: wrk's default 2 s timeout would cut it off.
TIMEOUT_S = 60

SCRIPT = """
local bodies = {}
for line in io.lines(%(bodies)s) do bodies[#bodies + 1] = line end
local i = 0
bad = 0  -- a global: done() reads each thread's with thread:get
wrk.method = "POST"
%(headers)s
local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end
function request()
  i = i %% #bodies + 1
  return wrk.format(nil, %(path)s, nil, bodies[i])
end
codes = {}  -- error code (extensions.code, else HTTP_<status>) -> answers
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
    local code = string.match(body, '"code"%%s*:%%s*"([%%w_]+)"') or ("HTTP_" .. status)
    codes[code] = (codes[code] or 0) + 1
  end
end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("bad")
    for code, n in pairs(thread:get("codes")) do io.write(string.format("FLOOR_CODE %%s %%d\\n", code, n)) end
  end
  local e = summary.errors
  io.write(string.format("FLOOR %%f %%f %%f %%d %%d %%d\\n", summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests, failed,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One run: its length, latency percentiles (ms, over every answer), answers, and the failures."""

    seconds: float
    p50_ms: float
    p99_ms: float
    requests: int
    #: Answers that were not a 200 or held ``"errors"``.
    bad_answers: int
    #: Connections that failed, reads/writes that failed, requests past ``TIMEOUT_S``.
    socket_errors: int
    #: The bad answers by error code (the first ``extensions.code`` in the body, else ``HTTP_<status>``).
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.bad_answers + self.socket_errors

    @property
    def rps(self) -> float:
        """Answers without errors per second: a refusal answered fast is no throughput."""

        return (self.requests - self.bad_answers) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "rps": self.rps}


def _lua(value: str) -> str:
    """A Lua string literal: JSON's escapes are Lua's for printable ASCII (not its ``\\u`` escapes)."""

    if not (value.isascii() and value.isprintable()):
        raise ValueError(f"not printable ASCII, which the wrk script cannot quote: {value!r}")
    return json.dumps(value)


def script_text(bodies: Path, path: str, headers: dict[str, str]) -> str:
    """The Lua script for POSTs to ``path`` of each line of ``bodies`` in turn, with ``headers``."""

    all_headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
    lines = "\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in all_headers.items())
    return SCRIPT % {"bodies": _lua(str(bodies)), "path": _lua(path), "headers": lines}


def parse(stdout: str) -> LoadResult:
    """The ``FLOOR`` line of wrk's output."""

    line = next((line for line in stdout.splitlines() if line.startswith("FLOOR ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no FLOOR line:\n{stdout}")
    seconds, p50, p99, requests, bad, sockets = line.split()[1:]
    codes: dict[str, int] = {}
    for code_line in stdout.splitlines():
        if code_line.startswith("FLOOR_CODE "):
            _, code, n = code_line.split()
            codes[code] = codes.get(code, 0) + int(n)
    return LoadResult(float(seconds), float(p50), float(p99), int(requests), int(bad), int(sockets), codes)


def run(url: str, script: Path, *, concurrency: int, seconds: float) -> LoadResult:
    """``wrk`` against ``url`` with ``script`` for ``seconds`` (whole seconds, at least 1)."""

    threads = min(2, concurrency)
    out = subprocess.run(
        [WRK, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", f"--timeout={TIMEOUT_S}s",
         "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    return parse(out)
