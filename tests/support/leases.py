"""Who holds a source's poll lease, read from a test's own JetStream bucket (the ``jetstream`` fixture)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


class Leases:
    """The lease bucket of a ``connectors.changes.JetStream``, as the tests of replicas read it."""

    def __init__(self, kv: Any) -> None:
        self.kv = kv

    @classmethod
    async def of(cls, jetstream: Any, *, within_s: float = 30.0) -> Leases:
        """The bucket, once a replica has made it: a replica says ``ready`` when its capture task
        has started, and the task makes the bucket at its first hold of a lease, a moment later
        (on a loaded machine, after the test has asked: seen once in CI)."""

        from nats.js.errors import BucketNotFoundError

        js = await jetstream.connect()
        deadline = time.monotonic() + within_s
        while True:
            try:
                return cls(await js.key_value(jetstream.lease_bucket))
            except BucketNotFoundError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def holder(self, source: str) -> str | None:
        """The lease's owner (``host:pid`` or a replica's name), ``None`` while nobody holds it."""

        try:
            return (await self.kv.get(source)).value.decode()  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - no lease yet
            return None

    async def taken(self, source: str, *, within_s: float, what: str) -> str:
        """The first owner of ``source``'s lease, waited for at most ``within_s``."""

        deadline = time.monotonic() + within_s
        while (owner := await self.holder(source)) is None:
            assert time.monotonic() < deadline, f"no {what} took the poll lease"
            await asyncio.sleep(0.1)
        return owner
