"""``satudata serve --workers N``: N gateway processes accepting on one socket, and what must be shared first.

The parent reads the config, builds the app once to find any configuration error (reported
once, exit code 2, before a process is started), refuses state that would differ between
workers (``check_shared_state``), binds the socket, and supervises N spawned workers that
each build their own app (``worker_app``) and serve the socket through ``gateway.server``,
with its strict parser, head deadline and concurrency limit (all carried by the pickled
``GatewayServerConfig``). The supervisor is uvicorn's own (``WorkerSupervisor``): a worker
that dies is replaced, SIGTERM or SIGINT lets every worker finish its requests and stops
them, SIGHUP reloads the config: the supervisor checks the file once and, if it is good, each
worker swaps in a runtime built from it (``gateway.reload``). A worker whose start-up fails (a source it cannot
reach) stops them all, with uvicorn's start-up failure code 3, as one process does.

What each worker keeps in its own memory, and what was decided for N > 1:

=====================================  ========================================================
state                                  with several workers
=====================================  ========================================================
paging cursor key                      refused without ``[gateway] cursor_key``: a cursor
                                       sealed by one worker would not open on another
rate-limit buckets (``[ratelimit]``)   refused without ``redis_url``: each worker would grant
                                       the whole rate
lookup budget (``[policy.lookups]``)   refused without ``redis_url``, and without ``[audit]
                                       subject_key`` (the workers must digest keys alike, or a
                                       person looked up again on another worker counts again)
audit log (``[audit]``)                refused when in memory (a chain per worker, lost at
                                       exit); a SQLite file or PostgreSQL is shared: appends
                                       are serialised by the database (``gateway.access.audit.log``)
audit checkpoint                       shared: every store keeps the highest seq written
metrics                                one directory for all workers (``gateway.metrics``)
circuit breakers, ``max_concurrency``, per worker, by design: each guards its own event loop
heavy-query slots, connection pools    and connections (so N times each, in all)
JWKS keys, persisted-query documents   per-worker caches: a miss costs a fetch or a retry
=====================================  ========================================================
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from socket import socket
from typing import Any

from prometheus_client.multiprocess import mark_process_dead
from sqlalchemy.engine import make_url
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from core import ConfigError

from .access.audit import AuditSettings
from .app import create_app
from .metrics import MULTIPROC_DIR_ENV
from .reload import ReloadableGateway
from .server import GatewayServerConfig, server_config, tune_garbage_collector
from .settings import GatewaySettings

log = logging.getLogger("satudata.gateway.workers")

#: How long a worker may take to start, and to answer the supervisor's health check.
WORKER_READY_S = 30


def check_shared_state(settings: GatewaySettings, workers: int) -> None:
    """Refuse, with one ``ConfigError`` naming every key and its fix, a config whose answers or
    guarantees would differ from worker to worker. One worker needs nothing shared."""

    if workers <= 1:
        return
    raw = settings.raw
    problems = [
        problem
        for problem in (
            _cursor_key(settings),
            _rate_limits(raw),
            *_lookup_budget(raw),
            _audit_log(raw, settings.base_dir),
            _change_capture(raw),
        )
        if problem is not None
    ]
    if problems:
        listed = "".join(f"\n  - {p}" for p in problems)
        raise ConfigError(
            f"--workers {workers} runs {workers} processes that share no memory, and this config keeps state "
            f"in each:{listed}\n(or serve with --workers 1)"
        )


def _cursor_key(settings: GatewaySettings) -> str | None:
    if settings.cursor_key is not None:
        return None
    return (
        "[gateway] cursor_key is not set: each worker would seal paging cursors with a random key of its own, so "
        "the next page, answered by another worker, would refuse the cursor; set cursor_key = "
        '"env:SATUDATA_CURSOR_KEY" with a key made by `satudata keygen-secret`'
    )


def _change_capture(raw: Mapping[str, Any]) -> str | None:
    capturing = sorted(name for name, source in raw.get("sources", {}).items() if source.get("changes"))
    if not capturing or raw.get("events", {}).get("nats_url"):
        return None
    return (
        f"sources {', '.join(capturing)} declare [sources.NAME.changes] but [events] has no nats_url: each worker "
        "would poll them on its own, over one stored position, and tell only its own subscribers; set nats_url = "
        '"env:NATS_URL" (nats://host:4222) so one worker polls and every worker delivers'
    )


def _rate_limits(raw: Mapping[str, Any]) -> str | None:
    table = raw.get("ratelimit")
    if table is None or table.get("redis_url"):
        return None
    return (
        "[ratelimit] has no redis_url: each worker would keep its own buckets and grant a client the whole rate; "
        'set redis_url = "env:REDIS_URL" (redis://host:6379/0) so the workers share them'
    )


def _lookup_budget(raw: Mapping[str, Any]) -> list[str]:
    policy = raw.get("policy")
    if policy is None:
        # No policy (development only): every field is public; the default lookup budget still
        # counts, per worker, which only makes it N times as generous. Nothing to protect here.
        return []
    if not (policy.get("lookups") or {}).get("redis_url"):
        return [
            "[policy.lookups] has no redis_url: each worker would count a caller's lookups by key on its own, so "
            'the lookup budget would allow that many per worker; set redis_url = "env:REDIS_URL" (redis://host:6379/0)'
        ]
    if not (raw.get("audit") or {}).get("subject_key"):
        return [
            "[audit] subject_key is not set: the workers would count lookups in Redis under digests keyed by each "
            "worker's own random key, so a person looked up again on another worker would be counted again; set "
            'subject_key = "env:SATUDATA_AUDIT_SUBJECT_KEY" with a key made by `satudata keygen-secret`'
        ]
    return []


def _audit_log(raw: Mapping[str, Any], base_dir: Path | None) -> str | None:
    if "policy" not in raw:
        return None  # no policy, no audit log
    url = make_url(AuditSettings.from_dict(raw, base_dir=base_dir).url)
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode") == "memory"
    if not (url.get_backend_name() == "sqlite" and in_memory):
        return None
    return (
        "[audit] keeps the log in memory: each worker would keep a hash chain of its own and lose it when it exits; "
        'set path = "audit.sqlite" (one machine: the workers append to the file in turn) or '
        'url = "env:AUDIT_DB_URL" (postgresql+asyncpg://...)'
    )


class WorkerSupervisor(Multiprocess):
    """uvicorn's worker supervisor, which also tells the metrics directory when a worker is gone
    (its ``live*`` gauges, such as the breaker states it last saw, must stop counting)."""

    def __init__(
        self, config: GatewayServerConfig, sockets: list[socket], metrics_dir: Path, *, config_path: Path | None = None
    ) -> None:
        super().__init__(config, sockets)
        self.metrics_dir = metrics_dir
        self.config_path = config_path
        self._pids: set[int] = set()

    @property
    def startup_failed(self) -> bool:
        """Whether a worker could not start (uvicorn then stops the others)."""

        return any(process.exitcode == STARTUP_FAILURE for process in self.processes)

    # The three places uvicorn starts, replaces or retires workers.
    def init_processes(self) -> None:
        super().init_processes()
        self._note_workers()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        self._note_workers()

    def handle_signals(self) -> None:
        super().handle_signals()  # SIGHUP reloads every worker (handle_hup), SIGTTOU retires one
        self._note_workers()

    def handle_hup(self) -> None:
        """SIGHUP: check the config file here, once; if it is good, each worker reloads it (``gateway.reload``).

        uvicorn's own SIGHUP restarts the workers with the settings they were started with; a
        reload instead swaps each worker's runtime while it keeps serving, and refuses a bad file
        before any worker sees it.
        """

        if self.config_path is None:
            super().handle_hup()
            return
        try:
            settings = GatewaySettings.from_file(self.config_path)
            check_shared_state(settings, self.processes_num)
            create_app(settings)
        except ConfigError as exc:
            log.error("reload refused, the workers keep the previous config: %s", exc.message)
            return
        # A worker started from now on (one replacing a dead one) starts from the new settings.
        self.config.app = functools.partial(worker_app, settings, self.config_path, self.processes_num)
        workers = [p.pid for p in self.processes if p.pid is not None and p.exitcode is None]
        log.info("config %s is good: asking %d workers to reload", self.config_path, len(workers))
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    def _note_workers(self) -> None:
        running = {p.pid for p in self.processes if p.pid is not None and p.exitcode is None}
        for pid in self._pids - running:
            mark_process_dead(pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
        self._pids = running


def serve_workers(
    settings: GatewaySettings,
    *,
    host: str,
    port: int,
    workers: int,
    ready: str | None = None,
    config_path: Path | None = None,
) -> int:
    """Serve with ``workers`` processes until SIGTERM or SIGINT; the exit code (0, or 3 when a
    worker could not start). ``ConfigError`` before any process is started; ``ready`` is
    printed once the socket is bound. With ``config_path``, SIGHUP reloads it in every worker."""

    create_app(settings)  # what each worker will do: a configuration error is found here, once
    check_shared_state(settings, workers)
    with shared_metrics_dir() as metrics_dir:
        config = server_config(
            functools.partial(worker_app, settings, config_path, workers),
            settings,
            host=host,
            port=port,
            workers=workers,
            factory=True,
            # No logging set-up of uvicorn's own: its lines go through gateway.logs (JSON, --log-level).
            log_level=None,
            log_config=None,
            # A new worker imports the gateway and builds its schema before it is ready: seconds
            # on a busy machine, where uvicorn's 5 s would abort a SIGHUP restart half-way.
            timeout_worker_healthcheck=WORKER_READY_S,
        )
        supervisor = WorkerSupervisor(config, [config.bind_socket()], metrics_dir, config_path=config_path)
        log.info(
            "%d workers on one socket; each has its own max_concurrency (%d), heavy-query slots and source "
            "connection pools, so %d times each in all",
            workers, settings.max_concurrency, workers,
        )
        if ready:
            print(ready, file=sys.stderr)
        try:
            supervisor.run()
        finally:
            for sock in supervisor.sockets:
                sock.close()
    if supervisor.startup_failed:
        log.error("a worker could not start, so every worker was stopped")
        return STARTUP_FAILURE
    return 0


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[Path]:
    """A private, empty directory for the workers' metrics, named in the environment they will
    inherit (``gateway.metrics``); afterwards it is removed and the environment restored."""

    path = Path(tempfile.mkdtemp(prefix="satudata-metrics-"))  # mode 0700
    before = os.environ.get(MULTIPROC_DIR_ENV)
    os.environ[MULTIPROC_DIR_ENV] = str(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if before is None:
            del os.environ[MULTIPROC_DIR_ENV]
        else:
            os.environ[MULTIPROC_DIR_ENV] = before


def worker_app(settings: GatewaySettings, config_path: Path | None = None, workers: int = 1) -> Any:
    """The app of one worker process (uvicorn calls it there, as an app factory); with
    ``config_path``, one that reloads it on SIGHUP (``gateway.reload``)."""

    from .cli import configure_logging

    configure_logging()
    try:
        if config_path is not None:
            app: Any = ReloadableGateway(
                config_path, settings, create_app, check=functools.partial(_check_shared, workers=workers)
            )
        else:
            app = create_app(settings)
        tune_garbage_collector()
        return app
    except ConfigError as exc:
        # The parent built the same app, so this is rare (a file changed since); it would fail
        # the same way in every replacement, so stop them all instead of restarting it for ever.
        log.error("worker %d: configuration error: %s", os.getpid(), exc.message)
        sys.exit(STARTUP_FAILURE)


def _check_shared(settings: GatewaySettings, *, workers: int) -> None:
    check_shared_state(settings, workers)


__all__ = ["WORKER_READY_S", "WorkerSupervisor", "check_shared_state", "serve_workers", "shared_metrics_dir", "worker_app"]
