"""``python -m bench --subscribers N``: N concurrent subscribers of one gateway process (issue 11).

One gateway (``python -m gateway.cli serve``, ``bench.server.GatewayProcess``) in front of the
civil registry on PostgreSQL, with the demo policy and audit log (the audit on PostgreSQL too,
as a deployment would keep it), and the registry's change capture woken by the OPD's trigger
(``kind = "notify"``, ``docs/sql/notify_trigger.sql``). N WebSocket subscribers speak
graphql-transport-ws from processes of this module (``client`` mode, 1,250 sockets each at most),
each subscribed to ``residentChanges(region: "35.03") { kind at person { nik name } }`` as the
registry officer (personal data: every delivered event is audited). ``--groups G`` distinct
documents (operation ``G0`` ... ``G{G-1}``, subscriber ``i`` takes ``G{i mod G}``) make G
groups: the gateway resolves each change once per group and fans it out.

A writer updates one resident every ``1 / --changes-per-s`` seconds, as SIAK would (the row's
``tgl_update`` and a ``mutasi`` line, one transaction); the region is the whole regency, so each
change reaches every subscriber: at 1 change/s every subscriber gets an event every second.

``--steps 1000,2500,5000`` measures each size on the way (new client processes join for each
step) and stops at the first size that does not complete: fewer than 99 % of the events owed
arrived, or a subscription was ended (``SUBSCRIBER_TOO_SLOW``). So one run finds the largest
size this machine carries. Per size, over ``--duration`` seconds once every subscriber has
received a first event:
events delivered per second (and how many of those owed arrived), delivery latency from the
source write (the event's ``at``, which is the ``tgl_update`` written) to the client's receipt,
p50 and p99; the gateway's RSS before any subscriber and with all of them, per subscriber; the
gateway's CPU time per second of the window. Results go to ``bench/out/subscribers.json`` and
are printed as a table; RESULTS.md is left alone.

Its own databases: ``satudata_bench_subscribers_registry`` (the demo registry at ``--scale``,
reloaded each run, small: the subject is fan-out, not data size) and
``satudata_bench_subscribers_audit``; the education office is a SQLite file in ``bench/out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .floor_servers import cpu_seconds
from .measure import percentile

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
REPO_ROOT = BENCH_DIR.parent
PROTOCOL = "graphql-transport-ws"
REGISTRY_DB = "satudata_bench_subscribers_registry"
AUDIT_DB = "satudata_bench_subscribers_audit"
REGION = "35.03"
WIB = ZoneInfo("Asia/Jakarta")
#: Subscribers one client process drives (a process reads ~1,000 small messages a second easily).
PER_CLIENT_PROCESS = 1250
_OCCUPATIONS = ("PETANI/PEKEBUN", "WIRASWASTA", "KARYAWAN SWASTA", "PEDAGANG", "BURUH HARIAN LEPAS", "GURU")


def document(group: int) -> str:
    """The subscription of group ``group``: the same selection under its own operation name."""

    return f'subscription G{group} {{ residentChanges(region: "{REGION}") {{ kind at person {{ nik name }} }} }}'


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench --subscribers", description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=5000, help="concurrent subscribers at the end (default: %(default)s)")
    p.add_argument("--steps", default=None, help="comma-separated sizes to measure on the way, e.g. 1000,2500,5000; "
                   "the run stops at the first that does not complete (default: --subscribers alone)")
    p.add_argument("--grace-s", type=float, default=10.0, help="after a window, seconds late deliveries still count")
    p.add_argument("--groups", type=int, default=50, help="distinct documents, i.e. groups (default: %(default)s)")
    p.add_argument("--changes-per-s", type=float, default=1.0, help="resident changes written a second (default: %(default)s)")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds (default: %(default)s)")
    p.add_argument("--scale", type=float, default=0.02, help="demo registry scale (default: %(default)s)")
    p.add_argument("--seed", type=int, default=3503)
    p.add_argument("--deflate", action="store_true", help="clients offer permessage-deflate (as browsers do)")
    p.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    p.add_argument("--connect-timeout-s", type=float, default=300.0, help="for all subscribers to get a first event")
    args, _ = p.parse_known_args(argv)
    if args.subscribers < 1 or args.groups < 1 or args.changes_per_s <= 0:
        p.error("--subscribers, --groups and --changes-per-s must be positive")
    args.steps = sorted({int(n) for n in args.steps.split(",")} | {args.subscribers}) if args.steps else [args.subscribers]
    args.steps = [n for n in args.steps if 0 < n <= args.subscribers]
    return args


def log(message: str) -> None:
    print(f"[bench subscribers {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- the sources -------------------------------------------------------------------------------


def _url(postgres: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(postgres).set(database=database).render_as_string(hide_password=False)


async def recreate_database(url: str) -> None:
    """Drop (closing its connections) and create a ``satudata_bench_*`` PostgreSQL database."""

    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = make_url(url).database or ""
    assert name.startswith("satudata_bench_"), name
    admin = create_async_engine(make_url(url).set(database="postgres").render_as_string(hide_password=False),
                                isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


async def prepare_sources(args: argparse.Namespace) -> tuple[str, str, str]:
    """(registry URL, education URL, audit URL): loaded, with ``mutasi`` and the notify trigger."""

    import asyncpg
    from sqlalchemy.engine import make_url

    import demo
    from demo.changes import ensure_mutation_table

    registry = _url(args.postgres, REGISTRY_DB)
    audit = _url(args.postgres, AUDIT_DB)
    education_file = OUT_DIR / "subscribers-education.sqlite"
    education_file.unlink(missing_ok=True)
    education = f"sqlite+aiosqlite:///{education_file}"
    await recreate_database(registry)
    await recreate_database(audit)
    dataset = demo.build_dataset(scale=args.scale, seed=args.seed)
    await demo.load_dataset(dataset, registry_url=registry, education_url=education)
    await ensure_mutation_table(registry)
    # The OPD's DBA runs the shipped trigger (several statements: asyncpg's simple protocol takes them).
    trigger = (REPO_ROOT / "docs" / "sql" / "notify_trigger.sql").read_text(encoding="utf-8")
    conn = await asyncpg.connect(make_url(registry).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(trigger)
    finally:
        await conn.close()
    return registry, education, audit


def gateway_config(registry: str, education: str, audit: str, subscribers: int) -> str:
    """The demo config with access and change capture, sized for ``subscribers`` sockets of one client."""

    from demo.gateway_config import render_config

    text = render_config(registry_url=registry, education_url=education, access=True, changes=True)
    replacements = {
        # Every socket is a connection: uvicorn answers 503 beyond max_concurrency.
        "[gateway]\n": f"[gateway]\nmax_concurrency = {subscribers * 2 + 256}\n",
        '[sources.siak.changes]\nkind = "poll"': '[sources.siak.changes]\nkind = "notify"',
        'path = "audit.sqlite"': f"url = {json.dumps(audit)}",
        # Every socket's connection_init and subscribe are a request of the one bench client.
        "requests_per_minute = 600\nburst = 100": f"requests_per_minute = {subscribers * 60}\nburst = {subscribers * 3}",
    }
    for old, new in replacements.items():
        if text.count(old) != 1:
            raise RuntimeError(f"the demo config changed: {old!r} is there {text.count(old)} times")
        text = text.replace(old, new)
    return text + f"\n[subscriptions]\nmax_per_client = {subscribers}\n"


class RegistryWriter:
    """Changes residents as SIAK does: ``pekerjaan`` and ``tgl_update``, and a ``mutasi`` line, per transaction."""

    def __init__(self, url: str, seed: int) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self.engine = create_async_engine(url)
        self.rng = random.Random(seed)
        self.residents: list[tuple[str, str]] = []
        self.written: list[float] = []

    async def load_residents(self, count: int = 2000) -> None:
        from demo.schema import penduduk
        from sqlalchemy import select

        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(penduduk.c.nik, penduduk.c.kode_wilayah).where(penduduk.c.status_penduduk == "HIDUP").limit(count)
            )
            self.residents = [(str(r[0]), str(r[1])) for r in rows]

    async def change(self) -> float:
        """Write one change; its time (epoch seconds), which is the ``tgl_update`` written."""

        from demo.changes import mutasi
        from demo.schema import penduduk

        nik, region = self.rng.choice(self.residents)
        now = time.time()
        wall = datetime.fromtimestamp(now, WIB).replace(tzinfo=None)  # SIAK's naive WIB wall clock
        async with self.engine.begin() as conn:
            await conn.execute(
                penduduk.update().where(penduduk.c.nik == nik).values(pekerjaan=self.rng.choice(_OCCUPATIONS), tgl_update=wall)
            )
            await conn.execute(mutasi.insert().values(nik=nik, jenis="PERBAIKAN", dari_wilayah=region, ke_wilayah=region, tgl_mutasi=wall))
        self.written.append(now)
        return now

    async def aclose(self) -> None:
        await self.engine.dispose()


# -- the gateway process -----------------------------------------------------------------------


def raise_open_files() -> int:
    """Open-file limit up to the hard limit (each socket is a descriptor, in the gateway and the clients)."""

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- the clients -------------------------------------------------------------------------------


class ClientProcess:
    """One ``client`` subprocess; it says ``subscribed`` and ``all_received``, then answers ``stop``."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.subscribers", "client", json.dumps(spec)],
            cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True,
        )
        self.count: int = spec["count"]
        self.state: dict[str, Any] = {}

    async def read_until(self, key: str, timeout_s: float) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while key not in self.state:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"client: no {key!r} within {timeout_s:.0f} s; last said {self.state}")
            line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), remaining)
            if not line:
                raise RuntimeError(f"client exited with {self.proc.wait()} before {key!r}; last said {self.state}")
            self.state.update(json.loads(line))

    async def window(self, window: tuple[float, float]) -> dict[str, Any]:
        """What this client's subscribers received of the changes written in ``window``."""

        assert self.proc.stdin is not None
        self.state.pop("result", None)
        self.proc.stdin.write(json.dumps({"window": window}) + "\n")
        self.proc.stdin.flush()
        await self.read_until("result", 120)
        return dict(self.state["result"])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def client_main(spec: dict[str, Any]) -> None:
    """``client`` mode: ``spec['count']`` sockets, each subscribed; latencies of the events in the window."""

    import orjson
    from websockets.asyncio.client import connect

    received: list[list[tuple[float, float]]] = [[] for _ in range(spec["count"])]
    ended: dict[str, int] = {}
    sockets: list[Any] = []
    waiting = asyncio.Event()
    missing = set(range(spec["count"]))

    def say(**what: Any) -> None:
        sys.stdout.write(json.dumps(what) + "\n")
        sys.stdout.flush()

    async def one(index: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            ws = await connect(spec["url"], subprotocols=[PROTOCOL], compression="deflate" if spec["deflate"] else None,  # type: ignore[list-item]
                               max_size=None, ping_interval=None, open_timeout=120)
            sockets.append(ws)
            await ws.send(orjson.dumps({"type": "connection_init", "payload": spec["headers"]}).decode())
            ack = orjson.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            query = document((spec["first"] + index) % spec["groups"])
            await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}).decode())
        mine = received[index]
        async for text in ws:
            now = time.time()
            message = orjson.loads(text)
            if message.get("type") != "next":
                kind = message.get("type", "?")
                if kind == "error":
                    kind = ",".join(e.get("extensions", {}).get("code", "?") for e in message.get("payload", []))
                ended[kind] = ended.get(kind, 0) + 1
                break
            at = message["payload"]["data"]["residentChanges"]["at"]
            mine.append((datetime.fromisoformat(at).timestamp(), now))
            if index in missing:
                missing.discard(index)
                if not missing:
                    waiting.set()
        else:
            ended["closed"] = ended.get("closed", 0) + 1
        missing.discard(index)  # ended before its first event: waited for no longer (and counted in ended)
        if not missing:
            waiting.set()

    gate = asyncio.Semaphore(50)
    tasks = [asyncio.create_task(one(i, gate)) for i in range(spec["count"])]
    while len(sockets) < spec["count"]:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        await asyncio.sleep(0.2)
    say(subscribed=len(sockets))
    await waiting.wait()
    say(all_received=True)
    while True:
        command = json.loads(await asyncio.to_thread(sys.stdin.readline) or '{"stop": true}')
        if command.get("stop"):
            break
        start, end = command["window"]
        latencies: list[float] = []
        counts: list[int] = []
        for events in received:
            inside = [(at, got) for at, got in events if start <= at < end]
            counts.append(len(inside))
            latencies.extend(round((got - at) * 1000, 2) for at, got in inside)
        say(result={"counts": counts, "latencies_ms": latencies, "ended": dict(ended)})
    for task in tasks:
        task.cancel()
    for ws in sockets:
        ws.transport.abort()


