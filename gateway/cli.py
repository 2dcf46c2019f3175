"""The ``satudata`` command: ``demo``, ``serve --config FILE [--workers N] [--pid-file F]``, ``config check``, ``reload``, ``export-schema``, ``keygen-client``, ``audit``."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core import ConfigError

from .logs import LEVEL_ENV

if TYPE_CHECKING:
    from .access.audit import AuditEntry, VerifyResult

DEFAULT_DATA_DIR = Path(".data/demo")


def main(argv: Sequence[str] | None = None) -> int:
    from .version import package_version

    parser = argparse.ArgumentParser(prog="satudata", description="Satu Data Trenggalek GraphQL gateway.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate the demo OPD databases if missing and serve the gateway on them")
    demo.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where the demo databases live (default: %(default)s)")
    demo.add_argument("--scale", type=float, default=0.1, help="1.0 is Trenggalek's real size (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=3503, help="random seed of the generator (default: %(default)s)")
    demo.add_argument(
        "--changes-per-minute",
        type=float,
        default=20.0,
        help="births, deaths, moves and corrections the registry simulator writes a minute, for the "
        "residentChanges subscription; 0 turns it off (default: %(default)s)",
    )
    _server_options(demo)

    serve = commands.add_parser("serve", help="serve the gateway from a config file")
    serve.add_argument("--config", type=Path, required=True, help="the gateway's TOML config")
    _server_options(serve)
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        help="processes accepting on the one socket (default: %(default)s); more than one needs shared state "
        "(Redis, a cursor key): see the README, 'Running on every core'",
    )
    serve.add_argument("--pid-file", type=Path, help="write the server's process id here, for `satudata reload`")

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, help="write to this file instead of standard output")

    schema_cmd = commands.add_parser("schema", help="check the schema the code builds against the published one")
    schema_check = schema_cmd.add_subparsers(dest="schema_command", required=True).add_parser(
        "check", help="breaking and dangerous changes; exit 1 on a breaking change the changelog does not acknowledge"
    )
    schema_check.add_argument("--against", type=Path, default=Path("schema.graphql"), help="the published SDL (default: schema.graphql)")
    schema_check.add_argument("--against-ref", metavar="REF", help="read --against as it is at this git revision (e.g. origin/main)")
    schema_check.add_argument("--changelog", type=Path, default=Path("CHANGELOG.md"), help="where breaking changes are acknowledged")

    config_cmd = commands.add_parser("config", help="check a config file without serving it")
    config_check = config_cmd.add_subparsers(dest="config_command", required=True).add_parser(
        "check", help="print OK (exit 0) or every problem of the file (exit 2)"
    )
    config_check.add_argument("file", type=Path, help="the gateway's TOML config")

    reload = commands.add_parser("reload", help="make a running gateway re-read its config (SIGHUP); a bad one is refused")
    reload.add_argument("--pid-file", type=Path, help="the pid file the gateway was started with (serve --pid-file)")
    reload.add_argument("--pid", type=int, help="or the gateway's process id")
    reload.add_argument("--config", type=Path, help="check this file first, and do not signal if it has a problem")

    keygen = commands.add_parser("keygen-client", help="make an API key for a new client, and its [[clients]] entry")
    keygen.add_argument("--role", required=True, help="the client's role")
    keygen.add_argument("--id", dest="client_id", help="the client's id (default: ROLE plus a random suffix)")

    commands.add_parser(
        "keygen-secret",
        help="make a random key for [gateway] cursor_key or [audit] subject_key (the same on every replica)",
    )

    audit = commands.add_parser("audit", help="check the audit log, or list who saw a person's data")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check the hash chain: exit 0 if intact, 1 if not")
    verify.add_argument("--config", type=Path, required=True, help="the gateway's TOML config (its [audit] table)")
    person = audit_commands.add_parser("person", help="who accessed this person's data, when, why, which fields")
    person.add_argument("nik", help="the person's NIK")
    person.add_argument("--config", type=Path, required=True, help="the gateway's TOML config (its [audit] table)")
    person.add_argument("--json", action="store_true", help="print JSON instead of a table")

    args = parser.parse_args(argv)
    if getattr(args, "log_level", None):
        os.environ[LEVEL_ENV] = args.log_level  # wins over [logging] level; worker processes inherit it
    configure_logging()
    try:
        if args.command == "export-schema":
            return _export_schema(args.output)
        if args.command == "schema":
            from .schema_check import run_check

            return run_check(args.against, args.changelog, args.against_ref)
        if args.command in ("config", "reload"):
            from . import config_commands

            if args.command == "config":
                return config_commands.config_check(args.file)
            return config_commands.reload(args.pid_file, args.pid, args.config)
        if args.command == "keygen-client":
            return _keygen_client(args.role, args.client_id)
        if args.command == "keygen-secret":
            return _keygen_secret()
        if args.command == "audit":
            return _audit(args)
        if args.command == "demo":
            return _demo(args.data_dir, args.scale, args.seed, args.host, args.port, args.changes_per_minute)
        return _serve(args.config, args.host, args.port, workers=args.workers, pid_file=args.pid_file)
    except ConfigError as exc:
        print(f"satudata: configuration error: {exc.message}", file=sys.stderr)
        return 2


def configure_logging() -> None:
    """The gateway's log format and level (``gateway.logs``: the environment, as ``--log-level`` and
    ``[logging]`` set it), and client loggers kept quiet; in the parent and in each worker."""

    from .logs import configure_logging as configure

    configure()


def _worker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of processes, at least 1, not {text!r}")
    return value


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="write log lines from this level up (default: [logging] level in the config, else info)",
    )


def _export_schema(output: Path | None) -> int:
    from resolvers import schema

    sdl = schema.as_str() + "\n"
    if output is None:
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl, encoding="utf-8")
    return 0


def _demo(data_dir: Path, scale: float, seed: int, host: str, port: int, changes_per_minute: float = 0.0) -> int:
    """Generate the OPD databases if missing, start the API-only OPDs as their own processes, start
    the registry change simulator (``demo.changes``) unless ``changes_per_minute`` is 0, serve."""

    import asyncio
    import tomllib

    from demo import ensure_sqlite_demo
    from demo.access_config import credentials_banner
    from demo.changes import ensure_attendance_register, ensure_mutation_table
    from demo.gateway_config import write_demo_config
    from demo.services import api_ports, running_apis

    from .private_files import ensure_private_dir

    # 0700: it holds the OPDs' databases and the audit log (the gateway warned of its own folder at start).
    ensure_private_dir(data_dir, narrow=True)
    registry_url, education_url = ensure_sqlite_demo(data_dir, scale=scale, seed=seed)
    # SIAK keeps its mutasi records whether or not the simulator writes any: the change capture reads them.
    asyncio.run(ensure_mutation_table(registry_url))
    asyncio.run(ensure_attendance_register(education_url))  # Dapodik's daily register, likewise
    if changes_per_minute > 0:
        _start_change_simulator(registry_url, changes_per_minute)
        _start_attendance_simulator(education_url, changes_per_minute / 4)
    ports = api_ports(port)
    with running_apis(ports, scale=scale, seed=seed, log_dir=data_dir) as urls:
        config = write_demo_config(
            data_dir,
            dinkes_url=urls["dinkes"],
            sepeda_keren_url=urls["sepeda-keren"],
            lapor_url=urls["lapor"],
            jkn_url=urls["jkn"],
        )
        print(f"satudata: demo data in {data_dir.resolve()}; config written to {config.resolve()}", file=sys.stderr)
        for name, url in urls.items():
            if name == "jkn":
                print(f"satudata: neighbouring portal {name} (GraphQL subgraph) at {url}/graphql", file=sys.stderr)
            else:
                print(f"satudata: demo OPD API {name} at {url} (OpenAPI: {url}/openapi.json)", file=sys.stderr)
        print(credentials_banner(tomllib.loads(config.read_text(encoding="utf-8")).get("clients", [])), file=sys.stderr)
        return _serve(config, host, port)


def _start_change_simulator(registry_url: str, per_minute: float) -> None:
    """The simulator writes into the demo registry from a thread of its own, with its own event loop,
    as SIAK's own system would beside the gateway; it ends with the process."""

    import asyncio
    import threading

    from demo.changes import run_simulator

    threading.Thread(
        target=lambda: asyncio.run(run_simulator(registry_url, per_minute)), name="registry change simulator", daemon=True
    ).start()
    print(f"satudata: the registry change simulator writes about {per_minute:g} events a minute "
          "(births, deaths, moves, corrections; --changes-per-minute 0 turns it off)", file=sys.stderr)


