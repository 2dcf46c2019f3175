"""Per-client rate limits: GCRA (a token bucket kept as one timestamp per client).

```toml
[ratelimit]
requests_per_minute = 120      # sustained rate, every role unless overridden
burst = 30                     # requests a client may send at once after a quiet spell
redis_url = "env:REDIS_URL"    # optional: replicas share budgets through Redis; absent = in memory
timeout_s = 0.25               # longest a Redis call may take before the in-memory fallback decides

[ratelimit.roles.anonymous]
requests_per_minute = 30
burst = 10
```

GCRA keeps, per client, the *theoretical arrival time* (TAT): when the client's bucket would be
full again. A request is allowed when ``TAT + interval - burst * interval <= now`` and moves the
TAT on by one interval (``60 / requests_per_minute``). One number per client, updated in one
step, is what makes the Redis version atomic as a single Lua script.

**When Redis is unreachable the limiter fails open** to a per-process in-memory limiter, logs a
warning, and tries Redis again after ``retry_s``. The limits protect the OPDs' systems from
abuse; failing closed would turn a Redis outage into an outage of every answer the regency
publishes, while the fallback still holds each replica to the budget (so a client gets at most
one budget per replica until Redis is back).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio
import redis.exceptions

from connectors import resolve_env
from core import ConfigError, SatudataError

from ..config_types import ENV, SECONDS, Int, Key, MapOf, Table, describe

log = logging.getLogger("satudata.gateway.ratelimit")

#: A clock in seconds. Tests pass their own; see ``MemoryBackend`` and ``RedisBackend``.
Clock = Callable[[], float]
# Tolerance for float rounding: a TAT built from a hundred 0.1 s steps must not refuse the 50th
# of a burst of 50, nor count "exactly 4 left" as 3. A microsecond is far below any real rate.
_EPSILON = 1e-6


@dataclass(frozen=True)
class Rate:
    """A role's limit: a sustained rate and a burst (both at least 1)."""

    requests_per_minute: int = 120
    burst: int = 30

    @property
    def interval_s(self) -> float:
        """Time between requests at the sustained rate: the time one token takes to come back."""
        return 60.0 / self.requests_per_minute


@dataclass(frozen=True)
class RateCheck:
    """The answer to one request: ``allowed``, else how long to wait; ``remaining`` requests right now."""

    allowed: bool
    retry_after_s: float
    remaining: int

    def headers(self) -> dict[str, str]:
        """``Retry-After`` (whole seconds, rounded up, as HTTP requires) for a refusal; nothing otherwise."""
        return {} if self.allowed else {"retry-after": str(max(1, math.ceil(self.retry_after_s)))}


class RateLimited(SatudataError):
    """The client sent more requests than its role allows (HTTP 429 with ``Retry-After``)."""

    code = "RATE_LIMITED"
    status = 429

    def __init__(self, check: RateCheck) -> None:
        seconds = max(1, math.ceil(check.retry_after_s))
        super().__init__(f"Too many requests; try again in {seconds} s.", retryAfter=seconds)
        self.check = check

    def headers(self) -> dict[str, str]:
        """``Retry-After`` in the same whole seconds as the message and ``retryAfter``."""
        return self.check.headers()


class BackendUnavailable(Exception):
    """A shared backend could not decide (the limiter falls back to memory)."""


class RateLimitBackend(Protocol):
    """Where buckets live. ``hit`` takes one request from ``key``'s bucket if it can."""

    async def hit(self, key: str, rate: Rate) -> RateCheck: ...

    async def aclose(self) -> None: ...


class MemoryBackend:
    """Buckets in this process. Each ``hit`` reads and writes without awaiting, so concurrent
    requests on one event loop cannot both take the last token."""

    #: Sweep full buckets (indistinguishable from absent ones) every this many hits.
    SWEEP_EVERY = 1024

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._tat: dict[str, float] = {}
        self._hits = 0

    async def hit(self, key: str, rate: Rate) -> RateCheck:
        now = self.clock()
        self._hits += 1
        if self._hits % self.SWEEP_EVERY == 0:
            self._tat = {k: tat for k, tat in self._tat.items() if tat > now}
        interval = rate.interval_s
        new_tat = max(self._tat.get(key, now), now) + interval
        allow_at = new_tat - rate.burst * interval
        if allow_at - now > _EPSILON:
            return RateCheck(allowed=False, retry_after_s=allow_at - now, remaining=0)
        self._tat[key] = new_tat
        return RateCheck(allowed=True, retry_after_s=0.0, remaining=int((now - allow_at) / interval + _EPSILON))

    async def aclose(self) -> None:
        self._tat.clear()


# The same arithmetic as MemoryBackend.hit, run atomically inside Redis. Numbers go back as
# strings: Redis truncates Lua numbers to integers.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at - now > 1e-6 then
  return {0, string.format('%.6f', allow_at - now), 0}