# -- the run -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from demo.access_config import demo_clients

    from .server import GatewayProcess

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    raise_open_files()
    log(f"loading the registry (scale {args.scale:g}) and the audit database")
    registry, education, audit = await prepare_sources(args)
    config = OUT_DIR / "gateway-subscribers.toml"
    for stale in ("changes.sqlite", "audit-checkpoint.json"):
        (OUT_DIR / stale).unlink(missing_ok=True)
    config.write_text(gateway_config(registry, education, audit, args.steps[-1]), encoding="utf-8")
    officer = next(c for c in demo_clients(None) if c.role == "registry_officer")
    headers = {"X-API-Key": officer.key, "X-Satudata-Purpose": officer.purpose}
    writer = RegistryWriter(registry, args.seed)
    await writer.load_residents()
    clients: list[ClientProcess] = []
    steps: list[dict[str, Any]] = []
    async with GatewayProcess(config, OUT_DIR / "gateway-subscribers.log") as gateway:
        try:
            await asyncio.sleep(2)  # the capture's first poll and LISTEN
            idle = gateway.memory_kb()["VmRSS"]
            log(f"gateway up (pid {gateway.pid}, RSS {idle / 1024:.0f} MiB); steps {args.steps}, {args.groups} groups")
            url = gateway.base_url.replace("http://", "ws://") + "/graphql"
            for target in args.steps:
                step = await measure_step(args, gateway, writer, clients, url, headers, target, idle)
                steps.append(step)
                log(f"{target} subscribers: {step['events_per_s']:.0f} events/s, {step['delivered_share'] * 100:.1f} % "
                    f"delivered, p50 {step['latency_ms']['p50']} ms, p99 {step['latency_ms']['p99']} ms")
                if not step["completed"]:
                    log(f"{target} subscribers did not complete (events missing or subscriptions ended): stopping here")
                    break
        finally:
            for c in clients:
                c.kill()
            await writer.aclose()
    done = [s for s in steps if s["completed"]]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: v for k, v in vars(args).items() if k != "postgres"},
        "rss_idle_kb": idle,
        "largest_completed": done[-1]["subscribers"] if done else None,
        "steps": steps,
    }