def _start_attendance_simulator(education_url: str, per_minute: float) -> None:
    """Schools' days recorded into the demo's Dapodik (``demo.changes.AttendanceSimulator``), now and then an
    outbreak, so that ``absenceAlertRaised`` raises alerts live; from a thread of its own, like the registry's."""

    import asyncio
    import threading

    from demo.changes import run_attendance_simulator

    threading.Thread(
        target=lambda: asyncio.run(run_attendance_simulator(education_url, per_minute)), name="attendance simulator", daemon=True
    ).start()
    print(f"satudata: the attendance simulator records about {per_minute:g} school days a minute, now and then an "
          "outbreak (absenceAlertRaised)", file=sys.stderr)


def _serve(config: Path, host: str, port: int, *, workers: int = 1, pid_file: Path | None = None) -> int:
    import uvicorn

    from .app import create_app
    from .logs import configure_logging_from
    from .reload import ReloadableGateway
    from .server import server_config, tune_garbage_collector
    from .settings import GatewaySettings

    settings = GatewaySettings.from_file(config)
    log_level = configure_logging_from(settings.raw.get("logging"))
    banner = f"satudata: GraphQL at http://{host}:{port}/graphql (open it in a browser for GraphiQL)"
    if workers > 1:
        from .workers import serve_workers

        with _pid_file(pid_file):
            return serve_workers(settings, host=host, port=port, workers=workers, ready=banner, config_path=config)
    app = ReloadableGateway(config, settings, create_app)  # SIGHUP: a new runtime from the file (gateway.reload)
    tune_garbage_collector()
    print(banner, file=sys.stderr)
    with _pid_file(pid_file):
        uvicorn.Server(server_config(app, settings, host=host, port=port, log_level=log_level, log_config=None)).run()
    return 0


