"""The budget ledger in Redis, for several machines: each operation is one Lua script, which Redis
runs atomically, so check-and-reserve cannot interleave with another process's.

One round trip per operation (``EVALSHA`` of a script loaded once). Sync calls use redis-py's client,
async calls its ``redis.asyncio`` client (one per event loop): the same scripts, keys and arguments,
only the wait differs, and an async call never blocks the loop."""

from __future__ import annotations

import asyncio
import contextlib
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


_RELEASE = """
redis.call('HDEL', KEYS[1], ARGV[1])
return true
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


class _Client:
    """A redis-py client (sync or async) with the ledger's scripts registered on it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.scripts = {
            "reserve": client.register_script(_RESERVE),
            "settle": client.register_script(_SETTLE),
            "release": client.register_script(_RELEASE),
        }


def _refusal(answer: Any) -> Refusal | None:
    if not answer:
        return None
    window, limit, used = (part.decode() if isinstance(part, bytes) else str(part) for part in answer)
    return Refusal(window, float(limit), float(used))


class RedisStore:
    """Budget ledger in Redis at ``url`` (``redis://host:port/db``), under ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "llmcfg:budget") -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - redis is a dependency; kept for a clear message
            raise ImportError("budgets.store: redis needs the redis package: pip install redis") from None
        self._errors = (redis.RedisError, OSError)
        self.url = shown_url(url)
        self._url = url
        self._secret = urlsplit(url).password
        self._sync = _Client(redis.Redis.from_url(url))
        self._async: tuple[asyncio.AbstractEventLoop, _Client] | None = None
        self._pending: set[asyncio.Task[None]] = set()  # releases of cancelled reservations
        self._keys = [f"{prefix}:reservations", f"{prefix}:spent", f"{prefix}:unpriced"]

    def _trouble(self, error: Exception) -> BudgetStoreError:
        detail = str(error).replace(self._secret, "***") if self._secret else str(error)
        return BudgetStoreError(
            self.url,
            f"Redis did not answer ({type(error).__name__}: {detail})",
            "check that Redis runs there and budgets.redis_url is right, or set budgets.store: local",
        )

    def _guarded(self, work: Callable[[], T]) -> T:
        """``work`` with Redis's errors turned into BudgetStoreError naming the server (password
        hidden; raised outside the except clause: the raw error is not its context)."""
        try:
            return work()
        except self._errors as error:
            failure = self._trouble(error)
        raise failure

    def _async_client(self) -> _Client:
        """This event loop's client: an asyncio connection belongs to the loop that opened it."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            import redis.asyncio

            self._async = (loop, _Client(redis.asyncio.Redis.from_url(self._url)))
        return self._async[1]

    # -- the requests: written once, sent by either client -------------------------------------------
    def _reserve_request(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> tuple[str, list[str], list[Any]]:
        pairs = json.dumps([[window, limit] for window, limit in limits.items()])
        args = [reservation_id, amount, now, now + ttl_s, json.dumps(windows), pairs]
        return "reserve", self._keys[:2], args

    def _settle_request(
        self, reservation_id: str, windows: list[str], actual: float | None
    ) -> tuple[str, list[str], list[Any]]:
        amount = "unknown" if actual is None else repr(float(actual))
        return "settle", self._keys, [reservation_id, json.dumps(windows), amount]

    def _release_request(self, reservation_id: str) -> tuple[str, list[str], list[Any]]:
        return "release", self._keys[:1], [reservation_id]

    def _send(self, request: tuple[str, list[str], list[Any]]) -> Any:
        name, keys, args = request
        return self._guarded(lambda: self._sync.scripts[name](keys=keys, args=args))

    async def _asend(self, request: tuple[str, list[str], list[Any]]) -> Any:
        name, keys, args = request
        try:
            return await self._async_client().scripts[name](keys=keys, args=args)
        except self._errors as error:
            failure = self._trouble(error)
        raise failure

    # -- the store protocol ----------------------------------------------------------------------------
    def reserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        return _refusal(
            self._send(self._reserve_request(reservation_id, windows, limits, amount, now, ttl_s))
        )

    def settle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        self._send(self._settle_request(reservation_id, windows, actual))

    def release(self, reservation_id: str) -> None:
        self._send(self._release_request(reservation_id))

    async def areserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        request = self._reserve_request(reservation_id, windows, limits, amount, now, ttl_s)
        try:
            answer = await self._asend(request)
        except asyncio.CancelledError:  # the script may have run: nobody will settle it, so release it
            task = asyncio.ensure_future(self._release_quietly(reservation_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            raise
        return _refusal(answer)

    async def _release_quietly(self, reservation_id: str) -> None:
        with contextlib.suppress(BudgetStoreError):  # unreachable: the reservation expires after its ttl
            await self._asend(self._release_request(reservation_id))

    async def asettle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        await self._asend(self._settle_request(reservation_id, windows, actual))

    async def arelease(self, reservation_id: str) -> None:
        await self._asend(self._release_request(reservation_id))

    def totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        return self._guarded(lambda: self._totals(windows, now))

    def _totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        client = self._sync.client
        reserved: dict[str, float] = {}
        for raw in client.hvals(self._keys[0]):
            entry = json.loads(raw)
            if entry["e"] > now:
                for window in entry["w"]:
                    reserved[window] = reserved.get(window, 0.0) + float(entry["a"])
        values = client.hmget(self._keys[1], windows) if windows else []
        counts = client.hmget(self._keys[2], windows) if windows else []
        return {
            w: WindowTotals(float(v) if v is not None else 0.0, reserved.get(w, 0.0), int(c or 0))
            for w, v, c in zip(windows, values, counts, strict=True)
        }

    def close(self) -> None:
        self._sync.client.close()
        self._async = None  # its connections belong to their loop; dropped with it