end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000))
return {1, '0', math.floor((now - allow_at) / interval + 1e-6)}
"""


class RedisBackend:
    """Buckets in Redis, shared by every gateway replica; one Lua script per hit, so atomic.

    Time is Redis's own (``TIME``) unless a ``clock`` is given: one clock for all replicas,
    whatever their skew. Tests pass a clock to move time without sleeping. Keys expire when
    their bucket is full again, so idle clients cost nothing.
    """

    def __init__(self, client: redis.asyncio.Redis, *, prefix: str = "satudata:ratelimit:", clock: Clock | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self._script = client.register_script(_GCRA)

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.25, **kwargs: Any) -> RedisBackend:
        client = redis.asyncio.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, **kwargs)

    async def hit(self, key: str, rate: Rate) -> RateCheck:
        now = "" if self.clock is None else repr(self.clock())
        try:
            allowed, retry_after, remaining = await self._script(
                keys=[self.prefix + key], args=[repr(rate.interval_s), rate.burst, now]
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise BackendUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc
        return RateCheck(allowed=bool(allowed), retry_after_s=float(retry_after), remaining=int(remaining))

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True)
class RateLimits:
    """The ``[ratelimit]`` table: a default rate, per-role overrides, and where buckets live."""

    default: Rate = Rate()
    roles: Mapping[str, Rate] = field(default_factory=dict)
    #: ``redis://…`` to share buckets between replicas; None keeps them in memory.
    redis_url: str | None = None
    #: Longest a Redis call may take before the fallback decides.
    timeout_s: float = 0.25
    #: After Redis failed, how long to use the fallback before trying Redis again.
    retry_s: float = 5.0

    def rate(self, role: str | None) -> Rate:
        return self.roles.get(role, self.default) if role is not None else self.default

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> RateLimits:
        """Read ``[ratelimit]``; a wrong key or value raises ``ConfigError`` naming it."""

        table = dict(table or {})
        problems = RATELIMIT.problems(table, "ratelimit")
        if problems:
            raise ConfigError(describe(problems))
        default = _rate(table, Rate(), "ratelimit")
        roles = {}
        overrides = table.get("roles", {})
        if not isinstance(overrides, Mapping):
            raise ConfigError("[ratelimit.roles] must be a table")
        for role, raw in overrides.items():
            where = f"ratelimit.roles.{role}"
            if not isinstance(raw, Mapping):
                raise ConfigError(f"[{where}] must be a table")
            roles[role] = _rate(raw, default, where)
        url = table.get("redis_url")
        return cls(
            default=default,
            roles=roles,
            redis_url=None if url is None else resolve_env("ratelimit.redis_url", url),
            timeout_s=_seconds(table.get("timeout_s", cls.timeout_s), "ratelimit.timeout_s"),
            retry_s=_seconds(table.get("retry_s", cls.retry_s), "ratelimit.retry_s"),
        )


#: The ``[ratelimit]`` table's keys (in the config tree, ``gateway.config_schema``).
_RATE_KEYS = (
    Key("requests_per_minute", Int(minimum=1), "Sustained rate per client.", Rate.requests_per_minute),
    Key("burst", Int(minimum=1), "Requests a client may send at once.", Rate.burst),
)
RATELIMIT = Table(
    description="Requests per client: a default rate, per-role overrides, and where buckets live.",
    keys=(
        *_RATE_KEYS,
        Key("roles", MapOf(Table(description="A role's own rate.", keys=_RATE_KEYS), name="ROLE"),
            "Role -> rate overrides.", {}),
        Key("redis_url", ENV, "Share buckets between replicas; unset: in memory.", default_doc="in memory"),
        Key("timeout_s", SECONDS, "Longest a Redis call may take before the fallback decides.",
            RateLimits.timeout_s),
        Key("retry_s", SECONDS, "After Redis failed, how long to use the fallback.", RateLimits.retry_s),
    ),
)


class RateLimiter:
    """``await limiter.hit(client_id, role)`` for every request, before any work is done.

    ``client_id`` is whoever the budget belongs to (a token's subject, else the client address);
    a role's rate comes from ``RateLimits``. Build with ``RateLimiter.from_limits(limits)`` and
    ``await limiter.aclose()`` at shutdown.
    """

    def __init__(
        self, limits: RateLimits, backend: RateLimitBackend, *, fallback: MemoryBackend | None = None, clock: Clock = time.monotonic
    ) -> None:
        self.limits = limits
        self.backend = backend
        self.fallback = fallback or MemoryBackend(clock)
        self.clock = clock
        self._backend_down_until: float | None = None

    @classmethod
    def from_limits(cls, limits: RateLimits) -> RateLimiter:
        if limits.redis_url is None:
            return cls(limits, MemoryBackend())
        return cls(limits, RedisBackend.from_url(limits.redis_url, timeout_s=limits.timeout_s))

    async def hit(self, client_id: str, role: str | None) -> RateCheck:
        """Take one request from the client's budget; ``RateCheck.allowed`` says whether it may run."""

        rate = self.limits.rate(role)
        key = f"{role or '-'}:{client_id}"
        if self.backend is self.fallback:
            return await self.fallback.hit(key, rate)
        if self._backend_down_until is not None and self.clock() < self._backend_down_until:
            return await self.fallback.hit(key, rate)
        try:
            check = await self.backend.hit(key, rate)
        except BackendUnavailable as exc:
            if self._backend_down_until is None:
                log.warning("rate limits fall back to this process's memory: %s (retrying in %s s)", exc, self.limits.retry_s)
            self._backend_down_until = self.clock() + self.limits.retry_s
            return await self.fallback.hit(key, rate)
        if self._backend_down_until is not None:
            log.warning("rate limits are shared again")
            self._backend_down_until = None
        return check

    async def aclose(self) -> None:
        await self.backend.aclose()
        if self.fallback is not self.backend:
            await self.fallback.aclose()


def _rate(table: Mapping[str, Any], base: Rate, where: str) -> Rate:
    values = {}
    for key in ("requests_per_minute", "burst"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}.{key} must be a whole number of at least 1, not {value!r}")
            values[key] = value
    return Rate(**{"requests_per_minute": base.requests_per_minute, "burst": base.burst, **values})


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{where} must be a positive number of seconds, not {value!r}")
    return float(value)
