"""The per-request context: the vocabulary's loaders plus what the gateway knows of the request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from connectors import SourceTrace
from resolvers import GraphContext

from .access.auth import Principal
from .access.enforcement import AccessContext
from .access.policy import PUBLIC, Action, Mask


def shuffles_list(name: str, shuffled_lists: frozenset[str], access: AccessContext | None) -> bool:
    """Whether a request's lists by the key ``name`` (``Type.key``) are shuffled: for every caller
    when ``[gateway] shuffled_lists`` names it, else unless the caller reads the key in full (a
    masked or refused key must not be told by its place in a list either). The rule of
    ``RequestContext.list_order_salt``, and of the cost of a shuffled list (``QueryGuard``)."""

    return name in shuffled_lists or (access is not None and not access.may_read_in_full(name))


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

    def reads_value(self, type_name: str, field_name: str) -> bool:
        """False when the caller's role is refused ``Type.field`` or has it withheld whole (``hide``);
        a mask that shows a part (``initials``, ``nik``, ``year``: the year in its own field) reads."""

        if self.access is None:
            return True
        decision = self.access.decide(type_name, field_name)
        if self.access.public_only is not None and decision.sensitivity != PUBLIC:
            return False
        return decision.action is Action.ALLOW or (decision.action is Action.MASK and decision.mask is not Mask.HIDE)

    def list_order_salt(self, type_name: str, key_field: str) -> str | None:
        """A salt (lists shuffled) when ``shuffles_list`` says so, else ``None`` (key order)."""

        name = f"{type_name}.{key_field}"
        if not shuffles_list(name, self.shuffled_lists, self.access):
            return None
        return self.cursors.order_salt(name)

    def shuffles(self, name: str) -> bool:
        """Whether this request's lists by the key ``name`` (``Type.key``) are shuffled (``shuffles_list``)."""

        return shuffles_list(name, self.shuffled_lists, self.access)

    @property
    def role(self) -> str | None:
        """The caller's role, for the query limits (``None``: anonymous)."""

        return self.principal.role if self.principal is not None else None
