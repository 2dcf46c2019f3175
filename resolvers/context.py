"""What resolvers need from a request: its loaders. The gateway extends this with HTTP details."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from strawberry.types import Info as _Info

from connectors import ChangeFeed, SourceHealth

from .cursors import CursorSeal, process_seal
from .loaders import Loaders
from .signals.detection import Parameters


@dataclass
class GraphContext:
    """The request context every resolver receives as ``info.context``."""

    loaders: Loaders
    #: Seals paging cursors; the gateway passes one made from its ``cursor_key``.
    cursors: CursorSeal = field(default_factory=process_seal, kw_only=True)
    #: What ``lookahead.selects`` worked out for this request's document, by answer position.
    lookahead: dict[Hashable, bool] = field(default_factory=dict, kw_only=True)
    #: Where subscription fields take change notices from (``None``: subscriptions are off).
    changes: ChangeFeed | None = field(default=None, kw_only=True)
    #: Each source's health as last seen, for ``sourceStatus`` (``None``: not known here).
    source_health: Callable[[], Sequence[SourceHealth]] | None = field(default=None, kw_only=True)
    #: The absence-alert method's parameters (``[signals.absence]``).
    signals: Parameters = field(default_factory=Parameters, kw_only=True)

    def may_resolve(self, type_name: str, field_name: str) -> bool:
        """Whether this request may resolve ``Type.field`` at all. Look-ahead asks before it
        fetches for a deeper field, so that no source is asked for data the caller may not see;
        the gateway answers from its access policy (here: always)."""

        return True

    def reads_value(self, type_name: str, field_name: str) -> bool:
        """Whether this request is shown something of ``Type.field``'s values: all of each, or a part
        where its mask shows one (initials, a NIK's ends, a date's year in its own field). False where
        the field is refused or withheld whole (masked by ``hide``): a resolver that derives an answer
        from such a value (a discrepancy whose fact is that value) must not give it to this caller.
        The gateway answers from its access policy (here: always)."""

        return True

    def list_order_salt(self, type_name: str, key_field: str) -> str | None:
        """``None`` to list ``type_name`` in the order of its key ``key_field``, or a salt to list it
        in a shuffled order (``connectors.shuffle``) when the key's order would tell what this
        request may not see: the gateway shuffles for a caller who does not see the key in full
        (a NIK's order holds its owner's sex and birth date). Here: the key order."""

        return None


Info = _Info[GraphContext, None]
