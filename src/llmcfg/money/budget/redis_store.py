"""The budget ledger in Redis, for several machines: each operation is one Lua script, which Redis
runs atomically, so check-and-reserve cannot interleave with another process's."""

from __future__ import annotations

import json
from typing import Any

from llmcfg.money.budget.stores import Refusal, WindowTotals

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
        self._client: Any = redis.Redis.from_url(url)
        self._keys = [f"{prefix}:reservations", f"{prefix}:spent", f"{prefix}:unpriced"]
        self._reserve = self._client.register_script(_RESERVE)
        self._settle = self._client.register_script(_SETTLE)

    def reserve(
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

    def settle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        amount = "unknown" if actual is None else repr(float(actual))
        self._settle(keys=self._keys, args=[reservation_id, json.dumps(windows), amount])

    def release(self, reservation_id: str) -> None:
        self._client.hdel(self._keys[0], reservation_id)

    def totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
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

    def close(self) -> None:
        self._client.close()
