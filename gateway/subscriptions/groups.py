"""Subscribers that would get the same answer share one resolution per event, then fan out.

Hasura multiplexes live queries; this is the gateway's form of it. Two subscriptions are in one
``Group`` when everything that can change an event's answer is equal (``group_key``): the
document, the operation's name and variables, and the caller's role, purpose, row-scope
attributes and row filters. The client is not part of it: a subscription event spends no
lookup budget (only root lookups of ``Query`` do), so two clients of one role and scope read
the same event identically.

What is shared is the *resolution*: the event's ``admits`` check and its execution (the source
reads, the masks, the ledger of what was disclosed). What is not shared:

- the change notices: each subscription keeps its own bounded queue at the feed, so a slow
  subscriber overflows its own queue and is ended (``SUBSCRIBER_TOO_SLOW``) without holding
  the group back; a resolution runs in a task of its own, which no subscriber's socket waits on;
- the audit: each subscriber's delivery is recorded on its own, under its own principal
  (``Operations`` writes it from the shared ledger), so every client's look at a person is on
  the record, never merged with another's.

An event is known across the group by ``EventIdentity``: the notice its field read last (the
``NoticeTap`` of that subscription's context), how many events the field made from that notice
so far, and the event object's own fields. Members receive the same notices in the same order,
so the first member to reach an event starts its resolution and the others take it; a member
that finds no resolution (it fell far behind, or an event cannot be identified) resolves alone,
which costs a read but never changes an answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from connectors import Change, ChangeFeed, ChangeSubscription, SourceTrace

#: Resolutions a group keeps for members still to take them. A member more than the feed's
#: ``max_queue`` (default 100) notices behind has been ended as too slow, so it needs no older one.
KEPT_RESOLUTIONS = 128


@dataclass(frozen=True)
class Resolution:
    """One event resolved: what every member sends, and what each member's audit entry is made of."""

    #: The response (``data`` and/or ``errors``); ``None`` when the live read found nothing to announce.
    body: dict[str, Any] | None
    #: The executed ``data``, which the ledger's notes are looked up in.
    data: Any = None
    #: The access ledger of the execution: disclosures, refused fields, an exhausted budget.
    notes: tuple[Any, ...] = ()
    refused: tuple[str, ...] = ()
    budget_exceeded: bool = False
    trace: SourceTrace = dataclasses.field(default_factory=SourceTrace)
    #: The execution's id (its log lines; every member's audit entry of this event names it).
    request_id: str = ""


def group_key(query: str, operation_name: str | None, variables: Mapping[str, Any] | None, admission: Any) -> Hashable | None:
    """What must be equal for two subscriptions to get the same answers; ``None``: never share.

    ``admission`` is the caller's ``gateway.access.Admission`` (``None`` without access control).
    """

    try:
        canonical = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    document = (query, operation_name, canonical)
    if admission is None:
        return document
    access = admission.access
    try:
        attributes = tuple(sorted(access.attributes.items()))
        row_filters = tuple(sorted((entity, tuple(filters)) for entity, filters in admission.row_filters.items()))
        key = (*document, access.role.name, access.purpose, access.public_only, attributes, row_filters)
        hash(key)
    except TypeError:  # an attribute or filter value that cannot be compared: resolve alone
        return None
    return key


@dataclass(frozen=True)
class EventIdentity:
    """One event as every member of a group knows it (see the module docstring)."""

    notice: str
    ordinal: int
    fields: Hashable


def event_fields(event: Any) -> Hashable | None:
    """The event object's type and declared fields, or ``None`` if they cannot identify it.

    Only an event that its declared fields describe entirely is shared. One that carries more
    (state of its own subscription, such as ``absenceAlertRaised``'s watch of the alerts that
    subscriber was already sent, which its ``admits`` updates) is resolved for its subscriber
    alone: another member's resolution would neither update that state nor answer from it.
    """

    values = getattr(event, "__dict__", None)
    if not dataclasses.is_dataclass(event) or isinstance(event, type) or values is None:
        return None
    # The values it was made with (a field with a resolver of its own is a method, not a value).
    if set(values) - {f.name for f in dataclasses.fields(event)}:
        return None
    try:
        fields = (type(event).__qualname__, tuple(values.items()))
        hash(fields)
    except (TypeError, AttributeError):
        return None
    return fields


