"""How many distinct persons a caller has looked up by key in the current window.

A role that may use NIKs, KKs or NISNs as keys can still enumerate them: thousands of guessed
keys in ``person(nik:)`` or ``_entities`` tell which ones exist. The budget counts the distinct
keys each principal looked up per fixed window (``[policy.lookups] window_s``) and refuses the
lookups past the role's ``lookup_budget``; a registry officer's day of ordinary work (a few
hundred residents) never meets it, a guessing run does at once. Asking again for a key already
counted in the window costs nothing.

Counted in process memory, or in Redis when ``[policy.lookups] redis_url`` is set, so that
replicas share one count (one set per principal and window, expiring with the window). A Redis
failure fails closed for the lookup: the budget exists to stop enumeration, and a lookup by key
is never the only way to do a legitimate job.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import redis.asyncio
import redis.exceptions

from connectors import resolve_env
from core import SatudataError

from .policy import LookupSettings

log = logging.getLogger("satudata.gateway.lookups")

Clock = Callable[[], float]


class LookupBudgetUnavailable(SatudataError):
    """The shared count could not be read: the lookup is refused (fail closed)."""

    code = "LOOKUP_BUDGET_UNAVAILABLE"
    status = 503


class BudgetBackend(Protocol):
    async def add(self, principal: str, window: int, keys: Iterable[str], budget: int, ttl_s: float) -> bool:
        """Count ``keys`` for ``principal`` in ``window``; False (and nothing counted) if that would pass ``budget``."""

    async def aclose(self) -> None: ...


class MemoryBudget:
    """One process's counts: a set of keys per principal, for the current window only."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, set[str]]] = {}

    async def add(self, principal: str, window: int, keys: Iterable[str], budget: int, ttl_s: float) -> bool:
        current = self._seen.get(principal)
        if current is None or current[0] != window:
            current = self._seen[principal] = (window, set())
        seen = current[1]
        new = set(keys) - seen
        if len(seen) + len(new) > budget:
            return False
        seen.update(new)
        return True

    async def aclose(self) -> None:
        self._seen.clear()


#: Each set's SADD only if it would stay within its budget; one step, so replicas cannot both pass
#: one. Several callers' checks in one run: per key (a principal's set in a window), ARGV holds the
#: number of members, the members, the budget and the expiry in ms; one result per key, in order
#: (1 counted, 0 refused and nothing counted). A set named twice (two lookups of one caller at
#: once) is checked in turn, the second against what the first added.
_ADD_MANY = """
local results = {}
local at = 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[at])
  local new = 0
  for i = at + 1, at + n do
    if redis.call('SISMEMBER', KEYS[k], ARGV[i]) == 0 then new = new + 1 end
  end
  if redis.call('SCARD', KEYS[k]) + new > tonumber(ARGV[at + n + 1]) then
    results[k] = 0
  else
    for i = at + 1, at + n do redis.call('SADD', KEYS[k], ARGV[i]) end
    redis.call('PEXPIRE', KEYS[k], ARGV[at + n + 2])
    results[k] = 1
  end
  at = at + n + 3
end
return results
"""

_Check = tuple[str, list[str], int, int, "asyncio.Future[bool]"]


class RedisBudget:
    """Counts shared by replicas: the set ``satudata:lookups:<principal>:<window>`` in Redis.

    Checks made while one run of the script is at Redis wait and go together in the next run
    (as the audit log's group commit): one round trip and one connection for however many
    requests look persons up at once, rather than one each. Under load that halves the client's
    work per check, and a burst of lookups never needs more connections than Redis allows.
    """

    #: Most checks one run of the script carries.
    MAX_GROUP = 256

    def __init__(self, client: redis.asyncio.Redis, *, prefix: str = "satudata:lookups:") -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_ADD_MANY)
        self._queue: list[_Check] = []
        self._sender: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str) -> RedisBudget:
        return cls(redis.asyncio.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))

    async def add(self, principal: str, window: int, keys: Iterable[str], budget: int, ttl_s: float) -> bool:
        members = sorted(set(keys))
        if not members:
            return True
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._queue.append((f"{self.prefix}{principal}:{window}", members, budget, math.ceil(ttl_s * 1000), done))
        sender = self._sender
        if sender is None or sender.done() or sender.get_loop() is not loop:
            self._sender = loop.create_task(self._send_queued())
        # A caller that stops waiting leaves its check in the group: counted all the same, which
        # errs towards the count, never away from it.
        return await done

    async def _send_queued(self) -> None:
        """Run the script for what is queued, a group at a time, until nothing is left."""

        group: list[_Check] = []
        try:
            while self._queue:
                group, self._queue = self._queue[: self.MAX_GROUP], self._queue[self.MAX_GROUP :]
                args: list[str | int] = []
                for _, members, budget, ttl_ms, _ in group:
                    args += [len(members), *members, budget, ttl_ms]
                try:
                    results = await self._script(keys=[key for key, *_ in group], args=args)
                except (redis.exceptions.RedisError, OSError) as exc:
                    log.warning("lookup budget: Redis unavailable (%s); refusing %d lookup(s)", type(exc).__name__, len(group))
                    for *_, done in group:
                        if not done.done():
                            done.set_exception(_unavailable())
                    continue
                for (*_, done), allowed in zip(group, results, strict=True):
                    if not done.done():
                        done.set_result(bool(allowed))
        except BaseException:
            # Cancelled (the gateway stops) or a fault of ours: nobody waits for ever, and nobody passes.
            for *_, done in (*group, *self._queue):
                if not done.done():
                    done.set_exception(_unavailable())
            self._queue = []
            raise

    async def aclose(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None and not sender.done() and sender.get_loop() is asyncio.get_running_loop():
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
        await self.client.aclose()


def _unavailable() -> LookupBudgetUnavailable:
    return LookupBudgetUnavailable("The lookup budget cannot be checked right now; try again later.")


class LookupBudget:
    """Distinct keys looked up per principal and window, against each role's budget."""

    def __init__(
        self,
        settings: LookupSettings,
        backend: BudgetBackend | None = None,
        *,
        digest: Callable[[str], str] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.backend = backend or MemoryBudget()
        # Keys are counted as keyed digests, so the count's store (Redis, shared) holds no NIK.
        # Replicas that share a store must digest alike: give them the audit's keyed pseudonym
        # (``SubjectNames.stored``); without one, this process's own random key.
        if digest is None:
            key = secrets.token_bytes(32)
            digest = lambda value: hmac.new(key, value.encode(), hashlib.sha256).hexdigest()  # noqa: E731
        self._digest = digest
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: LookupSettings, *, digest: Callable[[str], str] | None = None) -> LookupBudget:
        url = resolve_env("[policy.lookups] redis_url", settings.redis_url) if settings.redis_url else None
        return cls(settings, RedisBudget.from_url(url) if url else None, digest=digest)

    async def spend(self, principal: str, keys: Iterable[str], budget: int) -> bool:
        """Count ``keys`` looked up by ``principal``; False (none counted) when that passes ``budget``."""

        now = self.clock()
        window = int(now // self.settings.window_s)
        ttl = (window + 1) * self.settings.window_s - now
        digests = [self._digest(k)[-32:] for k in keys]
        return await self.backend.add(principal, window, digests, budget, ttl)

    async def aclose(self) -> None:
        await self.backend.aclose()
