"""The seam through which source calls and loader batches are traced (``gateway.telemetry``).

Off unless a request is being traced: ``current_tracing`` holds ``None`` by default, and the
gateway's tracing middleware sets it for the requests it traces only. So with telemetry off
(the default, and the only state without the ``otel`` extra) a connector pays one context
variable read per call, and a loader nothing per batch (``traced_batch`` decides once, when
the loader is made). This module imports no OpenTelemetry: the implementation lives in the
gateway, which may have it installed.

What a span may say: the source's name, the route template (``/v1/participants/{nik}``, never
the path with the key in it), entity and field names and counts. Never a key, a variable or a
record, which would put NIKs into the tracing backend.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, Protocol

Batch = Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]


class Tracing(Protocol):
    """What a connector or loader asks of the tracer; implemented by ``gateway.telemetry``."""

    def http_call(self, source: str, method: str, route: str) -> AbstractContextManager[Mapping[str, str]]:
        """A client span around one HTTP call to ``source``; yields the headers to add to it
        (W3C ``traceparent``, and ``tracestate`` when there is one). An exception marks it failed."""
        ...

    def loader_batch(self, key: Hashable, size: int) -> AbstractContextManager[None]:
        """A span around one batch of a loader (``key`` names it: kind, entity, field), ``size`` keys."""
        ...


#: The tracer of the request being answered, or ``None`` (not traced).
current_tracing: ContextVar[Tracing | None] = ContextVar("satudata_tracing", default=None)


def traced_batch(key: Hashable, batch: Batch) -> Batch:
    """``batch`` with a span around each call when this request is traced, else ``batch`` itself."""

    tracing = current_tracing.get()
    if tracing is None:
        return batch

    async def traced(keys: list[Any]) -> list[Any]:
        with tracing.loader_batch(key, len(keys)):
            return await batch(keys)

    return traced
