"""The transport layer: HTTP, GraphiQL, the error boundary. ``create_app(settings)`` builds it all."""

from .app import create_app
from .settings import Example, GatewaySettings

__all__ = ["Example", "GatewaySettings", "create_app"]
