"""The budget ledger in Redis, for several machines: each operation is one Lua script, which Redis
runs atomically, so check-and-reserve cannot interleave with another process's.

One round trip per operation: ``EVALSHA`` of a script whose SHA is known up front (``EVAL`` once when
Redis does not have it yet, e.g. after a restart). The round trip is sent on one of the store's own
redis-py connections, taken from a list of idle ones and put back after the answer: redis-py's client
layers (its pool's locks and bookkeeping, retries, observability hooks, response callbacks) cost more
Python than the round trip itself, and a budget pays two per call. As redis-py's pool does, a
connection that has something to read before the request is sent (closed by Redis, a stale answer) is
reconnected first. A command is never re-sent after a failure: a settle that ran but whose answer was
lost would be counted twice; the failure is a ``BudgetStoreError``. Sync calls use redis-py's
connections, async calls ``redis.asyncio``'s (their own list per event loop, closed when it shuts
down): the same scripts, keys and arguments, only the wait differs, and an async call never blocks
the loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from llmcfg.exceptions import BudgetStoreError
from llmcfg.money.budget.stores import Refusal, WindowTotals

T = TypeVar("T")

__all__ = ["RedisStore"]

_RESERVE = """
local reservations, spent = KEYS[1], KEYS[2]
local id, amount, now, expires = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local spec = cjson.decode(ARGV[5])
local windows, limits = spec[1], spec[2]
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
local windows = cjson.decode(ARGV[2])[1]
for _, w in ipairs(windows) do
  if ARGV[3] == 'unknown' then redis.call('HINCRBY', KEYS[3], w, 1)
  else redis.call('HINCRBYFLOAT', KEYS[2], w, ARGV[3]) end
