"""Live operations: GraphQL subscriptions over graphql-transport-ws and GraphQL over SSE.

``operations.Operations`` runs one operation through the gateway's pipeline (the same
documents, limits, access control and audit as a POST); ``websocket.GraphQLTransportWS`` and
``sse.GraphQLOverSSE`` speak the two protocols around it; ``limits.ClientSubscriptions``
counts subscriptions per client; ``settings`` is the ``[subscriptions]`` table. The change
notices come from a ``connectors.ChangeFeed`` that ``create_app`` is given or builds.
"""

from .limits import ClientSubscriptions, TooManySubscriptions
from .operations import Operations
from .settings import SUBSCRIPTIONS, SubscriptionSettings
from .sse import GraphQLOverSSE
from .websocket import GraphQLTransportWS

__all__ = [
    "ClientSubscriptions",
    "GraphQLOverSSE",
    "GraphQLTransportWS",
    "Operations",
    "SUBSCRIPTIONS",
    "SubscriptionSettings",
    "TooManySubscriptions",
]
