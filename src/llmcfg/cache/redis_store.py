"""The response and image caches in Redis (``cache.store: redis``), shared by every process and
machine, with the disk cache's semantics: TTL, stats, clear, prune; values go through
``cache.encoding`` (JSON or bytes, never pickle), so a planted value is a miss, not code run.

Layout under ``prefix`` (default ``llmcfg:cache``): ``<name>:v:<digest>`` holds a value with Redis's
own expiry; ``<name>:index`` is a sorted set of digests scored by expiry time, which is what
``stats``, ``clear`` and ``prune`` walk (never ``KEYS``). Keys are SHA-256 digests: an image URL can
be long and may carry a token, and it is never needed back. Hits and misses are counted in the
process and added to ``stats`` every few seconds and at exit, so a read is one round trip.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import weakref
from typing import Any

from llmcfg.cache.encoding import decode_image, decode_response, encode_image, encode_response
from llmcfg.cache.store import CacheStats

__all__ = ["RedisCaches"]

_NAMES = ("images", "responses")
_FLUSH_EVERY_S = 5.0
_BATCH = 500  # index members handled per round trip by stats/clear/prune


class _Counts:
    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key = client, key
        self.pending: dict[str, int] = {}
        self.lock = threading.Lock()
        self.flushed_at = time.monotonic()

    def add(self, field: str) -> None:
        with self.lock:
            self.pending[field] = self.pending.get(field, 0) + 1
        if time.monotonic() - self.flushed_at > _FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, {}
            self.flushed_at = time.monotonic()
        if not pending:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for field, count in pending.items():
                pipe.hincrby(self.key, field, count)
            pipe.execute()
        except Exception:  # best effort: counting must never fail a call, nor exit
            pass


class RedisCaches:
    """The image and response caches in Redis at ``url``."""

    def __init__(
        self, url: str, *, image_ttl_s: int, response_ttl_s: int, prefix: str = "llmcfg:cache"
    ) -> None:
        import redis

        self.directory = url.rsplit("@", 1)[-1]  # where, for messages; never the password
        self.image_ttl_s = image_ttl_s
        self.response_ttl_s = response_ttl_s
        self._prefix = prefix
        self._client: Any = redis.Redis.from_url(url)
        self._counts = _Counts(self._client, f"{prefix}:stats")
        weakref.finalize(self, self._counts.flush)

    def _key(self, name: str, digest: str) -> str:
        return f"{self._prefix}:{name}:v:{digest}"

    def _index(self, name: str) -> str:
        return f"{self._prefix}:{name}:index"

    def _get(self, name: str, key: str) -> Any:
        return self._client.get(self._key(name, _digest(key)))

    def _put(self, name: str, key: str, data: bytes, ttl_s: int) -> None:
        digest = _digest(key)
        pipe = self._client.pipeline(transaction=True)
        pipe.set(self._key(name, digest), data, ex=ttl_s or None)
        pipe.zadd(self._index(name), {digest: time.time() + ttl_s if ttl_s else math.inf})
        pipe.execute()

    def get_image(self, url: str) -> bytes | None:
        value = decode_image(self._get("images", url))
        self._counts.add("images.misses" if value is None else "images.hits")
        return value

    def put_image(self, url: str, data: bytes) -> None:
        self._put("images", url, encode_image(data), self.image_ttl_s)

    def get_response(self, key: str) -> dict[str, Any] | None:
        value = decode_response(self._get("responses", key))
        self._counts.add("responses.misses" if value is None else "responses.hits")
        return value

    def put_response(self, key: str, value: dict[str, Any]) -> None:
        self._put("responses", key, encode_response(value), self.response_ttl_s)

    def _members(self, name: str, low: float | str, high: float | str) -> list[str]:
        found = self._client.zrangebyscore(self._index(name), low, high)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in found]

    def _drop(self, name: str, digests: list[str]) -> int:
        """Remove entries (value and index member); returns how many were in the index."""
        removed = 0
        for start in range(0, len(digests), _BATCH):
            batch = digests[start : start + _BATCH]
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(*(self._key(name, d) for d in batch))
            pipe.zrem(self._index(name), *batch)
            removed += int(pipe.execute()[1])
        return removed

    def stats(self) -> list[CacheStats]:
        self._counts.flush()
        totals = {
            (k.decode() if isinstance(k, bytes) else k): int(v)
            for k, v in self._client.hgetall(f"{self._prefix}:stats").items()
        }
        result = []
        for name in _NAMES:
            live = self._members(name, f"({time.time()}", "+inf")
            size = 0
            for start in range(0, len(live), _BATCH):
                pipe = self._client.pipeline(transaction=False)
                for digest in live[start : start + _BATCH]:
                    pipe.strlen(self._key(name, digest))
                size += sum(int(n) for n in pipe.execute())
            result.append(
                CacheStats(
                    name, len(live), size, totals.get(f"{name}.hits", 0), totals.get(f"{name}.misses", 0)
                )
            )
        return result

    def clear(self) -> int:
        return sum(self._drop(name, self._members(name, "-inf", "+inf")) for name in _NAMES)

    def prune(self) -> int:
        """Drop expired entries from the index (Redis already dropped their values); returns how many."""
        return sum(self._drop(name, self._members(name, "-inf", time.time())) for name in _NAMES)

    def close(self) -> None:
        self._counts.flush()
        self._client.close()


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
