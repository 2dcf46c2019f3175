"""What resolvers need from a request: its loaders. The gateway extends this with HTTP details."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.types import Info as _Info

from .loaders import Loaders


@dataclass
class GraphContext:
    """The request context every resolver receives as ``info.context``."""

    loaders: Loaders


Info = _Info[GraphContext, None]
