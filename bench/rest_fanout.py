"""REST fan-out: two queries whose cost is the number of calls a REST source needs, before and after.

``python -m bench.rest_fanout`` serves, in one run, the demo as ``satudata demo`` does (SQLite
registry and education databases at ``--scale``, the Dinkes and Sepeda Keren demo APIs as their
own processes, ``satudata serve`` with the demo's access policy) and times, one request after
another on one keep-alive client:

- **programmes**: the facilitator's ``programmes(first: 100) { edges { node { participantCount
  participants(first: 1) { totalCount } } } }`` (Sepeda Keren has no batch endpoint: a call per
  class and per participant, and per session too with ``--without-recap``, which maps the API as
  one without the class recap);
- **case_reports**: ``region(code: "35.03") { caseReports(year: 2026) { … facility { code } region
  { code } } }`` (thousands of SKDR lines, paged by the health office's API).

With ``--compare ROOT`` the same runs from another checkout (its gateway, its demo APIs and its
config), e.g. an older commit in a ``git worktree``, with ``--compare-python`` (a venv of its own
when its dependencies differ); both are up at once and their requests alternate, so a busy
machine slows both alike. The report gives median, min and max latency,
the answers' errors (by code) and whether both checkouts answered alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .server import REPO_ROOT, GatewayProcess, free_port

OUT_DIR = Path(__file__).resolve().parent / "out" / "rest-fanout"

PROGRAMMES = """{ programmes(first: 100) { edges { node { code participantCount participants(first: 1) { totalCount } } } } }"""
CASE_REPORTS = """{ region(code: "35.03") { caseReports(year: 2026) { week disease cases facility { code } region { code } } } }"""

#: (query, API key, purpose): the demo credentials published in the README.
QUERIES: dict[str, tuple[str, str, str]] = {
    "programmes": (PROGRAMMES, "sd_demo_sepeda_dueSoFI-y3VrkQ2XNTIpVEYZ", "pendampingan-program"),
    "case_reports": (CASE_REPORTS, "sd_demo_analyst_YDiFdlTho_SqEPA7a0Jegjn-", "statistik"),
}

#: The demo APIs the two queries read, by ``python -m demo.apis`` name.
APIS = ("dinkes", "sepeda-keren")

CONFIG_SCRIPT = """
import sys
from pathlib import Path
from demo.gateway_config import write_demo_config
print(write_demo_config(Path(sys.argv[1]), dinkes_url=sys.argv[2], sepeda_keren_url=sys.argv[3]))
"""


@dataclass(frozen=True)
class Checkout:
    """A tree to measure and the interpreter (venv) that runs it."""

    label: str
    root: Path
    python: str


class CheckoutGateway(GatewayProcess):
    """``python -m gateway.cli serve`` of a checkout, with that checkout's interpreter."""

    def __init__(self, checkout: Checkout, config: Path, log_path: Path) -> None:
        super().__init__(config, log_path, root=checkout.root)
        self.python = checkout.python

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [self.python, "-m", "gateway.cli", "serve", "--config", str(self.config), "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


@dataclass
class Runs:
    """What one checkout answered for one query."""

    seconds: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    answers: set[str] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)
    source_ms: list[float] = field(default_factory=list)

    def row(self) -> str:
        s = self.seconds
        failed = sum(self.errors.values())
        codes = ", ".join(f"{c} x{n}" for c, n in self.errors.most_common()) or "-"
        calls = f"{statistics.median(self.calls):.0f}" if self.calls else "?"
        source_s = statistics.median(self.source_ms) / 1000 if self.source_ms else 0.0
        return (
            f"median {statistics.median(s):6.3f} s  min {min(s):6.3f}  max {max(s):6.3f}  n {len(s)}  "
            f"failed {failed}  source fetches {calls} ({source_s:.3f} s)  errors: {codes}"
        )


@contextmanager
def demo_apis(checkout: Checkout, scale: float, seed: int, log_dir: Path, names: tuple[str, ...] = APIS) -> Iterator[dict[str, str]]:
    """The demo APIs ``names`` (``python -m demo.apis`` names) of ``checkout`` on free ports, until the block ends."""

    processes: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    try:
        for name in names:
            port = free_port()
            log = (log_dir / f"api-{name}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [checkout.python, "-m", "demo.apis", name, "--port", str(port), "--scale", str(scale), "--seed", str(seed)],
                    cwd=checkout.root,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
            log.close()
            urls[name] = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        for name, url in urls.items():
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"demo API {name} of {checkout.root} did not start; see {log_dir}")
                time.sleep(0.3)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


#: Sepeda Keren's attendance mapping with the class recap, and as an API without one maps it.
RECAP = 'list_lookup = { session = "/v1/sessions/{value}/attendance", programme = "/v1/cohorts/{value}/attendance" }'
NO_RECAP = (
    'list_lookup = { session = "/v1/sessions/{value}/attendance" }\n'
    'through = { programme = { entity = "ProgrammeSession", link = "programme", key = "code", field = "session" } }'
)


