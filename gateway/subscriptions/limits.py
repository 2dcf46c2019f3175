"""Subscriptions per client: a count per principal in this process, refused past the limit."""

from __future__ import annotations

from collections import Counter

from ..errors import RequestError


class TooManySubscriptions(RequestError):
    """The client already holds ``[subscriptions] max_per_client`` subscriptions."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            429,
            f"This client already holds {limit} subscriptions, as many as it may; complete one first.",
            "TOO_MANY_SUBSCRIPTIONS",
        )


class ClientSubscriptions:
    """Open subscriptions per client key, over every connection of this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, client: str) -> None:
        """Count one more for ``client``, or raise ``TooManySubscriptions``."""

        if self._open[client] >= self.limit:
            raise TooManySubscriptions(self.limit)
        self._open[client] += 1

    def release(self, client: str) -> None:
        self._open[client] -= 1
        if self._open[client] <= 0:
            del self._open[client]

    def held(self, client: str) -> int:
        return self._open.get(client, 0)
