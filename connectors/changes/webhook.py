"""``WebhookReceiver``: change notices pushed by an OPD, signed and replay-protected.

The OPD POSTs JSON to ``/changes/{source}`` (the gateway's route) with three headers:

- ``X-Satudata-Timestamp``: Unix seconds when it signed; refused outside ``tolerance_s``;
- ``X-Satudata-Nonce``: fresh per attempt (16-128 characters); a nonce seen in the last
  ``tolerance_s`` is a replay and refused;
- ``X-Satudata-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the source's ``secret``,
  of ``timestamp + "." + nonce + "." + body``.

Any failure is a 401 that says which check failed, and nothing is published. The body is
``{"events": [{"id", "key", "kind", "region", "at"}]}`` (or one such event); only those fields
are read, nothing is stored. Delivery is idempotent: an event whose ``id`` was accepted before
(a retry with a fresh nonce) is answered 200 and not published again, and the published
``Change.id`` is ``source/id``, so the broker drops a repeat that reaches another replica.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .feed import Change, ChangeFeed
from .settings import CaptureSettings

TIMESTAMP = "x-satudata-timestamp"
NONCE = "x-satudata-nonce"
SIGNATURE = "x-satudata-signature"
#: Event ids remembered for idempotence.
SEEN_EVENTS = 10_000
MAX_EVENTS = 1_000


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The ``X-Satudata-Signature`` value for a body (what the OPD's sender computes)."""

    mac = hmac.new(secret.encode(), f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True)
class WebhookAnswer:
    """The HTTP status and JSON body to answer with."""

    status: int
    body: Mapping[str, Any]


class WebhookReceiver:
    """Checks and publishes one source's pushed notices (``receive(body, headers)``)."""

    def __init__(self, settings: CaptureSettings, feed: ChangeFeed, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.feed = feed
        self.clock = clock
        self._nonces: OrderedDict[str, float] = OrderedDict()
        self._events: OrderedDict[str, None] = OrderedDict()

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        refused = self._check(body, headers)
        if refused is not None:
            return WebhookAnswer(401, {"error": "UNAUTHENTICATED", "reason": refused})
        try:
            events = self._events_of(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            return WebhookAnswer(400, {"error": "BAD_REQUEST", "reason": str(exc)})
        accepted = duplicates = 0
        for change in events:
            if change.id in self._events:
                duplicates += 1
                continue
            await self.feed.publish(change)
            self._events[change.id] = None
            if len(self._events) > SEEN_EVENTS:
                self._events.popitem(last=False)
            accepted += 1
        return WebhookAnswer(200, {"accepted": accepted, "duplicates": duplicates})

    def _check(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        timestamp, nonce, signature = headers.get(TIMESTAMP), headers.get(NONCE), headers.get(SIGNATURE)
        if not timestamp or not nonce or not signature:
            return f"missing header: send {TIMESTAMP}, {NONCE} and {SIGNATURE}"
        try:
            sent = float(timestamp)
        except ValueError:
            return "the timestamp is not a number of seconds"
        now = self.clock()
        if abs(now - sent) > self.settings.tolerance_s:
            return f"the timestamp is more than {self.settings.tolerance_s:g} s from the gateway's clock"
        if not 16 <= len(nonce) <= 128:
            return "the nonce must be 16 to 128 characters"
        if not hmac.compare_digest(sign(self.settings.secret, timestamp, nonce, body), signature):
            return "the signature does not match the body"
        # Checked after the signature, so that unsigned requests cannot fill the nonce memory.
        while self._nonces and next(iter(self._nonces.values())) < now - self.settings.tolerance_s:
            self._nonces.popitem(last=False)
        if nonce in self._nonces:
            return "the nonce was used before (a replayed request); sign each attempt with a new one"
        self._nonces[nonce] = now
        return None

    def _events_of(self, payload: Any) -> list[Change]:
        items = payload.get("events", [payload]) if isinstance(payload, dict) else payload
        if not isinstance(items, list) or not items:
            raise ValueError("the body must hold an event or a list of events under \"events\"")
        if len(items) > MAX_EVENTS:
            raise ValueError(f"at most {MAX_EVENTS} events per delivery")
        s = self.settings
        changes = []
        for item in items:
            at = datetime.fromisoformat(str(item["at"]))
            if at.tzinfo is None:
                at = at.replace(tzinfo=s.timezone)
            changes.append(
                Change(
                    entity=s.entity,
                    key=str(item["key"]),
                    kind=str(item.get("kind") or s.default_kind),
                    region=s.to_region(item["region"]),
                    at=at.astimezone(timezone.utc),
                    source=s.source,
                    id=f"{s.source}/{item['id']}",
                )
            )
        return changes
