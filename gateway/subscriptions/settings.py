"""``[subscriptions]``: how many live operations a client may hold, and the transports' timers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import ConfigError

from ..config_types import Int, Key, Number, Table, describe


@dataclass(frozen=True)
class SubscriptionSettings:
    """The ``[subscriptions]`` table."""

    #: Subscriptions one client (API key, token subject, or an anonymous caller's address) may hold
    #: open at once in this process, over every WebSocket and SSE stream together (default 10).
    max_per_client: int = 10
    #: Seconds a WebSocket has to send ``connection_init`` before it is closed with 4408 (default 10).
    init_timeout_s: float = 10.0
    #: Change notices one subscription may have waiting before it is ended as too slow (default 100).
    max_queue: int = 100
    #: Seconds between keep-alive comments on an idle SSE stream (default 15).
    keepalive_s: float = 15.0

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> SubscriptionSettings:
        table = table or {}
        problems = SUBSCRIPTIONS.problems(table, "subscriptions")
        if problems:
            raise ConfigError(describe(problems))
        return cls(**{k: table[k] for k in ("max_per_client", "init_timeout_s", "max_queue", "keepalive_s") if k in table})


SUBSCRIPTIONS = Table(
    description="Live subscriptions (graphql-transport-ws and GraphQL over SSE): limits per client and timers.",
    keys=(
        Key("max_per_client", Int(minimum=1), "Subscriptions one client may hold open at once (per process).",
            SubscriptionSettings.max_per_client),
        Key("init_timeout_s", Number(minimum=0.1), "Seconds a WebSocket has to send connection_init (closed with "
            "4408 after).", SubscriptionSettings.init_timeout_s),
        Key("max_queue", Int(minimum=1), "Change notices a subscription may have waiting before it is ended as "
            "too slow (the embedded feed's queue).", SubscriptionSettings.max_queue),
        Key("keepalive_s", Number(minimum=1), "Seconds between keep-alive comments on an idle SSE stream.",
            SubscriptionSettings.keepalive_s),
    ),
)
