"""The transport layer: HTTP, GraphiQL, the error boundary. ``create_app(settings)`` builds it all.

Who may ask what (authentication, rate limits, the policy, query limits, the audit log) is
``gateway.access``, a package of its own.
"""

from .app import create_app
from .settings import Example, GatewaySettings

__all__ = ["Example", "GatewaySettings", "create_app"]
