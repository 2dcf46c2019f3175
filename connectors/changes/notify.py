"""``PgNotifyListener``: PostgreSQL LISTEN on the channel the OPD's trigger notifies.

The trigger (``docs/sql/notify_trigger.sql``) sends ``{"key": ..., "kind": "INSERT"|"UPDATE"|
"DELETE"}`` when a row changes; the listener does not trust or keep it, it only wakes the
source's watermark poll (``ChangeCapture.wake``), which reads the change from its stored
position. So a notice sent while the connection was down is not a lost change (NOTIFY is not
durable): the poll at the next interval, or the one made on reconnecting, finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger("satudata.changes")


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL as the plain DSN asyncpg takes."""

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgNotifyListener:
    """Listens on ``channel`` and calls ``on_notice()`` for each notice; reconnects on its own."""

    def __init__(self, url: str, channel: str, on_notice: Callable[[], None], *, retry_s: float = 2.0) -> None:
        self.dsn = asyncpg_dsn(url)
        self.channel = channel
        self.on_notice = on_notice
        self.retry_s = retry_s
        self.notices = 0
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"LISTEN {self.channel}")

    def _notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self.notices += 1
        self.on_notice()

    async def _run(self) -> None:
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn)
                closed = asyncio.Event()
                connection.add_termination_listener(lambda _c: closed.set())
                await connection.add_listener(self.channel, self._notified)
                self.listening.set()
                self.on_notice()  # a poll now: notices sent while we were not listening are lost
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN %s failed (%s); retrying in %.0f s", self.channel, type(exc).__name__, self.retry_s)
            finally:
                self.listening.clear()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            await asyncio.sleep(self.retry_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
