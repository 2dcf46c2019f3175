"""Change capture: *that* something changed at a source, never *what* it now holds.

The seam (``feed.py``): a source's change capture publishes ``Change`` notices (entity, key,
kind, desa, time) to a ``ChangeFeed``; subscribers (the subscription fields in ``resolvers``)
take notices of one entity from it and read the record itself live, under their own policy.
Nothing but keys, kinds and positions passes through or stays in the gateway.

Capture: ``SqlChangePoller`` (watermark on a change column), ``PgNotifyListener`` (LISTEN/NOTIFY
wakes it), ``RestChangePoller`` (ETag / If-Modified-Since / since), ``WebhookReceiver`` (signed
pushes); ``ChangeCapture`` runs the pollers with a ``PositionStore`` and a lease. Across
replicas: ``JetStreamChangeFeed``, ``JetStreamLease``, ``JetStreamPositions`` (NATS JetStream).
The gateway uses this package's names only (``gateway.events``), never its modules.
"""

from .capture import AlwaysHeld, CaptureStatus, ChangeCapture, ChangePoller, Lease, Positions
from .feed import Change, ChangeFeed, ChangeSubscription, LocalChangeFeed, SubscriberTooSlow
from .jetstream import JetStream, JetStreamChangeFeed, JetStreamLease, JetStreamPositions
from .notify import PgNotifyListener
from .positions import PositionStore
from .rest_poll import RestChangePoller
from .settings import CaptureSettings
from .sql_poll import SqlChangePoller
from .webhook import WebhookReceiver, sign

__all__ = [
    "AlwaysHeld", "CaptureSettings", "CaptureStatus", "Change", "ChangeCapture", "ChangeFeed", "ChangePoller",
    "ChangeSubscription", "JetStream", "JetStreamChangeFeed", "JetStreamLease", "JetStreamPositions", "Lease",
    "LocalChangeFeed", "PgNotifyListener", "PositionStore", "Positions", "RestChangePoller", "SqlChangePoller",
    "SubscriberTooSlow", "WebhookReceiver", "sign",
]
