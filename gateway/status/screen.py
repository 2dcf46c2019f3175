"""The screen's live state: one snapshot per gateway process, pushed to every open screen.

While at least one screen is open (an SSE stream of ``/status/events``), two loops read the graph
(``StatusReader``): today's alerts every ``refresh_s``, the discrepancy counts every
``discrepancy_refresh_s`` (a walk of the compared systems, so less often). Source health is not
read at all: the registry tells the screen whenever a source's state or breaker changes, from the
calls themselves (``/readyz`` shows the same), and the new snapshot goes out at once. With no
screen open nothing is read, so an unwatched screen costs the sources and the audit log nothing.

A snapshot is aggregates only: per source its state, per kecamatan the number of alerts, per
alert a school, class and count, per agency the discrepancies by fact. Never a person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from connectors import SourceHealth, SourceInfo

from .graph import AgencyDiscrepancies, Alert, GraphRefused, Regency, StatusReader
from .layout import tiles
from .readiness import readiness
from .settings import StatusSettings

log = logging.getLogger("satudata.gateway.status")

#: Western Indonesia Time, Trenggalek's: no daylight saving, so a fixed offset.
WIB = timezone(timedelta(hours=7), "WIB")


def wib_today() -> date:
    return datetime.now(WIB).date()


class StatusScreen:
    """Holds the latest snapshot, refreshes it while watched, and streams it to each viewer."""

    def __init__(
        self,
        settings: StatusSettings,
        reader: StatusReader,
        *,
        sources: Callable[[], Sequence[SourceInfo]],
        health: Callable[[], Sequence[SourceHealth]],
        clock_today: Callable[[], date] = wib_today,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.sources = sources
        self.health = health
        self.clock_today = clock_today
        self._regency: Regency | None = None
        self._today: date | None = None
        self._alerts: list[Alert] | None = None
        self._discrepancies: list[AgencyDiscrepancies] | None = None
        self._errors: dict[str, str] = {}
        self._read_at: dict[str, str] = {}
        self._viewers = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._content: dict[str, Any] | None = None
        self._changed = asyncio.Event()
        self._closed = False

    # -- what the screen shows -------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The current state as JSON, with the time it was composed."""

        return {**self._compose(), "generatedAt": _now()}

    def _compose(self) -> dict[str, Any]:
        ready = readiness(self.health())
        info = {s.name: s for s in self.sources()}
        sources = []
        for s in ready.sources:
            source = info.get(str(s["name"]))
            # The operator's detail (error text) stays on /readyz; the screen shows the state and the code.
            sources.append({
                "name": s["name"], "state": s["state"], "breaker": s["breaker"],
                "agency": source.agency if source else None, "system": source.system if source else None,
                "lastErrorCode": s["lastErrorCode"], "lastSuccessAt": s["lastSuccessAt"],
            })
        regency = self._regency
        per_kecamatan: dict[str, int] = {}
        for alert in self._alerts or ():
            if alert.kecamatan:
                per_kecamatan[alert.kecamatan] = per_kecamatan.get(alert.kecamatan, 0) + 1
        places = tiles(regency.kecamatan if regency else [])
        regions = [{**t, "alerts": per_kecamatan.get(str(t["code"]), 0)} for t in places]
        return {
            "status": ready.status,
            "sources": sources,
            "regency": None if regency is None else {"code": regency.code, "name": regency.name},
            "today": None if self._today is None else self._today.isoformat(),
            "todayFixed": self.settings.today is not None,
            "regions": regions,
            "alerts": None if self._alerts is None else [a.as_json() for a in self._alerts],
            "discrepancies": None if self._discrepancies is None else [d.as_json() for d in self._discrepancies],
            "errors": dict(self._errors),
            "readAt": dict(self._read_at),
            "role": self.reader.role,
        }

    def publish(self) -> None:
        """Compose the snapshot; wake every viewer if it differs from the last one."""

        content = self._compose()
        if content != self._content:
            self._content = content
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def health_changed(self, health: SourceHealth) -> None:
        """A source's state or breaker changed (called by the registry, inside a call): show it now."""

        if self._viewers:
            self.publish()

    # -- viewers ---------------------------------------------------------------------------------

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        """Snapshots for one viewer: at once, after every change, and every ``heartbeat_s`` regardless."""

        self._viewers += 1
        if not self._tasks:
            self._start()
        try:
            while not self._closed:
                waiting = self._changed
                yield self.snapshot()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.heartbeat_s):
                        await waiting.wait()
        finally:
            self._viewers -= 1
            if not self._viewers:
                await self._stop()

    def _start(self) -> None:
        every = self.settings
        self._tasks = [
            asyncio.create_task(self._every(every.refresh_s, self.refresh_alerts), name="status-alerts"),
            asyncio.create_task(
                self._every(every.discrepancy_refresh_s, self.refresh_discrepancies), name="status-discrepancies"
            ),
        ]

    async def _stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def aclose(self) -> None:
        """The gateway stops: every stream ends."""

        self._closed = True
        self._changed.set()
        await self._stop()

    async def _every(self, seconds: float, read: Callable[[], Any]) -> None:
        while True:
            try:
                await read()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not end the screen's loop for good; the next round tries again
                log.exception("the status screen's read failed")
            self.publish()
            await asyncio.sleep(seconds)

    # -- reading the graph -----------------------------------------------------------------------

    async def refresh_alerts(self) -> None:
        """The regency's kecamatan, which day is today, and that day's alerts."""

        region = self.settings.region
        try:
            regency = await self.reader.regency(region, self.settings.today or self.clock_today())
        except GraphRefused as exc:
            self._fail("regions", exc)
            self._fail("alerts", exc)
            return
        self._regency = regency
        self._ok("regions")
        # "Today": the configured day, else the latest school day with attendance (on a weekend, a
        # holiday, or after a term's data ends, the last day the schools reported).
        self._today = self.settings.today or regency.latest_school_day or self.clock_today()
        try:
            self._alerts = await self.reader.alerts(self._today, region)
        except GraphRefused as exc:
            self._fail("alerts", exc)
            return
        self._ok("alerts")

    async def refresh_discrepancies(self) -> None:
        try:
            self._discrepancies = await self.reader.discrepancies()
        except GraphRefused as exc:
            self._fail("discrepancies", exc)
            return
        self._ok("discrepancies")

    def _ok(self, part: str) -> None:
        self._errors.pop(part, None)
        self._read_at[part] = _now()

    def _fail(self, part: str, exc: GraphRefused) -> None:
        # The last good reading stays on screen, marked with why it is not fresh.
        self._errors[part] = exc.code or "ERROR"
        log.warning("status screen: %s not read: %s", part, exc.message)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
