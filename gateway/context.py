"""The per-request context: the vocabulary's loaders plus what the gateway knows of the request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from connectors import SourceTrace
from resolvers import GraphContext

from .access.auth import Principal
from .access.enforcement import AccessContext
from .access.policy import Action


@dataclass
class RequestContext(GraphContext):
    """``info.context`` for one HTTP request."""

    request: Request
    request_id: str
    trace: SourceTrace
    #: Who is calling (``None`` when the gateway runs without access control, e.g. in tests).
    principal: Principal | None = None
    #: Their role's field decisions and the ledger of personal data disclosed.
    access: AccessContext | None = None
    #: Event-loop time by which every source call of the request must be done.
    deadline: float | None = None
    #: ``Type.key`` of lists every caller gets shuffled (``[gateway] shuffled_lists``).
    shuffled_lists: frozenset[str] = frozenset()

    def may_resolve(self, type_name: str, field_name: str) -> bool:
        """False when the caller's role is refused ``Type.field`` (a masked field may resolve)."""

        return self.access is None or self.access.decide(type_name, field_name).action is not Action.REFUSE

    def list_order_salt(self, type_name: str, key_field: str) -> str | None:
        """A salt (lists shuffled) unless the caller reads ``Type.key`` in full: a masked or refused
        key must not be told by its place in a list either. ``[gateway] shuffled_lists`` shuffles
        a list for every caller."""

        name = f"{type_name}.{key_field}"
        if name not in self.shuffled_lists and (self.access is None or self.access.may_read_in_full(name)):
            return None
        return self.cursors.order_salt(name)

    @property
    def role(self) -> str | None:
        """The caller's role, for the query limits (``None``: anonymous)."""

        return self.principal.role if self.principal is not None else None