end
return true
"""


_SCRIPTS = {"reserve": _RESERVE, "settle": _SETTLE, "release": _RELEASE}
_SHAS = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in _SCRIPTS.items()}


def _refusal(answer: Any) -> Refusal | None:
    if not answer:
        return None
    window, limit, used = (part.decode() if isinstance(part, bytes) else str(part) for part in answer)
    return Refusal(window, float(limit), float(used))


class _Idle:
    """Connections not in use, of one process (sync) or one event loop (async)."""

    __slots__ = ("closer", "connections", "owner", "pool")

    def __init__(self, pool: Any, owner: object) -> None:
        self.pool, self.owner = pool, owner
        self.connections: list[Any] = []
        self.closer: AsyncIterator[None] | None = None

    def take(self) -> tuple[Any, bool]:
        """An idle connection, or a new one (it connects when first used), and whether it was idle.
        ``list.pop`` is atomic: two threads never get the same one."""
        try:
            return self.connections.pop(), True
        except IndexError:
            return self.pool.connection_class(**self.pool.connection_kwargs), False


async def _closed_at_shutdown(idle: _Idle, errors: tuple[type[Exception], ...]) -> AsyncIterator[None]:
    """Disconnects an event loop's idle connections when that loop shuts down. An async generator,
    because that is what a loop closes before it stops (``asyncio.run``, ``asyncio.Runner`` and so
    servers and test runners call ``shutdown_asyncgens``) -- the one hook asyncio has. Without it each
    short-lived loop (``asyncio.run`` per request) left its connection open in Redis until the
    garbage collector found it, with a ResourceWarning: a connection cannot be closed once its loop
    is closed."""
    try:
        yield
    finally:
        connections, idle.connections = idle.connections, []
        for connection in connections:
            with contextlib.suppress(*errors):
                await connection.disconnect()


class RedisStore:
    """Budget ledger in Redis at ``url`` (``redis://host:port/db``), under ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "llmcfg:budget") -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - redis is a dependency; kept for a clear message
            raise ImportError("budgets.store: redis needs the redis package: pip install redis") from None
        self._errors = (redis.RedisError, OSError)
        self._noscript = redis.exceptions.NoScriptError
        self.url = shown_url(url)
        self._url = url
        self._secret = urlsplit(url).password
        self._client = redis.Redis.from_url(url)  # spend() reads through it
        self._sync = _Idle(self._client.connection_pool, os.getpid())
        self._async: _Idle | None = None
        self._pending: set[asyncio.Task[None]] = set()  # releases of cancelled reservations
        self._keys = [f"{prefix}:reservations", f"{prefix}:spent", f"{prefix}:unpriced"]
        self._specs: dict[tuple[tuple[str, ...], tuple[tuple[str, float], ...]], str] = {}

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

    def _idle_sync(self) -> _Idle:
        """This process's connections: a fork starts with none (it never writes to its parent's)."""
        if self._sync.owner != os.getpid():
            self._sync = _Idle(self._client.connection_pool, os.getpid())
        return self._sync

    async def _new_idle_async(self) -> _Idle:
        """The running event loop's connections, new: an asyncio connection belongs to the loop that
        opened it, and is closed when that loop shuts down."""
        import redis.asyncio

        idle = _Idle(redis.asyncio.ConnectionPool.from_url(self._url), asyncio.get_running_loop())
        idle.closer = _closed_at_shutdown(idle, self._errors)
        await anext(idle.closer)  # its first step registers it with the running loop
        self._async = idle
        return idle

    # -- the requests: written once, sent by either client -------------------------------------------
    def _spec(self, windows: list[str], limits: dict[str, float]) -> str:
        """The windows and limits as the reserve script reads them: encoded once per set (a call's
        windows stay the same all day), not on every call."""
        key = (tuple(windows), tuple(limits.items()))
        spec = self._specs.get(key)
        if spec is None:
            if len(self._specs) > 1024:  # new days, new windows: never grows without end
                self._specs.clear()
            spec = self._specs[key] = json.dumps([windows, [[w, limit] for w, limit in limits.items()]])
        return spec

    def _reserve_request(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> tuple[str, list[str], list[Any]]:
        args = [reservation_id, amount, now, now + ttl_s, self._spec(windows, limits)]
        return "reserve", self._keys[:2], args

    def _settle_request(
        self, reservation_id: str, windows: list[str], actual: float | None
    ) -> tuple[str, list[str], list[Any]]:
        amount = "unknown" if actual is None else repr(float(actual))
        return "settle", self._keys, [reservation_id, self._spec(windows, {}), amount]

    def _release_request(self, reservation_id: str) -> tuple[str, list[str], list[Any]]:
        return "release", self._keys[:1], [reservation_id]

    def _stale(self, connection: Any) -> bool:
        """Whether an idle connection must not be used: Redis closed it (a restart, its idle
        ``timeout``, CLIENT KILL) or it holds an answer nobody read. Checked before anything is sent,
        as redis-py's pool does: reconnecting then cannot run an operation twice."""
        try:
            return bool(connection.can_read())
        except self._errors:  # closed: reading it says so by raising
            return True

    async def _astale(self, connection: Any) -> bool:
        try:
            return bool(connection.is_connected and await connection.can_read_destructive())
        except self._errors:
            return True

    def _send(self, request: tuple[str, list[str], list[Any]]) -> Any:
        name, keys, args = request
        idle = self._idle_sync()
        connection, was_idle = idle.take()
        try:
            if was_idle and self._stale(connection):
                connection.disconnect()  # it connects again when sent to
            try:
                connection.send_command("EVALSHA", _SHAS[name], len(keys), *keys, *args)
                answer = connection.read_response()
            except self._noscript:  # the script did not run: Redis does not have it (yet)
                connection.send_command("EVAL", _SCRIPTS[name], len(keys), *keys, *args)
                answer = connection.read_response()
        except self._errors as error:
            connection.disconnect()
            failure = self._trouble(error)
        else:
            idle.connections.append(connection)
            return answer
        raise failure

    async def _asend(self, request: tuple[str, list[str], list[Any]]) -> Any:
        name, keys, args = request
        idle = self._async
        if idle is None or idle.owner is not asyncio.get_running_loop():
            idle = await self._new_idle_async()
        connection, was_idle = idle.take()
        try:
            if was_idle and await self._astale(connection):
                await connection.disconnect()
            try:
                await connection.send_command("EVALSHA", _SHAS[name], len(keys), *keys, *args)
                answer = await connection.read_response()
            except self._noscript:
                await connection.send_command("EVAL", _SCRIPTS[name], len(keys), *keys, *args)
                answer = await connection.read_response()
        except BaseException as error:  # cancelled too: what the connection holds now is unknown
            await connection.disconnect(nowait=True)
            if not isinstance(error, self._errors):
                raise
            failure = self._trouble(error)
        else:
            idle.connections.append(connection)
            return answer
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
        client = self._client
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
        idle, self._sync.connections = self._sync.connections, []
        for connection in idle:
            connection.disconnect()
        self._client.close()
        self._async = None  # its connections belong to their loop; dropped with it