def gateway_config(checkout: Checkout, data_dir: Path, work_dir: Path, urls: dict[str, str], *, recap: bool = True) -> Path:
    """The demo config as ``checkout`` writes it, in ``work_dir`` beside links to the databases."""

    work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("dispendukcapil.sqlite", "dinas-pendidikan.sqlite", "ground-truth.json"):
        link = work_dir / name
        if not link.exists():
            link.symlink_to(data_dir / name)
    out = subprocess.run(
        [checkout.python, "-c", CONFIG_SCRIPT, str(work_dir), urls["dinkes"], urls["sepeda-keren"]],
        cwd=checkout.root,
        check=True,
        capture_output=True,
        text=True,
    )
    config = Path(out.stdout.strip().splitlines()[-1])
    # The whole year of SKDR lines is over the default cost budget (its estimate assumes the
    # regency's busiest week every week); the bench asks for it anyway, as the brief's query does.
    text = config.read_text(encoding="utf-8").replace("[limits]\n", "[limits]\nmax_cost = 1000000\n", 1)
    if "source_trace" in (checkout.root / "gateway" / "config_schema.py").read_text(encoding="utf-8"):
        # The bench reads each answer's source trace (calls per source) as the demo's facilitator and
        # analyst, who are no operators: a development gateway gives it to everyone.
        text = text.replace("[gateway]\n", '[gateway]\nsource_trace = "everyone"\n', 1)
    if not recap:
        if RECAP not in text:
            raise SystemExit(f"--without-recap: {checkout.root} maps no class recap")
        text = text.replace(RECAP, NO_RECAP)
    config.write_text(text, encoding="utf-8")
    return config


async def ask(client: httpx.AsyncClient, name: str) -> tuple[float, dict[str, Any]]:
    query, key, purpose = QUERIES[name]
    headers = {"x-api-key": key, "x-satudata-purpose": purpose, "x-satudata-trace": "sources"}
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    return time.perf_counter() - started, response.json()


def record(runs: Runs, seconds: float, body: dict[str, Any]) -> None:
    runs.seconds.append(seconds)
    for error in body.get("errors") or ():
        runs.errors[(error.get("extensions") or {}).get("code", "?")] += 1
    sources = (body.get("extensions") or {}).get("sources") or {}
    runs.calls.append(sum(s.get("calls", 0) for s in sources.values()))
    runs.source_ms.append(sum(s.get("ms", 0.0) for s in sources.values()))
    if not body.get("errors"):
        runs.answers.add(json.dumps(body.get("data"), sort_keys=True))


async def measure(gateways: dict[str, str], queries: list[str], requests: int, warmup: int) -> dict[str, dict[str, Runs]]:
    results = {label: {q: Runs() for q in queries} for label in gateways}
    clients = {label: httpx.AsyncClient(base_url=url, timeout=60) for label, url in gateways.items()}
    try:
        for q in queries:
            for _ in range(warmup):
                for label, client in clients.items():
                    await ask(client, q)
            for _ in range(requests):
                for label, client in clients.items():
                    seconds, body = await ask(client, q)
                    record(results[label][q], seconds, body)
    finally:
        for client in clients.values():
            await client.aclose()
    return results


async def main_async(args: argparse.Namespace) -> int:
    from demo import ensure_sqlite_demo

    data_dir = (OUT_DIR / f"data-{args.scale}").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_sqlite_demo(data_dir, scale=args.scale, seed=args.seed)
    checkouts = [Checkout("this", REPO_ROOT, sys.executable)]
    if args.compare:
        checkouts.append(Checkout("compare", args.compare.resolve(), args.compare_python or sys.executable))
    queries = args.queries.split(",")
    with ExitStack() as stack:
        gateways: dict[str, str] = {}
        processes: list[GatewayProcess] = []
        for checkout in checkouts:
            log_dir = OUT_DIR / checkout.label
            log_dir.mkdir(parents=True, exist_ok=True)
            urls = stack.enter_context(demo_apis(checkout, args.scale, args.seed, log_dir))
            config = gateway_config(checkout, data_dir, log_dir / "work", urls, recap=not (args.without_recap and checkout.label == "this"))
            process = CheckoutGateway(checkout, config, log_dir / "gateway.log")
            processes.append(process)
            await process.__aenter__()
            gateways[checkout.label] = process.base_url
        try:
            results = await measure(gateways, queries, args.requests, args.warmup)
        finally:
            for process in processes:
                process.stop()
    for q in queries:
        print(q)
        for checkout in checkouts:
            print(f"  {checkout.label:8} {results[checkout.label][q].row()}   ({checkout.root})")
        if len(checkouts) == 2:
            a, b = (results[c.label][q].answers for c in checkouts)
            print(f"  answers alike: {a == b and len(a) == 1} ({len(a)} and {len(b)} distinct error-free answers)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rest_fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="dataset scale, as satudata demo (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=3503)
    parser.add_argument("--requests", type=int, default=12, help="timed requests per query and checkout (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests first (default: %(default)s)")
    parser.add_argument("--queries", default=",".join(QUERIES), help="comma-separated: programmes, case_reports")
    parser.add_argument("--compare", type=Path, help="another checkout (e.g. a git worktree of an older commit)")
    parser.add_argument("--compare-python", help="the interpreter of --compare's venv (default: this one)")
    parser.add_argument(
        "--without-recap", action="store_true",
        help="map this checkout's Sepeda Keren as an API without the class recap (through its sessions)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