class NoticeTap:
    """The change feed as one subscription's field sees it, remembering the last notice the field read.

    A subscription field turns the notices it reads into events; when it yields an event, the
    last notice it read is the one the event came from.
    """

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self.last: Change | None = None
        self._made_from: str | None = None
        self._ordinal = 0

    def subscribe(self, entity: str) -> ChangeSubscription:
        return _TappedSubscription(self, self.feed.subscribe(entity))

    async def publish(self, change: Change) -> None:
        await self.feed.publish(change)

    async def aclose(self) -> None:
        """The feed is the gateway's, not this subscription's: nothing to close here."""

    def identify(self, event: Any) -> EventIdentity | None:
        """The identity of ``event``, which the field has just yielded."""

        if self.last is None:
            return None
        if self._made_from == self.last.id:
            self._ordinal += 1
        else:
            self._made_from, self._ordinal = self.last.id, 0
        fields = event_fields(event)
        return None if fields is None else EventIdentity(self.last.id, self._ordinal, fields)


class _TappedSubscription:
    def __init__(self, tap: NoticeTap, inner: ChangeSubscription) -> None:
        self._tap = tap
        self._inner = inner

    def __aiter__(self) -> AsyncIterator[Change]:
        return self

    async def __anext__(self) -> Change:
        change = await self._inner.__anext__()
        self._tap.last = change
        return change

    def close(self) -> None:
        self._inner.close()


class _Pending:
    """A resolution under way or done, and how many members have taken it."""

    __slots__ = ("task", "expected", "taken")

    def __init__(self, task: asyncio.Task[Resolution], expected: int) -> None:
        self.task = task
        self.expected = expected
        self.taken = 0


class Group:
    """The subscriptions of one ``group_key``: the resolutions of their recent events."""

    def __init__(self, key: Hashable, *, kept: int = KEPT_RESOLUTIONS) -> None:
        self.key = key
        self.members = 0
        self.kept = kept
        self.resolutions_started = 0
        self._pending: OrderedDict[EventIdentity, _Pending] = OrderedDict()

    async def resolve(self, identity: EventIdentity, resolve: Callable[[], Awaitable[Resolution]]) -> Resolution:
        """The resolution of the event ``identity``: started by the first member to ask, shared with the rest."""

        pending = self._pending.get(identity)
        if pending is None:
            task = asyncio.ensure_future(resolve())
            # A resolution whose members all left is not awaited: its error is not worth a warning.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            pending = self._pending[identity] = _Pending(task, self.members)
            self.resolutions_started += 1
            while len(self._pending) > self.kept:
                self._pending.popitem(last=False)
        pending.taken += 1
        if pending.taken >= pending.expected:
            # Every member there was when it started has it: forget it (a late joiner never had the notice).
            self._pending.pop(identity, None)
        if pending.task.done():  # the common case for all but the first member: no wrapper to await
            return pending.task.result()
        # Shielded: a member that leaves while waiting does not cancel the others' resolution.
        return await asyncio.shield(pending.task)

    def close(self) -> None:
        """The last member left: resolutions nobody waits for are stopped."""

        for pending in self._pending.values():
            pending.task.cancel()
        self._pending.clear()


class SubscriberGroups:
    """The groups of this process, by ``group_key``; a group lives while it has members."""

    def __init__(self, *, kept: int = KEPT_RESOLUTIONS) -> None:
        self.kept = kept
        self._groups: dict[Hashable, Group] = {}

    def join(self, key: Hashable) -> Group:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, kept=self.kept)
        group.members += 1
        return group

    def leave(self, group: Group) -> None:
        group.members -= 1
        if group.members <= 0 and self._groups.get(group.key) is group:
            del self._groups[group.key]
            group.close()

    def __len__(self) -> int:
        """Distinct groups with members now."""

        return len(self._groups)

    def subscribers(self) -> int:
        """Subscriptions in groups now."""

        return sum(g.members for g in self._groups.values())


__all__ = ["EventIdentity", "Group", "NoticeTap", "Resolution", "SubscriberGroups", "event_fields", "group_key"]
