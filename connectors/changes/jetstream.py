"""Change notices shared by replicas through NATS JetStream (``[events] nats_url``).

- ``JetStreamChangeFeed`` (a ``ChangeFeed``): ``publish`` puts a notice on the stream with
  ``Nats-Msg-Id`` = ``Change.id``, so JetStream drops a repeat published within its duplicate
  window (a replica that re-polls after taking a lease over). Every replica reads the stream
  from the moment it starts (an ordered, ephemeral consumer) and hands each notice to its own
  subscribers through a ``LocalChangeFeed``, after a window of recently delivered ids: a notice
  is delivered to a subscriber once, even when it reached the stream twice.
- ``JetStreamLease``: one replica at a time polls a source. The lease is a key in a key-value
  bucket whose entries live ``lease_ttl_s``: the holder renews it at each round (an update that
  must follow the revision it last wrote); a replica that dies stops renewing, the entry
  expires, and the next replica to ``create`` it takes over.
- ``JetStreamPositions``: the sources' positions in a second bucket (no TTL), so the replica
  that takes a lease over resumes where the last holder stopped.

Notices carry the entity, key, kind, desa, time, source and id: never a record's values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from datetime import datetime
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from .feed import Change, ChangeSubscription, LocalChangeFeed

log = logging.getLogger("satudata.changes")

DEFAULT_STREAM = "SATUDATA_CHANGES"
DEFAULT_RETENTION_S = 3600.0
DEFAULT_DUPLICATE_WINDOW_S = 120.0
DEFAULT_LEASE_TTL_S = 5.0
#: Ids of delivered notices remembered per replica, to drop one that reached the stream twice.
DELIVERED_WINDOW = 10_000


def encode(change: Change) -> bytes:
    return json.dumps(
        {
            "entity": change.entity, "key": change.key, "kind": change.kind, "region": change.region,
            "at": change.at.isoformat(), "source": change.source, "id": change.id,
        }
    ).encode()


def decode(data: bytes) -> Change:
    raw = json.loads(data)
    return Change(
        entity=str(raw["entity"]), key=str(raw["key"]), kind=str(raw["kind"]), region=str(raw["region"]),
        at=datetime.fromisoformat(raw["at"]), source=str(raw["source"]), id=str(raw["id"]),
    )


class JetStream:
    """One connection to NATS and the names this gateway uses there (``connect``, ``aclose``)."""

    def __init__(self, url: str, *, stream: str = DEFAULT_STREAM) -> None:
        self.url = url
        self.stream = stream
        self.subject_prefix = stream
        self.lease_bucket = f"{stream}_LEASES"
        self.positions_bucket = f"{stream}_POSITIONS"
        self._client: NatsClient | None = None
        self._js: JetStreamContext | None = None

    async def connect(self) -> JetStreamContext:
        if self._js is None:
            self._client = await nats.connect(
                self.url, name="satudata-gateway", max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                connect_timeout=5,
            )
            self._js = self._client.jetstream()
        return self._js

    async def aclose(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.drain()
            self._client = None
            self._js = None

    async def delete_all(self) -> None:
        """Remove this gateway's stream and buckets (tests, and an operator's clean-up)."""

        js = await self.connect()
        for delete, name in (
            (js.delete_stream, self.stream),
            (js.delete_key_value, self.lease_bucket),
            (js.delete_key_value, self.positions_bucket),
        ):
            with contextlib.suppress(NotFoundError, BucketNotFoundError):
                await delete(name)


class JetStreamChangeFeed:
    """A ``ChangeFeed`` across replicas: publish to the stream, deliver from it to local subscribers."""

    def __init__(
        self,
        jetstream: JetStream,
        *,
        retention_s: float = DEFAULT_RETENTION_S,
        duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S,
        max_queue: int = 100,
    ) -> None:
        self.jetstream = jetstream
        self.retention_s = retention_s
        self.duplicate_window_s = duplicate_window_s
        self.local = LocalChangeFeed(max_queue=max_queue)
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._subscription: Any = None
        self.delivered_count = 0
        self.duplicates_dropped = 0

    async def start(self) -> None:
        """Make sure the stream exists and start reading it from now on."""

        js = await self.jetstream.connect()
        config = StreamConfig(
            name=self.jetstream.stream,
            subjects=[f"{self.jetstream.subject_prefix}.>"],
            max_age=self.retention_s,
            duplicate_window=min(self.duplicate_window_s, self.retention_s),
            storage=StorageType.FILE,
        )
        try:
            await js.add_stream(config)
        except Exception:
            # Another replica made it first (or with other limits): use it as it is.
            await js.stream_info(self.jetstream.stream)
        self._subscription = await js.subscribe(
            f"{self.jetstream.subject_prefix}.>",
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            idle_heartbeat=5.0,
        )

    async def _on_message(self, msg: Msg) -> None:
        try:
            change = decode(msg.data)
        except (ValueError, KeyError, TypeError):
            log.warning("dropped a malformed change notice from the stream %s", self.jetstream.stream)
            return
        if change.id in self._delivered:
            self.duplicates_dropped += 1
            return
        self._delivered[change.id] = None
        if len(self._delivered) > DELIVERED_WINDOW:
            self._delivered.popitem(last=False)
        self.delivered_count += 1
        await self.local.publish(change)

    async def publish(self, change: Change) -> None:
        js = await self.jetstream.connect()
        await js.publish(
            f"{self.jetstream.subject_prefix}.{change.entity}",
            encode(change),
            headers={"Nats-Msg-Id": change.id},
        )

    def subscribe(self, entity: str) -> ChangeSubscription:
        return self.local.subscribe(entity)

    def subscriber_count(self, entity: str | None = None) -> int:
        return self.local.subscriber_count(entity)

    async def aclose(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None
        await self.local.aclose()


class JetStreamLease:
    """Leases in a key-value bucket with a TTL: ``hold(source)`` takes or renews, ``release`` gives up."""

    def __init__(self, jetstream: JetStream, *, owner: str, ttl_s: float = DEFAULT_LEASE_TTL_S) -> None:
        self.jetstream = jetstream
        self.owner = owner
        self.ttl_s = ttl_s
        self._kv: KeyValue | None = None
        self._revisions: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            js = await self.jetstream.connect()
            try:
                self._kv = await js.key_value(self.jetstream.lease_bucket)
            except BucketNotFoundError:
                self._kv = await js.create_key_value(bucket=self.jetstream.lease_bucket, ttl=self.ttl_s, history=1)
        return self._kv

    async def hold(self, source: str) -> bool:
        kv = await self._bucket()
        value = self.owner.encode()
        revision = self._revisions.get(source)
        if revision is not None:
            try:
                self._revisions[source] = await kv.update(source, value, last=revision)
                return True
            except KeyWrongLastSequenceError:
                # Expired (we stalled longer than the TTL) or taken: try to take it like anyone.
                del self._revisions[source]
        try:
            self._revisions[source] = await kv.create(source, value)
        except KeyWrongLastSequenceError:
            return False
        log.info("this replica (%s) now polls source %s", self.owner, source)
        return True

    def holds(self, source: str) -> bool:
        return source in self._revisions

    async def release(self, source: str) -> None:
        revision = self._revisions.pop(source, None)
        if revision is None or self._kv is None:
            return
        with contextlib.suppress(Exception):
            await self._kv.delete(source, last=revision)


class JetStreamPositions:
    """Positions in a key-value bucket that every replica reads (``get``, ``put``)."""

    def __init__(self, jetstream: JetStream) -> None:
        self.jetstream = jetstream
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            js = await self.jetstream.connect()
            try:
                self._kv = await js.key_value(self.jetstream.positions_bucket)
            except BucketNotFoundError:
                self._kv = await js.create_key_value(bucket=self.jetstream.positions_bucket, history=1)
        return self._kv

    async def get(self, source: str) -> str | None:
        kv = await self._bucket()
        try:
            entry = await kv.get(source)
        except KeyNotFoundError:
            return None
        return None if entry.value is None else entry.value.decode()

    async def put(self, source: str, position: str) -> None:
        kv = await self._bucket()
        await kv.put(source, position.encode())

    async def aclose(self) -> None:
        return None