@contextlib.contextmanager
def _pid_file(path: Path | None) -> Iterator[None]:
    from .config_commands import remove_pid_file, write_pid_file

    if path is None:
        yield
        return
    write_pid_file(path)
    # uvicorn ends by re-raising the SIGTERM it caught; with the default action the process would
    # die before removing the pid file, so the signal ends it through this block instead.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        remove_pid_file(path)


def _keygen_client(role: str, client_id: str | None) -> int:
    import json
    import secrets

    from .access.auth import new_api_key

    key, digest = new_api_key()
    client_id = client_id or f"{role}-{secrets.token_hex(3)}"
    print(
        f"satudata: the first line is {client_id}'s API key: give it to the client now, it is stored nowhere. "
        "Paste the [[clients]] entry into the gateway config.",
        file=sys.stderr,
    )
    print(key)
    # json.dumps writes a valid TOML basic string for any id or role.
    print(f"\n[[clients]]\nid = {json.dumps(client_id)}\nrole = {json.dumps(role)}\nkey_sha256 = \"{digest}\"")
    return 0


def _keygen_secret() -> int:
    import secrets

    print(
        "satudata: the line below is a random 256-bit key; keep it secret. Use it as [gateway] cursor_key "
        "or [audit] subject_key (one key each, the same on every replica), best through the environment: "
        'cursor_key = "env:SATUDATA_CURSOR_KEY", subject_key = "env:SATUDATA_AUDIT_SUBJECT_KEY".',
        file=sys.stderr,
    )
    print(secrets.token_urlsafe(32))  # 256 bits, base64url: what CursorSeal.from_text reads
    return 0


def _audit(args: argparse.Namespace) -> int:
    """``audit verify``: 0 intact, 1 tampered. ``audit person``: 0. Either: 2 if the log cannot be read."""

    import asyncio
    import tomllib

    from .access.audit import AuditLog, AuditUnavailable

    try:
        raw = tomllib.loads(args.config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {args.config} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {args.config} is not valid TOML: {exc}") from exc
    audit_log = AuditLog.from_settings(raw, base_dir=args.config.parent.resolve())

    async def run() -> int:
        try:
            if args.audit_command == "verify":
                return _print_verify(await audit_log.verify(), audit_log.where)
            return _print_person(args.nik, await audit_log.for_person(args.nik), as_json=args.json)
        finally:
            await audit_log.aclose()

    try:
        return asyncio.run(run())
    except AuditUnavailable as exc:
        print(f"satudata: {exc.message}", file=sys.stderr)
        return 2


def _print_verify(result: VerifyResult, where: str) -> int:
    anchor = (
        f"; reaches checkpoint seq {result.checkpoint.seq} of {result.checkpoint.time.isoformat(timespec='seconds')}"
        if result.checkpoint is not None
        else "; no checkpoint to compare with"
    )
    if result.problem is None:
        print(f"audit log intact: {result.entries} entries, head seq {result.head_seq}, "
              f"hash {result.head_hash}{anchor} ({where})")
        return 0
    p = result.problem
    print(
        f"audit log NOT intact: entry {p.seq} {p.kind.replace('_', ' ')}: {p.detail} "
        f"({result.entries} entries before it verify; {where})",
        file=sys.stderr,
    )
    return 1


def _print_person(nik: str, entries: Sequence[AuditEntry], *, as_json: bool) -> int:
    import json

    rows = [
        {
            "seq": e.seq,
            "time": e.record.time.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "client": e.record.client_id,
            "role": e.record.role,
            "purpose": e.record.purpose,
            "operation": e.record.operation,
            "fields": list(e.record.fields),
            "masked": list(e.record.masked),
            "refused": list(e.record.refused),
            "outcome": e.record.outcome,
            "requestId": e.record.request_id,
        }
        for e in entries
    ]
    if as_json:
        print(json.dumps({"nik": nik, "accesses": rows}, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no recorded access to the data of NIK {nik}")
        return 0
    columns = ("seq", "time", "client", "role", "purpose", "operation", "outcome", "fields", "masked")
    lists = {"fields", "masked"}
    cells = [[", ".join(r[c]) or "-" if c in lists else str(r[c] or "-") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print(f"{len(rows)} recorded access(es) to the data of NIK {nik}:")
    for line in [list(columns), *cells]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
