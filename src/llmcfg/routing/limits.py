"""Rate limits with back-pressure: ``rpm``, ``tpm`` and ``max_parallel`` per alias, shared by every
process through Redis when ``router.redis_url`` is set (else per process).

Why llmcfg's own gate and not LiteLLM's: on 1.110.2 ``enforce_model_rate_limits`` picks a key by
shuffle and *fails* when that key is over its limit (it does not pick another key), and
``usage-based-routing-v2`` refuses a deployment one request below its ``rpm``. Neither waits. The
gate here admits a call when every window has room and otherwise tells how long to wait; the call
waits up to ``router.queue_timeout_s`` and then raises ``RateLimitError`` with ``retry_after``.

Windows slide over the last 60 s (rpm: calls, tpm: tokens, counted at an estimate before sending
and corrected to the real count after). ``max_parallel`` is a lease per call, expiring on its own
if a process dies mid-call. Redis runs each check-and-admit as one Lua script, so two processes
cannot both take the last slot. The deciding is sans-I/O (``Gate.attempts`` yields waits), so sync
and async calls drive the same steps.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmcfg.exceptions import RateLimitError

__all__ = ["Gate", "Lease", "LimitStore", "Limits", "LocalLimitStore", "RedisLimitStore"]

WINDOW_S = 60.0
_PARALLEL_POLL_S = 0.02  # how often a call waiting for a parallel slot looks again


@dataclass(frozen=True)
class Limits:
    """The limits of one alias; None means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None

    @property
    def active(self) -> bool:
        return any(value is not None for value in (self.rpm, self.tpm, self.max_parallel))


@dataclass
class Lease:
    """One admitted call: released (and its tokens corrected) when the call ends."""

    name: str
    id: str
    tokens: int
    limits: Limits
    released: bool = field(default=False)


class LimitStore(Protocol):
    def try_acquire(self, name: str, limits: Limits, lease: str, tokens: int, lease_ttl_s: float) -> float:
        """Admit (return 0.0) or say how many seconds until there may be room (nothing recorded)."""

    def release(self, name: str, limits: Limits, lease: str, tokens: int, actual_tokens: int | None) -> None:
        """End the call's parallel lease; replace its token estimate by the real count."""


class LocalLimitStore:
    """The limits of one process (no ``router.redis_url``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, list[tuple[float, str, int]]] = {}  # name -> (time, lease, tokens)
        self._leases: dict[str, dict[str, float]] = {}  # name -> lease -> expiry

    def try_acquire(self, name: str, limits: Limits, lease: str, tokens: int, lease_ttl_s: float) -> float:
        now = time.monotonic()
        with self._lock:
            calls = [c for c in self._calls.get(name, []) if c[0] > now - WINDOW_S]
            leases = {k: e for k, e in self._leases.get(name, {}).items() if e > now}
            self._calls[name], self._leases[name] = calls, leases
            wait = 0.0
            if limits.rpm is not None and len(calls) >= limits.rpm:
                wait = max(wait, calls[-limits.rpm][0] + WINDOW_S - now)
            if limits.tpm is not None:
                used = sum(c[2] for c in calls)
                if calls and used + tokens > limits.tpm:
                    wait = max(wait, calls[0][0] + WINDOW_S - now)
            if limits.max_parallel is not None and len(leases) >= limits.max_parallel:
                wait = max(wait, _PARALLEL_POLL_S)
            if wait > 0:
                return wait
            calls.append((now, lease, tokens))
            leases[lease] = now + lease_ttl_s
            return 0.0

    def release(self, name: str, limits: Limits, lease: str, tokens: int, actual_tokens: int | None) -> None:
        with self._lock:
            self._leases.get(name, {}).pop(lease, None)
            if actual_tokens is not None:
                self._calls[name] = [
                    (at, key, actual_tokens if key == lease else used)
                    for at, key, used in self._calls.get(name, [])
                ]


_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, tpm, par = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, tokens, ttl = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - 60)
if #expired > 0 then
  local gone = 0
  for _, m in ipairs(expired) do gone = gone + tonumber(redis.call('HGET', KEYS[2], m) or '0') end
  redis.call('HDEL', KEYS[2], unpack(expired))
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60)
  redis.call('DECRBY', KEYS[4], gone)
end
local wait = 0
local n = redis.call('ZCARD', KEYS[1])
if rpm > 0 and n >= rpm then
  local oldest = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + 60 - now)
end
if tpm > 0 then
  local used = tonumber(redis.call('GET', KEYS[4]) or '0')
  if used > 0 and used + tokens > tpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + 60 - now)
  end
end
if par > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= par then wait = math.max(wait, tonumber(ARGV[7])) end
end
if wait > 0 then return tostring(wait) end
redis.call('ZADD', KEYS[1], now, lease)
redis.call('HSET', KEYS[2], lease, tokens)
redis.call('INCRBY', KEYS[4], tokens)
redis.call('ZADD', KEYS[3], now + ttl, lease)
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], math.ceil(math.max(61, ttl + 1))) end
return '0'
"""