async def measure_step(
    args: argparse.Namespace, gateway: Any, writer: RegistryWriter, clients: list[ClientProcess], url: str,
    headers: dict[str, str], target: int, idle_kb: int,
) -> dict[str, Any]:
    """Grow to ``target`` subscribers (new client processes), then one measured window."""

    have = sum(c.count for c in clients)
    new: list[ClientProcess] = []
    while have < target:
        count = min(PER_CLIENT_PROCESS, target - have)
        new.append(ClientProcess({"url": url, "headers": headers, "count": count, "first": have,
                                  "groups": args.groups, "deflate": args.deflate}))
        have += count
    clients.extend(new)
    started = time.monotonic()
    for c in new:
        await c.read_until("subscribed", args.connect_timeout_s)
    log(f"{target} sockets subscribed ({time.monotonic() - started:.0f} s for the new ones); writing until each has an event")

    async def probe() -> None:
        while True:
            await writer.change()
            await asyncio.sleep(1.0)

    probing = asyncio.create_task(probe())
    try:
        for c in new:
            await c.read_until("all_received", args.connect_timeout_s)
    finally:
        probing.cancel()
    await asyncio.sleep(2.0)  # the probes' events delivered
    subscribed = gateway.memory_kb()["VmRSS"]
    log(f"every subscriber has had an event; RSS {subscribed / 1024:.0f} MiB; measuring {args.duration:.0f} s")
    cpu_before = cpu_seconds([gateway.pid])
    window_start = time.time()
    writes_before = len(writer.written)
    interval = 1.0 / args.changes_per_s
    next_at = time.monotonic()
    while time.time() < window_start + args.duration:
        await writer.change()
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    window_end = time.time()
    cpu = cpu_seconds([gateway.pid]) - cpu_before
    written = len(writer.written) - writes_before
    await asyncio.sleep(args.grace_s)  # late deliveries still count
    results = [await c.window((window_start, window_end)) for c in clients]
    latencies = [v for r in results for v in r["latencies_ms"]]
    counts = [n for r in results for n in r["counts"]]
    ended: dict[str, int] = {}
    for r in results:
        for kind, n in r["ended"].items():
            ended[kind] = ended.get(kind, 0) + n
    seconds = window_end - window_start
    owed = written * target
    return {
        "subscribers": target,
        "groups": args.groups,
        "changes_written": written,
        "window_s": round(seconds, 2),
        "events_owed": owed,
        "events_delivered": len(latencies),
        "events_per_s": round(len(latencies) / seconds, 1),
        "delivered_share": round(len(latencies) / owed, 4) if owed else 0.0,
        "subscribers_short": sum(1 for n in counts if n < written),
        "latency_ms": {
            "p50": percentile(latencies, 50) if latencies else None, "p99": percentile(latencies, 99) if latencies else None,
            "mean": round(statistics.fmean(latencies), 2) if latencies else None, "max": max(latencies, default=None),
        },
        "rss_kb": subscribed,
        "rss_per_subscriber_kb": round((subscribed - idle_kb) / target, 1),
        "gateway_cpu_s_per_s": round(cpu / seconds, 3),
        "ended": ended,
        "completed": owed > 0 and len(latencies) >= 0.99 * owed and not ended,
    }


