"""The budget ledger in Redis, for several machines: each operation is one Lua script, which Redis
runs atomically, so check-and-reserve cannot interleave with another process's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from llmcfg.exceptions import BudgetStoreError
from llmcfg.money.budget.stores import Refusal, WindowTotals

T = TypeVar("T")

__all__ = ["RedisStore"]

_RESERVE = """
local reservations, spent = KEYS[1], KEYS[2]
local id, amount, now, expires = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local windows = cjson.decode(ARGV[5])
local limits = cjson.decode(ARGV[6])
local reserved = {}
local all = redis.call('HGETALL', reservations)
for i = 1, #all, 2 do
  local entry = cjson.decode(all[i + 1])
  if entry.e <= now then
    redis.call('HDEL', reservations, all[i])
  else
    for _, w in ipairs(entry.w) do reserved[w] = (reserved[w] or 0) + entry.a end
  end
end
for _, pair in ipairs(limits) do
  local window, limit = pair[1], pair[2]
  local used = tonumber(redis.call('HGET', spent, window) or '0') + (reserved[window] or 0)
  if used + amount > limit + 1e-12 then
    return {window, tostring(limit), tostring(used)}
  end
end
redis.call('HSET', reservations, id, cjson.encode({w = windows, a = amount, e = expires}))
return false
"""


def shown_url(url: str) -> str:
    """``url`` fit to show: a password becomes ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_SETTLE = """
redis.call('HDEL', KEYS[1], ARGV[1])
local windows = cjson.decode(ARGV[2])
for _, w in ipairs(windows) do
  if ARGV[3] == 'unknown' then redis.call('HINCRBY', KEYS[3], w, 1)
  else redis.call('HINCRBYFLOAT', KEYS[2], w, ARGV[3]) end
end
return true
"""


class RedisStore:
    """Budget ledger in Redis at ``url`` (``redis://host:port/db``), under ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "llmcfg:budget") -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - redis is a dependency; kept for a clear message
            raise ImportError("budgets.store: redis needs the redis package: pip install redis") from None
        self._errors = (redis.RedisError, OSError)
        self.url = shown_url(url)
        self._secret = urlsplit(url).password
        self._client: Any = redis.Redis.from_url(url)
        self._keys = [f"{prefix}:reservations", f"{prefix}:spent", f"{prefix}:unpriced"]
        self._reserve = self._client.register_script(_RESERVE)
        self._settle = self._client.register_script(_SETTLE)

    def _guarded(self, work: Callable[[], T]) -> T:
        """``work`` with Redis's errors turned into BudgetStoreError naming the server (password
        hidden; raised outside the except clause: the raw error is not its context)."""
        try:
            return work()
        except self._errors as error:
            detail = str(error).replace(self._secret, "***") if self._secret else str(error)
            failure = BudgetStoreError(
                self.url,
                f"Redis did not answer ({type(error).__name__}: {detail})",
                "check that Redis runs there and budgets.redis_url is right, or set budgets.store: local",
            )
        raise failure

    def _reserve_now(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        pairs = json.dumps([[window, limit] for window, limit in limits.items()])
        answer = self._reserve(
            keys=self._keys[:2], args=[reservation_id, amount, now, now + ttl_s, json.dumps(windows), pairs]
        )
        if not answer:
            return None
        window, limit, used = (part.decode() if isinstance(part, bytes) else str(part) for part in answer)
        return Refusal(window, float(limit), float(used))

    def _settle_now(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        amount = "unknown" if actual is None else repr(float(actual))
        self._settle(keys=self._keys, args=[reservation_id, json.dumps(windows), amount])

    def _release_now(self, reservation_id: str) -> None:
        self._client.hdel(self._keys[0], reservation_id)

    def _totals_now(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        reserved: dict[str, float] = {}
        for raw in self._client.hvals(self._keys[0]):
            entry = json.loads(raw)
            if entry["e"] > now:
                for window in entry["w"]:
                    reserved[window] = reserved.get(window, 0.0) + float(entry["a"])
        values = self._client.hmget(self._keys[1], windows) if windows else []
        counts = self._client.hmget(self._keys[2], windows) if windows else []
        return {
            w: WindowTotals(float(v) if v is not None else 0.0, reserved.get(w, 0.0), int(c or 0))
            for w, v, c in zip(windows, values, counts, strict=True)
        }

    def reserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        return self._guarded(lambda: self._reserve_now(reservation_id, windows, limits, amount, now, ttl_s))

    def settle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        self._guarded(lambda: self._settle_now(reservation_id, windows, actual))

    def release(self, reservation_id: str) -> None:
        self._guarded(lambda: self._release_now(reservation_id))

    def totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        return self._guarded(lambda: self._totals_now(windows, now))

    def close(self) -> None:
        self._client.close()
