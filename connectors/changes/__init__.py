"""Change capture: *that* something changed at a source, never *what* it now holds.

The seam (``feed.py``): a source's change capture publishes ``Change`` notices (entity, key,
kind, desa, time) to a ``ChangeFeed``; subscribers (the subscription fields in ``resolvers``)
take notices of one entity from it and read the record itself live, under their own policy.
Nothing but keys, kinds and positions passes through or stays in the gateway.
"""

from .feed import Change, ChangeFeed, ChangeSubscription, LocalChangeFeed, SubscriberTooSlow

__all__ = ["Change", "ChangeFeed", "ChangeSubscription", "LocalChangeFeed", "SubscriberTooSlow"]