_RELEASE = """
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[2] ~= '' then
  local before = redis.call('HGET', KEYS[2], ARGV[1])
  if before then
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
    redis.call('INCRBY', KEYS[4], tonumber(ARGV[2]) - tonumber(before))
  end
end
return true
"""


class RedisLimitStore:
    """The limits of the fleet, in Redis at ``url`` (the same as ``router.redis_url``)."""

    def __init__(self, url: str, *, prefix: str = "llmcfg:limits") -> None:
        import redis

        self._client: Any = redis.Redis.from_url(url)
        self._prefix = prefix
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)

    def _keys(self, name: str) -> list[str]:
        return [f"{self._prefix}:{name}:{part}" for part in ("calls", "tokens", "leases", "used")]

    def try_acquire(self, name: str, limits: Limits, lease: str, tokens: int, lease_ttl_s: float) -> float:
        answer = self._acquire(
            keys=self._keys(name),
            args=[
                limits.rpm or 0,
                limits.tpm or 0,
                limits.max_parallel or 0,
                lease,
                tokens,
                lease_ttl_s,
                _PARALLEL_POLL_S,
            ],
        )
        return float(answer.decode() if isinstance(answer, bytes) else answer)

    def release(self, name: str, limits: Limits, lease: str, tokens: int, actual_tokens: int | None) -> None:
        self._release(keys=self._keys(name), args=[lease, "" if actual_tokens is None else actual_tokens])

    def close(self) -> None:
        self._client.close()


class Gate:
    """Admits calls under each alias's limits, waiting up to ``queue_timeout_s`` for room."""

    def __init__(
        self, store: LimitStore, limits: dict[str, Limits], *, queue_timeout_s: float, lease_ttl_s: float
    ) -> None:
        self.store = store
        self.limits = {name: limit for name, limit in limits.items() if limit.active}
        self.queue_timeout_s = queue_timeout_s
        self.lease_ttl_s = lease_ttl_s

    def attempts(self, alias: str, tokens: int) -> Generator[float, None, Lease | None]:
        """Yields how long to sleep before trying again; returns the lease (None: no limits)."""
        limits = self.limits.get(alias)
        if limits is None:
            return None
        lease = Lease(alias, uuid.uuid4().hex, tokens, limits)
        deadline = time.monotonic() + self.queue_timeout_s
        while True:
            wait = self.store.try_acquire(alias, limits, lease.id, tokens, self.lease_ttl_s)
            if wait <= 0:
                return lease
            remaining = deadline - time.monotonic()
            if wait > remaining:
                error = RateLimitError(
                    f"alias {alias!r} is over its limits ({_describe(limits)}) and had no room within "
                    f"router.queue_timeout_s={self.queue_timeout_s:g}s; retry in {wait:.1f}s "
                    "or raise the limits",
                    alias=alias,
                    status_code=429,
                )
                error.retry_after = round(wait, 3)
                raise error
            yield wait

    def acquire(self, alias: str, tokens: int) -> Lease | None:
        steps = self.attempts(alias, tokens)
        try:
            while True:
                time.sleep(next(steps))
        except StopIteration as done:
            lease: Lease | None = done.value
            return lease

    async def aacquire(self, alias: str, tokens: int) -> Lease | None:
        steps = self.attempts(alias, tokens)
        try:
            while True:
                await asyncio.sleep(next(steps))
        except StopIteration as done:
            lease: Lease | None = done.value
            return lease

    def release(self, lease: Lease | None, actual_tokens: int | None = None) -> None:
        if lease is None or lease.released:
            return
        lease.released = True
        self.store.release(lease.name, lease.limits, lease.id, lease.tokens, actual_tokens)


def _describe(limits: Limits) -> str:
    parts = [f"{name}={value}" for name, value in vars(limits).items() if value is not None]
    return ", ".join(parts)
