"""The per-request context: the vocabulary's loaders plus what the gateway knows of the request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from connectors import SourceTrace
from resolvers import GraphContext


@dataclass
class RequestContext(GraphContext):
    """``info.context`` for one HTTP request."""

    request: Request
    request_id: str
    trace: SourceTrace
