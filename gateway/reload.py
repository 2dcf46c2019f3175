"""Hot reload: a new runtime from the new config, swapped in whole while requests in flight finish.

``ReloadableGateway`` is the ASGI app ``satudata serve`` hands uvicorn. It holds the current
*generation*: one app built by ``create_app`` (its sources and their pools, policy, limits,
documents, audit log, metrics) with the lifespan that opened them. On ``SIGHUP`` (what
``satudata reload`` sends) it

1. reads and checks the config file again and builds and starts a new generation beside the
   running one; any ``ConfigError`` (or a start-up failure) is logged, the new generation is
   closed, and the running one keeps serving, untouched;
2. swaps: one assignment, so each request is answered wholly by the generation it arrived
   at, the old one or the new;
3. retires the old generation once its last request has finished (or after the request
   deadline and a margin, when a request outlives it): its lifespan ends, its pools close.

With ``--workers N`` the supervisor checks the file first and forwards ``SIGHUP`` to every
worker, which each reload as above (``gateway.workers``).

What the server itself was started with (the socket, ``[gateway]`` keys in
``config_schema.RESTART_KEYS``) cannot change without a restart: a reload that changes them
says so in the log and keeps the running values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import ConfigError

from .config_schema import RESTART_KEYS
from .settings import GatewaySettings

log = logging.getLogger("satudata.gateway.reload")

ASGIApp = Callable[..., Any]
#: Builds the app of one generation (``create_app``); raises ``ConfigError`` on a bad config.
AppFactory = Callable[[GatewaySettings], ASGIApp]
#: Checks new settings beyond what ``create_app`` does (e.g. ``workers.check_shared_state``).
SettingsCheck = Callable[[GatewaySettings], None]

#: Seconds a retired generation's last requests get beyond the request deadline before its pools close anyway.
RETIRE_MARGIN_S = 2.0


class Lifespan:
    """Runs an ASGI app's lifespan (startup, then shutdown) apart from the server's own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._task = asyncio.create_task(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._answer()
        if message["type"] != "lifespan.startup.complete":
            error = await self._finish()
            if isinstance(error, ConfigError):
                raise error
            said = (message.get("message") or "").strip().splitlines()
            raise StartupFailed(said[-1] if said else "the app did not start")

    async def shutdown(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        try:
            await self._answer()
        finally:
            await self._finish()

    async def _answer(self) -> dict[str, Any]:
        assert self._task is not None
        reply = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait({reply, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if reply in done:
            return reply.result()
        reply.cancel()
        error = self._task.exception()
        if isinstance(error, ConfigError):
            raise error
        raise StartupFailed(f"{type(error).__name__}: {error}" if error else "the app's lifespan ended")

    async def _finish(self) -> BaseException | None:
        """Wait for the app's lifespan to end; what it raised, if anything."""

        if self._task is None:
            return None
        try:
            await self._task
        except Exception as exc:
            return exc
        return None


class StartupFailed(Exception):
    """A new generation's lifespan startup failed (the message is the app's)."""


class Generation:
    """One app and the requests it is answering."""

    def __init__(self, number: int, settings: GatewaySettings, app: ASGIApp, lifespan: Lifespan) -> None:
        self.number = number
        self.settings = settings
        self.app = app
        self.lifespan = lifespan
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        self.in_flight += 1
        self._idle.clear()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def retire(self) -> None:
        """Wait for the requests it is answering (at most their deadline and a margin), then close it."""

        grace = self.settings.request_timeout_s + RETIRE_MARGIN_S
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning(
                "generation %d still had %d request(s) after %.0f s; closing its sources anyway",
                self.number, self.in_flight, grace,
            )
        await self.lifespan.shutdown()
        log.info("generation %d retired: its sources are closed", self.number)


class ReloadableGateway:
    """The ASGI app served: the current generation, replaced whole by ``reload()`` (see the module)."""

    def __init__(
        self,
        config_path: Path,
        settings: GatewaySettings,
        build: AppFactory,
        *,
        check: SettingsCheck | None = None,
        handle_sighup: bool = True,
    ) -> None:
        self.config_path = Path(config_path)
        self._settings = settings
        self._build = build
        self._check = check
        self._handle_sighup = handle_sighup
        self._first_app: ASGIApp | None = build(settings)
        if handle_sighup:
            # Until the lifespan installs the handler, a SIGHUP's default action would end the process.
            with contextlib.suppress(ValueError):  # not the main thread: the server's loop is not here either
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self._current: Generation | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Reloads taken and refused since start (for logs and tests).
        self.taken = 0
        self.refused = 0

    @property
    def settings(self) -> GatewaySettings:
        return self._current.settings if self._current is not None else self._settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        current = self._current
        if current is None:  # served without a lifespan (a test transport): start on first use
            raise RuntimeError("ReloadableGateway needs the server's lifespan (uvicorn lifespan='auto' or 'on')")
        await current.handle(scope, receive, send)

    async def reload(self) -> bool:
        """Build, start and swap in a generation from the config file; ``False`` if it was refused."""

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            old = self._current
            assert old is not None
            number = old.number + 1
            try:
                settings = GatewaySettings.from_file(self.config_path)
                if self._check is not None:
                    self._check(settings)
                # Built on the event loop (about 0.1 s for the demo's config): requests wait that long, none fails.
                app = self._build(settings)
                lifespan = Lifespan(app)
                await lifespan.startup()
            except (ConfigError, StartupFailed) as exc:
                self.refused += 1
                reason = exc.message if isinstance(exc, ConfigError) else str(exc)
                log.error(
                    "reload refused, still serving the previous config (generation %d): %s", old.number, reason
                )
                return False
            except Exception:
                self.refused += 1
                log.exception("reload refused, still serving the previous config (generation %d)", old.number)
                return False
            _note_restart_keys(old.settings, settings)
            self._current = Generation(number, settings, app, lifespan)
            self.taken += 1
            log.info(
                "reloaded %s: generation %d serves; %d request(s) finishing on generation %d",
                self.config_path, number, old.in_flight, old.number,
            )
        await old.retire()
        return True

    def request_reload(self) -> None:
        """Start a reload in the background (what SIGHUP does); reloads run one at a time."""

        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_lifespan(self, receive: Any, send: Any) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            assert self._first_app is not None
            lifespan = Lifespan(self._first_app)
            await lifespan.startup()
        except (ConfigError, StartupFailed) as exc:
            text = exc.message if isinstance(exc, ConfigError) else str(exc)
            await send({"type": "lifespan.startup.failed", "message": text})
            return
        self._current = Generation(1, self._settings, self._first_app, lifespan)
        self._first_app = None
        loop = asyncio.get_running_loop()
        if self._handle_sighup:
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        if self._handle_sighup:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task  # a reload under way finishes (and retires what it replaced) first
        await self._current.lifespan.shutdown()
        await send({"type": "lifespan.shutdown.complete"})


def _note_restart_keys(old: GatewaySettings, new: GatewaySettings) -> None:
    changed = [key for key in RESTART_KEYS if getattr(old, key) != getattr(new, key)]
    if changed:
        log.warning(
            "[gateway] %s changed: the server keeps the values it started with until it is restarted",
            ", ".join(changed),
        )


def signal_reload(pid: int) -> None:
    """Ask the gateway process ``pid`` to reload (``satudata reload``)."""

    import os

    os.kill(pid, signal.SIGHUP)


__all__ = ["Generation", "Lifespan", "ReloadableGateway", "StartupFailed", "signal_reload"]
