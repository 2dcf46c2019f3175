"""Change capture in the gateway: ``[events]`` and each source's ``[sources.NAME.changes]``.

``ChangeEvents.from_settings(settings)`` builds, from the config:

- the feed: with ``[events] nats_url``, a JetStream-backed feed shared by every replica (one
  replica at a time polls each source, holding its lease; every replica delivers to its own
  subscribers); without it, ``None``, and the gateway's embedded ``LocalChangeFeed`` is used;
- one poller per source that declares ``changes`` (``kind = "poll"``/``"notify"`` for SQL,
  ``"poll"`` for REST), with positions in the gateway's state database (``changes.sqlite``
  beside the config file, or ``[events] positions_url``) or, with NATS, in a JetStream bucket
  shared by the replicas; a LISTEN connection per ``notify`` source;
- one webhook receiver per ``kind = "webhook"`` source, served at ``POST /changes/{source}``.

``start(feed)`` starts them, publishing into ``feed``; ``aclose()`` stops them. A source whose
capture fails is logged once (no row data) and counted in ``satudata_change_capture_up``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import Gauge
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# The change capture package's own API (connectors/changes/__init__.py), as the other layers
# use the connectors package's: never one of its modules.
from connectors import changes as capture_api
from connectors import resolve_env

CaptureSettings = capture_api.CaptureSettings
CaptureStatus = capture_api.CaptureStatus
ChangeCapture = capture_api.ChangeCapture
ChangeFeed = capture_api.ChangeFeed
ChangePoller = capture_api.ChangePoller
JetStream = capture_api.JetStream
JetStreamChangeFeed = capture_api.JetStreamChangeFeed
JetStreamLease = capture_api.JetStreamLease
JetStreamPositions = capture_api.JetStreamPositions
PgNotifyListener = capture_api.PgNotifyListener
PositionStore = capture_api.PositionStore
RestChangePoller = capture_api.RestChangePoller
SqlChangePoller = capture_api.SqlChangePoller
WebhookReceiver = capture_api.WebhookReceiver

from .config_types import ENV, SECONDS, AnyOf, Choice, Int, Key, ListOf, MapOf, Str, Table

log = logging.getLogger("satudata.gateway.events")

STATE_FILE = "changes.sqlite"
MAX_WEBHOOK_BYTES = 1_048_576

# -- the config tree's tables ------------------------------------------------------------------

EVENTS = Table(
    description="Change notices for subscriptions: shared by replicas through NATS JetStream, and where "
    "change capture keeps its positions.",
    example='[events]\nnats_url = "env:SATUDATA_NATS_URL"',
    keys=(
        Key("nats_url", ENV, "NATS server with JetStream (nats://host:4222): replicas share change notices and "
            "one at a time polls each source. Unset: one process, the embedded feed.", default_doc="unset"),
        Key("stream", Str(pattern=r"[A-Za-z0-9_-]+", pattern_doc="letters, digits, - and _"),
            "The JetStream stream's name; its buckets are STREAM_LEASES and STREAM_POSITIONS.", "SATUDATA_CHANGES"),
        Key("retention_s", SECONDS, "How long the stream keeps notices.", 3600.0),
        Key("lease_ttl_s", SECONDS, "A poller's lease lives this long without renewal; then another replica "
            "takes the source over.", 5.0),
        Key("renew_s", SECONDS, "How often the lease holder renews it (and others try to take it).", 1.0),
        Key("positions_url", ENV, "Without NATS: the database (SQLAlchemy async URL) holding each source's "
            "position.", default_doc="sqlite changes.sqlite beside the config"),
    ),
)

_EVENTS_TABLE = Table(
    description="The registry's own record of civil events (SIAK's mutasi): a change's kind, a move's old desa.",
    keys=(
        Key("table", Str(), "The table.", required=True),
        Key("key", Str(), "Its column holding the record's key.", required=True),
        Key("at_column", Str(), "Its column holding the event's time (equal to the row's change column).",
            required=True),
        Key("from_column", Str(), "Its column holding the old desa of a move."),
        Key("to_column", Str(), "Its column holding the new desa of a move."),
        Key("kind_column", Str(), "Its column holding the event's code."),
        Key("kinds", MapOf(Str(), name="CODE"), "Event codes -> change kinds (BORN, DIED, MOVED, UPDATED ...).", {}),
    ),
)

CHANGES = Table(
    description="How the gateway notices that a record changed (only keys and kinds pass; positions are stored).",
    example='[sources.siak.changes]\nkind = "poll"\nentity = "Person"\ntable = "penduduk"\nkey = "nik"\n'
    'change = "tgl_update"\nregion = "kode_wilayah"',
    keys=(
        Key("kind", Choice(("poll", "notify", "webhook")), 'SQL: "poll" (watermark on `change`) or "notify" '
            '(polls woken by LISTEN/NOTIFY, docs/sql/notify_trigger.sql); REST: "poll" (ETag, If-Modified-Since, '
            '`since_param`) or "webhook" (POST /changes/NAME).', "poll"),
        Key("entity", Str(), "The vocabulary entity whose records change.", required=True),
        Key("table", Str(), "SQL: the table."),
        Key("path", Str(), "REST: the list's path."),
        Key("key", AnyOf((Str(), ListOf(Str()))), "What names the record: a column, or several whose values are "
            "joined by `:` (SQL: `[\"npsn\", \"tanggal\"]` gives `NPSN:YYYY-MM-DD`); a REST record's JSON field or "
            "fields.", required=True),
        Key("change", Str(), "The change column or field, watermarked with the key (e.g. tgl_update)."),
        Key("region", Str(), "The column or field holding the record's desa code.", required=True),
        Key("region_transform", Str(), "Converts the source's region codes (region_code_digits)."),
        Key("interval_s", SECONDS, "Seconds between polls (with notify: the fallback poll).",
            default_doc="2; 30 with notify"),
        Key("batch", Int(minimum=1), "Rows read per poll at most.", 500),
        Key("timezone", Str(), "The zone of the change column's times.", "Asia/Jakarta"),
        Key("default_kind", Str(), "The kind when nothing else tells.", default_doc='"UPDATED" (SQL), "ADDED" (REST)'),
        Key("born_column", Str(), "Birth date column: a change within born_within_days of it is BORN."),
        Key("born_within_days", Int(minimum=0), "See born_column.", 60),
        Key("status_column", Str(), "Status column telling DIED and MOVED_OUT."),
        Key("died_values", ListOf(Str()), "Statuses meaning died.", []),
        Key("moved_away_values", ListOf(Str()), "Statuses meaning moved away.", []),
        Key("events", _EVENTS_TABLE, _EVENTS_TABLE.description),
        Key("url", ENV, "SQL: another URL for the poller (a read replica).", default_doc="the source's url"),
        Key("channel", Str(), "notify: the LISTEN channel.", "satudata_changes"),
        Key("records", Str(), "REST: path of the list inside the answer."),
        Key("since_param", Str(), "REST: parameter taking the last change value."),
        Key("params", MapOf(Str(), name="param"), "REST: parameters sent with every poll.", {}),
        Key("secret", ENV, "webhook: the HMAC-SHA256 key shared with the OPD (16+ characters)."),
        Key("tolerance_s", SECONDS, "webhook: largest clock difference accepted.", 300.0),
    ),
)


# -- the runtime -------------------------------------------------------------------------------

_CAPTURE_UP = Gauge(
    "satudata_change_capture_up",
    "1 while a source's change capture polls without error, 0 after a failed poll, -1 on standby.",
    ["source"],
)
_STATE_VALUE = {"up": 1, "down": 0, "standby": -1}


def _observe_status(status: CaptureStatus) -> None:
    _CAPTURE_UP.labels(status.source).set(_STATE_VALUE.get(status.state, 0))


@dataclass
class ChangeEvents:
    """The gateway's change capture: ``feed`` (a shared one, or ``None``), ``start(feed)``, ``aclose()``."""

    captures: dict[str, CaptureSettings]
    jetstream: JetStream | None = None
    feed: ChangeFeed | None = None
    positions_url: str = ""
    lease_ttl_s: float = 5.0
    renew_s: float = 1.0
    source_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    capture: ChangeCapture | None = None
    listeners: list[PgNotifyListener] = field(default_factory=list)
    webhooks: dict[str, WebhookReceiver] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any], *, base_dir: Path | None) -> ChangeEvents:
        """Read ``[events]`` and every ``[sources.NAME.changes]`` (nothing starts yet)."""

        events = raw.get("events", {})
        captures: dict[str, CaptureSettings] = {}
        headers: dict[str, dict[str, str]] = {}
        for name, source in raw.get("sources", {}).items():
            settings = CaptureSettings.from_source(name, source, base_dir=base_dir)
            if settings is not None:
                captures[name] = settings
                headers[name] = {
                    k: resolve_env(f"sources.{name}.headers.{k}", v) for k, v in source.get("headers", {}).items()
                }
        jetstream = None
        feed: ChangeFeed | None = None
        if events.get("nats_url"):
            jetstream = JetStream(resolve_env("[events] nats_url", events["nats_url"]),
                                  stream=events.get("stream", EVENTS.default("stream")))
            feed = JetStreamChangeFeed(jetstream, retention_s=float(events.get("retention_s", EVENTS.default("retention_s"))))
        positions_url = events.get("positions_url")
        if positions_url is not None:
            positions_url = resolve_env("[events] positions_url", positions_url)
        else:
            positions_url = f"sqlite+aiosqlite:///{(base_dir or Path('.')) / STATE_FILE}"
        return cls(
            captures=captures, jetstream=jetstream, feed=feed, positions_url=positions_url,
            lease_ttl_s=float(events.get("lease_ttl_s", EVENTS.default("lease_ttl_s"))),
            renew_s=float(events.get("renew_s", EVENTS.default("renew_s"))), source_headers=headers,
        )

    async def start(self, feed: ChangeFeed) -> None:
        """Start capturing into ``feed`` (the shared feed, or the gateway's embedded one)."""

        if isinstance(feed, JetStreamChangeFeed):
            await feed.start()
        pollers: dict[str, ChangePoller] = {}
        for name, s in self.captures.items():
            if s.kind == "webhook":
                self.webhooks[name] = WebhookReceiver(s, feed)
            elif s.url.startswith(("http://", "https://")):
                pollers[name] = RestChangePoller(s, headers=self.source_headers.get(name))
            else:
                pollers[name] = SqlChangePoller(s)
        if not pollers:
            return
        if self.jetstream is not None:
            owner = f"{socket.gethostname()}:{os.getpid()}"
            positions: Any = JetStreamPositions(self.jetstream)
            lease: Any = JetStreamLease(self.jetstream, owner=owner, ttl_s=self.lease_ttl_s)
        else:
            positions, lease = PositionStore(self.positions_url), None
        self.capture = ChangeCapture(
            feed, pollers, positions,
            intervals={n: self.captures[n].interval_s for n in pollers},
            batch_sizes={n: self.captures[n].batch for n in pollers},
            lease=lease, renew_s=self.renew_s,
        )
        self.capture.status_observers.append(_observe_status)
        self.capture.start()
        for name in pollers:
            s = self.captures[name]
            if s.kind == "notify":
                listener = PgNotifyListener(s.url, s.channel, lambda n=name: self._wake(n))
                listener.start()
                self.listeners.append(listener)

    def _wake(self, source: str) -> None:
        if self.capture is not None:
            self.capture.wake(source)

    def routes(self) -> list[Route]:
        """``POST /changes/{source}`` for the webhook sources (none without one)."""

        if not any(s.kind == "webhook" for s in self.captures.values()):
            return []
        return [Route("/changes/{source}", self._webhook, methods=["POST"])]

    async def _webhook(self, request: Request) -> Response:
        receiver = self.webhooks.get(request.path_params["source"])
        if receiver is None:
            return JSONResponse({"error": "NOT_FOUND", "reason": "no webhook source of that name"}, status_code=404)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_WEBHOOK_BYTES:
                return JSONResponse({"error": "PAYLOAD_TOO_LARGE"}, status_code=413)
        answer = await receiver.receive(body, request.headers)
        return JSONResponse(dict(answer.body), status_code=answer.status)

    async def aclose(self) -> None:
        for listener in self.listeners:
            await listener.aclose()
        self.listeners.clear()
        if self.capture is not None:
            await self.capture.aclose()
            self.capture = None
        if self.feed is not None:
            await self.feed.aclose()
        if self.jetstream is not None:
            await self.jetstream.aclose()
