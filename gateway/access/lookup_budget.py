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


#: SADD only if the set would stay within the budget; one step, so replicas cannot both pass it.
_ADD = """
local new = 0
for i = 1, #ARGV - 2 do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then new = new + 1 end
end
if redis.call('SCARD', KEYS[1]) + new > tonumber(ARGV[#ARGV - 1]) then return 0 end
for i = 1, #ARGV - 2 do redis.call('SADD', KEYS[1], ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[#ARGV])
return 1
"""


class RedisBudget:
    """Counts shared by replicas: the set ``satudata:lookups:<principal>:<window>`` in Redis."""

    def __init__(self, client: redis.asyncio.Redis, *, prefix: str = "satudata:lookups:") -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_ADD)

    @classmethod
    def from_url(cls, url: str) -> RedisBudget:
        return cls(redis.asyncio.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))

    async def add(self, principal: str, window: int, keys: Iterable[str], budget: int, ttl_s: float) -> bool:
        members = sorted(set(keys))
        if not members:
            return True
        try:
            allowed = await self._script(
                keys=[f"{self.prefix}{principal}:{window}"], args=[*members, budget, math.ceil(ttl_s * 1000)]
            )
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("lookup budget: Redis unavailable (%s); refusing the lookup", type(exc).__name__)
            raise LookupBudgetUnavailable("The lookup budget cannot be checked right now; try again later.") from None
        return bool(allowed)

    async def aclose(self) -> None:
        await self.client.aclose()


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