def table(result: dict[str, Any]) -> str:
    """The steps as a Markdown table."""

    head = ("| subscribers | groups | changes | events/s delivered | delivered | p50 ms | p99 ms | gateway RSS | "
            "RSS per subscriber | gateway CPU s/s | ended |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for s in result["steps"]:
        lat = s["latency_ms"]
        ended = ", ".join(f"{k} {v}" for k, v in s["ended"].items()) or "none"
        lines.append(
            f"| {s['subscribers']} | {s['groups']} | {s['changes_written']} in {s['window_s']:.0f} s | {s['events_per_s']:.0f} | "
            f"{s['delivered_share'] * 100:.1f} % | {lat['p50']} | {lat['p99']} | {s['rss_kb'] / 1024:.0f} MiB | "
            f"{s['rss_per_subscriber_kb']:.1f} kB | {s['gateway_cpu_s_per_s']:.2f} | {ended} |"
        )
    lines.append(f"\nGateway RSS before any subscriber: {result['rss_idle_kb'] / 1024:.0f} MiB; "
                 f"largest size completed: {result['largest_completed']}.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["client"]:
        asyncio.run(client_main(json.loads(argv[1])))
        return 0
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the gateway and clients stopped on the way out
    result = asyncio.run(run(args))
    (OUT_DIR / "subscribers.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(table(result))
    log(f"wrote {OUT_DIR / 'subscribers.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
