"""Sources: one small protocol (``Connector``), and the kinds that implement it.

The vocabulary layer imports only from here, never from ``connectors.sql`` and friends.
"""

from .changes import Change, ChangeFeed, ChangeSubscription, LocalChangeFeed, SubscriberTooSlow
from .base import Connector, Filter, Record, SourceInfo, SourceQuery, SourceReader, SourceStats, SourceTrace
from .errors import (
    SourceBadResponse,
    SourceError,
    SourceRejectedInput,
    SourceTimeout,
    SourceUnavailable,
    UnusableKey,
)
from .memory import InMemoryConnector
from .options import SOURCE_OPTIONS, SourceOptions
from .registry import CONNECTOR_KINDS, CallObserver, ConnectorRegistry, RegistrySession
from .resilience import BreakerState, CircuitBreaker, HealthObserver, ResiliencePolicy, ResilientConnector, SourceHealth
from .settings import resolve_env
from .redaction import quiet_client_loggers, redact_numbers
from .tracing import Tracing, current_tracing, traced_batch
from .shuffle import position as shuffled_position

__all__ = [
    "Change",
    "ChangeFeed",
    "ChangeSubscription",
    "LocalChangeFeed",
    "SubscriberTooSlow",
    "HealthObserver",
    "SOURCE_OPTIONS",
    "SourceOptions",
    "BreakerState",
    "CallObserver",
    "CircuitBreaker",
    "ResiliencePolicy",
    "ResilientConnector",
    "SourceHealth",
    "CONNECTOR_KINDS",
    "Connector",
    "ConnectorRegistry",
    "Filter",
    "InMemoryConnector",
    "Record",
    "RegistrySession",
    "SourceBadResponse",
    "SourceError",
    "SourceInfo",
    "SourceQuery",
    "SourceReader",
    "SourceStats",
    "resolve_env",
    "SourceTimeout",
    "SourceTrace",
    "SourceUnavailable",
    "SourceRejectedInput",
    "UnusableKey",
    "Tracing",
    "current_tracing",
    "traced_batch",
    "shuffled_position",
    "quiet_client_loggers",
    "redact_numbers",
]
